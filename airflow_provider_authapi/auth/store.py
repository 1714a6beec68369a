"""The token, where it lives between requests, tasks and workers, and how processes take turns to renew it.

`Token` is what a token endpoint handed out, with an absolute expiry.

The core needs only a few shared registers (`Registers`: get, set, delete, list keys by prefix); the Airflow
layer gives it Variables. On them `SharedTokenStore` keeps one token record, and `RefreshQueue` lets processes
take turns to renew: Lamport's bakery, so two processes never present the same refresh token, however slow the
registers are. The only timing assumption is a ticket's time to live (minutes), which matters only when a
process dies holding a ticket.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

import jwt
import pendulum
from pendulum import DateTime

from airflow_provider_authapi.auth.config import DEFAULT_LEEWAY
from airflow_provider_authapi.auth.errors import TokenStoreError

log = logging.getLogger(__name__)

# QuickBooks' company id: its consent callback sends `realmId`, saved with the token under this key.
REALM_ID = "realm_id"
# The API base URL a token response names (Salesforce: the org's `instance_url`), saved with the token.
INSTANCE_URL = "instance_url"
# Keys of `Token.extra` that are no secret: shown with the token's state and usable as `{name}` in endpoints.
PUBLIC_EXTRA_KEYS = (REALM_ID, INSTANCE_URL)
# When the refresh token dies (ISO 8601, UTC), when the token endpoint said: `Token.extra` key, shown in statuses.
REFRESH_EXPIRES_AT = "refresh_token_expires_at"


LIFETIME_BOUNDS = (1.0, 10 * 365 * 86400.0)  # seconds a declared lifetime is kept within (a ceiling before 9999)
LAST_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z, the last instant a datetime holds


def _bounded_lifetime(seconds: float, source: str) -> float | None:
    """A declared lifetime within `LIFETIME_BOUNDS`; None (use the fallback) for 0, negative or not a number."""
    low, high = LIFETIME_BOUNDS
    if low <= seconds <= high:
        return seconds
    if not seconds > 0:  # 0, negative, NaN: nothing a token can live by; taken at its word, a token storm
        log.warning("The token's lifetime from %s is %r s; ignoring it", source, seconds)
        return None
    bounded = min(max(seconds, low), high)
    log.warning("The token's lifetime from %s is %r s; using %.0f s instead", source, seconds, bounded)
    return bounded


def jwt_expiry(token: str) -> DateTime | None:
    """Return the `exp` claim of `token` if it is a JWT (read without verifying), else None."""
    if token.count(".") != 2:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    if isinstance(exp, (int, float)) and not isinstance(exp, bool) and math.isfinite(exp):
        return pendulum.from_timestamp(min(max(exp, 0), LAST_TIMESTAMP))
    return None


@dataclass(frozen=True)
class Token:
    """An access token and what came with it. Secrets never appear in `repr()`."""

    access_token: str = field(repr=False)
    token_type: str = "Bearer"
    expires_at: DateTime | None = None
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None
    obtained_at: DateTime = field(default_factory=lambda: pendulum.now("UTC"))
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_lifetime(
        cls,
        access_token: str,
        *,
        expires_in: float | None = None,
        default_lifetime: float | None = None,
        max_lifetime: float | None = None,
        now: DateTime | None = None,
        **kwargs: Any,
    ) -> Token:
        """Build a token whose expiry comes from `expires_in`, else the JWT `exp`, else the default.

        `max_lifetime` caps whichever applies: the shorter of declared and configured lifetimes wins. A declared
        lifetime of 0 or less is ignored (taken at its word, every call would fetch a new token), one past
        `LIFETIME_BOUNDS` is cut to it (`1e12` is past any date); both are logged.
        """
        now = now or pendulum.now("UTC")
        lifetime: float | None = None
        if expires_in is not None:
            lifetime = _bounded_lifetime(float(expires_in), "expires_in")
        if lifetime is None and (exp := jwt_expiry(access_token)) is not None:
            lifetime = _bounded_lifetime(exp.timestamp() - now.timestamp(), "the JWT's exp")
        if lifetime is None and default_lifetime is not None:
            lifetime = float(default_lifetime)
        if max_lifetime is not None:
            lifetime = float(max_lifetime) if lifetime is None else min(lifetime, float(max_lifetime))
        expires_at = now.add(seconds=lifetime) if lifetime is not None else None
        return cls(access_token=access_token, expires_at=expires_at, obtained_at=now, **kwargs)

    def is_expired(self, leeway: float = DEFAULT_LEEWAY, now: DateTime | None = None) -> bool:
        """True when the token expires within `leeway` seconds (a token with no expiry never does)."""
        if self.expires_at is None:
            return False
        if now is None:  # the per-request path: plain epoch seconds, no pendulum arithmetic
            return self.expires_at.timestamp() - leeway <= time.time()
        return self.expires_at.subtract(seconds=leeway) <= now

    def with_refresh_token_kept(self, previous: Token | None) -> Token:
        """Keep the previous refresh token when a refresh response did not rotate it."""
        if self.refresh_token or previous is None or not previous.refresh_token:
            return self
        return replace(self, refresh_token=previous.refresh_token)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, for a token store."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
            "obtained_at": self.obtained_at.isoformat(),
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Token:
        """Inverse of `to_dict`."""
        expires_at = data.get("expires_at")
        return cls(
            access_token=data["access_token"],
            token_type=data.get("token_type") or "Bearer",
            expires_at=pendulum.parse(expires_at) if expires_at else None,  # type: ignore[arg-type]
            refresh_token=data.get("refresh_token"),
            scope=data.get("scope"),
            obtained_at=pendulum.parse(data["obtained_at"]),  # type: ignore[arg-type]
            extra=dict(data.get("extra") or {}),
        )


# -- Where tokens live ----------------------------------------------------------------------------------------------

STORE_FORMAT_VERSION = 1
TICKET_TTL = 180.0  # > a token request's worst case (30 s timeout x retries within 60 s) plus the save
LATENCY_FLOOR = 0.01


class Registers(Protocol):
    """Shared string registers: each call is atomic; there is no compare-and-set."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    def delete(self, key: str) -> None: ...

    def keys(self, prefix: str) -> list[str]: ...


