"""Where tokens live between requests, tasks and workers.

The core only needs this protocol; the Airflow layer implements it on Variables.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol, runtime_checkable

from airflow_provider_authapi.auth.token import Token


@runtime_checkable
class TokenStore(Protocol):
    """Persistent, shared token storage with a short cross-process lease for refreshes."""

    def load(self) -> Token | None:
        """The stored token, or None when there is none (or it belongs to other credentials)."""

    def save(self, token: Token) -> None:
        """Persist `token`; raise `TokenStoreError` when that fails (never fail silently)."""

    def clear(self) -> None:
        """Forget the stored token."""

    def lease(self) -> AbstractContextManager[None]:
        """Hold the refresh lease while the block runs; raise `TokenStoreError` if it cannot be had."""


class MemoryTokenStore:
    """A process-local store: enough for one process, and for tests of the core."""

    def __init__(self, token: Token | None = None) -> None:
        self._token = token
        self._lock = threading.Lock()
        self.saves = 0

    def load(self) -> Token | None:
        return self._token

    def save(self, token: Token) -> None:
        self._token = token
        self.saves += 1

    def clear(self) -> None:
        self._token = None

    @contextmanager
    def lease(self) -> Iterator[None]:
        with self._lock:
            yield
