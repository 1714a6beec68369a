"""TokenManager: single flight for threads and coroutines, the store as a shared layer, rotation safety."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pendulum
import pytest

from airflow_provider_authapi.auth import AuthConfig, OAuth2Config, Token, build_token_manager
from airflow_provider_authapi.auth.errors import InvalidGrantError, TokenStoreError
from airflow_provider_authapi.auth.tokens import MemoryTokenStore
from tests.core.conftest import FAST


def refresh_config(server, refresh_token: str, **kwargs) -> AuthConfig:
    scheme = OAuth2Config(
        token_url=f"{server.url}/token",
        grant_type="authorization_code",
        client_id=server.client_id,
        client_secret=server.client_secret,
        refresh_token=refresh_token,
        **kwargs,
    )
    return AuthConfig(scheme)


def test_threads_share_one_refresh(oauth):
    manager = build_token_manager(refresh_config(oauth, oauth.issue_refresh_token()), retry=FAST)
    barrier = threading.Barrier(16)

    def get() -> str:
        barrier.wait()
        return manager.get_token().access_token

    with ThreadPoolExecutor(16) as pool:
        tokens = set(pool.map(lambda _: get(), range(16)))
    assert len(tokens) == 1 and oauth.token_requests == 1 and oauth.invalid_grants == 0


def test_coroutines_and_threads_share_one_refresh(oauth):
    manager = build_token_manager(refresh_config(oauth, oauth.issue_refresh_token()), retry=FAST)

    async def main() -> set[str]:
        threads = [asyncio.to_thread(lambda: manager.get_token().access_token) for _ in range(4)]
        coroutines = [manager.aget_token() for _ in range(16)]
        results = await asyncio.gather(*threads, *coroutines)
        return {r if isinstance(r, str) else r.access_token for r in results}

    assert len(asyncio.run(main())) == 1 and oauth.token_requests == 1 and oauth.invalid_grants == 0


def test_a_second_process_reads_the_store_instead_of_the_endpoint(oauth):
    store = MemoryTokenStore()
    config = refresh_config(oauth, oauth.issue_refresh_token())
    first = build_token_manager(config, store, retry=FAST).get_token()
    second = build_token_manager(config, store, retry=FAST)  # same initial refresh token: already redeemed
    assert second.get_token().access_token == first.access_token
    assert oauth.token_requests == 1 and second.token_requests == 0


def test_force_refresh_adopts_a_token_another_process_already_refreshed(oauth):
    store = MemoryTokenStore()
    config = refresh_config(oauth, oauth.issue_refresh_token())
    a, b = (build_token_manager(config, store, retry=FAST) for _ in range(2))
    old = a.get_token()
    assert b.get_token() == old
    new = a.get_token(force_refresh=True)  # A rotates
    assert b.get_token(force_refresh=True, stale=old) == new  # B saw a 401 with `old`: takes A's, no request
    assert oauth.token_requests == 2 and oauth.invalid_grants == 0


class LaggingStore(MemoryTokenStore):
    """A store that hands out an outdated token for the next `lag` loads (a writer raced us)."""

    def __init__(self) -> None:
        super().__init__()
        self.lag, self.outdated = 0, None

    def load(self) -> Token | None:
        if self.lag > 0:
            self.lag -= 1
            return self.outdated
        return super().load()


def test_invalid_grant_rereads_the_store_once_and_takes_the_rotated_token(oauth):
    store = LaggingStore()
    config = refresh_config(oauth, oauth.issue_refresh_token())
    a, b = (build_token_manager(config, store, retry=FAST) for _ in range(2))
    old = a.get_token()
    new = a.get_token(force_refresh=True)  # A rotated the refresh token and stored it
    store.lag, store.outdated = 2, old  # but B reads the old record twice, and redeems the dead refresh token
    assert b.get_token(force_refresh=True, stale=old) == new
    assert oauth.invalid_grants == 1 and oauth.refresh.live() == [store.load().refresh_token]


def test_a_dead_refresh_token_with_nothing_newer_is_raised_with_advice(oauth):
    manager = build_token_manager(refresh_config(oauth, "rt_dead"), retry=FAST)
    with pytest.raises(InvalidGrantError) as caught:
        manager.get_token()
    assert caught.value.error == "invalid_grant" and "rt_dead" not in str(caught.value)


class FailingStore(MemoryTokenStore):
    """A store whose next `failures` saves fail (a read-only or unreachable metadata database)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def save(self, token: Token) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise TokenStoreError("the metadata database is read-only")
        super().save(token)


def test_a_failed_save_of_a_rotated_token_is_retried(oauth):
    store = FailingStore(failures=2)
    manager = build_token_manager(refresh_config(oauth, oauth.issue_refresh_token()), store, retry=FAST)
    token = manager.get_token()
    assert store.load() == token and store.saves == 1 and oauth.token_requests == 1
    assert store.queue.live() == []


def test_a_rotated_token_that_cannot_be_saved_is_kept_and_saved_later(oauth, caplog):
    store = FailingStore(failures=1000)
    manager = build_token_manager(refresh_config(oauth, oauth.issue_refresh_token()), store, retry=FAST)
    token = manager.get_token()  # the rotated refresh token lives only here now: kept, not dropped
    assert manager.cached_token == token and store.load() is None
    assert "could not be saved" in caplog.text and token.refresh_token not in caplog.text
    held = store.queue.live()
    assert len(held) == 1 and held[0].number > 0  # its turn is kept: no other process presents the old one
    store.failures = 0  # the database is back
    assert manager.get_token() == token and store.load() == token
    assert oauth.token_requests == 1 and oauth.refresh.live() == [token.refresh_token]
    assert store.queue.live() == []


def test_the_store_wins_over_the_connections_initial_refresh_token_and_extra_is_kept(oauth):
    stored_rt = oauth.issue_refresh_token()
    expired = Token("old", expires_at=pendulum.now("UTC").subtract(minutes=1), refresh_token=stored_rt)
    store = MemoryTokenStore(replace(expired, extra={"realm_id": "9130"}))
    manager = build_token_manager(refresh_config(oauth, "rt_from_the_connection_long_dead"), store, retry=FAST)
    token = manager.get_token()
    assert oauth.last_token_form["refresh_token"] == stored_rt and oauth.invalid_grants == 0
    assert token.extra["realm_id"] == "9130" and store.load().extra["realm_id"] == "9130"


def test_leeway_and_lifetime_cap(oauth):
    oauth.access.lifetime = 3600
    scheme = OAuth2Config(
        token_url=f"{oauth.url}/token", client_id=oauth.client_id, client_secret=oauth.client_secret, max_lifetime=300
    )
    manager = build_token_manager(AuthConfig(scheme), leeway=60, retry=FAST)
    token = manager.get_token()
    assert 295 <= (token.expires_at - token.obtained_at).in_seconds() <= 300  # the shorter lifetime wins
    assert not token.is_expired(60, now=token.obtained_at.add(seconds=239))
    assert token.is_expired(60, now=token.obtained_at.add(seconds=241))  # 60 s early
