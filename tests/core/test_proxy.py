"""A connection's proxy against a real forward proxy on 127.0.0.1 (`tests/emulators/forward_proxy.py`): API and
token requests go through it, sync and async, with its credentials as `Proxy-Authorization` only; a 407 is a
`ProxyAuthenticationError` naming the field; bypassed hosts are reached directly; an HTTPS target is tunnelled by
CONNECT and verified with the connection's CA; the proxy password is in no log line and no error."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from airflow_provider_authapi.auth import (
    AuthConfig,
    BearerAuthConfig,
    CommonConfig,
    OAuth2Config,
    TLSConfig,
    TokenEndpointError,
    build_token_manager,
)
from airflow_provider_authapi.auth.client import build_async_client, build_auth, build_client
from airflow_provider_authapi.auth.config import ProxyConfig, config_secrets
from airflow_provider_authapi.auth.errors import ProxyAuthenticationError
from airflow_provider_authapi.auth.grants import OAuth2Grant, TokenEndpoint
from airflow_provider_authapi.auth.tokens import Token
from tests.core.conftest import FAST, call
from tests.emulators.base import self_signed_cert
from tests.emulators.forward_proxy import ForwardProxy
from tests.emulators.oauth2_server import OAuth2Server

USER, PASSWORD = "proxyuser", "proxy-pass-s3cr3t-0123"
BEARER = "static-bearer-token-0123456789"


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy(credentials=(USER, PASSWORD)) as server:
        yield server


@pytest.fixture
def open_proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as server:
        yield server


@pytest.fixture
def https_oauth(tmp_path) -> Iterator[tuple[OAuth2Server, str]]:
    cert, key = self_signed_cert(str(tmp_path))
    with OAuth2Server(tls=(cert, key)) as server:
        yield server, Path(cert).read_text()


def oauth_config(server: OAuth2Server, proxy: ProxyConfig, tls: TLSConfig | None = None) -> AuthConfig:
    scheme = OAuth2Config(
        token_url=f"{server.url}/token",
        client_id=server.client_id,
        client_secret=server.client_secret,
        scopes=("read",),
        revocation_url=f"{server.url}/revoke",
    )
    return AuthConfig(scheme, CommonConfig(base_url=server.url, tls=tls or TLSConfig(), proxy=proxy))


def bearer_config(url: str, proxy: ProxyConfig) -> AuthConfig:
    return AuthConfig(BearerAuthConfig(BEARER), CommonConfig(base_url=url, proxy=proxy))


def with_credentials(proxy: ForwardProxy, password: str = PASSWORD, **kwargs) -> ProxyConfig:
    return ProxyConfig(proxy.url, USER, password, **kwargs)


def test_api_and_token_requests_go_through_the_proxy_with_its_credentials_only(oauth, proxy, mode):
    config = oauth_config(oauth, with_credentials(proxy))
    manager = build_token_manager(config, retry=FAST)
    responses = call(mode, config, manager, "/api/whoami", times=2)
    assert [r.status_code for r in responses] == [200, 200]
    assert proxy.targets() == [f"{oauth.url}/token", f"{oauth.url}/api/whoami", f"{oauth.url}/api/whoami"]
    assert all(seen.proxy_credentials == (USER, PASSWORD) for seen in proxy.seen)
    # a plain-http target is forwarded: the proxy reads the request, as any forward proxy must
    assert proxy.seen[1].headers["authorization"].startswith("Bearer ")


def test_the_hook_clients_sync_and_async_go_through_the_proxy(open_proxy):
    with OAuth2Server() as api:
        config = bearer_config(api.url, ProxyConfig(open_proxy.url))
        with build_client(config) as client:
            assert client.get("/api/whoami").status_code == 401  # the emulator's own answer, via the proxy

        async def run() -> int:
            async with build_async_client(config) as client:
                return (await client.get("/api/whoami")).status_code

        assert asyncio.run(run()) == 401
        assert open_proxy.targets() == [f"{api.url}/api/whoami"] * 2


def test_revocation_goes_through_the_proxy(oauth, proxy):
    config = oauth_config(oauth, with_credentials(proxy))
    endpoint = TokenEndpoint(OAuth2Grant(config.scheme), retry=FAST, proxy=config.common.proxy)
    token = endpoint.fetch(None)
    assert all(r.confirmed for r in endpoint.revoke(Token(token.access_token)))
    assert proxy.targets() == [f"{oauth.url}/token", f"{oauth.url}/revoke"]
    refused = TokenEndpoint(OAuth2Grant(config.scheme), retry=FAST, proxy=with_credentials(proxy, "wrong-pass"))
    (revocation,) = refused.revoke(Token(token.access_token))  # never an exception, as for an unreachable one
    assert not revocation.confirmed and "407" in revocation.reason and "egress_password" in revocation.reason


@pytest.mark.parametrize(("password", "field"), [(PASSWORD + "-wrong", "egress_password"), (None, "egress_username")])
def test_a_407_on_the_token_request_names_the_proxy_field_and_no_secret(oauth, proxy, mode, caplog, password, field):
    config = oauth_config(oauth, with_credentials(proxy, password) if password else ProxyConfig(proxy.url))
    manager = build_token_manager(config, retry=FAST)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProxyAuthenticationError) as caught:
        call(mode, config, manager, "/api/whoami")
    assert caught.value.field == field and field in str(caught.value)
    assert f"proxy {proxy.url} answered 407" in str(caught.value)
    assert len(proxy.seen) == 1 and not proxy.seen[0].allowed  # not retried: credentials do not heal
    assert oauth.calls["POST /token"] == 0
    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert PASSWORD not in text and oauth.client_secret not in text


def provider_client_get(mode: str, config: AuthConfig, path: str) -> httpx.Response:
    """GET `path` with the provider's own client (`build_client` / `build_async_client`: the hook's, the
    operator's, the trigger's), which types a 407; a bare `httpx.Client(**client_kwargs(...))` leaves it httpx's."""
    if mode == "sync":
        with build_client(config) as client:
            return client.get(path)

    async def run() -> httpx.Response:
        async with build_async_client(config) as client:
            return await client.get(path)

    return asyncio.run(run())


