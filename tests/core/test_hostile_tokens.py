"""Hostile or broken token answers: lifetimes kept within sane bounds, credential-looking values redacted from
every excerpt, whatever the server sends."""

from __future__ import annotations

import base64
import logging
import time
import traceback
from collections.abc import Iterator

import httpx
import jwt
import pendulum
import pytest

from airflow_provider_authapi.auth import AuthConfig, CommonConfig, OAuth2Config, build_token_manager
from airflow_provider_authapi.auth.errors import (
    EXCERPT_CHARS,
    AuthApiError,
    TokenEndpointError,
    redact_text,
    response_excerpt,
)
from airflow_provider_authapi.auth.retry import RetryPolicy
from airflow_provider_authapi.auth.tokens import LIFETIME_BOUNDS, Token
from tests.emulators.hostile import ISSUED, HostileApi

NOW = pendulum.datetime(2026, 11, 23, tz="UTC")


def lifetime(token: Token) -> float:
    assert token.expires_at is not None
    return token.expires_at.timestamp() - NOW.timestamp()


@pytest.mark.parametrize("expires_in", [0, -5, float("nan"), float("-inf")])
def test_a_lifetime_of_zero_or_less_is_ignored_for_the_default_and_logged(expires_in, caplog):
    with caplog.at_level(logging.WARNING):
        token = Token.from_lifetime("at", expires_in=expires_in, default_lifetime=1800, now=NOW)
    assert lifetime(token) == 1800
    assert "The token's lifetime from expires_in is" in caplog.text and "ignoring it" in caplog.text


@pytest.mark.parametrize("expires_in", [1e12, float("inf"), 1e308])
def test_a_lifetime_past_any_date_is_cut_to_the_ceiling_not_an_overflow(expires_in, caplog):
    with caplog.at_level(logging.WARNING):
        token = Token.from_lifetime("at", expires_in=expires_in, now=NOW)
    assert lifetime(token) == LIFETIME_BOUNDS[1]
    assert "using 315360000 s instead" in caplog.text


def test_a_jwt_exp_past_any_date_is_cut_to_the_ceiling():
    token = jwt.encode({"exp": 10**15}, "k" * 32)
    assert lifetime(Token.from_lifetime(token, now=NOW)) == LIFETIME_BOUNDS[1]


def test_an_already_expired_jwt_falls_back_to_the_default_instead_of_a_token_storm():
    token = jwt.encode({"exp": int(NOW.timestamp()) - 100}, "k" * 32)
    assert lifetime(Token.from_lifetime(token, default_lifetime=600, now=NOW)) == 600


def test_a_short_but_positive_lifetime_is_kept():
    assert lifetime(Token.from_lifetime("at", expires_in=4, now=NOW)) == 4


def test_max_lifetime_still_caps_a_bounded_lifetime():
    assert lifetime(Token.from_lifetime("at", expires_in=1e12, max_lifetime=300, now=NOW)) == 300


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"access_token": "at-1", "expires_in": 3600}', '{"access_token": "***", "expires_in": 3600}'),
        ('{"refresh_token":"r\\"t"}', '{"refresh_token":"***"}'),
        ("access_token=gho_16C7e42F292c&scope=repo", "access_token=***&scope=repo"),
        ("you sent Authorization: Basic Y2xpZW50OnNlY3JldA==", "you sent Authorization: Basic ***"),
        ("header Bearer eyJhbGciOi.eyJzdWIi.sig", "header Bearer ***"),
        ('{"error": "invalid_client"}', '{"error": "invalid_client"}'),
    ],
)
def test_redact_text_hides_credential_looking_values_it_was_never_told_of(text, expected):
    assert redact_text(text) == expected


def test_an_excerpt_of_a_body_with_a_million_keys_stays_short():
    body = "{" + ", ".join(f'"key{i}": {i}' for i in range(1_000_000)) + "}"
    response = httpx.Response(200, content=body.encode(), headers={"Content-Type": "application/json"})
    assert len(response_excerpt(response)) <= EXCERPT_CHARS


