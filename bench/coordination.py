"""Refresh coordination at scale, by simulation (issue 21): the bakery (`RefreshQueue`, lists keys) against the lease
(`LeaseQueue`, one register), many processes sharing one rotating refresh token. Run by hand, not a test:

    source .venv/bin/activate && python -m bench.coordination [--processes 256 2000] [--seconds 300]

Each simulated process is a thread running Airflow-like tasks back to back: every task starts cold (its own
`TokenManager` and store object: empty memory, a fresh latency meter) and calls the API every 2 to 6 s for 30 to
90 s. All processes start at once against an empty store (the cold start). Time is virtual: the threads run one at
a time and the clock jumps to the next wake-up, so 2,000 processes and minutes of store latency simulate in
seconds, and timing is exact. Every register call takes a latency drawn from a log-normal distribution (median
`--median`, 99th percentile `--p99`, as measured through the execution API under load; AIRFLOW3-NOTES) and takes
effect at a random instant within it. The token endpoint answers after 0.2 to 0.6 s and counts a refresh token
presented twice (the strict servers revoke the whole chain then).

Reported per design, from the same run: token requests against token lifetimes elapsed, store calls per renewal
(all register calls / token requests; in brackets those on the queue's registers), the p50 / p99 / max time a
`get_token` call waited (and the p99 of calls after the first token lifetime, past the cold start), refresh
tokens presented twice (must be 0), and for the lease its late claims.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
import random
import threading
import time as real_time
import types
from dataclasses import dataclass, field

import pendulum

from airflow_provider_authapi.auth import tokens
from airflow_provider_authapi.auth.errors import InvalidGrantError
from airflow_provider_authapi.auth.tokens import LEASE_DELAY, LeaseQueue, SharedTokenStore, Token, TokenManager


class VirtualClock:
    """Virtual time for threads: one runs at a time; when all sleep, time jumps to the earliest wake-up."""

    def __init__(self, start: float) -> None:
        self.now = start
        self._lock = threading.Lock()
        self._heap: list[tuple[float, int, threading.Event]] = []
        self._seq = itertools.count()
        self._running = 0
        self._idle = threading.Event()

    def spawn(self, target, *args) -> None:
        with self._lock:
            self._running += 1

        def run() -> None:
            try:
                target(*args)
            finally:
                with self._lock:
                    self._running -= 1
                    self._advance()

        threading.Thread(target=run, daemon=True).start()

    def sleep(self, seconds: float) -> None:
        wake = threading.Event()
        with self._lock:
            heapq.heappush(self._heap, (self.now + max(0.0, seconds), next(self._seq), wake))
            self._running -= 1
            self._advance()
        wake.wait()

    def _advance(self) -> None:
        if self._running:
            return
        if not self._heap:
            self._idle.set()
            return
        at, _, wake = heapq.heappop(self._heap)
        self.now = max(self.now, at)
        self._running += 1
        wake.set()

    def hold(self) -> None:
        """Keep time still while the caller (not a simulated thread) sets things up."""
        with self._lock:
            self._running += 1

    def release_and_wait(self) -> None:
        """Let time run until every simulated thread is done."""
        with self._lock:
            self._running -= 1
            self._advance()
        self._idle.wait()


@dataclass
class World:
    """What every process shares: the clock, the registers' latency, the token server's state, the counters."""

    clock: VirtualClock
    median: float
    sigma: float
    lifetime: float
    calls: int = 0
    queue_calls: int = 0
    token_requests: int = 0
    reuses: int = 0
    live_refresh: str = "rt-0"
    waits: list[tuple[float, float]] = field(default_factory=list)  # (asked at, seconds waited)
    data: dict[str, str] = field(default_factory=dict)

    def latency(self) -> float:
        return random.lognormvariate(math.log(self.median), self.sigma)


class SimRegisters:
    """Shared registers on virtual time: a call takes effect at a random instant of its drawn latency."""

    def __init__(self, world: World, *, lists_keys: bool) -> None:
        self.world, self.lists_keys = world, lists_keys

    def _op(self, key, apply):
        self.world.calls += 1
        self.world.queue_calls += key.startswith("q:")
        delay = self.world.latency()
        before = delay * random.random()
        self.world.clock.sleep(before)
        result = apply()
        self.world.clock.sleep(delay - before)
        return result

    def get(self, key):
        return self._op(key, lambda: self.world.data.get(key))

    def set(self, key, value):
        self._op(key, lambda: self.world.data.__setitem__(key, value))

    def delete(self, key):
        self._op(key, lambda: self.world.data.pop(key, None))

    def keys(self, prefix):
        return self._op(prefix, lambda: sorted(k for k in self.world.data if k.startswith(prefix)))


class _Request:
    def __init__(self, purpose: str) -> None:
        self.purpose = purpose


class _Grant:
    def token_request(self, previous: Token | None) -> _Request:
        return _Request("refresh" if previous is not None and previous.refresh_token else "login")

    def can_start_over(self) -> bool:
        return False


class SimEndpoint:
    """A strict OAuth 2.0 token endpoint: each refresh token works once; a second presentation is a reuse."""

    def __init__(self, world: World) -> None:
        self.world, self.grant, self.requests = world, _Grant(), 0

    def fetch(self, previous: Token | None) -> Token:
        self.requests += 1
        self.world.token_requests += 1
        self.world.clock.sleep(random.uniform(0.2, 0.6))
        presented = previous.refresh_token if previous is not None else None
        if presented != self.world.live_refresh:
            self.world.reuses += 1
            raise InvalidGrantError("refresh token presented twice")
        self.world.live_refresh = f"rt-{self.world.token_requests}"
        now = pendulum.from_timestamp(self.world.clock.now)
        return Token(
            access_token=f"at-{self.world.token_requests}",
            expires_at=now.add(seconds=self.world.lifetime),
            refresh_token=self.world.live_refresh,
            obtained_at=now,
        )


def _patch_time(clock: VirtualClock) -> types.ModuleType:
    """The `time` module `auth.tokens` sees: virtual."""
    shim = types.ModuleType("virtual_time")
    shim.time = lambda: clock.now  # type: ignore[attr-defined]
    shim.monotonic = lambda: clock.now  # type: ignore[attr-defined]
    shim.sleep = clock.sleep  # type: ignore[attr-defined]
    original = tokens.time
    tokens.time = shim  # type: ignore[assignment]
    return original


def _process(world: World, design: str, end: float, delay: float, lates: list[int]) -> None:
    clock = world.clock
    while clock.now < end:
        registers = SimRegisters(world, lists_keys=design == "bakery")
        store = SharedTokenStore(registers, name="conn", fingerprint="fp", token_key="token", queue_prefix="q:")
        if isinstance(store.queue, LeaseQueue):
            store.queue.delay = delay
        manager = TokenManager(SimEndpoint(world), store, leeway=60, initial_refresh_token="rt-0")
        task_end = min(end, clock.now + random.uniform(30, 90))
        while clock.now < task_end:
            asked = clock.now
            try:
                manager.get_token()
            except Exception as exc:  # a failure is reported, not hidden
                world.waits.append((asked, float("inf")))
                print(f"  {design}: get_token failed: {type(exc).__name__}: {exc}")
            else:
                world.waits.append((asked, clock.now - asked))
            clock.sleep(random.uniform(2, 6))
        if isinstance(store.queue, LeaseQueue):
            lates[0] += store.queue.late_claims


def _quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def simulate(design: str, processes: int, seconds: float, args: argparse.Namespace) -> dict[str, float]:
    random.seed(args.seed)
    clock = VirtualClock(start=real_time.time())
    world = World(clock, args.median, math.log(args.p99 / args.median) / 2.326, args.lifetime)
    original = _patch_time(clock)
    lates = [0]
    started = real_time.monotonic()
    try:
        start = clock.now
        end = start + seconds
        clock.hold()
        for _ in range(processes):
            clock.spawn(_process, world, design, end, args.delay, lates)
        clock.release_and_wait()
    finally:
        tokens.time = original  # type: ignore[assignment]
    waits = sorted(w for _, w in world.waits)
    warm = sorted(w for asked, w in world.waits if asked >= start + args.lifetime)
    renewals = max(1, world.token_requests)
    return {
        "token requests": world.token_requests,
        "lifetimes": seconds / args.lifetime,
        "calls/renewal": world.calls / renewals,
        "queue calls/renewal": world.queue_calls / renewals,
        "p50 wait": _quantile(waits, 0.5),
        "p99 wait": _quantile(waits, 0.99),
        "p99 warm": _quantile(warm, 0.99),
        "max wait": waits[-1],
        "reuses": world.reuses,
        "late claims": lates[0] if design == "lease" else float("nan"),
        "gets": len(waits),
        "real s": real_time.monotonic() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[256, 2000])
    parser.add_argument("--seconds", type=float, default=300.0, help="virtual seconds simulated")
    parser.add_argument("--lifetime", type=float, default=60.0, help="access token lifetime (s)")
    parser.add_argument("--median", type=float, default=1.0, help="register call latency, median (s)")
    parser.add_argument("--p99", type=float, default=2.4, help="register call latency, 99th percentile (s)")
    parser.add_argument("--delay", type=float, default=LEASE_DELAY, help="the lease's D (s)")
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    print(
        f"{args.seconds:.0f} s simulated, {args.lifetime:.0f} s tokens, register latency median {args.median} s / "
        f"p99 {args.p99} s, lease D = {args.delay} s"
    )
    header = ["processes", "design", "token requests", "calls/renewal (queue)", "p50 wait", "p99 wait"]
    header += ["p99 after 1st lifetime", "max wait"]
    header += ["reuses", "late claims", "gets", "real s"]
    print(" | ".join(header))
    for processes in args.processes:
        for design in ("bakery", "lease"):
            row = simulate(design, processes, args.seconds, args)
            cells = [str(processes), design, f"{row['token requests']} ({row['lifetimes']:.1f} lifetimes)"]
            cells += [f"{row['calls/renewal']:.0f} ({row['queue calls/renewal']:.0f})", f"{row['p50 wait']:.2f} s"]
            cells += [f"{row['p99 wait']:.1f} s", f"{row['p99 warm']:.1f} s", f"{row['max wait']:.1f} s"]
            cells += [str(row["reuses"]), f"{row['late claims']:.0f}"]
            cells += [str(row["gets"]), f"{row['real s']:.0f}"]
            print(" | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
