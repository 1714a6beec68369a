"""Grants and request signers of the user's own (issue 26 item 1) in the Airflow-free core: a vendor's XML session
login that no built-in grant speaks, on 127.0.0.1, run by the built-in token manager (one login for many calls,
renewal ahead of expiry through the grant's own refresh, sync and async), and an HMAC signer bound by the origin
rule like every built-in credential."""

from __future__ import annotations

import asyncio
import time
import types
from pathlib import Path

import httpx
import pytest

from airflow_provider_authapi.auth import (
    AuthConfig,
    CommonConfig,
    ConfigError,
    CustomGrant,
    CustomGrantConfig,
    NoAuthConfig,
    TLSConfig,
    TokenEndpointError,
    build_auth,
    build_token_manager,
    tokens,
)
from airflow_provider_authapi.auth.client import client_kwargs
from airflow_provider_authapi.auth.errors import CredentialOriginError, TokenTransportError
from airflow_provider_authapi.auth.tokens import MemoryTokenStore
from tests import custom_grants
from tests.core.conftest import FAST, call
from tests.custom_grants import AsyncOddLoginGrant, HmacSigner, LeakyGrant, LoginOnlyGrant, OddLoginGrant
from tests.emulators.base import Emulator, self_signed_cert
from tests.emulators.odd_login import OddLoginServer

SIGNING = {"signing_key_id": "key-1", "signing_secret": "signing-secret-0123456789abcdef"}


@pytest.fixture
def odd() -> OddLoginServer:
    with OddLoginServer() as server:
        yield server


@pytest.fixture(autouse=True)
def clients_seen():
    custom_grants.OddLoginGrant.clients.clear()
    yield custom_grants.OddLoginGrant.clients


def odd_config(server: OddLoginServer, grant=OddLoginGrant, password: str | None = None, **common) -> AuthConfig:
    """A connection to the odd login: its login and password (the PIN), as the Airflow layer reads them."""
    settings = {"host": server.url, "login": server.user, "password": password or server.pin, **SIGNING}
    base = {"base_url": server.url, "settings": settings, **common}
    return AuthConfig(CustomGrantConfig(grant=grant), CommonConfig(**base))


@pytest.fixture
def clock(monkeypatch):
    """The token manager's clock, movable: `clock.advance(s)` makes it `s` seconds later for the manager only."""
    shim = types.SimpleNamespace(offset=0.0, monotonic=time.monotonic, sleep=time.sleep)
    shim.time = lambda: time.time() + shim.offset
    shim.advance = lambda seconds: setattr(shim, "offset", shim.offset + seconds)
    monkeypatch.setattr(tokens, "time", shim)
    return shim


def test_one_login_serves_many_calls(odd, mode, clients_seen):
    config = odd_config(odd)
    manager = build_token_manager(config, retry=FAST)
    responses = call(mode, config, manager, "/api/whoami", times=20)
    assert [r.status_code for r in responses] == [200] * 20 and responses[0].json() == {"subject": odd.user}
    assert odd.logins == 1 and odd.renews == 0 and manager.token_requests == 1
    assert clients_seen == [httpx.Client]  # without afetch, async runs fetch in a thread, with a sync client
    token = manager.cached_token
    assert token.refresh_token and 595 <= (token.expires_at - token.obtained_at).in_seconds() <= 600


def test_async_methods_of_its_own_get_an_async_client(odd, clients_seen):
    config = odd_config(odd, AsyncOddLoginGrant)
    manager = build_token_manager(config, retry=FAST)
    assert [r.status_code for r in call("async", config, manager, "/api/whoami", times=5)] == [200] * 5
    odd.tickets.revoke_all()  # a 401: the grant's own arefresh, on the event loop
    assert call("async", config, manager, "/api/whoami")[0].status_code == 200
    assert clients_seen == [httpx.AsyncClient, httpx.AsyncClient] and (odd.logins, odd.renews) == (1, 1)


def test_renewal_ahead_of_expiry_uses_the_grants_refresh(odd, mode, clock):
    store = MemoryTokenStore()
    config = odd_config(odd)
    manager = build_token_manager(config, store, retry=FAST)
    call(mode, config, manager, "/api/whoami")
    first = manager.cached_token
    lifetime = (first.expires_at - first.obtained_at).in_seconds()  # 600 s: leeway 30 s (5 %), window 15-30 s
    clock.advance(lifetime - 100)
    call(mode, config, manager, "/api/whoami")
    assert (odd.logins, odd.renews) == (1, 0) and manager.cached_token is first  # not due yet: no request

    clock.advance(60)  # 40 s before expiry: past this process's renewal moment, the token still valid
    assert not first.is_expired(leeway=0, now=first.obtained_at.add(seconds=lifetime - 40))
    assert call(mode, config, manager, "/api/whoami")[0].status_code == 200
    renewed = manager.cached_token
    assert (odd.logins, odd.renews) == (1, 1), "renewed ahead of expiry through refresh(), not a new login"
    assert renewed.access_token != first.access_token and renewed.refresh_token != first.refresh_token
    assert store.load().access_token == renewed.access_token and odd.renewals.live() == [renewed.refresh_token]


