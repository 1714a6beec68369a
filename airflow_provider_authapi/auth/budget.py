"""One API budget for a whole deployment: at most `requests` per `period` seconds to a connection's API, shared by
every task on every worker and the triggerer (issue 26 item 7). A per-process pace cannot keep 32 tasks under an
app-wide limit such as Xero's 60 a minute: each sees the whole budget, and together they run into 429s.

The shared state is one register, `<prefix>ledger` = `{"next": <epoch seconds>, "interval": <seconds>}`: the time
the next request of the deployment may go (the generic cell rate algorithm, GCRA). A process that needs to send
takes a turn in the same queue the token cache uses (the bakery where the store lists keys, else the lease:
`tokens.refresh_queue`), reads the ledger, reserves the next `batch` send times (`start = max(now, next)`, one
`interval` apart), writes `next` past them and leaves; then it sleeps until each of its times and sends. So the
deployment's requests are at least `interval` apart whatever the number of processes: any `period` holds at most
`period / interval + 1` of them, and `interval = period / (share * requests)` (`share` 0.95 by default) keeps that
under the limit, even against a server that counts in a sliding window. A process never polls for room: it learns
its times in one turn, and waits on its own clock.

Costs and limits: one queue turn (about 8 store calls) per `batch` requests (`batch` is a second's worth of the
budget, or two turns' worth where turns are slow, as the lease's are; a reserved time nobody uses is lost to the
deployment, so many short tasks waste much of the budget). The turns are serialized, so the
deployment's rate is also bounded by how fast turns go: a second or more each through a loaded execution API,
so many processes of one request at a time use well under the budget. The ledger's times are wall-clock epoch
seconds compared across machines: their clocks must agree (NTP) to well within `interval`. A store error fails
the request (`TokenStoreError`); it is never sent unpaced. Requests not sent with the connection's credentials
(`authenticate=False`, a presigned URL elsewhere) and token requests are outside the budget.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from airflow_provider_authapi.auth.config import BUDGET_MAX_BATCH, BudgetConfig
from airflow_provider_authapi.auth.errors import TokenStoreError
from airflow_provider_authapi.auth.tokens import (
    POLL_GROWTH,
    POLL_MAX,
    TICKET_TTL,
    LatencyMeter,
    Registers,
    TurnQueue,
    _TimedRegisters,
    refresh_queue,
)


class SharedBudget:
    """The deployment's budget for one connection, on shared `registers` (see the module docstring).

    `acquire()` (threads) and `aacquire()` (the event loop) return once this process may send one request; the
    reservation itself runs in a thread for `aacquire` (store calls block). Thread-safe: one per process and
    connection serves every client of it.
    """

    def __init__(
        self,
        registers: Registers,
        prefix: str,
        config: BudgetConfig,
        *,
        name: str = "budget",
        ttl: float = TICKET_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config, self.name, self.clock = config, name, clock
        self.meter = LatencyMeter()
        timed = _TimedRegisters(registers, self.meter)
        self.registers, self.key = timed, prefix + "ledger"
        self.queue: TurnQueue = refresh_queue(timed, prefix, self.meter, ttl)
        self.turns = 0  # queue turns taken (tests, benchmarks)
        self.turn_seconds = 0.0  # how long the last turn took, doorway to leave
        self.waited = 0.0  # seconds this process slept for its send times
        self._times: deque[float] = deque()
        self._lock = threading.Lock()  # the deque
        self._reserving = threading.Lock()  # a turn in the queue

    def __repr__(self) -> str:
        return f"SharedBudget({self.name!r}, {self.config.describe()})"

    # -- a send time ---------------------------------------------------------------------------------------------

    def acquire(self) -> float:
        """Wait for this process's next send time; the seconds waited."""
        wait = self._next_time() - self.clock()
        if wait > 0:
            time.sleep(wait)
            self.waited += wait
        return max(0.0, wait)

    async def aacquire(self) -> float:
        """`acquire()` for the event loop: the reservation in a thread, the wait on the loop. The loop never waits
        for a lock a reserving thread holds: that thread's store calls may need the loop (the triggerer sends a
        thread's Task SDK calls on it), and a triggerer so blocked was declared deadlocked."""
        at = self._pop()
        if at is None:
            at = await asyncio.to_thread(self._next_time)
        wait = at - self.clock()
        if wait > 0:
            await asyncio.sleep(wait)
            self.waited += wait
        return max(0.0, wait)

    def _pop(self) -> float | None:
        with self._lock:  # held for a deque operation only, never across a store call
            return self._times.popleft() if self._times else None

    def _next_time(self) -> float:
        with self._reserving:  # one reservation at a time in this process (threads); the loop never takes it
            while (at := self._pop()) is None:
                times = self._reserve()
                with self._lock:
                    self._times.extend(times)
            return at

    # -- one turn in the queue -------------------------------------------------------------------------------

    def _reserve(self) -> list[float]:
        """The next `batch` send times of the deployment, written past in the ledger during one queue turn."""
        began = time.monotonic()
        ticket = self.queue.enter()
        try:
            ticket = self._wait_turn(ticket)
            interval, batch = self.config.interval, self._batch()
            start = max(self.clock(), self._ledger_next())
            times = [start + n * interval for n in range(batch)]
            self.registers.set(self.key, json.dumps({"next": round(times[-1] + interval, 6), "interval": interval}))
            self.turns += 1
            return times
        finally:
            self.queue.leave(ticket)
            self.turn_seconds = time.monotonic() - began

    def _batch(self) -> int:
        """Send times to reserve in this turn: a second's worth (`BudgetConfig.batch`), or two turns' worth when
        turns are slower (the lease's turn takes its delay D, 4 s); never more than `BUDGET_MAX_BATCH` nor the
        budget itself. A time reserved and never used is lost to the deployment: a task of 3 requests that reserved
        8 wastes 5 (reserving only what is waiting made every request a turn, and the turns the bottleneck)."""
        config = self.config
        slow = math.ceil(2 * self.turn_seconds / config.interval) if self.turn_seconds else 1
        return max(1, min(BUDGET_MAX_BATCH, config.requests or 1, max(config.batch, slow)))

    def _wait_turn(self, ticket: Any) -> Any:
        """Until it is `ticket`'s turn; the ticket as it stands then (renewed on a long wait: the one to leave)."""
        started, pause = time.monotonic(), max(0.05, 2 * self.meter.value)
        limit = 2 * self.queue.ttl
        while self.queue.blocker(ticket) is not None:  # type: ignore[arg-type]
            if time.monotonic() - started > limit:
                raise TokenStoreError(f"waited {limit:.0f} s for a turn at the API budget of {self.name!r}")
            if time.time() - ticket.written > self.queue.ttl / 3:  # type: ignore[attr-defined]
                ticket = self.queue.renew(ticket)  # type: ignore[arg-type]
            time.sleep(pause * (0.75 + 0.5 * random.random()))
            pause = min(pause * POLL_GROWTH, max(POLL_MAX / 4, 4 * self.meter.value))
        return ticket

    def _ledger_next(self) -> float:
        raw = self.registers.get(self.key)
        if not raw:
            return 0.0
        try:
            value = float(json.loads(raw)["next"])
        except (ValueError, TypeError, KeyError):
            return 0.0  # a ledger someone broke: start from now (at worst one burst of one batch)
        # a ledger far in the future (a clock that was wrong, a hand edit) must not stall the API for hours
        return min(value, self.clock() + 10 * self.config.period)