def test_a_407_on_an_api_request_is_typed_too(proxy, mode):
    with OAuth2Server() as api:
        config = bearer_config(api.url, with_credentials(proxy, "not-the-password"))
        with pytest.raises(ProxyAuthenticationError, match="egress_username and egress_password") as caught:
            provider_client_get(mode, config, "/api/whoami")
    assert caught.value.field == "egress_password"
    assert "not-the-password" not in str(caught.value) and BEARER not in str(caught.value)


def test_bypassed_hosts_are_reached_directly(oauth, proxy, mode):
    port = httpx.URL(oauth.url).port
    for bypass in (f"127.0.0.1:{port}", "127.0.0.1", "*"):
        config = oauth_config(oauth, with_credentials(proxy, bypass=(bypass,)))
        assert call(mode, config, build_token_manager(config, retry=FAST), "/api/whoami")[0].status_code == 200
    assert proxy.seen == []
    other_port = oauth_config(oauth, with_credentials(proxy, bypass=("127.0.0.1:1", "example.com")))
    call(mode, other_port, build_token_manager(other_port, retry=FAST), "/api/whoami")
    assert len(proxy.seen) == 2


def test_an_https_target_is_tunnelled_and_verified_with_the_connections_ca(https_oauth, proxy, mode):
    server, ca_pem = https_oauth
    config = oauth_config(server, with_credentials(proxy), TLSConfig(ca_pem=ca_pem))
    assert call(mode, config, build_token_manager(config, retry=FAST), "/api/whoami")[0].status_code == 200
    port = httpx.URL(server.url).port
    assert {(seen.method, seen.target) for seen in proxy.seen} == {("CONNECT", f"127.0.0.1:{port}")}
    assert all("authorization" not in seen.headers for seen in proxy.seen)  # inside the tunnel: not the proxy's


