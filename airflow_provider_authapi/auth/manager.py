"""`TokenManager`: one token per config, shared by threads, coroutines and processes, renewed as rarely as possible.

Layers, cheapest first: the token in memory; the token store (shared by processes); the token endpoint.

- A token is renewed ahead of its expiry: each process picks its own moment in a window before the token goes
  stale, so the first one there renews while the others keep using the token they hold. Nobody with a valid
  token waits.
- Renewals announce themselves with a ticket in the store's `RefreshQueue`. A process that finds a live ticket
  does not pile on: with a valid token it carries on; without one it watches the store for a newer token,
  polling with back-off.
- A renewal that presents a refresh token takes its turn in the queue (a bakery: two processes never present
  the same refresh token); one that does not (client credentials, password, a login) queues too, so that the
  others take its token, but waits only briefly for its turn: concurrent logins are harmless.
- A token is saved before anyone uses it; a failed save is retried, and a rotated refresh token that still
  cannot be saved is kept in memory (with its ticket held) and saved on the next call.

The logic is one generator of operations (the style of `httpx.Auth.auth_flow`); `get_token` drives it with
blocking calls, `aget_token` with awaits.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Generator
from typing import Any

from airflow_provider_authapi.auth.config import DEFAULT_LEEWAY
from airflow_provider_authapi.auth.errors import InvalidGrantError, TokenStoreError
from airflow_provider_authapi.auth.grants import TokenEndpoint
from airflow_provider_authapi.auth.store import MemoryTokenStore, Ticket, Token, TokenStore

log = logging.getLogger(__name__)

# Operations the flow yields: ("call", fn, *args), ("sleep", s), ("fetch", previous), and the queue's ("enter",),
# ("renew", ticket), ("held",). The drivers run them and keep the ticket the flow holds, to give it back at the end.
Operation = tuple[Any, ...]
Flow = Generator[Operation, Any, Token]

LEEWAY_SHARE = 0.05  # the leeway never exceeds this share of a token's lifetime
AHEAD_SHARE = (0.05, 0.1)  # the renewal window: at least / at most this share of the lifetime...
AHEAD_LATENCIES = 10  # ...and room for this many store calls
AHEAD_MAX = 300.0
POLL_MIN, POLL_GROWTH, POLL_MAX = 0.25, 1.5, 10.0
IMPATIENCE = (2.0, 15.0)  # how long a renewal without refresh token waits for another one: floor, ceiling
SAVE_ATTEMPTS = 5


class TokenManager:
    """Hands out a valid token for one config, obtaining and renewing it through `endpoint`.

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
        self.name = getattr(self.store, "name", "token")
        self._jitter = random.random()  # this process's place in the renewal window
        self._state: tuple[Token | None, float, float] = (None, 0.0, 0.0)  # token, stale_at, due_at: one read
        self._next_look = 0.0  # a due token: when to look at the store again (someone else is renewing)
        self._unsaved: tuple[Token, Ticket | None] | None = None
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
        return self._state[0]

    @property
    def _token(self) -> Token | None:
        return self._state[0]

    # -- timing ----------------------------------------------------------------------------------------------

    def margin(self, token: Token) -> float:
        """How early a token counts as expired: the leeway, at most 5% of the token's lifetime."""
        lifetime = _lifetime(token)
        return self.leeway if lifetime is None else min(self.leeway, LEEWAY_SHARE * lifetime)

    def _times(self, token: Token) -> tuple[float, float]:
        """(stale_at, due_at) in epoch seconds: when the token stops being usable, when this process renews."""
        if token.expires_at is None:
            return float("inf"), float("inf")
        stale_at = token.expires_at.timestamp() - self.margin(token)
        lifetime = _lifetime(token) or 0.0
        low, high = AHEAD_SHARE[0] * lifetime, AHEAD_SHARE[1] * lifetime
        ahead = min(high, max(low, AHEAD_LATENCIES * self.store.latency), AHEAD_MAX)
        return stale_at, stale_at - ahead * (0.5 + 0.5 * self._jitter)

    def _usable(self, token: Token | None, stale: Token | None) -> bool:
        if token is None or (stale is not None and token.access_token == stale.access_token):
            return False
        return time.time() < self._times(token)[0]

    def _due(self, token: Token) -> bool:
        return time.time() >= self._times(token)[1]

    def _adopt(self, token: Token) -> Token:
        if token is not self._token:
            self._state = (token, *self._times(token))
            self._next_look = 0.0
        return token

    def _poll(self) -> float:
        return max(POLL_MIN, 2 * self.store.latency)

    def _impatience(self) -> float:
        """How long a renewal that presents no refresh token waits for another process's."""
        return min(max(IMPATIENCE[0], 10 * self.store.latency), IMPATIENCE[1])

    # -- sync ------------------------------------------------------------------------------------------------

    def get_token(self, force_refresh: bool = False, stale: Token | None = None) -> Token:
        """A valid token. `force_refresh` replaces `stale` (default: the current one), e.g. after a 401."""
        stale = self._stale(force_refresh, stale)
        token = self._held(stale)
        if token is not None:
            return token
        with self._lock:
            return self._drive(self._flow(force_refresh, stale))

    def _held(self, stale: Token | None) -> Token | None:
        """The in-memory token when it needs no look at the store: the per-request path, no I/O."""
        token, stale_at, due_at = self._state
        if token is None or self._unsaved is not None:
            return None
        if stale is not None and token.access_token == stale.access_token:
            return None
        now = time.time()
        return token if now < stale_at and (now < due_at or now < self._next_look) else None

    def _drive(self, flow: Flow) -> Token:
        ticket: Ticket | None = None
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
                    kind = op[0]
                    if kind == "call":
                        result = op[1](*op[2:])
                    elif kind == "sleep":
                        time.sleep(op[1])
                    elif kind == "fetch":
                        result = self.endpoint.fetch(op[1])
                    else:
                        result = ticket = self._ticket_op(op, ticket)
                except Exception as exc:
                    error = exc
        finally:
            if ticket is not None and not self._keeps(ticket):
                self._leave(ticket)

    # -- async -----------------------------------------------------------------------------------------------

    async def aget_token(self, force_refresh: bool = False, stale: Token | None = None) -> Token:
        """Async `get_token`: the endpoint through httpx.AsyncClient, the store from a thread, sleeps awaited."""
        stale = self._stale(force_refresh, stale)
        token = self._held(stale)
        if token is not None:
            return token
        # Poll the lock the threads use (backing off): no thread is parked on it if this task is cancelled.
        pause = 0.005
        while not self._lock.acquire(blocking=False):
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.25)
        try:
            return await self._adrive(self._flow(force_refresh, stale))
        finally:
            self._lock.release()

    async def _adrive(self, flow: Flow) -> Token:
        ticket: Ticket | None = None
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
                    kind = op[0]
                    if kind == "call":
                        result = await asyncio.to_thread(op[1], *op[2:])
                    elif kind == "sleep":
                        await asyncio.sleep(op[1])
                    elif kind == "fetch":
                        result = await self.endpoint.afetch(op[1])
                    else:
                        result = ticket = await asyncio.to_thread(self._ticket_op, op, ticket)
                except Exception as exc:
                    error = exc
        finally:
            if ticket is not None and not self._keeps(ticket):
                await asyncio.to_thread(self._leave, ticket)

    # -- queue operations, shared by both drivers --------------------------------------------------------------

    def _ticket_op(self, op: Operation, held: Ticket | None) -> Ticket | None:
        """("enter",), ("renew", ticket) or ("held",): the queue operations whose ticket the driver keeps."""
        if op[0] == "enter":
            return self.store.queue.enter()
        if op[0] == "renew":
            return self.store.queue.renew(op[1])
        if op[0] == "held":
            return held
        raise ValueError(f"unknown operation {op[0]!r}")

    def _keeps(self, ticket: Ticket) -> bool:
        return self._unsaved is not None and self._unsaved[1] is not None and self._unsaved[1].id == ticket.id

    def _leave(self, ticket: Ticket) -> None:
        try:
            self.store.queue.leave(ticket)
        except Exception as exc:  # the ticket expires by itself; others wait at most its time to live
            log.warning("Could not leave the refresh queue of %s (%s); the ticket will expire", self.name, exc)

    # -- the one flow ----------------------------------------------------------------------------------------

    def _flow(self, force_refresh: bool, stale: Token | None) -> Flow:
        """Memory, then the store, then a renewal (unless another process's renewal is under way)."""
        if self._unsaved is not None:
            yield from self._save_unsaved()
        token = self._held(stale)
        if token is not None:
            return token
        stored = yield ("call", self.store.load)
        if force_refresh and stale is None:
            stale = stored  # nothing in memory to replace: the stored token is the one to replace
        current = _newest(t for t in (self._token, stored) if self._usable(t, stale))
        if current is not None:
            self._adopt(current)
            if not self._due(current):
                return current
        return (yield from self._renew(current, stored, stale))

    def _renew(self, current: Token | None, stored: Token | None, stale: Token | None) -> Flow:
        """Renew, or leave it to the process already renewing. `current`: a valid token we may keep using."""
        exclusive = self._presents_refresh_token(stored or self._seed())
        while (yield ("call", self.store.queue.busy)):
            if current is not None:  # valid, merely due: let the other process renew, look again later
                now = time.time()
                until_stale = self._times(current)[0] - now
                pause = max(self._poll(), min(POLL_MAX, until_stale / 4))
                self._next_look = now + pause * (0.75 + 0.5 * random.random())
                return current
            token = yield from self._watch(stale, exclusive)
            if token is not None:
                return token
            if not exclusive:
                break  # waited long enough for another login: a concurrent one is harmless
        ticket = yield ("enter",)
        token = yield from self._wait_turn(ticket, stale, exclusive)
        return token if token is not None else (yield from self._obtain(stale))

    def _watch(self, stale: Token | None, exclusive: bool) -> Generator[Operation, Any, Token | None]:
        """Poll the store for a newer token while another process renews; None once nobody is renewing."""
        started, pause, looks = time.monotonic(), self._poll(), 0
        limit = self.store.queue.ttl + 60 if exclusive else self._impatience()
        while True:
            yield ("sleep", pause * (0.75 + 0.5 * random.random()))
            stored = yield ("call", self.store.load)
            if self._usable(stored, stale):
                return self._adopt(stored)  # type: ignore[arg-type]
            looks += 1
            if looks % 3 == 0 and not (yield ("call", self.store.queue.busy)):
                return None
            if time.monotonic() - started > limit:
                if not exclusive:
                    return None
                raise TokenStoreError(
                    f"waited {limit:.0f} s for another worker to renew the token of {self.name!r}; "
                    "its refresh queue never emptied"
                )
            pause = min(pause * POLL_GROWTH, max(POLL_MAX, 4 * self.store.latency))

    def _wait_turn(
        self, ticket: Ticket, stale: Token | None, exclusive: bool
    ) -> Generator[Operation, Any, Token | None]:
        """Wait in the queue until it is our turn (None), or until another process's new token shows up.

        Without a refresh token to protect, the wait is short: past it, a concurrent login is the lesser evil.
        """
        started, pause = time.monotonic(), self._poll()
        limit = 2 * self.store.queue.ttl if exclusive else self._impatience()
        while True:
            if (yield ("call", self.store.queue.blocker, ticket)) is None:
                return None
            stored = yield ("call", self.store.load)
            if self._usable(stored, stale) and not self._due(stored):  # type: ignore[arg-type]
                return self._adopt(stored)  # type: ignore[arg-type]
            if time.monotonic() - started > limit:
                if not exclusive:
                    return None
                raise TokenStoreError(f"waited {limit:.0f} s in the refresh queue of {self.name!r}")
            if time.time() - ticket.written > self.store.queue.ttl / 3:
                ticket = yield ("renew", ticket)
            yield ("sleep", pause * (0.75 + 0.5 * random.random()))
            pause = min(pause * POLL_GROWTH, max(POLL_MAX, 4 * self.store.latency))

    def _obtain(self, stale: Token | None) -> Flow:
        """Our turn: re-read (another process may just have renewed), then the endpoint, then save."""
        stored = yield ("call", self.store.load)
        if self._usable(stored, stale) and not self._due(stored):  # type: ignore[arg-type]
            return self._adopt(stored)  # type: ignore[arg-type]
        previous = stored or self._seed()
        try:
            token = yield ("fetch", previous)
        except InvalidGrantError:
            token = yield from self._after_invalid_grant(previous, stale)
            if token is None:
                raise
            if token.access_token == getattr(self._token, "access_token", None):
                return token  # another process's rotated token, already in the store
        log.info(
            "Token of %s obtained by %s, valid until %s",
            self.name,
            self._how(previous),
            token.expires_at.isoformat() if token.expires_at else "no expiry given",
        )
        yield from self._save(token)
        return self._adopt(token)

    def _save(self, token: Token) -> Generator[Operation, Any, None]:
        """Save before anyone uses the token: retried; a refresh token that cannot be saved is kept in memory."""
        pause = max(0.1, 2 * self.store.latency)
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                yield ("call", self.store.save, token)
                return
            except TokenStoreError as exc:
                log.warning("Saving the token of %s failed (attempt %d): %s", self.name, attempt, exc)
                if attempt < SAVE_ATTEMPTS:
                    yield ("sleep", pause)
                    pause *= 2
        if token.refresh_token:
            self._unsaved = (token, (yield ("held",)))
            log.error(
                "The renewed token of %s could not be saved; it is kept in this process, which holds its place in "
                "the refresh queue and saves it on its next call. Other processes wait for it.",
                self.name,
            )

    def _save_unsaved(self) -> Generator[Operation, Any, None]:
        token, ticket = self._unsaved  # type: ignore[misc]
        try:
            yield ("call", self.store.save, token)
        except TokenStoreError as exc:
            log.warning("Saving the kept token of %s failed again: %s", self.name, exc)
            return
        self._unsaved = None
        if ticket is not None:
            yield ("call", self._leave, ticket)
        log.info("The kept token of %s is saved", self.name)

    def _after_invalid_grant(self, used: Token | None, stale: Token | None) -> Generator[Operation, Any, Token | None]:
        """A dead refresh token: another process may have rotated it, so re-read once; else start over."""
        if used is None or not used.refresh_token:
            return None
        stored = yield ("call", self.store.load)
        if self._usable(stored, stale):
            return self._adopt(stored)  # type: ignore[arg-type]
        if stored is not None and stored.refresh_token and stored.refresh_token != used.refresh_token:
            return (yield ("fetch", stored))
        if self.endpoint.grant.can_start_over():
            log.warning(
                "The refresh token of %s was refused; logging in again instead. If this repeats, check the "
                "connection's refresh_url, refresh_field and refresh_path.",
                self.name,
            )
            return (yield ("fetch", None))
        return None

    # -- helpers -----------------------------------------------------------------------------------------------

    def _presents_refresh_token(self, previous: Token | None) -> bool:
        try:
            return self.endpoint.grant.token_request(previous).purpose == "refresh"
        except Exception:  # a config the endpoint refuses: the fetch will say why
            return False

    def _how(self, previous: Token | None) -> str:
        if self._presents_refresh_token(previous):
            return "refresh"
        config = getattr(self.endpoint.grant, "config", None)
        grant_type = getattr(config, "grant_type", None)
        return f"the {grant_type.replace('_', ' ')} grant" if grant_type else "login"

    def _stale(self, force_refresh: bool, stale: Token | None) -> Token | None:
        return stale if stale is not None or not force_refresh else self._token

    def _seed(self) -> Token | None:
        """A placeholder carrying the connection's initial refresh token, when the store has none."""
        if not self.initial_refresh_token:
            return None
        return Token(access_token="", expires_at=None, refresh_token=self.initial_refresh_token)


def _lifetime(token: Token) -> float | None:
    if token.expires_at is None:
        return None
    return max(0.0, (token.expires_at - token.obtained_at).total_seconds())


def _newest(tokens: Any) -> Token | None:
    return max(tokens, key=lambda t: t.obtained_at, default=None)
