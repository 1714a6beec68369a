"""The one path language into parsed JSON: response filters, paginators and token responses all use it.

Keys are separated by dots; a list index is written in brackets or as a dotted number (`items[0].id` and
`items.0.id` are the same path; `items[-1]`, `items.-1` count from the end); `[*]` maps the rest of the path
over a list (`data[*].id`); `$` or an empty path is the whole body. A missing key or index gives None
(QuickBooks, for one, drops the list key from an empty page).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from airflow_provider_authapi.auth.errors import ConfigError

# A key with dots or brackets in it is quoted in brackets: `["odata.nextLink"]`, `['a.b'].c` (JSONPath's way).
_TOKEN = re.compile(r"\.?([^.\[\]]+)|\[(-?\d+|\*)\]|\[(['\"])(.*?)\3\]")
_INDEX = re.compile(r"-?\d+")
STAR = "*"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # what `find_path(..., missing=MISSING)` gives for a key or index that is not there

PathPart = str | int


def parse_path(path: str, field: str = "response_filter") -> list[PathPart]:
    """`"a.b[0][*].c"` -> `["a", "b", 0, "*", "c"]`; raise ConfigError naming `field` on malformed paths.

    A dotted number (`a.0`) stays a key: it indexes a list, but also reads a dict's `"0"` key.
    """
    path = path.strip()
    if path in ("", "$"):
        return []
    if path.startswith("$."):
        path = path[2:]
    parts: list[PathPart] = []
    position = 0
    for match in _TOKEN.finditer(path):
        if match.start() != position:
            break
        key, index, _, quoted = match.groups()
        if quoted is not None:
            parts.append(quoted)
        else:
            parts.append(key if key is not None else (STAR if index == STAR else int(index)))
        position = match.end()
    if position != len(path):
        raise ConfigError(field, f"cannot parse path {path!r} at character {position}")
    return parts


def find_path(data: Any, path: str | list[PathPart], missing: Any = None) -> Any:
    """The value at `path` in `data`, or `missing` when a key or index is not there (None by default).

    Under `[*]` each item's missing value is None: a list keeps one entry per item."""
    parts = _parsed(path) if isinstance(path, str) else path
    for position, part in enumerate(parts):
        if part == STAR:
            if not isinstance(data, list):
                return missing
            rest = parts[position + 1 :]
            return [find_path(item, rest) for item in data]
        if isinstance(data, dict) and isinstance(part, str):
            if part not in data:
                return missing
            data = data[part]
            continue
        index = _list_index(part)
        if not isinstance(data, list) or index is None or not -len(data) <= index < len(data):
            return missing
        data = data[index]
    return data


@functools.lru_cache(maxsize=256)
def _parsed(path: str) -> tuple[PathPart, ...]:
    """`parse_path`, once per path: a paginator reads the same path on every page."""
    return tuple(parse_path(path))


def _list_index(part: PathPart) -> int | None:
    if isinstance(part, int):
        return part
    return int(part) if _INDEX.fullmatch(part) else None


def set_path(data: Any, path: str, value: Any, field: str = "pagination") -> Any:
    """`data` with `value` written at `path`, creating objects for missing keys; `data` None starts an object.

    Lists are indexed, never grown: a filter the request body already holds (`filterGroups[0].filters[0].value`)
    can be rewritten, one that is not there is an error naming `field`. `[*]` cannot be written."""
    parts = parse_path(path, field)
    if not parts:
        return value
    root = {} if data is None else data
    node = root
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        if part == STAR:
            raise ConfigError(field, f"cannot write through [*] in {path!r}")
        index = _list_index(part)
        if isinstance(node, list) and index is not None:
            if not -len(node) <= index < len(node):
                raise ConfigError(field, f"{path!r}: index {index} is not in the body's list of {len(node)}")
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if not isinstance(node, dict) or isinstance(part, int):
            raise ConfigError(field, f"{path!r}: the body has no object at {part!r} to write into")
        if last:
            node[part] = value
        else:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
    return root