class MemoryRegisters:
    """Registers in a dict, shared by the threads of one process; `latency` delays every call (tests)."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.calls = 0
        self._data: dict[str, str] = {}
        self._lock = threading.Lock()

    def _op(self) -> None:
        self.calls += 1
        if self.latency:
            time.sleep(self.latency)

    def get(self, key: str) -> str | None:
        self._op()
        with self._lock:
            return self._data.get(key)

    def set(self, key: str, value: str) -> None:
        self._op()
        with self._lock:
            self._data[key] = value

    def delete(self, key: str) -> None:
        self._op()
        with self._lock:
            self._data.pop(key, None)

    def keys(self, prefix: str) -> list[str]:
        self._op()
        with self._lock:
            return sorted(k for k in self._data if k.startswith(prefix))


class LatencyMeter:
    """How long a register call takes here: a moving average that rises fast and falls slowly."""

    def __init__(self) -> None:
        self.value = LATENCY_FLOOR

    def record(self, seconds: float) -> None:
        weight = 0.5 if seconds > self.value else 0.2
        self.value = max(LATENCY_FLOOR, (1 - weight) * self.value + weight * seconds)


class _TimedRegisters:
    """Registers whose calls feed a `LatencyMeter`."""

    def __init__(self, inner: Registers, meter: LatencyMeter) -> None:
        self.inner, self.meter = inner, meter

    def _timed(self, fn: Any, *args: Any) -> Any:
        started = time.monotonic()
        try:
            return fn(*args)
        finally:
            self.meter.record(time.monotonic() - started)

    def get(self, key: str) -> str | None:
        return self._timed(self.inner.get, key)

    def set(self, key: str, value: str) -> None:
        self._timed(self.inner.set, key, value)

    def delete(self, key: str) -> None:
        self._timed(self.inner.delete, key)

    def keys(self, prefix: str) -> list[str]:
        return self._timed(self.inner.keys, prefix)


@dataclass(frozen=True)
class Ticket:
    """A place in the refresh queue: while `choosing`, its number is not yet taken."""

    id: str
    number: int
    choosing: bool
    expires: int  # epoch seconds; a dead process's ticket stops counting then
    written: float = 0.0

    def order(self) -> tuple[int, str]:
        return (self.number, self.id)

    def name(self) -> str:
        """The register name, which carries the whole ticket: `<id>.c.<expires>` or `<id>.n<number>.<expires>`."""
        return f"{self.id}.{'c' if self.choosing else f'n{self.number}'}.{self.expires}"

    @classmethod
    def parse(cls, name: str) -> Ticket | None:
        try:
            ticket_id, state, expires = name.split(".")
            if state == "c":
                return cls(ticket_id, 0, True, int(expires))
            if state.startswith("n"):
                return cls(ticket_id, int(state[1:]), False, int(expires))
        except ValueError:
            pass
        return None


class RefreshQueue:
    """Lamport's bakery on shared registers, each ticket's state in its register's name.

    Listing the key prefix is then one atomic snapshot of the whole queue (one SQL query behind the Variables),
    so every check costs one call however many processes queue. `enter` announces itself (a choosing ticket),
    takes a number above every number it sees, then drops the choosing ticket; `blocker` names a ticket still
    choosing or holding a smaller (number, id), and none once it is our turn. A process that lists the queue
    after our ticket exists takes a larger number, so a queue found by listing is as sound as a fixed set of
    processes. Each process writes and deletes only its own registers, so a write that the execution API's
    client retries and lands late can only make a ticket look busier, never let a second process in.
    """

    def __init__(self, registers: Registers, prefix: str, meter: LatencyMeter, ttl: float = TICKET_TTL) -> None:
        self.registers, self.prefix, self.meter, self.ttl_floor = registers, prefix, meter, ttl

    @property
    def ttl(self) -> float:
        return max(self.ttl_floor, 100 * self.meter.value)

    def _put(self, ticket: Ticket) -> Ticket:
        self.registers.set(self.prefix + ticket.name(), "refresh queue ticket (no secret)")
        return ticket

    def _drop(self, ticket: Ticket) -> None:
        self.registers.delete(self.prefix + ticket.name())

    def _new(self, ticket_id: str, number: int, choosing: bool) -> Ticket:
        now = time.time()
        return Ticket(ticket_id, number, choosing, int(now + self.ttl) + 1, written=now)

    def live(self, *, besides: str | None = None) -> list[Ticket]:
        """The live tickets (but `besides`' own), from one listing; expired ones are left to expire."""
        now = time.time()
        tickets = (Ticket.parse(key[len(self.prefix) :]) for key in self.registers.keys(self.prefix))
        return [t for t in tickets if t is not None and t.expires > now and t.id != besides]

    def busy(self) -> bool:
        """True when somebody is renewing (a live ticket exists)."""
        return bool(self.live())

    def enter(self) -> Ticket:
        """The bakery's doorway: announce, take a number above all seen, stop choosing."""
        choosing = self._put(self._new(uuid.uuid4().hex[:16], 0, True))
        try:
            number = 1 + max((t.number for t in self.live(besides=choosing.id)), default=0)
            ticket = self._put(self._new(choosing.id, number, False))
        finally:
            self._drop(choosing)
        return ticket

    def blocker(self, ticket: Ticket) -> Ticket | None:
        """A ticket that goes before ours (or may: it is still choosing), or None when it is our turn."""
        for other in self.live(besides=ticket.id):
            if other.choosing or other.order() < ticket.order():
                return other
        return None

    def renew(self, ticket: Ticket) -> Ticket:
        """Push a held ticket's expiry out (a long wait in the queue must not make it look dead)."""
        renewed = self._put(self._new(ticket.id, ticket.number, False))
        self._drop(ticket)
        return renewed

    def leave(self, ticket: Ticket) -> None:
        self._drop(ticket)


@runtime_checkable
class TokenStore(Protocol):
    """Persistent, shared token storage plus the refresh queue of the processes sharing it."""

    name: str
    queue: RefreshQueue

    @property
    def latency(self) -> float:
        """Seconds a call to the store takes here (recent, pessimistic): timing bounds scale with it."""

    def load(self) -> Token | None:
        """The stored token, or None when there is none (or it belongs to other credentials)."""

    def save(self, token: Token) -> None:
        """Persist `token`; raise `TokenStoreError` when that fails (never fail silently)."""

    def clear(self) -> None:
        """Forget the stored token."""


class SharedTokenStore:
    """One token record (JSON, with a fingerprint of the credentials) and a refresh queue on `registers`.

    A token saved under other credentials reads as absent.
    """

    def __init__(
        self,
        registers: Registers,
        *,
        name: str,
        fingerprint: str,
        token_key: str,
        queue_prefix: str,
        ticket_ttl: float = TICKET_TTL,
    ) -> None:
        self.name, self.fingerprint, self.key = name, fingerprint, token_key
        self.meter = LatencyMeter()
        self.registers: Registers = _TimedRegisters(registers, self.meter)
        self.queue = RefreshQueue(self.registers, queue_prefix, self.meter, ticket_ttl)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, key={self.key!r})"

    @property
    def latency(self) -> float:
        return self.meter.value

    def read_record(self) -> dict[str, Any] | None:
        """The raw stored record (token included), or None; a corrupt record raises `TokenStoreError`."""
        raw = self.registers.get(self.key)
        if not raw:
            return None
        try:
            record = json.loads(raw)
            Token.from_dict(record["token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenStoreError(
                f"{self.key!r} does not hold a token record ({type(exc).__name__}); "
                f"clear it with `airflow authapi token clear {self.name}`"
            ) from None
        return record

    def load(self) -> Token | None:
        record = self.read_record()
        if record is None or record.get("fingerprint") != self.fingerprint:
            return None
        return Token.from_dict(record["token"])

    def save(self, token: Token) -> None:
        record = {
            "version": STORE_FORMAT_VERSION,
            "conn_id": self.name,
            "fingerprint": self.fingerprint,
            "saved_at": time.time(),
            "token": token.to_dict(),
        }
        try:
            self.registers.set(self.key, json.dumps(record))
        except TokenStoreError:
            raise
        except Exception as exc:
            raise TokenStoreError(
                f"could not save the token of connection {self.name!r} to {self.key!r}: {type(exc).__name__}"
            ) from None

    def clear(self) -> None:
        """Forget the token. Live tickets stay: deleting a renewing process's ticket would let a second one in."""
        self.registers.delete(self.key)

    def status(self) -> dict[str, Any]:
        """What may be shown of the stored token: no secret, only its state."""
        record = self.read_record()
        if record is None:
            return {"conn_id": self.name, "stored": False}
        token = Token.from_dict(record["token"])
        return {
            "conn_id": self.name,
            "stored": True,
            "current_credentials": record.get("fingerprint") == self.fingerprint,
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
            "expired": token.is_expired(leeway=0),
            "has_refresh_token": bool(token.refresh_token),
            "refresh_expires_at": token.extra.get(REFRESH_EXPIRES_AT) if token.refresh_token else None,
            "obtained_at": token.obtained_at.isoformat(),
            "scope": token.scope,
            "extra": {k: v for k, v in token.extra.items() if k in PUBLIC_EXTRA_KEYS},
        }


class MemoryTokenStore(SharedTokenStore):
    """A process-local store: enough for one process, and for tests of the core."""

    def __init__(self, token: Token | None = None, *, latency: float = 0.0) -> None:
        super().__init__(
            MemoryRegisters(latency), name="memory", fingerprint="", token_key="token", queue_prefix="queue:"
        )
        self.saves = 0
        if token is not None:
            super().save(token)

    def save(self, token: Token) -> None:
        super().save(token)
        self.saves += 1
