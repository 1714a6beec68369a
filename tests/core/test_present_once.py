"""`PresentOnce`: the clock-free guard behind the lease. However many processes the lease lets in at once, at
most one presents a given refresh token.

Two kinds of proof: random interleavings of the splitter's register calls, one call at a time, chosen by a
scheduler (any interleaving of linearizable calls is one of these); and 16 managers behind a lease that lets
everybody in at once, against a server that revokes the whole chain on a reused refresh token."""

from __future__ import annotations

import random
import threading
import time

import pendulum

from airflow_provider_authapi.auth import build_token_manager
from airflow_provider_authapi.auth.tokens import LatencyMeter, LeaseQueue, MemoryRegisters, PresentOnce, Token
from tests.core.conftest import FAST
from tests.core.test_lease_queue import lease_store
from tests.core.test_refresh_coordination import alive_when_asked, rotating, share_tokens
from tests.emulators.strict_oauth2 import StrictOAuth2Server


def claims(registers, *, ttl: float = 60.0, grace: float = 0.2) -> PresentOnce:
    return PresentOnce(registers, "q:", LatencyMeter(), ttl=ttl, grace=grace)


class SteppedRegisters:
    """Registers whose calls run one at a time, in an order a seeded scheduler picks among the threads that are
    waiting to call: every run is one interleaving of the calls."""

    def __init__(self, threads: int, seed: int) -> None:
        self.inner, self.random = MemoryRegisters(), random.Random(seed)
        self.waiting: dict[int, threading.Event] = {}
        self.running, self.done = threads, 0
        self.lock = threading.Condition()

    def _step(self, apply):
        go = threading.Event()
        with self.lock:
            self.waiting[threading.get_ident()] = go
            self._pick()
        go.wait(10)
        return apply()

    def _pick(self) -> None:
        """Once every live thread waits to call, let one (at random) make its call."""
        if self.waiting and len(self.waiting) == self.running - self.done:
            ident = self.random.choice(sorted(self.waiting))
            self.waiting.pop(ident).set()

    def finished(self) -> None:
        with self.lock:
            self.done += 1
            self._pick()

    def after_call(self) -> None:
        pass

    def get(self, key):
        return self._step(lambda: self.inner.get(key))

    def set(self, key, value):
        return self._step(lambda: self.inner.set(key, value))

    def delete(self, key):
        return self._step(lambda: self.inner.delete(key))


