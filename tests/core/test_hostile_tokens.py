"""Hostile or broken token answers: lifetimes kept within sane bounds, credential-looking values redacted from
every excerpt, whatever the server sends."""

from __future__ import annotations

import logging

import httpx
import jwt
import pendulum
import pytest

from airflow_provider_authapi.auth.errors import EXCERPT_CHARS, redact_text, response_excerpt
from airflow_provider_authapi.auth.store import LIFETIME_BOUNDS, Token

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