# -- A hostile token endpoint ---------------------------------------------------------------------------------------

CLIENT_SECRET = "client-secret-hostile-0123456789"


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileApi]:
    with HostileApi() as server:
        yield server


def get_token(server: HostileApi, kind: str, timeout: float = 5.0) -> Token:
    config = AuthConfig(
        OAuth2Config(token_url=f"{server.url}/token/{kind}", client_id="cid", client_secret=CLIENT_SECRET),
        CommonConfig(timeout=timeout),
    )
    manager = build_token_manager(config, retry=RetryPolicy(attempts=1))
    assert manager is not None
    return manager.get_token()


def failure(server: HostileApi, kind: str, caplog: pytest.LogCaptureFixture, timeout: float = 5.0) -> AuthApiError:
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthApiError) as caught:
        get_token(server, kind, timeout)
    shown = [str(caught.value), repr(caught.value), "".join(traceback.format_exception(caught.value)), caplog.text]
    basic = base64.b64encode(f"cid:{CLIENT_SECRET}".encode()).decode()
    for secret in (ISSUED, CLIENT_SECRET, basic):
        assert not [text for text in shown if secret in text], secret
    return caught.value


@pytest.mark.parametrize(
    ("kind", "described"),
    [("array", "a JSON array of 1 items"), ("string", "a JSON string of 36"), ("plain", "text/plain of 36 bytes")],
)
def test_a_200_that_is_not_an_object_is_described_never_quoted(hostile, kind, described, caplog):
    error = failure(hostile, kind, caplog)
    assert isinstance(error, TokenEndpointError)
    assert f"/token/{kind} answered 200 to the login request with {described}" in str(error)


@pytest.mark.parametrize("kind", ["form", "form-text"])
def test_a_form_encoded_token_answer_is_read_like_json(hostile, kind):
    token = get_token(hostile, kind)
    assert token.access_token == ISSUED and token.token_type.lower() == "bearer"


def test_an_error_body_echoing_basic_credentials_shows_them_as_stars(hostile, caplog):
    error = failure(hostile, "echo", caplog)
    assert "answered 400 to the login request; body: bad request; you sent Basic ***" in str(error)


def test_an_expiry_that_is_not_a_number_is_logged_and_the_default_used(hostile, caplog):
    with caplog.at_level(logging.WARNING):
        token = get_token(hostile, "abc")
    assert "expires_in 'abc' is not a number of seconds; using the default lifetime" in caplog.text
    assert token.expires_at is not None and 3500 < token.expires_at.timestamp() - time.time() <= 3600


def test_an_expiry_past_any_date_is_cut_to_the_ceiling(hostile):
    token = get_token(hostile, "forever")
    assert token.expires_at is not None
    assert token.expires_at.timestamp() - time.time() == pytest.approx(LIFETIME_BOUNDS[1], abs=60)


def test_an_answer_of_200000_keys_without_a_token_gives_a_short_message(hostile, caplog):
    error = failure(hostile, "keys", caplog)
    assert "without a token at 'access_token' (top-level keys: key0, key1," in str(error)
    assert "and 199,980 more" in str(error) and len(str(error)) < 1000


@pytest.mark.parametrize("kind", ["trickle", "trickle-headers"])
def test_a_trickling_token_answer_is_cut_off_at_the_attempt_deadline(hostile, kind, caplog):
    # A 60-byte body, or about 130 bytes of status line and headers, at 0.25 s a byte would take 15 s or over
    # 30 s; no byte is late for the read timeout of 0.5 s, so only the 2 s deadline can stop them; the 10 s bound
    # leaves room for a loaded machine
    started = time.monotonic()
    error = failure(hostile, kind, caplog, timeout=0.5)
    assert time.monotonic() - started < 10
    assert "no complete answer within 2 s" in str(error)
