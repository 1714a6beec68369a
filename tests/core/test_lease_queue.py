"""The lease (`LeaseQueue`: Fischer's mutual exclusion on one register), the refresh queue where the Task SDK
cannot list Variable keys (Airflow before 3.3). Threads stand for processes: each has its own queue object (its
own latency meter, first sightings and late writes) over one set of slow shared registers, whose calls take
effect at a random instant within their delay, as a remote store's do."""

from __future__ import annotations

import random
import threading
import time

from airflow_provider_authapi.auth import build_token_manager
from airflow_provider_authapi.auth.errors import TokenStoreError
from airflow_provider_authapi.auth.tokens import (
    LatencyMeter,
    LeaseQueue,
    MemoryRegisters,
    RefreshQueue,
    SharedTokenStore,
    Ticket,
)
from tests.core.conftest import FAST
from tests.core.test_refresh_coordination import alive_when_asked, rotating, share_tokens, take_turns
from tests.emulators.strict_oauth2 import StrictOAuth2Server

DELAY = 0.1  # Fischer's D, scaled down with the registers' latency


def lease_store(registers: MemoryRegisters, delay: float = DELAY) -> SharedTokenStore:
    """One process's store over registers that cannot list keys: the store picks the lease."""
    store = SharedTokenStore(registers, name="conn", fingerprint="fp", token_key="token", queue_prefix="q:")
    assert isinstance(store.queue, LeaseQueue)
    store.queue.delay = delay
    return store


def queue(registers, *, ttl: float = 2.0, delay: float = DELAY) -> LeaseQueue:
    return LeaseQueue(registers, "q:", LatencyMeter(), ttl=ttl, delay=delay)


def test_the_store_picks_the_lease_only_where_keys_cannot_be_listed():
    listing = SharedTokenStore(MemoryRegisters(), name="c", fingerprint="", token_key="t", queue_prefix="q:")
    assert isinstance(listing.queue, RefreshQueue)
    assert isinstance(lease_store(MemoryRegisters(lists_keys=False)).queue, LeaseQueue)


def test_the_lease_admits_one_of_12_threads_at_a_time_under_latency():
    registers = MemoryRegisters(latency=lambda: random.uniform(0, 0.01), lists_keys=False)
    queues = [queue(registers) for _ in range(12)]
    assert take_turns(queues, 3) == (0, 36)
    assert registers.get("q:lease") is None  # every turn given back
    assert sum(q.late_claims for q in queues) == 0  # 10 ms calls never exceed D = 100 ms


def test_late_writes_from_a_heavy_tail_never_let_two_in():
    """One call in ten takes up to 5 x D: claims go late, and their writes land in others' turns."""

    def latency() -> float:
        return random.uniform(0.03, 0.1) if random.random() < 0.1 else random.uniform(0, 0.004)

    registers = MemoryRegisters(latency=latency, lists_keys=False)
    queues = [queue(registers, ttl=0.25, delay=0.02) for _ in range(6)]
    overlaps, count = take_turns(queues, 3)
    assert (overlaps, count) == (0, 18)
    assert sum(q.late_claims for q in queues) > 0, "no claim went late: the test proved nothing"


class SlowWrites:
    """Registers whose next `set` by a chosen thread takes `seconds` before it lands."""

    def __init__(self, inner: MemoryRegisters) -> None:
        self.inner, self.slow, self.seconds = inner, None, 0.0

    def get(self, key):
        return self.inner.get(key)

    def set(self, key, value):
        if threading.current_thread() is self.slow:
            self.slow = None
            time.sleep(self.seconds)
        self.inner.set(key, value)

    def delete(self, key):
        self.inner.delete(key)


def test_a_late_write_that_overwrites_a_holder_keeps_everyone_else_out():
    """R reads "free", P claims and enters, then R's write lands over P's lease: R sees itself late and, since P
    announced its turn, holds off; Q, who now reads R's lease, stays out while P holds. P's leave clears the late
    write (only late writes can replace a holder's lease), and then exactly one of Q and R gets the next turn."""
    registers = SlowWrites(MemoryRegisters(lists_keys=False))
    p, r, q = queue(registers, ttl=1.5), queue(registers, ttl=1.5), queue(registers, ttl=1.5)
    results = {}

    def late_claim() -> None:
        registers.slow, registers.seconds = threading.current_thread(), 0.5
        ticket = r.enter()
        results["r"] = (ticket, r.blocker(ticket))

    thread = threading.Thread(target=late_claim)
    thread.start()
    time.sleep(0.05)  # R has read "free"; its write is under way
    p_ticket = p.enter()
    assert p.blocker(p_ticket) is None  # P's turn
    thread.join()
    r_ticket, r_blocker = results["r"]
    assert r.late_claims == 1 and r_blocker is not None  # R overwrote P's lease, saw it was late, stays out
    assert r.blocker(r_ticket) is not None  # and keeps out: someone (P) announced a turn since R looked
    q_ticket = q.enter()
    assert q.blocker(q_ticket) is not None  # Q sees R's lease: out while P still holds
    p.leave(p_ticket)
    assert registers.get("q:lease") is None  # P cleared the late write over its lease
    turns = [q.blocker(q_ticket), r.blocker(r_ticket)]
    assert turns.count(None) == 1, turns  # one of them has the turn now; the other is blocked by it
    q.leave(q_ticket), r.leave(r_ticket)
    assert registers.get("q:lease") is None


