"""Renewal across processes, simulated by threads that each have their own manager and store object over one set
of slow shared registers (as tasks share Variables through the execution API). Fast unit-level proof; the
deployment tests in tests/deployment prove the same through a real scheduler and triggerer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pendulum
import pytest

from airflow_provider_authapi.auth import AuthConfig, OAuth2Config, Token, build_token_manager
from airflow_provider_authapi.auth.tokens import MemoryRegisters, RefreshQueue, SharedTokenStore, TokenManager
from tests.core.conftest import FAST
from tests.emulators.base import Request, Response
from tests.emulators.oauth2_server import OAuth2Server

LATENCY = 0.02  # every register call: a slow execution API, scaled down


def process_store(registers: MemoryRegisters) -> SharedTokenStore:
    """What one task process has: its own store object (and latency meter) over the shared registers."""
    return SharedTokenStore(registers, name="conn", fingerprint="fp", token_key="token", queue_prefix="q:")


def rotating(server: OAuth2Server, refresh_token: str) -> AuthConfig:
    return AuthConfig(
        OAuth2Config(
            token_url=f"{server.url}/token",
            grant_type="refresh_token",
            client_id=server.client_id,
            client_secret=server.client_secret,
            refresh_token=refresh_token,
        )
    )


def client_credentials(server: OAuth2Server) -> AuthConfig:
    return AuthConfig(
        OAuth2Config(token_url=f"{server.url}/token", client_id=server.client_id, client_secret=server.client_secret)
    )


def take_turns(queues: list, rounds: int) -> tuple[int, int]:
    """Each queue's thread (a `RefreshQueue` or a `LeaseQueue`: the same interface) takes `rounds` turns around
    a racy counter; returns (overlaps seen, final count)."""
    inside, overlaps, counter = [0], [0], [0]
    lock = threading.Lock()

    def worker(queue) -> None:
        for _ in range(rounds):
            ticket = queue.enter()
            while queue.blocker(ticket) is not None:
                time.sleep(0.002)
            with lock:
                inside[0] += 1
                overlaps[0] += inside[0] > 1
            value = counter[0]
            time.sleep(0.003)  # a racy read-modify-write: only mutual exclusion keeps the count right
            counter[0] = value + 1
            with lock:
                inside[0] -= 1
            queue.leave(ticket)

    with ThreadPoolExecutor(len(queues)) as pool:
        list(pool.map(worker, queues))
    return overlaps[0], counter[0]


def test_the_queue_admits_one_process_at_a_time():
    registers = MemoryRegisters(latency=0.002)
    queues = [RefreshQueue(registers, "q:", process_store(registers).meter) for _ in range(8)]
    assert take_turns(queues, 3) == (0, 24)
    assert registers.keys("q:") == []


def test_a_dead_processs_ticket_stops_counting_after_its_time_to_live():
    registers = MemoryRegisters()
    dead = RefreshQueue(registers, "q:", process_store(registers).meter, ttl=0.2)
    dead_ticket = dead.enter()  # its process dies without leaving
    alive = RefreshQueue(registers, "q:", process_store(registers).meter)
    ticket = alive.enter()
    assert alive.blocker(ticket) is not None  # the dead one went first and still counts
    time.sleep(max(0.0, dead_ticket.expires - time.time()) + 0.05)
    assert alive.blocker(ticket) is None and [t.id for t in alive.live()] == [ticket.id]


def alive_when_asked(server: OAuth2Server, handed: list[tuple[float, str]]) -> list[str]:
    """The tokens in `handed` ((time asked, token)) that had expired at the server before they were asked for.

    Judged by the server's own expiry of each token, so a thread starved after the call cannot fail the check."""
    return [token for asked, token in handed if (server.access.expires_at(token) or 0) <= asked]


