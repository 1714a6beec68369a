"""Write records as JSON Lines, page by page, to any path with `.open()` (an Airflow `ObjectStoragePath`,
or a `pathlib.Path`). Only one page is ever held in memory. `RawFileWriter` writes a body's bytes unchanged."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)


class OutputFile:
    """A file opened for writing on entering the block (its parent made where there are directories); if the
    block raises, the partial file is removed (best effort), so no truncated file looks complete."""

    def __init__(self, path: Any) -> None:
        self.path = path
        self._file: Any = None

    def __enter__(self) -> Any:
        parent = getattr(self.path, "parent", None)
        if parent is not None:
            with contextlib.suppress(OSError, NotImplementedError):  # object stores have no directories
                parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("wb")
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._file.close()
        if exc_type is not None:
            try:
                self.path.unlink()
            except Exception:  # the original error matters more
                log.warning("could not remove the partial output %s", self.path)


class JsonLinesWriter(OutputFile):
    """`with JsonLinesWriter(path) as out: out.write_page(records)`; `out.records` counts what was written."""

    def __init__(self, path: Any) -> None:
        super().__init__(path)
        self.records = 0

    def __enter__(self) -> JsonLinesWriter:
        return super().__enter__()

    def write_page(self, records: Iterable[Any]) -> int:
        """Append one page; return how many records it held."""
        lines = [json.dumps(record, ensure_ascii=False, separators=(",", ":")) for record in records]
        if lines:
            self._file.write(("\n".join(lines) + "\n").encode())
        self.records += len(lines)
        return len(lines)


class RawFileWriter(OutputFile):
    """`with RawFileWriter(path) as out: out.write(chunk)`: a body's bytes unchanged, counted and hashed as they
    come; `out.summary()` is `{"path", "bytes", "sha256"}`."""

    def __init__(self, path: Any) -> None:
        super().__init__(path)
        self.bytes = 0
        self._sha256 = hashlib.sha256()

    def __enter__(self) -> RawFileWriter:
        return super().__enter__()

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._sha256.update(data)
        self.bytes += len(data)

    def summary(self) -> dict[str, Any]:
        return {"path": str(self.path), "bytes": self.bytes, "sha256": self._sha256.hexdigest()}