def test_a_dead_refresh_token_logs_in_again(odd, mode):
    config = odd_config(odd)
    manager = build_token_manager(config, retry=FAST)
    call(mode, config, manager, "/api/whoami")
    odd.tickets.revoke_all()
    odd.renewals.revoke_all()  # refresh() answers None: the provider starts over with fetch()
    assert call(mode, config, manager, "/api/whoami")[0].status_code == 200
    assert (odd.logins, odd.renews) == (2, 1)


def test_without_refresh_every_renewal_is_a_login_and_a_token_it_built_is_taken(odd, mode):
    config = odd_config(odd, LoginOnlyGrant())  # an instance is used as it is
    manager = build_token_manager(config, retry=FAST)
    call(mode, config, manager, "/api/whoami", times=3)
    odd.tickets.revoke_all()
    assert call(mode, config, manager, "/api/whoami")[0].status_code == 200
    assert (odd.logins, odd.renews) == (2, 0)


def test_transient_failures_are_retried_under_the_token_retry_policy(odd, mode):
    odd.fail_next(2, 503)
    config = odd_config(odd)
    manager = build_token_manager(config, retry=FAST)
    assert call(mode, config, manager, "/api/whoami")[0].status_code == 200
    assert odd.logins == 3 and manager.token_requests == 3


def test_a_refused_login_names_the_response_and_never_the_pin(odd, mode):
    wrong = "wrong-pin-9876543210"
    config = odd_config(odd, password=wrong)
    manager = build_token_manager(config, retry=FAST)
    with pytest.raises(TokenEndpointError) as caught:
        call(mode, config, manager, "/api/whoami")
    message = str(caught.value)
    assert "/session" in message and "401" in message and "wrong PIN" in message
    assert wrong not in message and caught.value.status_code == 401 and odd.logins == 1  # a 401 is not retried


def test_the_grants_own_error_is_typed_and_scrubbed(odd, mode):
    config = odd_config(odd, LeakyGrant)
    with pytest.raises(TokenEndpointError) as caught:
        call(mode, config, build_token_manager(config, retry=FAST), "/api/whoami")
    message = str(caught.value)
    assert "tests.custom_grants.LeakyGrant failed to obtain a token: ValueError: vendor SDK refused PIN ***" in message
    assert odd.pin not in message and caught.value.__cause__ is None  # the cause would repeat the PIN


def test_an_answer_without_an_access_token_names_its_keys_not_its_values(odd):
    class TicketOnly(CustomGrant):
        def fetch(self, client, config):
            return {"ticket": "tkt-looks-like-a-secret", "expires_in": 60}

    manager = build_token_manager(odd_config(odd, TicketOnly), retry=FAST)
    with pytest.raises(TokenEndpointError, match=r"fetch returned no access_token \(keys: expires_in, ticket\)") as e:
        manager.get_token()
    assert "tkt-looks-like-a-secret" not in str(e.value)


def test_an_expiry_given_as_a_time_is_read(odd):
    at = time.time() + 120

    class ExpiresAt(CustomGrant):
        def fetch(self, client, config):
            return {"access_token": "tkt-fixed-0123456789", "expires_at": at}

    token = build_token_manager(odd_config(odd, ExpiresAt), retry=FAST).get_token()
    assert abs(token.expires_at.timestamp() - at) < 2


def test_the_grants_client_has_the_connections_tls_settings(tmp_path: Path):
    cert, key = self_signed_cert(str(tmp_path))
    with OddLoginServer(tls=(cert, key)) as odd:
        trusted = odd_config(odd, tls=TLSConfig(ca_pem=Path(cert).read_text()))
        assert call("sync", trusted, build_token_manager(trusted, retry=FAST), "/api/whoami")[0].status_code == 200
        untrusted = odd_config(odd)
        with pytest.raises(TokenTransportError, match=r"TLS verification of .*/session failed.*ca_cert_pem"):
            build_token_manager(untrusted, retry=FAST).get_token()
        assert odd.logins == 1