def test_through_the_tunnel_the_target_is_still_verified(https_oauth, open_proxy):
    server, _ = https_oauth
    manager = build_token_manager(oauth_config(server, ProxyConfig(open_proxy.url)), retry=FAST)
    with pytest.raises(TokenEndpointError, match="ca_cert_pem"):
        manager.get_token()
    assert open_proxy.targets("CONNECT")


def test_a_refused_connect_is_typed_and_names_the_field(https_oauth, proxy, mode, caplog):
    server, ca_pem = https_oauth
    caplog.set_level(logging.DEBUG)
    config = AuthConfig(
        BearerAuthConfig(BEARER),
        CommonConfig(base_url=server.url, tls=TLSConfig(ca_pem=ca_pem), proxy=with_credentials(proxy, "wrong-pass")),
    )
    with pytest.raises(ProxyAuthenticationError) as caught:
        provider_client_get(mode, config, "/api/whoami")
    assert caught.value.field == "egress_password" and "wrong-pass" not in caplog.text + str(caught.value)
    assert [seen.method for seen in proxy.seen] == ["CONNECT"]


def test_an_https_proxy_is_verified_with_the_connections_ca(tmp_path, oauth, mode):
    cert, key = self_signed_cert(str(tmp_path))
    with ForwardProxy(credentials=(USER, PASSWORD), tls=(cert, key)) as https_proxy:
        assert https_proxy.url.startswith("https://")
        trusted = oauth_config(oauth, with_credentials(https_proxy), TLSConfig(ca_pem=Path(cert).read_text()))
        assert call(mode, trusted, build_token_manager(trusted, retry=FAST), "/api/whoami")[0].status_code == 200
        assert https_proxy.targets() == [f"{oauth.url}/token", f"{oauth.url}/api/whoami"]
        untrusted = oauth_config(oauth, with_credentials(https_proxy))
        with pytest.raises(TokenEndpointError, match="TLS verification"):
            build_token_manager(untrusted, retry=FAST).get_token()


def test_credentials_in_the_url_work_and_are_secrets(oauth, proxy, mode, caplog):
    url = proxy.url.replace("http://", f"http://{USER}:{PASSWORD.replace('-', '%2D')}@")
    config = oauth_config(oauth, ProxyConfig(url))
    assert PASSWORD in config_secrets(config) and url in config_secrets(config)
    assert PASSWORD not in repr(config) and url not in repr(config)
    caplog.set_level(logging.DEBUG)
    assert call(mode, config, build_token_manager(config, retry=FAST), "/api/whoami")[0].status_code == 200
    assert proxy.seen[0].proxy_credentials == (USER, PASSWORD)
    assert PASSWORD not in caplog.text and url not in caplog.text


def test_the_connections_proxy_wins_over_the_environments(oauth, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # nor does the environment's bypass list apply
    config = oauth_config(oauth, with_credentials(proxy))
    assert call("sync", config, build_token_manager(config, retry=FAST), "/api/whoami")[0].status_code == 200
    assert len(proxy.seen) == 2


def test_without_a_connection_proxy_the_environments_applies(oauth, open_proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", open_proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    config = oauth_config(oauth, ProxyConfig())
    assert call("sync", config, build_token_manager(config, retry=FAST), "/api/whoami")[0].status_code == 200
    assert open_proxy.targets() == [f"{oauth.url}/token", f"{oauth.url}/api/whoami"]


def test_an_unreachable_proxy_is_a_transport_error_without_its_password(oauth, caplog):
    caplog.set_level(logging.DEBUG)
    config = oauth_config(oauth, ProxyConfig("http://127.0.0.1:9", USER, PASSWORD))
    with pytest.raises(TokenEndpointError) as caught:
        build_token_manager(config, retry=FAST).get_token()
    assert PASSWORD not in str(caught.value) + caplog.text
    auth = build_auth(config)
    with build_client(config, auth) as client, pytest.raises(httpx.TransportError) as api_caught:
        client.get("/api/whoami", extensions={"authapi.authenticate": False})
    assert PASSWORD not in str(api_caught.value)
