"""`TokenManager`: one token per config, shared by threads and coroutines, refreshed as rarely as possible.

Layers, cheapest first: the token in memory; the token store (shared by processes); the token endpoint.
A refresh is single-flight in the process (one lock for threads and coroutines) and across processes
(the store's lease, then a re-read: another process may have refreshed meanwhile).

The refresh logic is written once, as a generator of store/endpoint operations (the style of
`httpx.Auth.auth_flow`); `get_token` drives it with blocking calls, `aget_token` with awaits.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Generator
from contextlib import AbstractContextManager
from typing import Any

from airflow_provider_authapi.auth.endpoint import TokenEndpoint
from airflow_provider_authapi.auth.errors import InvalidGrantError
from airflow_provider_authapi.auth.store import MemoryTokenStore, TokenStore
from airflow_provider_authapi.auth.token import DEFAULT_LEEWAY, Token

# Operations the refresh flow yields: ("load",), ("lease",), ("fetch", previous), ("save", token)
Operation = tuple[Any, ...]
RefreshFlow = Generator[Operation, Any, Token]

ASYNC_LOCK_POLL = 0.01


class TokenManager:
    """Hands out a valid token for one config, obtaining and refreshing it through `endpoint`.

    `initial_refresh_token` (from the connection) seeds an empty store; once the store has a token, its refresh
    token is newer and wins.
    """

    def __init__(
        self,
        endpoint: TokenEndpoint,
        store: TokenStore | None = None,
        *,
        leeway: float = DEFAULT_LEEWAY,
        initial_refresh_token: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.store: TokenStore = store if store is not None else MemoryTokenStore()
        self.leeway = leeway
        self.initial_refresh_token = initial_refresh_token
        self._token: Token | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenManager(store={self.store!r}, token_requests={self.token_requests})"

    @property
    def token_requests(self) -> int:
        """How many requests this manager sent to the token endpoint (retries included)."""
        return self.endpoint.requests

    @property
    def cached_token(self) -> Token | None:
        """The token held in memory, without any I/O."""
        return self._token

    def forget(self) -> None:
        """Drop the in-memory token; the next call re-reads the store."""
        self._token = None

    # -- sync ------------------------------------------------------------------------------------------------

    def get_token(self, force_refresh: bool = False, stale: Token | None = None) -> Token:
        """A valid token. `force_refresh` replaces `stale` (default: the current one), e.g. after a 401."""
        stale = self._stale(force_refresh, stale)
        if self._usable(self._token, stale):
            return self._token  # type: ignore[return-value]
        with self._lock:
            return self._drive(self._refresh_flow(force_refresh, stale))

    def _drive(self, flow: RefreshFlow) -> Token:
        lease: AbstractContextManager[None] | None = None
        result: Any = None
        error: BaseException | None = None
        try:
            while True:
                try:
                    op = flow.throw(error) if error is not None else flow.send(result)
                except StopIteration as done:
                    return done.value
                result, error = None, None
                try:
                    if op[0] == "load":
                        result = self.store.load()
                    elif op[0] == "lease":
                        lease = self.store.lease()
                        lease.__enter__()
                    elif op[0] == "fetch":
                        result = self.endpoint.fetch(op[1])
                    elif op[0] == "save":
                        self.store.save(op[1])
                except Exception as exc:
                    error = exc
        finally:
            if lease is not None:
                lease.__exit__(None, None, None)

    # -- async -----------------------------------------------------------------------------------------------

    async def aget_token(self, force_refresh: bool = False, stale: Token | None = None) -> Token:
        """Async `get_token`: the token endpoint is called with httpx.AsyncClient, the store from a thread."""
        stale = self._stale(force_refresh, stale)
        if self._usable(self._token, stale):
            return self._token  # type: ignore[return-value]
        # Poll the same lock the threads use: no thread is parked on it if this task is cancelled.
        while not self._lock.acquire(blocking=False):
            await asyncio.sleep(ASYNC_LOCK_POLL)
        try:
            return await self._adrive(self._refresh_flow(force_refresh, stale))
        finally:
            self._lock.release()

    async def _adrive(self, flow: RefreshFlow) -> Token:
        lease: AbstractContextManager[None] | None = None
        result: Any = None
        error: BaseException | None = None
        try:
            while True:
                try:
                    op = flow.throw(error) if error is not None else flow.send(result)
                except StopIteration as done:
                    return done.value
                result, error = None, None
                try:
                    if op[0] == "load":
                        result = await asyncio.to_thread(self.store.load)
                    elif op[0] == "lease":
                        lease = self.store.lease()
                        await asyncio.to_thread(lease.__enter__)
                    elif op[0] == "fetch":
                        result = await self.endpoint.afetch(op[1])
                    elif op[0] == "save":
                        await asyncio.to_thread(self.store.save, op[1])
                except Exception as exc:
                    error = exc
        finally:
            if lease is not None:
                await asyncio.to_thread(lease.__exit__, None, None, None)

    # -- the one refresh flow ----------------------------------------------------------------------------------

    def _refresh_flow(self, force_refresh: bool, stale: Token | None) -> RefreshFlow:
        """Memory, then store, then (under the lease, after a re-read) the token endpoint."""
        if self._usable(self._token, stale):
            return self._token  # type: ignore[return-value]
        stored = yield ("load",)
        if force_refresh and stale is None:
            stale = stored  # nothing in memory to replace: the stored token is the one to replace
        if self._usable(stored, stale):
            self._token = stored
            return stored
        yield ("lease",)  # held until the flow ends: the driver releases it
        stored = yield ("load",)
        if self._usable(stored, stale):
            self._token = stored
            return stored
        previous = stored or self._seed()
        try:
            token = yield ("fetch", previous)
        except InvalidGrantError:
            token = yield from self._after_invalid_grant(previous, stale)
            if token is None:
                raise
        yield ("save", token)  # before anyone uses it: a rotated refresh token must not be lost
        self._token = token
        return token

    def _after_invalid_grant(self, used: Token | None, stale: Token | None) -> Generator[Operation, Any, Token | None]:
        """A dead refresh token: another process may have rotated it, so re-read once; else start over."""
        if used is None or not used.refresh_token:
            return None
        stored = yield ("load",)
        if self._usable(stored, stale):
            return stored
        if stored is not None and stored.refresh_token and stored.refresh_token != used.refresh_token:
            return (yield ("fetch", stored))
        if self.endpoint.grant.can_start_over():
            return (yield ("fetch", None))
        return None

    # -- helpers -----------------------------------------------------------------------------------------------

    def _stale(self, force_refresh: bool, stale: Token | None) -> Token | None:
        return stale if stale is not None or not force_refresh else self._token

    def _usable(self, token: Token | None, stale: Token | None) -> bool:
        if token is None or token.is_expired(self.leeway):
            return False
        return stale is None or token.access_token != stale.access_token

    def _seed(self) -> Token | None:
        """A placeholder carrying the connection's initial refresh token, when the store has none."""
        if not self.initial_refresh_token:
            return None
        return Token(access_token="", expires_at=None, refresh_token=self.initial_refresh_token)