def test_a_late_claim_that_harmed_nobody_costs_one_more_try_not_a_ttl():
    registers = SlowWrites(MemoryRegisters(lists_keys=False))
    r = queue(registers, ttl=60.0)
    registers.slow, registers.seconds = threading.current_thread(), 0.3
    ticket = r.enter()
    assert r.late_claims == 1 and registers.get("q:lease") is not None
    assert r.blocker(ticket) is not None  # what `enter` found: late, not our turn
    assert r.blocker(ticket) is None  # nobody announced a turn since R looked: its late write protected nobody
    r.leave(ticket)
    assert registers.get("q:lease") is None


def test_a_dead_holders_lease_stops_counting_a_ttl_after_it_was_first_seen():
    registers = MemoryRegisters(lists_keys=False)
    dead = queue(registers, ttl=0.5)
    assert dead.blocker(dead.enter()) is None  # its process dies holding the lease
    alive = queue(registers, ttl=0.5)
    ticket = alive.enter()
    first_seen = time.monotonic()
    assert alive.busy() and alive.blocker(ticket) is not None
    while alive.blocker(ticket) is not None:
        assert time.monotonic() - first_seen < 5
        time.sleep(0.05)
    assert time.monotonic() - first_seen >= alive.ttl  # counted for a whole ttl after it was first seen
    alive.leave(ticket)
    assert registers.get("q:lease") is None


def test_a_confirmation_too_late_for_a_whole_turn_is_given_up():
    registers = MemoryRegisters(lists_keys=False)
    slow = queue(registers, ttl=1.0, delay=0.3)  # D above ttl / 4: no confirmation leaves room for a turn
    ticket = slow.enter()
    assert slow.blocker(ticket) is not None and registers.get("q:lease") is None  # given back, not kept


class FailingSaves(SharedTokenStore):
    def __init__(self, registers, failures: int) -> None:
        super().__init__(registers, name="conn", fingerprint="fp", token_key="token", queue_prefix="q:")
        self.queue.delay = DELAY
        self.failures = failures

    def save(self, token) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise TokenStoreError("the metadata database is read-only")
        super().save(token)


def test_a_rotated_token_whose_save_fails_keeps_the_lease_until_it_is_saved():
    with StrictOAuth2Server(access_lifetime=60) as server:
        registers = MemoryRegisters(lists_keys=False)
        store = FailingSaves(registers, failures=1000)
        manager = build_token_manager(rotating(server, server.issue_refresh_token()), store, retry=FAST)
        token = manager.get_token()  # the rotated refresh token lives only here now
        assert manager.cached_token == token and store.load() is None
        other = lease_store(registers)
        assert other.queue.busy(), "the lease was given back: another process would present the old refresh token"
        store.failures = 0
        assert manager.get_token() == token and store.load() == token
        assert registers.get("q:lease") is None and not other.queue.busy()
        assert server.reuses == 0 and server.live_refresh_token() == token.refresh_token


def test_16_processes_on_the_lease_never_present_a_rotating_refresh_token_twice():
    """A server that revokes the whole chain on a reused refresh token: any double presentation would show."""
    with StrictOAuth2Server(access_lifetime=3) as server:
        config = rotating(server, server.issue_refresh_token())
        registers = MemoryRegisters(latency=0.02, lists_keys=False)
        stores: list[SharedTokenStore] = []

        def store(_registers) -> SharedTokenStore:
            stores.append(lease_store(_registers))
            return stores[-1]

        handed = share_tokens(server, config, registers, processes=16, seconds=10, store=store)
        assert server.reuses == 0 and server.invalid_grants == 0, "a refresh token was presented twice"
        assert server.live_refresh_token() == lease_store(registers).load().refresh_token
        assert alive_when_asked(server, handed) == [], "handed out a token that had already expired"
        assert 4 <= server.token_requests <= 7, server.token_requests
        assert sum(s.queue.late_claims for s in stores) == 0


def test_leaving_with_a_ticket_that_never_held_the_lease_costs_no_call():
    registers = MemoryRegisters(lists_keys=False)
    queue(registers).leave(Ticket("x", 1, False, 0))
    assert registers.calls == 0
