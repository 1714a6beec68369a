"""A stored token is kept across an upgrade: fields added since tokens were first stored leave the fingerprint
alone while at their default (the values below were computed by the code of commit 087b543)."""

from __future__ import annotations

from dataclasses import replace

from airflow_provider_authapi.auth.config import AuthConfig, BasicAuthConfig, OAuth2Config, TokenLoginConfig

OAUTH2 = OAuth2Config(
    token_url="https://idp/token", client_id="c", client_secret="s", grant_type="authorization_code", scopes=("a",)
)
LOGIN = TokenLoginConfig(token_url="https://x/login", username="u", password="p")
BASIC = BasicAuthConfig("u", "p")


def test_fingerprints_of_connections_that_use_no_new_field_are_the_ones_stored_before():
    assert AuthConfig(OAUTH2).fingerprint() == "febd2a1a6a1e645d21857532a7f1aac3"
    assert AuthConfig(LOGIN).fingerprint() == "c297f9c520b4d7232d572f02b672c027"
    assert AuthConfig(BASIC).fingerprint() == "75cccf1c0ba7c11128098617d273610c"


def test_a_new_field_set_away_from_its_default_changes_the_fingerprint():
    assert AuthConfig(replace(LOGIN, credential_source="cookie", credential_name="B1SESSION")).fingerprint() != (
        AuthConfig(LOGIN).fingerprint()
    )
    assert AuthConfig(replace(BASIC, http_scheme="digest")).fingerprint() != AuthConfig(BASIC).fingerprint()


def test_where_tokens_are_revoked_changes_no_fingerprint():
    assert AuthConfig(replace(OAUTH2, revocation_url="https://idp/revoke")).fingerprint() == (
        AuthConfig(OAUTH2).fingerprint()
    )
