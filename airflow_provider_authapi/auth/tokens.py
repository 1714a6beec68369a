"""Tokens: what one is, where it lives between requests, tasks and workers, and `TokenManager`, which keeps one
valid for everybody with as few token requests as possible.

`Token` is what a token endpoint handed out, with an absolute expiry.

The core needs only a few shared registers (`Registers`: get, set, delete, and list keys by prefix where they
can); the Airflow layer gives it Variables. On them `SharedTokenStore` keeps one token record, and
`RefreshQueue` lets processes take turns to renew: Lamport's bakery, so two processes never present the same
refresh token, however slow the registers are. The only timing assumption is a ticket's time to live (minutes),
which matters only when a process dies holding a ticket. Registers that cannot list keys get `LeaseQueue`
(Fischer's exclusion, timed) and, behind it, `PresentOnce` (a clock-free claim on each refresh token).

`TokenManager` (below): one token per config, shared by threads, coroutines and processes, renewed as rarely
as possible.

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
import hashlib
import json
import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import jwt
import pendulum
from pendulum import DateTime

from airflow_provider_authapi.auth.config import DEFAULT_LEEWAY
from airflow_provider_authapi.auth.errors import DamagedRecordError, InvalidGrantError, TokenStoreError

if TYPE_CHECKING:
    from airflow_provider_authapi.auth.grants import TokenEndpoint

log = logging.getLogger(__name__)

# QuickBooks' company id: its consent callback sends `realmId`, saved with the token under this key.
REALM_ID = "realm_id"
# The API base URL a token response names (Salesforce: the org's `instance_url`), saved with the token.
INSTANCE_URL = "instance_url"
# The values a connection learned after its consent (`auth/derived.py`): `{name: value}`, none of them a secret.
DERIVED = "derived"
# Keys of `Token.extra` that are no secret: shown with the token's state and usable as `{name}` in endpoints.
PUBLIC_EXTRA_KEYS = (REALM_ID, INSTANCE_URL, DERIVED)
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
        expires_at: DateTime | None = None,
        default_lifetime: float | None = None,
        max_lifetime: float | None = None,
        now: DateTime | None = None,
        **kwargs: Any,
    ) -> Token:
        """Build a token whose expiry comes from `expires_in`, else the absolute `expires_at` (GitHub's
        installation tokens), else the JWT `exp`, else the default.

        `max_lifetime` caps whichever applies: the shorter of declared and configured lifetimes wins. A declared
        lifetime of 0 or less (an `expires_at` already past) is ignored (taken at its word, every call would fetch
        a new token), one past `LIFETIME_BOUNDS` is cut to it (`1e12` is past any date); both are logged.
        """
        now = now or pendulum.now("UTC")
        lifetime: float | None = None
        if expires_in is not None:
            lifetime = _bounded_lifetime(float(expires_in), "expires_in")
        if lifetime is None and expires_at is not None:
            lifetime = _bounded_lifetime(expires_at.timestamp() - now.timestamp(), "expires_at")
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

STORE_FORMAT_VERSION = 2  # version 1: the whole token in plain JSON under `token` (read, migrated on save)
TICKET_TTL = 180.0  # > a token request's worst case (30 s timeout x retries within 60 s) plus the save
LATENCY_FLOOR = 0.01


LEASE_DELAY = 4.0  # Fischer's D (seconds) for `LeaseQueue`: one value for every process sharing a lease


class Registers(Protocol):
    """Shared string registers: each call is atomic; there is no compare-and-set.

    Listing keys by prefix (`keys`) is optional: only `RefreshQueue` needs it, and the Task SDK has it only
    from Airflow 3.3. `lists_keys` tells the two kinds apart.
    """

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    def delete(self, key: str) -> None: ...


def lists_keys(registers: object) -> bool:
    """Whether `registers` can list keys by prefix: its `lists_keys` flag if it has one, else a `keys` method."""
    flag = getattr(registers, "lists_keys", None)
    return bool(flag) if flag is not None else callable(getattr(registers, "keys", None))


class MemoryRegisters:
    """Registers in a dict, shared by the threads of one process (tests).

    `latency` delays every call (seconds, or a function drawing them); each call takes effect at a random
    instant within its delay, as a remote store's calls do. `lists_keys=False` hides `keys` from the queue
    choice, as the Task SDK before Airflow 3.3 has none.
    """

    def __init__(self, latency: float | Callable[[], float] = 0.0, *, lists_keys: bool = True) -> None:
        self.latency, self.lists_keys = latency, lists_keys
        self.calls = 0
        self._data: dict[str, str] = {}
        self._lock = threading.Lock()

    def _op(self, apply: Callable[[], Any]) -> Any:
        self.calls += 1
        delay = self.latency() if callable(self.latency) else self.latency
        if not delay:
            with self._lock:
                return apply()
        before = delay * random.random()
        time.sleep(before)
        with self._lock:
            result = apply()
        time.sleep(delay - before)
        return result

    def get(self, key: str) -> str | None:
        return self._op(lambda: self._data.get(key))

    def set(self, key: str, value: str) -> None:
        self._op(lambda: self._data.__setitem__(key, value))

    def delete(self, key: str) -> None:
        self._op(lambda: self._data.pop(key, None))

    def keys(self, prefix: str) -> list[str]:
        return self._op(lambda: sorted(k for k in self._data if k.startswith(prefix)))


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
        self.lists_keys = lists_keys(inner)

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
        return self._timed(self.inner.keys, prefix)  # type: ignore[attr-defined]


def time_to_live(floor: float, meter: LatencyMeter) -> float:
    """How long a queue's or claim's register counts after it is seen: `floor`, or 100 store latencies."""
    return max(floor, 100 * meter.value)


@dataclass(frozen=True)
class Ticket:
    """A place in the refresh queue: while `choosing`, its number is not yet taken (a lease's ticket: number 1)."""

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


class TurnQueue(Protocol):
    """What `TokenManager` asks of a refresh queue: `RefreshQueue` (the bakery) or `LeaseQueue`."""

    @property
    def ttl(self) -> float: ...

    def live(self) -> list[Ticket]: ...

    def busy(self) -> bool: ...

    def enter(self) -> Ticket: ...

    def blocker(self, ticket: Ticket) -> Ticket | None: ...

    def renew(self, ticket: Ticket) -> Ticket: ...

    def leave(self, ticket: Ticket) -> None: ...


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
        return time_to_live(self.ttl_floor, self.meter)

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
        keys = self.registers.keys(self.prefix)  # type: ignore[attr-defined]
        tickets = (Ticket.parse(key[len(self.prefix) :]) for key in keys)
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


class LeaseQueue:
    """Fischer's mutual exclusion on one register, `<prefix>lease` = "<nonce> <expires>", plus `<prefix>turn`,
    where each process that takes its turn announces it (so a late claim can tell it harmed nobody). No listing.

    - claim (`enter`, then `blocker` until our turn): read `turn` (a), note t0, read the lease. One that counts
      (below) blocks us. Else write ours (a new nonce per attempt); t1 = when its ack came back. If t1 - t0 > D
      (`delay`, the same in every process) the claim is late: we do not enter. Else sleep D and read: not ours,
      blocked. Ours: write our nonce to `turn`, then read the lease once more: ours, our turn (any other value
      there is a late write, which we delete, and we try again).
    - A lease counts for `ttl` after THIS process first read that value (not by its written expiry, which is
      for people): no wall clocks are compared, and a write landing late counts from when it is seen. Our own
      late write counts for us until `turn` no longer reads (a) (then someone may be inside: we wait until it
      is gone, or `ttl`) and not at all while `turn` still reads (a): nobody entered, it protects nobody.
    - leave: read the lease; delete it if ours, or (holding) if any value is there: only late writes can be;
      or our own late write that no longer counts, D or more after its ack.

    Safety assumes only that each call takes effect at one instant between its send and its ack (no bound on
    the store's latency), and that a turn (re-read, token request, save, leave) is over within 3/4 ttl of its
    t0 (a confirmation later than ttl/4 after t0 is given up). Say A entered: its write landed at a_w <= t1_A
    and its confirming read, sent at t1_A + D, found it at s_A >= a_w + D. (1) No write landed in (a_w, s_A].
    (2) A process B that takes a turn too read "free" at r_B and its write landed at b_w, b_w - r_B <= D. If
    b_w <= s_A, by (1) b_w < a_w, and B's confirmation finds A's later write, not its own. So b_w > s_A >= a_w +
    D, hence r_B > a_w: B read "free" while A held, so A's lease had been replaced by then: by a write W that
    landed after s_A (it counts for every reader for ttl after first seen, past A's turn), or deleted. W's
    writer read "free" before a_w (else this argument one step earlier) and landed after s_A: it is late and
    does not enter. It stops counting its own write early only if `turn` still reads (a) after t1_W; but A
    announced before its last read, which came before W landed (else A saw W and did not enter), so `turn`
    has changed. A delete or a holder's renewal is sent only after its sender read its own lease (or a late
    write) at x, so it erases A's only if A wrote after x, having read "free" before x, before the sender's
    D-long wait began: A was late. So B never enters while A holds. Late writes cost availability only; a dead
    holder blocks for ttl, as a bakery ticket does.
    """

    def __init__(
        self,
        registers: Registers,
        prefix: str,
        meter: LatencyMeter,
        ttl: float = TICKET_TTL,
        delay: float = LEASE_DELAY,
    ) -> None:
        self.registers, self.key, self.turn_key, self.meter = registers, prefix + "lease", prefix + "turn", meter
        self.ttl_floor, self.delay = ttl, delay
        self.late_claims = 0  # claims whose write came back later than `delay` (tests, benchmarks)
        self._held: dict[str, tuple[str, float]] = {}  # ticket id -> (the lease value it holds, its claim's t0)
        self._found: dict[str, Ticket | None] = {}  # ticket id -> what `enter` found, for the first `blocker`
        self._late: dict[str, tuple[float, str | None, float]] = {}  # our late nonce -> (hold-off end, turn, ack)
        self._seen: dict[str, float] = {}  # lease value -> when this process first read it (monotonic)

    @property
    def ttl(self) -> float:
        return time_to_live(self.ttl_floor, self.meter)

    def _counts(self, value: str | None) -> bool:
        """Whether the lease `value` keeps us out (see the class docstring)."""
        if not value:
            return False
        now = time.monotonic()
        late = self._late.get(value.split(" ", 1)[0])
        if late is not None:
            until, announced, _ = late
            return now < until and self.registers.get(self.turn_key) != announced
        return now - self._seen.setdefault(value, now) < self.ttl

    def _forget_old(self) -> None:
        now, ttl = time.monotonic(), self.ttl
        self._seen = {value: seen for value, seen in self._seen.items() if now - seen < 2 * ttl}
        self._late = {nonce: late for nonce, late in self._late.items() if now - late[0] < ttl}

    def _as_ticket(self, value: str | None) -> Ticket:
        nonce, _, expires = (value or "").partition(" ")
        return Ticket(nonce, 1, False, int(expires) if expires.isdigit() else 0)

    def _value(self, nonce: str) -> str:
        return f"{nonce} {int(time.time() + self.ttl) + 1}"

    def live(self) -> list[Ticket]:
        """The lease as a ticket, when one counts."""
        value = self.registers.get(self.key)
        return [self._as_ticket(value)] if self._counts(value) else []

    def busy(self) -> bool:
        """True when somebody holds the lease (or may: a late claim)."""
        return self._counts(self.registers.get(self.key))

    def enter(self) -> Ticket:
        """A ticket for one process's turn, after a first claim (`blocker` says whether it succeeded)."""
        now = time.time()
        ticket = Ticket(uuid.uuid4().hex[:16], 1, False, int(now + self.ttl) + 1, written=now)
        self._found[ticket.id] = self._claim(ticket)
        return ticket

    def blocker(self, ticket: Ticket) -> Ticket | None:
        """The lease in our way (claiming again if none is), or None once it is ours."""
        if ticket.id in self._held:
            return None
        if ticket.id in self._found:
            return self._found.pop(ticket.id)
        return self._claim(ticket)

    def _claim(self, ticket: Ticket) -> Ticket | None:
        self._forget_old()
        announced = self.registers.get(self.turn_key)
        started = time.monotonic()
        found = self.registers.get(self.key)
        if self._counts(found):
            return self._as_ticket(found)
        nonce = uuid.uuid4().hex[:16]
        mine = self._value(nonce)
        self.registers.set(self.key, mine)
        acked = time.monotonic()
        if acked - started > self.delay:
            self._late[nonce] = (acked + self.ttl, announced, acked)
            self.late_claims += 1
            log.info("A claim of %s took %.1f s, over %.1f s: it holds off", self.key, acked - started, self.delay)
            return self._as_ticket(mine)
        time.sleep(self.delay)
        found = self.registers.get(self.key)
        if found != mine:
            return self._as_ticket(found)
        self.registers.set(self.turn_key, nonce)
        found = self.registers.get(self.key)
        if found != mine or time.monotonic() - started > self.ttl / 4:
            self.registers.delete(self.key)  # a late write (nobody else is inside) or too little time left
            return self._as_ticket(found)
        self._held[ticket.id] = (mine, started)
        return None

    def renew(self, ticket: Ticket) -> Ticket:
        """A later expiry: written anew when held (readers count it afresh); a waiting ticket holds nothing."""
        now = time.time()
        held = self._held.get(ticket.id)
        if held is not None and self.registers.get(self.key) == held[0]:
            renewed = self._value(held[0].split(" ", 1)[0])
            self._held[ticket.id] = (renewed, held[1])
            self.registers.set(self.key, renewed)
        return replace(ticket, expires=int(now + self.ttl) + 1, written=now)

    def leave(self, ticket: Ticket) -> None:
        self._found.pop(ticket.id, None)
        held = self._held.pop(ticket.id, None)
        if held is None and not self._late:
            return  # it never held the lease and left no late write: nothing to give back
        found = self.registers.get(self.key)
        if not found:
            return
        if held is not None and (found == held[0] or time.monotonic() - held[1] < 0.75 * self.ttl):
            self.registers.delete(self.key)  # ours, or a late write over ours (nobody else can be inside)
        elif held is None and self._harmless_late(found):
            self.registers.delete(self.key)  # our late write, which protects nobody (any more)

    def _harmless_late(self, value: str) -> bool:
        """Our late write, safe to delete: it protects nobody, and D has passed since its ack (a claim that read
        "free" before it landed and writes after our read measured more than D: it is late itself)."""
        late = self._late.get(value.split(" ", 1)[0])
        return late is not None and time.monotonic() >= late[2] + self.delay and not self._counts(value)


class PresentOnce:
    """At most one process presents a given refresh token: Moir and Anderson's splitter, on registers named after
    the token (a digest, `<prefix>once.<digest>.<round>.{x,y,z}`), with no listing and no clock in its safety.

    The guard behind `LeaseQueue`, whose exclusion rests on timing: two processes the lease let in at once still
    present a refresh token once. `take` runs one round's splitter: write x := me; y already set: somebody is
    through, lose; y := me; x still me: won (of any number of contenders at most one gets here; with contention
    possibly none). The winner announces z := me, then reads the next round's y: set, a later round began
    (below), so it deletes its z and loses; and no earlier round's winner may be alive (z). A later round begins
    only when a round has no winner announced within `grace` of its y being first seen, or its winner's z has
    been seen for `ttl` (a dead winner): the winner's (write z, read next y) and the next round's (write y, read
    z) cross, so at least one sees the other. Safety assumes linearizable registers (each call takes effect at one
    instant between its send and its answer) and that a live winner's read of the next y returns within `ttl`.
    A client that re-sends a timed-out call breaks the first for the re-sent call alone; an x written slower than
    `delay` (the lease's D, below the Task SDK client's time-out) may have been, so its writer loses the round.

    The caller re-reads the token record after winning: a process that read the record before it moved on could
    win a generation whose registers were released; the record shows it the new token instead. `release` deletes
    a generation's registers once its new token is saved (or seen).
    """

    ROUNDS = 64  # a generation with this many dead rounds is a store that loses writes

    def __init__(
        self,
        registers: Registers,
        prefix: str,
        meter: LatencyMeter,
        ttl: float = TICKET_TTL,
        grace: float = 0.0,
        delay: float = LEASE_DELAY,
    ) -> None:
        self.registers, self.prefix, self.meter = registers, prefix + "once.", meter
        self.ttl_floor, self.grace_floor, self.delay = ttl, grace, delay
        self._seen: dict[str, float] = {}  # register value -> when this process first read it (monotonic)
        self._rounds: dict[str, int] = {}  # generation -> the highest round this process touched
        self._jitter = random.random()
        self._won: set[str] = set()  # generations this process won and has not released

    @property
    def ttl(self) -> float:
        return time_to_live(self.ttl_floor, self.meter)

    @property
    def grace(self) -> float:
        """How long a round may show a y and no winner before this process begins a later round: a share of
        it drawn per process, so that the processes of a round nobody won do not all contend again at once."""
        return max(self.grace_floor, 20 * self.meter.value) * (1 + self._jitter)

    def generation(self, refresh_token: str) -> str:
        return hashlib.sha256(f"{self.prefix}{refresh_token}".encode()).hexdigest()[:16]

    def _key(self, generation: str, round_: int, name: str) -> str:
        return f"{self.prefix}{generation}.{round_}.{name}"

    def _seen_for(self, value: str) -> float:
        now = time.monotonic()
        return now - self._seen.setdefault(value, now)

    def take(self, refresh_token: str) -> bool:
        """True when this process alone may present `refresh_token`; False while another one may."""
        generation = self.generation(refresh_token)
        if generation in self._won:
            return True  # won before (a call that failed after winning comes back for it)
        round_ = 0
        while (y := self.registers.get(self._key(generation, round_, "y"))) is not None:
            z = self.registers.get(self._key(generation, round_, "z"))
            if (self._seen_for(z) < self.ttl) if z is not None else (self._seen_for(y) < self.grace):
                return False  # a winner at work (or a round under way that may yet have one)
            round_ += 1  # a dead winner, or a round that nobody won
            if round_ >= self.ROUNDS:
                raise TokenStoreError(f"{round_} rounds of {self.prefix}{generation} found no winner")
        self._rounds[generation] = max(round_, self._rounds.get(generation, 0))
        me = uuid.uuid4().hex[:16]
        x, y_key, z_key = (self._key(generation, round_, name) for name in "xyz")
        started = time.monotonic()
        self.registers.set(x, me)
        if time.monotonic() - started > self.delay:
            return False  # the client may have sent it again after a time-out: a copy landing later could be
            # the x we read back below, so this process cannot trust that read (nobody else can be fooled by it)
        if self.registers.get(y_key) is not None:
            return False
        self.registers.set(y_key, me)
        if self.registers.get(x) != me:
            return False
        self.registers.set(z_key, me)
        if self.registers.get(self._key(generation, round_ + 1, "y")) is not None or any(
            (z := self.registers.get(self._key(generation, earlier, "z"))) is not None and self._seen_for(z) < self.ttl
            for earlier in range(round_)
        ):
            self.registers.delete(z_key)  # a later round began, or an earlier winner lives: theirs, not ours
            return False
        self._won.add(generation)
        return True

    def release(self, refresh_token: str) -> None:
        """Delete the generation's registers (every round this process touched): call once the record moved on."""
        generation = self.generation(refresh_token)
        self._won.discard(generation)
        if generation not in self._rounds:
            return  # this process wrote nothing there
        for round_ in range(self._rounds.pop(generation) + 1):
            for name in "xyz":
                self.registers.delete(self._key(generation, round_, name))
        now = time.monotonic()
        self._seen = {value: seen for value, seen in self._seen.items() if now - seen < 2 * self.ttl}


def refresh_queue(registers: Registers, prefix: str, meter: LatencyMeter, ttl: float = TICKET_TTL) -> TurnQueue:
    """The refresh queue on `registers`: the bakery where they list keys, else the lease."""
    if lists_keys(registers):
        return RefreshQueue(registers, prefix, meter, ttl)
    return LeaseQueue(registers, prefix, meter, ttl)


@runtime_checkable
class TokenStore(Protocol):
    """Persistent, shared token storage plus the refresh queue of the processes sharing it."""

    name: str
    queue: TurnQueue

    @property
    def latency(self) -> float:
        """Seconds a call to the store takes here (recent, pessimistic): timing bounds scale with it."""

    def load(self) -> Token | None:
        """The stored token, or None when there is none (or it belongs to other credentials)."""

    def save(self, token: Token) -> None:
        """Persist `token`; raise `TokenStoreError` when that fails (never fail silently)."""

    def clear(self) -> None:
        """Forget the stored token."""


class Sealer(Protocol):
    """Encrypts the secrets of a token record (the Airflow layer: Fernet with Airflow's key)."""

    def seal(self, data: bytes) -> str | None:
        """`data` encrypted as text, or None when this process has no key (the record then keeps them readable)."""

    def unseal(self, text: str) -> bytes:
        """The sealed data; ValueError (saying why, never quoting `text`) when it cannot be decrypted here."""


@dataclass(frozen=True)
class StoredRecord:
    """A token record as read: its token and fingerprint, or the `problem` that makes it unreadable (damaged)."""

    key: str
    fingerprint: str | None = None
    token: Token | None = field(default=None, repr=False)
    problem: str | None = None


class SharedTokenStore:
    """One token record (JSON, with a fingerprint of the credentials) and a refresh queue on `registers`.

    A token saved under other credentials reads as absent. The record's layout (version 2) keeps what a person
    may see in plain JSON (`expires_at`, `obtained_at`, `scope`, `fingerprint`) and the secrets (tokens, token
    type, `extra`) in `sealed`, encrypted by `sealer`, or, without a sealer or key, in `secrets` (a key name
    Airflow's masker hides). Every key name is one the masker leaves alone but `secrets`, so Airflow's Variables
    page shows the record as it is and a Save writes it back unchanged. A record that does not read back
    (redacted `***` values, hand edits, garbage, another connection's sealed part) is damaged: `load` raises
    `DamagedRecordError` naming the fix, `status` reports it, `clear` always works. `legacy_key` holds a version 1
    record (`{"token": {...}}`), read while the key holds none and deleted by the next save.
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
        sealer: Sealer | None = None,
        legacy_key: str | None = None,
    ) -> None:
        self.name, self.fingerprint, self.key = name, fingerprint, token_key
        self.sealer, self.legacy_key = sealer, legacy_key
        self._legacy_seen = False
        self.meter = LatencyMeter()
        self.registers: Registers = _TimedRegisters(registers, self.meter)
        self.queue = refresh_queue(self.registers, queue_prefix, self.meter, ticket_ttl)
        # Behind the lease (timing-based), a refresh token is also claimed before it is presented (clock-free).
        self.claims = (
            PresentOnce(self.registers, queue_prefix, self.meter, ticket_ttl)
            if isinstance(self.queue, LeaseQueue)
            else None
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, key={self.key!r})"

    @property
    def latency(self) -> float:
        return self.meter.value

    def read_record(self) -> StoredRecord | None:
        """The stored record (damaged or not), or None when nothing is stored; only a failed read raises."""
        raw = self.registers.get(self.key)
        if raw:
            return _decode_record(raw, self.key, self.name, self.sealer)
        if self.legacy_key and (raw := self.registers.get(self.legacy_key)):
            self._legacy_seen = True
            return _decode_record(raw, self.legacy_key, self.name, self.sealer)
        return None

    clear_command = "airflow authapi token clear"  # the CLI that clears a record (Airflow 3.1: airflow-authapi)

    def damage_message(self, record: StoredRecord) -> str:
        """What is wrong with a damaged record and the one action that fixes it (no value of the record)."""
        return (
            f"the token record {record.key!r} of connection {self.name!r} is damaged: {record.problem}. Clear it "
            f"(Admin > API tokens > Clear, or `{self.clear_command} {self.name}`); the next task then obtains "
            "a new token (an authorization code connection needs Authorize again)"
        )

    def load(self) -> Token | None:
        record = self.read_record()
        if record is None:
            return None
        if record.problem is not None:
            raise DamagedRecordError(self.damage_message(record))
        return record.token if record.fingerprint == self.fingerprint else None

    def save(self, token: Token) -> None:
        try:
            self.registers.set(self.key, self._encode(token))
        except TokenStoreError:
            raise
        except Exception as exc:
            raise TokenStoreError(
                f"could not save the token of connection {self.name!r} to {self.key!r}: {type(exc).__name__}"
            ) from None
        if self._legacy_seen and self.legacy_key:  # migrated: the version 1 record is no longer read
            try:
                self.registers.delete(self.legacy_key)
                self._legacy_seen = False
            except Exception as exc:
                log.warning("Could not delete the old token record %r (%s)", self.legacy_key, type(exc).__name__)

    def _encode(self, token: Token) -> str:
        secrets = {
            "conn_id": self.name,
            "fingerprint": self.fingerprint,
            "access_token": token.access_token,
            "refresh_token": token.refresh_token,
            "token_type": token.token_type,
            "extra": token.extra,
        }
        record: dict[str, Any] = {
            "version": STORE_FORMAT_VERSION,
            "conn_id": self.name,
            "fingerprint": self.fingerprint,
            "saved_at": time.time(),
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
            "obtained_at": token.obtained_at.isoformat(),
            "scope": token.scope,
        }
        sealed = self.sealer.seal(json.dumps(secrets).encode()) if self.sealer is not None else None
        if sealed is not None:
            record["sealed"] = sealed
        else:
            record["secrets"] = secrets
        return json.dumps(record)

    def clear(self) -> None:
        """Forget the token. Live tickets stay: deleting a renewing process's ticket would let a second one in."""
        self.registers.delete(self.key)
        if self.legacy_key:
            self.registers.delete(self.legacy_key)
        self._legacy_seen = False

    def status(self) -> dict[str, Any]:
        """What may be shown of the stored token: no secret, only its state (or why the record is damaged)."""
        record = self.read_record()
        if record is None:
            return {"conn_id": self.name, "stored": False}
        if record.token is None:
            return {"conn_id": self.name, "stored": True, "damaged": True, "error": self.damage_message(record)}
        token = record.token
        return {
            "conn_id": self.name,
            "stored": True,
            "current_credentials": record.fingerprint == self.fingerprint,
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
            "expired": token.is_expired(leeway=0),
            "has_refresh_token": bool(token.refresh_token),
            "refresh_expires_at": token.extra.get(REFRESH_EXPIRES_AT) if token.refresh_token else None,
            "obtained_at": token.obtained_at.isoformat(),
            "scope": token.scope,
            "extra": {k: v for k, v in token.extra.items() if k in PUBLIC_EXTRA_KEYS},
        }


# What Airflow's secrets masker puts in place of a hidden value; the Variables page saves it back as it shows it.
REDACTED = "***"
RECORD_KEYS = ("version", "conn_id", "fingerprint", "saved_at", "expires_at", "obtained_at", "scope", "sealed")


class _Damaged(ValueError):
    """Why a record does not read back: safe to show (never quotes a value)."""


def _decode_record(raw: str, key: str, conn_id: str, sealer: Sealer | None) -> StoredRecord:
    """A stored record read back, or a `StoredRecord` with the problem that makes it unreadable."""
    try:
        try:
            data = json.loads(raw)
        except ValueError:
            raise _Damaged("it is not JSON") from None
        if not isinstance(data, dict):
            raise _Damaged("it is not a JSON object")
        if _redacted(data):
            raise _Damaged(
                f"values were replaced by {REDACTED} (a Save on Admin > Variables writes back what the page shows)"
            )
        if "token" in data and data.get("version", 1) == 1:
            return _decode_v1(data, key)
        if data.get("version") != STORE_FORMAT_VERSION:
            raise _Damaged(f"its version is not {STORE_FORMAT_VERSION}")
        return _decode_v2(data, key, conn_id, sealer)
    except _Damaged as damaged:
        return StoredRecord(key, problem=str(damaged))


def _decode_v1(data: dict[str, Any], key: str) -> StoredRecord:
    try:
        token = Token.from_dict(data["token"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _Damaged(f"its token does not read back ({type(exc).__name__})") from None
    return StoredRecord(key, _text(data.get("fingerprint")), _checked(token))


def _decode_v2(data: dict[str, Any], key: str, conn_id: str, sealer: Sealer | None) -> StoredRecord:
    if "sealed" in data:
        if not isinstance(data["sealed"], str):
            raise _Damaged("its sealed part is not text")
        if sealer is None:
            raise _Damaged("it is sealed with Airflow's Fernet key, and this process has none")
        try:
            secrets = json.loads(sealer.unseal(data["sealed"]))
        except ValueError as exc:
            raise _Damaged(f"its sealed part does not decrypt ({exc})") from None
    else:
        secrets = data.get("secrets")
    if not isinstance(secrets, dict):
        raise _Damaged("it holds no sealed part")
    if (secrets.get("conn_id"), secrets.get("fingerprint")) != (data.get("conn_id"), data.get("fingerprint")):
        raise _Damaged("its sealed part belongs to another connection or credentials")
    if data.get("conn_id") != conn_id:
        raise _Damaged("it belongs to another connection")
    try:
        token = Token.from_dict({**{k: data.get(k) for k in ("expires_at", "obtained_at", "scope")}, **secrets})
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _Damaged(f"its times or token do not read back ({type(exc).__name__})") from None
    return StoredRecord(key, _text(data.get("fingerprint")), _checked(token))


def _checked(token: Token) -> Token:
    if not isinstance(token.access_token, str) or not isinstance(token.refresh_token, (str, type(None))):
        raise _Damaged("its token is not text")
    if not isinstance(token.scope, (str, type(None))) or not isinstance(token.token_type, str):
        raise _Damaged("its scope or token type is not text")
    if not isinstance(token.obtained_at, DateTime) or not isinstance(token.expires_at, (DateTime, type(None))):
        raise _Damaged("its times are not timestamps")
    return token


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _redacted(value: Any) -> bool:
    """True when any string in a JSON value is the masker's replacement."""
    if isinstance(value, str):
        return value == REDACTED
    if isinstance(value, dict):
        return any(_redacted(v) for v in value.values())
    if isinstance(value, list):
        return any(_redacted(v) for v in value)
    return False


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


# -- TokenManager ---------------------------------------------------------------------------------------------------


# Operations the flow yields: ("call", fn, *args), ("sleep", s), ("fetch", previous), and the queue's ("enter",),
# ("renew", ticket), ("held",). The drivers run them and keep the ticket the flow holds, to give it back at the end.
Operation = tuple[Any, ...]
Flow = Generator[Operation, Any, Token]


@dataclass(frozen=True)
class Adopted:
    """A token another process obtained while we waited to present ours (see `TokenManager._claimed`)."""

    token: Token


LEEWAY_SHARE = 0.05  # the leeway never exceeds this share of a token's lifetime
AHEAD_SHARE = (0.05, 0.1)  # the renewal window: at least / at most this share of the lifetime...
AHEAD_LATENCIES = 10  # ...and room for this many store calls
AHEAD_MAX = 300.0
POLL_MIN, POLL_GROWTH, POLL_MAX = 0.25, 1.5, 10.0
LEASE_PATIENCE_SHARE = 6  # behind a lease with the refresh claim, wait at most ttl / this for it (30 s)
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
        self._claim: tuple[PresentOnce, str] | None = None  # the refresh token this process alone may present
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

    def _past_patience(self, since: float) -> bool:
        """Behind a lease with the refresh claim: whether a waiter has waited long enough to go to the claim
        itself. The claim alone keeps a refresh token from being presented twice; the lease only spares it
        contention, so a lease that no one uses (a late write left there) must not stall renewals for its ttl."""
        if getattr(self.store, "claims", None) is None:
            return False
        return time.monotonic() - since > self.store.queue.ttl / LEASE_PATIENCE_SHARE

    def _impatience(self) -> float:
        """How long a renewal that presents no refresh token waits for another process's: on the lease, at least
        3 D, since a holder needs D before it may even start (2 s gave up on it: 5 logins in 2.6 lifetimes)."""
        floor = max(IMPATIENCE[0], 3 * getattr(self.store.queue, "delay", 0.0))
        return min(max(floor, 10 * self.store.latency), IMPATIENCE[1])

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
        if current is None:
            self._refuse_when_nothing_to_send(stored or self._seed())
        exclusive = self._presents_refresh_token(stored or self._seed())
        waiting_since = time.monotonic()
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
            if not exclusive or self._past_patience(waiting_since):
                break  # waited long enough for another login (harmless), or past a lease nobody uses (the claim)
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
            if exclusive and self._past_patience(started):
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
            if (yield ("call", self.store.queue.blocker, ticket)) is None or self._past_patience(started):
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
        previous = yield from self._claimed(stale)
        if isinstance(previous, Adopted):
            return previous.token
        try:
            try:
                token = yield ("fetch", previous)
            except InvalidGrantError:
                token = yield from self._after_invalid_grant(previous, stale)
                if token is None:
                    raise
                if token.access_token == getattr(self._token, "access_token", None):
                    yield from self._release_claim()
                    return token  # another process's rotated token, already in the store
        except Exception:
            yield from self._release_claim()  # as the lease is given back: the endpoint's retries are spent
            raise
        log.info(
            "Token of %s obtained by %s, valid until %s",
            self.name,
            self._how(previous),
            token.expires_at.isoformat() if token.expires_at else "no expiry given",
        )
        yield from self._save(token)
        if self._unsaved is None:
            yield from self._release_claim()  # else kept with the lease, until the token is saved
        return self._adopt(token)

    def _claimed(self, stale: Token | None) -> Generator[Operation, Any, Token | Adopted | None]:
        """What to present (the stored token, the seed, or None: a login), once it is ours alone to present; or
        the token another process obtained meanwhile (`Adopted`).

        Where the store has `claims` (behind the lease), a refresh token is presented only after `claims.take`:
        a second process let in with us waits for the token the winner saves (polling, backing off); a process
        that read the record before it moved on finds the new token on its re-read."""
        claims = getattr(self.store, "claims", None)
        claimed: str | None = None
        started, pause = time.monotonic(), self._poll()
        try:
            while True:
                stored = yield ("call", self.store.load)
                if self._usable(stored, stale) and not self._due(stored):  # type: ignore[arg-type]
                    if claimed is not None:  # won after the record moved on: nothing to present
                        yield ("call", self._release, claims, claimed)
                        claimed = None
                    return Adopted(self._adopt(stored))  # type: ignore[arg-type]
                previous = stored or self._seed()
                secret = previous.refresh_token if previous is not None else None
                if claims is None or not secret or not self._presents_refresh_token(previous):
                    return previous
                if claimed == secret:
                    return previous  # ours, and the record still holds it (re-read above)
                if claimed is not None:
                    yield ("call", self._release, claims, claimed)  # the record moved on past the one we won
                    claimed = None
                if (yield ("call", claims.take, secret)):
                    claimed = secret
                    continue  # re-read: the record may have moved on before we won
                if time.monotonic() - started > claims.ttl + 60:
                    raise TokenStoreError(
                        f"waited {claims.ttl + 60:.0f} s for another worker to present the refresh token of "
                        f"{self.name!r}; it never saved a new one"
                    )
                yield ("sleep", pause * (0.75 + 0.5 * random.random()))
                pause = min(pause * POLL_GROWTH, max(POLL_MAX, 4 * self.store.latency))
        finally:
            self._claim = (claims, claimed) if claimed is not None else None

    def _release_claim(self) -> Generator[Operation, Any, None]:
        """After the new token is saved: free the claim on the refresh token just presented."""
        if self._claim is not None:
            claims, claimed = self._claim
            self._claim = None
            yield ("call", self._release, claims, claimed)

    def _release(self, claims: PresentOnce, secret: str) -> None:
        try:
            claims.release(secret)
        except Exception as exc:  # left behind: no secret in them, and the next generation uses other names
            log.warning("Could not delete the refresh claim of %s (%s)", self.name, type(exc).__name__)

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
        yield from self._release_claim()
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
            yield from self._release_claim()  # a newer refresh token (a consent, say): claimed before presented
            again = yield from self._claimed(stale)
            return again.token if isinstance(again, Adopted) else (yield ("fetch", again))
        if self.endpoint.grant.can_start_over():
            log.warning(
                "The refresh token of %s was refused; logging in again instead. If this repeats, check the "
                "connection's refresh_url, refresh_field and refresh_path.",
                self.name,
            )
            return (yield ("fetch", None))
        return None

    # -- helpers -----------------------------------------------------------------------------------------------

    def _refuse_when_nothing_to_send(self, previous: Token | None) -> None:
        """Raise the grant's own error when it has nothing to send (an authorization code grant before its
        consent): no process can renew then, so taking a turn in the queue would only leave registers behind."""
        try:
            self.endpoint.grant.token_request(previous)
        except InvalidGrantError:
            raise
        except Exception:  # a config the endpoint refuses: the fetch will say why
            return

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
