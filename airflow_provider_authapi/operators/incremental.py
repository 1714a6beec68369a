"""Incremental loads: a high-water mark carried from one run of a task to the next.

`AuthApiOperator(..., incremental={"cursor_path": "updated_at", "param": "updated_since", "initial": "..."})`
sends `updated_since=<mark>` (the stored mark, else `initial`), takes the largest `updated_at` of the records it
fetched as the next mark, and saves it as the last step of a successful `execute`: a failed request, check or
write leaves the stored mark as it was, so the next run asks again from the same point.

Where the mark lives:
- with an `Asset` outlet, on Airflow 3.3 (AIP-103): the asset state store (the task context's `asset_state_store`),
  key `high_water_mark`. It outlives DAG runs and is shared by every task that names the asset (a consumer can
  read it). Airflow 3.1 and 3.2 have no asset state store: there the mark is the Variable
  `authapi_mark_asset.<asset name>.<key>`, shared by the tasks naming the asset as well. After the upgrade to 3.3
  a task whose asset state store has no mark yet reads that Variable once and saves the next mark in the store.
- otherwise: an Airflow Variable `authapi_mark_<dag_id>.<task_id>`. The task state store
  (`context["task_state_store"]`) is scoped to one DAG run (its rows are keyed by dag_run_id, task_id and
  map_index: retries share them, the next run does not), so it cannot carry a mark between runs.
A mapped task instance adds `.<map_index>` to the key or Variable name (keep the mapped list's order stable).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_authapi.api.fetch import as_records
from airflow_provider_authapi.api.output import JsonLinesWriter
from airflow_provider_authapi.auth.errors import ApiResponseError, ConfigError
from airflow_provider_authapi.auth.json_path import STAR, find_path, parse_path
from airflow_provider_authapi.compat import asset_state_store

if TYPE_CHECKING:
    from airflow_provider_authapi.hooks.authapi import ApiCall

log = logging.getLogger(__name__)

Mark = str | int | float
ASSET_STATE_KEY = "high_water_mark"
VARIABLE_PREFIX = "authapi_mark_"
_KEYS = ("cursor_path", "param", "initial", "state_key")


@dataclass(frozen=True)
class Incremental:
    """What `incremental=` asks for: the records' cursor, the query parameter that sends the mark, the first mark
    (None: the first run sends no parameter, a full load) and, optionally, the state key or Variable name."""

    cursor_path: str
    param: str
    initial: Mark | None = None
    state_key: str | None = None

    @classmethod
    def of(cls, spec: Incremental | Mapping[str, Any] | None) -> Incremental | None:
        """Validate `incremental=` when the DAG is parsed; a `ConfigError` names the key at fault."""
        if spec is None or isinstance(spec, Incremental):
            return spec
        if not isinstance(spec, Mapping):
            raise ConfigError("incremental", f"must be a dict such as {{'cursor_path': ..., 'param': ...}} ({spec!r})")
        unknown = sorted(set(spec) - set(_KEYS))
        if unknown:
            raise ConfigError(f"incremental.{unknown[0]}", f"unknown key; the keys are {', '.join(_KEYS)}")
        for key in ("cursor_path", "param"):
            if not isinstance(spec.get(key), str) or not spec[key].strip():
                raise ConfigError(f"incremental.{key}", f"a non-empty string is required (got {spec.get(key)!r})")
        if STAR in parse_path(spec["cursor_path"], "incremental.cursor_path") or spec["cursor_path"].strip() == "$":
            raise ConfigError("incremental.cursor_path", "must lead to one value in each record, not a list")
        initial = spec.get("initial")
        if initial is not None and (isinstance(initial, bool) or not isinstance(initial, str | int | float)):
            raise ConfigError("incremental.initial", f"must be a string or a number (got {initial!r})")
        state_key = spec.get("state_key")
        if state_key is not None and (not isinstance(state_key, str) or not state_key.strip()):
            raise ConfigError("incremental.state_key", f"must be a non-empty string (got {state_key!r})")
        return cls(spec["cursor_path"].strip(), spec["param"].strip(), initial, state_key)


def _order(value: Any, cursor_path: str) -> tuple[int, Any]:
    """How cursor values compare: numbers (and digit strings) as numbers, ISO 8601 texts as instants (a naive one
    taken as UTC), other texts as texts."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return 0, value
    if isinstance(value, str):
        if value.isascii() and value.isdigit():
            return 0, int(value)
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return 2, value
        return 1, moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    raise ApiResponseError(f"incremental cursor {cursor_path!r} is {type(value).__name__}, not a string or number")


_KINDS = {0: "a number", 1: "a date-time", 2: "a text"}


class MarkStore(Protocol):
    """Where a mark is kept between runs."""

    where: str

    def get(self) -> Mark | None: ...

    def set(self, value: Mark) -> None: ...


class AssetMarkStore:
    """The mark as one key of an asset's state store (AIP-103; the key must not be None-valued). `before` is where
    Airflow < 3.3 kept it: read while the store has none, so a mark survives the upgrade."""

    def __init__(self, accessor: Any, asset_name: str, key: str, before: MarkStore | None = None) -> None:
        self.accessor, self.key, self.before = accessor, key, before
        self.where = f"asset state store of {asset_name!r}, key {key!r}"

    def get(self) -> Mark | None:
        value = self.accessor.get(self.key)
        if value is None and self.before is not None:
            value = self.before.get()
            if value is not None:
                self.where = f"{self.before.where} (kept before Airflow 3.3; the next mark goes to the {self.where})"
        return value

    def set(self, value: Mark) -> None:
        self.accessor.set(self.key, value)


