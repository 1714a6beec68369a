"""Write records as JSON Lines, page by page, to any path with `.open()` (an Airflow `ObjectStoragePath`,
or a `pathlib.Path`). Only one page is ever held in memory."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)


class JsonLinesWriter:
    """`with JsonLinesWriter(path) as out: out.write_page(records)`; `out.records` counts what was written.

    If the block raises, the partial file is removed (best effort), so no truncated file looks complete.
    """

    def __init__(self, path: Any) -> None:
        self.path = path
        self.records = 0
        self._file: Any = None

    def __enter__(self) -> JsonLinesWriter:
        parent = getattr(self.path, "parent", None)
        if parent is not None:
            with contextlib.suppress(OSError, NotImplementedError):  # object stores have no directories
                parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("wb")
        return self

    def write_page(self, records: Iterable[Any]) -> int:
        """Append one page; return how many records it held."""
        lines = [json.dumps(record, ensure_ascii=False, separators=(",", ":")) for record in records]
        if lines:
            self._file.write(("\n".join(lines) + "\n").encode())
        self.records += len(lines)
        return len(lines)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._file.close()
        if exc_type is not None:
            try:
                self.path.unlink()
            except Exception:  # the original error matters more
                log.warning("could not remove the partial output %s", self.path)