@pytest.mark.parametrize(
    ("grant", "problem"),
    [
        ("tests.no_such_package.Grant", "module 'tests.no_such_package' of tests.no_such_package.Grant was not found"),
        ("tests.custom_grants.Missing", "module 'tests.custom_grants' has no 'Missing'"),
        ("tests.custom_grants.NotAGrant", "is not a subclass of airflow_provider_authapi.auth.CustomGrant"),
        ("tests.custom_grants.HmacSigner", "is not a subclass of airflow_provider_authapi.auth.CustomGrant"),
        ("tests.custom_grants.NoFetchGrant", "does not implement fetch(client, config)"),
        ("CustomGrant", "'CustomGrant' is not an import path such as package.module.name"),
        (custom_grants.NotAGrant, "must be a subclass of airflow_provider_authapi.auth.CustomGrant"),
        ("", "is required"),
    ],
)
def test_a_bad_grant_class_is_a_config_error_naming_the_field(grant, problem):
    with pytest.raises(ConfigError) as caught:
        CustomGrantConfig(grant=grant) if not isinstance(grant, str) else CustomGrantConfig(grant_class=grant)
    assert caught.value.field == "grant_class" and problem in str(caught.value)


def test_the_fingerprint_is_the_class_path_and_the_settings(odd):
    by_class, by_path = odd_config(odd), odd_config(odd, "tests.custom_grants.OddLoginGrant")
    by_instance = odd_config(odd, OddLoginGrant())
    assert by_class.scheme.grant_class == "tests.custom_grants.OddLoginGrant"
    assert by_class.fingerprint() == by_path.fingerprint() == by_instance.fingerprint()  # shared across processes
    assert odd_config(odd, password="another-pin-0123456").fingerprint() != by_class.fingerprint()
    assert odd_config(odd, LoginOnlyGrant).fingerprint() != by_class.fingerprint()


# -- a signer of the user's own --------------------------------------------------------------------------------


def signer_config(server: OddLoginServer) -> AuthConfig:
    return AuthConfig(NoAuthConfig(), CommonConfig(base_url=server.url, auth=HmacSigner, settings=SIGNING))


def test_a_signer_of_its_own_signs_every_request_it_may(odd, mode):
    config = signer_config(odd)
    assert [r.json() for r in call(mode, config, None, "/api/signed", times=2)] == [
        {"signed": True, "method": "GET"}
    ] * 2
    auth = build_auth(config)
    with httpx.Client(**client_kwargs(config.common), auth=auth) as client:
        assert client.post("/api/signed", json={"n": 1}).status_code == 200  # the body is signed too
    assert odd.signed == [("GET", "/api/signed")] * 2 + [("POST", "/api/signed")]


def test_the_signer_is_bound_by_the_origin_rule(odd, mode):
    """The signer runs only for the connection's origins: another origin is refused before a byte is sent."""
    with Emulator() as elsewhere:
        config = signer_config(odd)
        auth = build_auth(config)
        with pytest.raises(CredentialOriginError, match="allowed_origins"):
            if mode == "sync":
                with httpx.Client(auth=auth) as client:
                    client.get(f"{elsewhere.url}/api/signed")
            else:

                async def run() -> None:
                    async with httpx.AsyncClient(auth=auth) as client:
                        await client.get(f"{elsewhere.url}/api/signed")

                asyncio.run(run())
        assert sum(elsewhere.calls.values()) == 0
        listed = CommonConfig(base_url=odd.url, auth=HmacSigner, settings=SIGNING, allowed_origins=(elsewhere.url,))
        with httpx.Client(auth=build_auth(AuthConfig(NoAuthConfig(), listed))) as client:
            sent = client.get(f"{elsewhere.url}/nothing-here")
        assert sent.request.headers["X-Key-Id"] == "key-1"  # listed in allowed_origins: signed


def test_the_signer_runs_after_a_custom_grants_token_and_on_its_replay(odd, mode):
    odd.signed_needs_ticket = True
    config = odd_config(odd, auth=HmacSigner)
    manager = build_token_manager(config, retry=FAST)
    assert call(mode, config, manager, "/api/signed")[0].status_code == 200
    odd.tickets.revoke_all()  # 401: a new token, and the replay signed again
    assert call(mode, config, manager, "/api/signed")[0].status_code == 200
    assert len(odd.signed) == 2 and (odd.logins, odd.renews) == (1, 1)


def test_a_bad_auth_class_is_a_config_error_naming_the_field(odd):
    with pytest.raises(ConfigError, match=r"auth_class.*not a subclass of httpx\.Auth"):
        CommonConfig(auth_class="tests.custom_grants.OddLoginGrant")
    config = AuthConfig(NoAuthConfig(), CommonConfig(base_url=odd.url, auth=HmacSigner, settings={"x": 1}))
    with pytest.raises(ConfigError, match=r"auth_class.*HmacSigner\(config\) could not be created \(KeyError"):
        build_auth(config)