class VariableMarkStore:
    """The mark as an Airflow Variable holding its JSON (so a number stays a number)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.where = f"Variable {name!r}"

    def get(self) -> Mark | None:
        from airflow.sdk import Variable

        return Variable.get(self.name, default=None, deserialize_json=True)

    def set(self, value: Mark) -> None:
        from airflow.sdk import Variable

        Variable.set(self.name, value, description="AuthApiOperator incremental high-water mark", serialize_json=True)


def first_asset(outlets: Iterable[Any]) -> Any:
    """The task's first `Asset` outlet (not an alias or a reference), or None."""
    from airflow.sdk import Asset

    return next((outlet for outlet in outlets if isinstance(outlet, Asset)), None)


_PLAIN_NAME = re.compile(r"[\w.:/-]{1,150}")


def asset_variable_name(asset_name: str, key: str) -> str:
    """The Variable holding an asset's mark where Airflow has no asset state store (< 3.3); an asset name that is
    long or unusual is shortened to a digest, so the name stays within a Variable key's 250 characters."""
    if not _PLAIN_NAME.fullmatch(asset_name):
        asset_name = "~" + hashlib.sha256(asset_name.encode()).hexdigest()[:24]
    return f"{VARIABLE_PREFIX}asset.{asset_name}.{key[:80]}"


def mark_store(spec: Incremental, task: Any, context: Mapping[str, Any]) -> MarkStore:
    """The asset state store of the task's first `Asset` outlet (a Variable on Airflow < 3.3), else a Variable
    named after the dag and task."""
    map_index = getattr(context.get("ti"), "map_index", None)
    suffix = f".{map_index}" if isinstance(map_index, int) and map_index >= 0 else ""
    asset = first_asset(task.outlets or ())
    if asset is not None:
        key = (spec.state_key or ASSET_STATE_KEY) + suffix
        variable = VariableMarkStore(asset_variable_name(asset.name, key))
        states = asset_state_store(context)
        return variable if states is None else AssetMarkStore(states[asset], asset.name, key, before=variable)
    return VariableMarkStore((spec.state_key or f"{VARIABLE_PREFIX}{task.dag_id}.{task.task_id}") + suffix)


class IncrementalLoad:
    """One run's mark: read before the requests, the records' largest cursor tracked, saved on success.

    `load = IncrementalLoad(spec, store)`; `call = load.apply(call)`; stream pages through `load.writer(path)` or
    leave them in the result; `load.finish(result, output)` saves the new mark and returns it.
    """

    def __init__(self, spec: Incremental, store: MarkStore, logger: logging.Logger | Any = None) -> None:
        self.spec, self.store, self.log = spec, store, logger or log
        stored = store.get()
        self.start: Mark | None = spec.initial if stored is None else stored
        self.best: Mark | None = None
        self._best_order: tuple[int, Any] | None = None
        self.watched_pages = 0
        self._path = parse_path(spec.cursor_path, "incremental.cursor_path")
        source = "the initial value" if stored is None else f"from the {store.where}"
        self.log.info("Incremental: %s=%r (%s)", spec.param, self.start, source)

    @classmethod
    def begin(cls, spec: Incremental, task: Any, context: Mapping[str, Any]) -> IncrementalLoad:
        return cls(spec, mark_store(spec, task, context), getattr(task, "log", None))

    def apply(self, call: ApiCall) -> ApiCall:
        """The call with the mark as its query parameter (none while there is no mark yet)."""
        if self.start is None:
            return call
        return replace(call, query_params={**(call.query_params or {}), self.spec.param: self.start})

    def observe(self, records: Iterable[Any]) -> None:
        """Track the largest cursor of `records`; a record without one is passed over."""
        for record in records:
            value = find_path(record, self._path)
            if value is None:
                continue
            order = _order(value, self.spec.cursor_path)
            if self._best_order is not None and order[0] != self._best_order[0]:
                kinds = f"{_KINDS[self._best_order[0]]} and {_KINDS[order[0]]}"
                raise ApiResponseError(f"incremental cursor {self.spec.cursor_path!r} mixes {kinds}: {value!r}")
            if self._best_order is None or order[1] > self._best_order[1]:
                self.best, self._best_order = value, order

    def writer(self, path: Any) -> JsonLinesWriter:
        """A JSON Lines writer that tracks the cursor of every page it writes."""
        return _WatchingWriter(path, self)

    def finish(self, result: Any, output: Any = None) -> Mark | None:
        """Save the new mark (the records' largest cursor, never below the mark sent) and return the mark now in
        force. With `output`, records not streamed through `writer()` (a deferred run) are read back from it."""
        if output is None:
            self.observe(as_records(result))
        elif not self.watched_pages:
            self._observe_file(output)
        mark = self._newest()
        if mark is None or mark == self.start:
            self.log.info("Incremental: no newer %s; the mark stays %r", self.spec.cursor_path, self.start)
            return self.start
        self.store.set(mark)
        self.log.info("Incremental: mark %r -> %r saved in the %s", self.start, mark, self.store.where)
        return mark

    def _newest(self) -> Mark | None:
        if self.best is None or self.start is None:
            return self.best
        start = _order(self.start, self.spec.cursor_path)
        if self._best_order is not None and start[0] == self._best_order[0] and start[1] > self._best_order[1]:
            return self.start
        return self.best

    def _observe_file(self, output: Any) -> None:
        with output.open("rb") as lines:
            for line in lines:
                if line.strip():
                    self.observe([json.loads(line)])


class _WatchingWriter(JsonLinesWriter):
    def __init__(self, path: Any, load: IncrementalLoad) -> None:
        super().__init__(path)
        self.load = load

    def write_page(self, records: Iterable[Any]) -> int:
        records = list(records)
        self.load.observe(records)
        self.load.watched_pages += 1
        return super().write_page(records)
