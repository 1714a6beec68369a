"""Token endpoint failures: typed errors, bounded retries honouring Retry-After, no secret in any message."""

from __future__ import annotations

import socket
import time

import pytest

from airflow_provider_authapi.auth import (
    AuthConfig,
    CommonConfig,
    OAuth2Config,
    TokenEndpointError,
    build_token_manager,
)
from airflow_provider_authapi.auth.errors import TokenTransportError, TransientTokenEndpointError
from airflow_provider_authapi.auth.retry import RetryPolicy
from tests.core.conftest import FAST
from tests.emulators.base import Emulator, Response


def config_for(url: str, secret: str = "client-secret-0123456789") -> AuthConfig:
    return AuthConfig(OAuth2Config(token_url=url, client_id="client-id-1", client_secret=secret))


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_twice_then_success_is_retried(oauth, mode, status):
    oauth.fail_next(2, status)
    manager = build_token_manager(config_for(f"{oauth.url}/token"), retry=FAST)
    token = manager.get_token() if mode == "sync" else __import__("asyncio").run(manager.aget_token())
    assert token.access_token and oauth.token_requests == 3 == manager.token_requests


def test_429_waits_at_least_retry_after(oauth):
    oauth.fail_next(1, 429, retry_after=1)
    started = time.monotonic()
    build_token_manager(config_for(f"{oauth.url}/token"), retry=FAST).get_token()
    assert time.monotonic() - started >= 1.0 and oauth.token_requests == 2


def test_retries_are_bounded_and_the_last_error_is_typed(oauth):
    oauth.fail_next(10, 503)
    with pytest.raises(TransientTokenEndpointError) as caught:
        build_token_manager(config_for(f"{oauth.url}/token"), retry=FAST).get_token()
    assert oauth.token_requests == FAST.attempts and caught.value.status_code == 503
    assert "upstream unavailable" in str(caught.value)  # a short excerpt of the HTML body


def test_connect_errors_are_retried_then_raised_with_the_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    manager = build_token_manager(config_for(f"http://127.0.0.1:{port}/token?tenant=x"), retry=FAST)
    with pytest.raises(TokenTransportError) as caught:
        manager.get_token()
    assert manager.token_requests == FAST.attempts and caught.value.transient
    assert f"127.0.0.1:{port}/token" in str(caught.value) and "tenant" not in str(caught.value)


def test_total_time_bounds_the_retries(oauth):
    oauth.fail_next(100, 429, retry_after=1)
    retry = RetryPolicy(attempts=100, max_total=1.5, backoff=0.01, max_backoff=0.05)
    started = time.monotonic()
    with pytest.raises(TransientTokenEndpointError):
        build_token_manager(config_for(f"{oauth.url}/token"), retry=retry).get_token()
    # attempts at about 0 s, 1 s and 2 s (Retry-After: 1); after the third, 1.5 s have passed: no fourth
    assert time.monotonic() - started < 5 and oauth.token_requests == 3


def test_a_retry_after_beyond_max_retry_after_fails_at_once(oauth):
    oauth.fail_next(1, 429, retry_after=3600)
    started = time.monotonic()
    with pytest.raises(TransientTokenEndpointError) as caught:
        build_token_manager(config_for(f"{oauth.url}/token"), retry=FAST).get_token()  # FAST waits at most 2 s
    assert oauth.token_requests == 1 and caught.value.retry_after == 3600
    assert time.monotonic() - started < 2


class OddTokenServer(Emulator):
    """Token endpoints that answer 200 with something unusable, or an error that echoes the secret."""

    def setup_routes(self) -> None:
        self.route("POST", r"/html", lambda _: Response.html("<html>Sign in to continue</html>"))
        self.route("POST", r"/list", lambda _: Response.json(["not", "an", "object"]))
        self.route("POST", r"/no-token", lambda _: Response.json({"token_type": "bearer", "expires_in": 60}))
        self.route(
            "POST",
            r"/echo-secret",
            lambda r: Response.json(
                {"error": "invalid_client", "error_description": f"bad secret {r.form()['client_secret']}"}, 400
            ),
        )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/html", "not a JSON object: <html>Sign in to continue</html>"),
        ("/list", "not a JSON object"),
        ("/no-token", "without a token at 'access_token' (top-level keys: expires_in, token_type)"),
    ],
)
def test_unusable_success_responses_name_status_and_excerpt(path, expected):
    with OddTokenServer() as server, pytest.raises(TokenEndpointError) as caught:
        build_token_manager(config_for(f"{server.url}{path}"), retry=FAST).get_token()
    assert expected in str(caught.value) and "answered 200" in str(caught.value)


def test_a_secret_echoed_by_the_server_is_scrubbed():
    secret = "very-secret-client-secret-42"
    with OddTokenServer() as server:
        scheme = OAuth2Config(
            token_url=f"{server.url}/echo-secret", client_id="c", client_secret=secret, client_auth="body"
        )
        with pytest.raises(TokenEndpointError) as caught:
            build_token_manager(AuthConfig(scheme, CommonConfig()), retry=FAST).get_token()
    assert caught.value.error == "invalid_client" and secret not in str(caught.value) and "***" in str(caught.value)