def share_tokens(
    server: OAuth2Server,
    config: AuthConfig,
    registers: MemoryRegisters,
    *,
    processes: int,
    seconds: float,
    store: Callable[[MemoryRegisters], SharedTokenStore] = process_store,
) -> list[tuple[float, str]]:
    """`processes` threads, each with its own manager and `store` over `registers`, ask for a token every 50 ms
    for `seconds`; returns (time asked, token handed) for every call."""
    stop = time.monotonic() + seconds
    handed: list[tuple[float, str]] = []

    def process(_: int) -> None:
        manager = build_token_manager(config, store(registers), retry=FAST)
        while time.monotonic() < stop:
            asked = server.clock.now()
            handed.append((asked, manager.get_token().access_token))
            time.sleep(0.05)

    with ThreadPoolExecutor(processes) as pool:
        list(pool.map(process, range(processes)))
    return handed


def test_rotating_refresh_token_is_presented_once_by_16_processes_over_several_lifetimes():
    with OAuth2Server(access_lifetime=3) as server:
        config = rotating(server, server.issue_refresh_token())
        registers = MemoryRegisters(latency=LATENCY)
        handed = share_tokens(server, config, registers, processes=16, seconds=10)
        stored = process_store(registers).load()
        assert server.invalid_grants == 0, "a refresh token was presented twice"
        assert server.refresh.live() == [stored.refresh_token]
        assert alive_when_asked(server, handed) == [], "handed out a token that had already expired"
        # 10 s of 3 s tokens: at least 4 needed; renewing ahead of expiry costs at most a few more.
        assert 4 <= server.token_requests <= 7, server.token_requests
        assert len(handed) > 16 * 10 and len({token for _, token in handed}) == server.token_requests


class GatedServer(OAuth2Server):
    """Once `hold` is set, a token request waits at `gate` until the test opens it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.hold, self.entered, self.gate = False, threading.Event(), threading.Event()

    def token(self, request: Request) -> Response:
        if self.hold:
            self.entered.set()
            self.gate.wait(30)
        return super().token(request)


def test_holders_of_a_valid_token_do_not_wait_for_a_renewal_in_progress():
    with GatedServer() as server:
        config = client_credentials(server)
        registers = MemoryRegisters(latency=LATENCY)
        now = pendulum.now("UTC")
        # A 200 s token with 19 s left: stale in 9 s (leeway 10 s), and in every process's renewal window.
        token = Token(
            server.access.issue(server.client_id), expires_at=now.add(seconds=19), obtained_at=now.subtract(seconds=181)
        )
        process_store(registers).save(token)

        def process() -> TokenManager:
            manager = build_token_manager(config, process_store(registers), retry=FAST)
            manager._jitter = 1.0  # the earliest point of the window: due now
            return manager

        server.hold = True
        renewal = threading.Thread(target=process().get_token)
        renewal.start()
        assert server.entered.wait(10), "the renewal never reached the token endpoint"
        with ThreadPoolExecutor(4) as pool:
            handed = list(pool.map(lambda m: m.get_token().access_token, [process() for _ in range(4)], timeout=8))
        assert handed == [token.access_token] * 4 and renewal.is_alive()  # they went on while it hung
        server.gate.set()
        renewal.join(10)
        assert server.token_requests == 1 and process_store(registers).load().access_token != token.access_token


@pytest.mark.parametrize("lifetime", [20, 120])
def test_leeway_is_at_most_5_percent_of_a_short_lifetime(lifetime):
    with OAuth2Server(access_lifetime=lifetime) as server:
        manager = build_token_manager(client_credentials(server), leeway=60, retry=FAST)
        token = manager.get_token()
        assert manager.margin(token) == pytest.approx(min(60, lifetime / 20), abs=0.5)
        for _ in range(20):
            assert manager.get_token() is token  # not stale on arrival: one token request, not twenty
        assert server.token_requests == 1


def test_client_credentials_renewals_stay_rare_and_nobody_blocks():
    with OAuth2Server(access_lifetime=4) as server:
        config = client_credentials(server)
        registers = MemoryRegisters(latency=LATENCY)
        handed = share_tokens(server, config, registers, processes=12, seconds=10)
        assert alive_when_asked(server, handed) == []
        # 10 s of 4 s tokens: 3 needed at least; concurrent logins are allowed but stay rare.
        assert 3 <= server.token_requests <= 7, server.token_requests