def race(threads: int, seed: int) -> list[bool]:
    """`threads` processes take the same refresh token's claim at once, in one random interleaving."""
    registers = SteppedRegisters(threads, seed)
    won: list[bool] = []

    def process() -> None:
        try:
            won.append(claims(registers).take("refresh-1"))
        finally:
            registers.finished()

    workers = [threading.Thread(target=process) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(20)
    assert len(won) == threads, "a process never finished its take"
    return won


def test_a_lone_process_wins_and_a_second_one_loses_until_released():
    registers = MemoryRegisters()
    first, second = claims(registers), claims(registers)
    assert first.take("refresh-1") is True
    assert second.take("refresh-1") is False  # the winner's z: someone presents it
    assert second.take("refresh-2") is True  # another refresh token, another generation
    first.release("refresh-1")
    assert not [key for key in registers._data if first.generation("refresh-1") in key]
    assert first.take("refresh-3") is True and first.take("refresh-3") is True  # asking again, it still holds it
    # after a release the names are free again: a process that read the record before it moved on could win,
    # which is why the manager re-reads the record after winning (test_a_process_that_read_the_record_...)
    assert claims(registers).take("refresh-1") is True


def test_random_interleavings_of_three_processes_never_give_two_winners():
    outcomes = [race(3, seed) for seed in range(300)]
    assert all(won.count(True) <= 1 for won in outcomes), [w for w in outcomes if w.count(True) > 1][:3]
    # Three at once in lock step is the splitter's worst case: often nobody is through, and a later round
    # (test_a_round_without_a_winner_...) settles it. A splitter that never let anyone through would fail here.
    assert sum(won.count(True) == 1 for won in outcomes) > 60


def test_random_interleavings_of_eight_processes_never_give_two_winners():
    outcomes = [race(8, seed) for seed in range(100)]
    assert all(won.count(True) <= 1 for won in outcomes)


def test_a_round_without_a_winner_is_followed_by_one_with_a_single_winner():
    """Contention can leave a round with nobody through; after `grace`, the next round has one winner."""
    registers = MemoryRegisters()
    me, other = claims(registers, grace=0.2), claims(registers, grace=0.2)
    generation = me.generation("refresh-1")
    registers.set(f"q:once.{generation}.0.y", "somebody who lost to a later x")  # round 0: y set, no winner
    assert me.take("refresh-1") is False  # a round under way: it may yet have a winner
    time.sleep(me.grace + 0.05)
    assert me.take("refresh-1") is True  # no winner announced within grace: round 1, won
    assert other.take("refresh-1") is False  # round 1's winner is at work
    me.release("refresh-1")
    assert not [key for key in registers._data if generation in key]  # both rounds' registers deleted


def test_a_dead_winner_is_replaced_a_ttl_after_its_announcement_was_first_seen():
    registers = MemoryRegisters()
    assert claims(registers, ttl=0.3).take("refresh-1") is True  # its process dies before presenting
    heir = claims(registers, ttl=0.3)
    assert heir.take("refresh-1") is False
    time.sleep(heir.ttl + 0.05)
    assert heir.take("refresh-1") is True


def test_a_winner_yields_to_a_later_round_it_did_not_see():
    """The cross-check: a slow winner of round 0 that finds round 1 begun deletes its z and does not present."""
    registers = MemoryRegisters()
    slow = claims(registers)
    generation = slow.generation("refresh-1")
    registers.set(f"q:once.{generation}.1.y", "a process that gave round 0 up")
    assert slow.take("refresh-1") is False
    assert registers.get(f"q:once.{generation}.0.z") is None


class OpenDoor(LeaseQueue):
    """A lease that lets everybody in at once: what a lease whose timing assumption fails could do at worst."""

    def busy(self) -> bool:
        return False

    def blocker(self, ticket):
        return None

    def leave(self, ticket) -> None:
        pass


def test_16_processes_let_in_at_once_still_present_each_refresh_token_once():
    """The lease fails completely, every renewal is a free-for-all: the claims alone keep the chain alive."""
    with StrictOAuth2Server(access_lifetime=3) as server:
        config = rotating(server, server.issue_refresh_token())
        registers = MemoryRegisters(latency=lambda: random.uniform(0, 0.02), lists_keys=False)

        def store(_registers):
            store = lease_store(_registers)
            store.queue = OpenDoor(store.registers, "q:", store.meter, delay=0.0)
            return store

        handed = share_tokens(server, config, registers, processes=16, seconds=10, store=store)
        assert server.reuses == 0 and server.invalid_grants == 0, "a refresh token was presented twice"
        assert server.live_refresh_token() == lease_store(registers).load().refresh_token
        assert alive_when_asked(server, handed) == [], "handed out a token that had already expired"
        # Every renewal is a 16-way race here (a 3 s token's renewal window is 0.15 s wide, and the door is open):
        # a round nobody wins costs its grace, so the processes wait up to about half a second for a token
        # instead of renewing ahead; at least 3 of the 4 a perfect queue would make.
        assert 3 <= server.token_requests <= 7, server.token_requests
        assert not [key for key in registers._data if ".once." in key], "claims left behind"


def test_a_process_that_read_the_record_before_it_moved_on_wins_a_released_claim_and_presents_nothing():
    """Its reads of the record came before the winner's save; its take comes after the release (the names are
    free again), so it wins: the re-read after winning shows it the new token, which it adopts."""
    with StrictOAuth2Server(access_lifetime=60) as server:
        config = rotating(server, server.issue_refresh_token())
        registers = MemoryRegisters(lists_keys=False)
        winner = build_token_manager(config, lease_store(registers), retry=FAST)
        fresh = winner.get_token()  # presented the first refresh token, saved the new one, released the claim
        old = Token(
            access_token="old",
            expires_at=pendulum.now("UTC").add(seconds=1),
            refresh_token=config.scheme.refresh_token,  # redeemed: presenting it again would revoke the chain
            obtained_at=pendulum.now("UTC").subtract(seconds=100),
        )
        late = lease_store(registers)
        reads = iter([old, old])  # what it read before the save (both looks before its turn and in it)
        real_load = late.load
        late.load = lambda: next(reads, None) or real_load()
        assert build_token_manager(config, late, retry=FAST).get_token() == fresh
        assert server.reuses == 0 and server.token_requests == 1
        assert not [key for key in registers._data if ".once." in key]


def test_an_x_written_slower_than_the_delay_loses_the_round():
    """The Task SDK client re-sends a call that timed out (its time-out is above D): a copy of our x could land
    after the one we read back, and make us think we were last. So a slow x is never trusted."""
    from tests.core.test_lease_queue import SlowWrites

    registers = SlowWrites(MemoryRegisters())
    slow = PresentOnce(registers, "q:", LatencyMeter(), delay=0.1)
    registers.slow, registers.seconds = threading.current_thread(), 0.2
    assert slow.take("refresh-1") is False
    generation = slow.generation("refresh-1")
    assert [key for key in registers.inner._data if generation in key] == [f"q:once.{generation}.0.x"]  # x alone
    assert slow.take("refresh-1") is True  # a prompt write on the next try (nobody else took it)


def lease_store_with_ttl(registers, ttl: float):
    from airflow_provider_authapi.auth.tokens import SharedTokenStore

    store = SharedTokenStore(
        registers, name="conn", fingerprint="fp", token_key="token", queue_prefix="q:", ticket_ttl=ttl
    )
    store.queue.delay = store.claims.delay = 0.05
    return store


def test_a_lease_nobody_holds_delays_a_renewal_by_the_patience_not_its_ttl():
    """A late write left a lease that nobody holds: every reader counts it for a ttl. Behind the lease, the
    claim keeps the refresh token safe, so a waiter goes to the claim after ttl / 6 instead of stalling."""
    with StrictOAuth2Server(access_lifetime=60) as server:
        config = rotating(server, server.issue_refresh_token())
        registers = MemoryRegisters(lists_keys=False)
        registers.set("q:lease", "ghost 9999999999")
        store = lease_store_with_ttl(registers, ttl=12.0)  # patience 2 s
        started = time.monotonic()
        token = build_token_manager(config, store, retry=FAST).get_token()
        waited = time.monotonic() - started
        # about 2 x 2 s of patience (watching, then in the queue); the ghost alone would have held it 12 s
        assert waited < 10, waited
        assert server.token_requests == 1 and server.reuses == 0
        assert server.live_refresh_token() == token.refresh_token == store.load().refresh_token


class SlowTokens(StrictOAuth2Server):
    """A token endpoint that answers after `seconds`."""

    seconds = 0.0

    def token(self, request):
        time.sleep(self.seconds)
        return super().token(request)


def test_a_waiter_past_its_patience_finds_the_holders_claim_and_takes_its_token():
    """The holder's token request takes longer than a waiter's patience: the waiter goes to the claim, finds it
    taken, and waits for the token the holder saves; one token request, nothing presented twice."""
    with SlowTokens(access_lifetime=60) as server:
        server.seconds = 4.0
        config = rotating(server, server.issue_refresh_token())
        registers = MemoryRegisters(lists_keys=False)
        got: dict[str, object] = {}

        def process(name: str, delay: float) -> None:
            time.sleep(delay)
            got[name] = build_token_manager(config, lease_store_with_ttl(registers, 6.0), retry=FAST).get_token()

        threads = [threading.Thread(target=process, args=args) for args in (("holder", 0.0), ("waiter", 0.3))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert got["holder"] == got["waiter"]
        assert server.token_requests == 1 and server.reuses == 0
