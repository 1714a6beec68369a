"""Keeping secrets out of messages: one way to collect them, one scrubber, safe URLs, bounded excerpts."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_authapi.auth import (
    ApiKeyConfig,
    AuthConfig,
    BasicAuthConfig,
    BearerAuthConfig,
    CommonConfig,
    NoAuthConfig,
    OAuth2Config,
    SignatureConfig,
    TLSConfig,
    TokenLoginConfig,
)
from airflow_provider_authapi.auth.config import config_secrets
from airflow_provider_authapi.auth.errors import (
    EXCERPT_CHARS,
    request_secrets,
    response_excerpt,
    safe_url,
    scrub,
)
from airflow_provider_authapi.auth.grants import LoginGrant, OAuth2Grant

OAUTH2 = OAuth2Config(
    token_url="https://idp.test/token",
    grant_type="password",
    client_secret="client-secret-1",
    username="u",
    password="user-password-2",
    refresh_token="refresh-token-3",
)
LOGIN = TokenLoginConfig(token_url="https://api.test/login", username="u", password="login-password-4")


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        (OAUTH2, ["client-secret-1", "user-password-2", "refresh-token-3"]),
        (LOGIN, ["login-password-4"]),
        (BasicAuthConfig("u", "basic-password-5"), ["basic-password-5"]),
        (BearerAuthConfig("bearer-token-6"), ["bearer-token-6"]),
        (ApiKeyConfig("api-key-7"), ["api-key-7"]),
        (NoAuthConfig(), []),
    ],
)
def test_each_scheme_names_its_secrets(scheme, expected):
    assert config_secrets(scheme) == expected
    assert config_secrets(AuthConfig(scheme)) == expected


def test_the_common_options_add_the_client_key_and_the_signature_secret():
    common = CommonConfig(
        tls=TLSConfig(ca_pem="public-ca", client_cert_pem="public-cert", client_key_pem="private-key-8"),
        signature=SignatureConfig("X-Signature", "signature-secret-9" * 2),
    )
    secrets = config_secrets(AuthConfig(BearerAuthConfig("bearer-token-6"), common))
    assert secrets == ["private-key-8", "signature-secret-9" * 2, "bearer-token-6"]  # certificates are public


@pytest.mark.parametrize(("grant", "scheme"), [(OAuth2Grant, OAUTH2), (LoginGrant, LOGIN)])
def test_grants_collect_their_secrets_the_same_way(grant, scheme):
    assert grant(scheme).secrets == tuple(config_secrets(scheme))


def test_request_secrets_are_the_credential_headers_and_query_parameters():
    request = httpx.Request(
        "GET",
        "https://api.test/x?api_key=query-key-1&page=2",
        headers={"Authorization": "Bearer header-token-2", "Accept": "application/json"},
    )
    found = request_secrets(httpx.Response(400, request=request))
    assert found == ["Bearer header-token-2", "header-token-2", "query-key-1"]


def test_a_response_without_a_request_carried_no_secrets():
    assert request_secrets(httpx.Response(400)) == []


def test_scrub_replaces_every_secret_but_not_values_too_short_to_be_one():
    assert scrub("a=abc, b=secret-1, c=secret-1", ["abc", "secret-1", None]) == "a=abc, b=***, c=***"


def test_scrub_keeps_the_scheme_word_of_a_header_value_whose_token_is_listed_too():
    assert scrub("sent Bearer tok-123", ["tok-123", "Bearer tok-123"]) == "sent Bearer ***"
    assert scrub("sent Bearer tok-123", ["Bearer tok-123", "tok-123"]) == "sent Bearer ***"


def test_scrub_a_short_secret_inside_a_longer_one_leaves_nothing_of_the_longer_readable():
    longer = "prefix-pass-word-suffix-9876"
    assert scrub(f"body: {longer}", ["pass-word", longer]) == "body: ***"
    assert scrub(f"body: {longer}", [longer, "pass-word"]) == "body: ***"


@pytest.mark.parametrize(
    "url",
    ["https://user:pw@idp.test:8443/oauth/token?client_secret=s#frag", httpx.URL("https://idp.test:8443/oauth/token")],
)
def test_safe_url_drops_user_info_query_and_fragment(url):
    assert safe_url(url) == "https://idp.test:8443/oauth/token"


def test_an_excerpt_is_bounded_whitespace_folded_and_scrubbed():
    response = httpx.Response(500, text="<p>\n  key  sk-live-123 </p>" + "x" * 500)
    excerpt = response_excerpt(response, ["sk-live-123"])
    assert excerpt.startswith("<p> key *** </p>xxx") and len(excerpt) == EXCERPT_CHARS
