"""RFC 7009 token revocation: the request, its client authentication, and what the server's answer becomes;
plus the refresh token's own expiry read from token responses (keep-warm)."""

from __future__ import annotations

import httpx
import pendulum
import pytest

from airflow_provider_authapi.auth import OAuth2Config
from airflow_provider_authapi.auth.errors import ConfigError, InvalidGrantError
from airflow_provider_authapi.auth.grants import OAuth2Grant, TokenEndpoint
from airflow_provider_authapi.auth.tokens import REFRESH_EXPIRES_AT, MemoryTokenStore, Token
from tests.core.conftest import FAST
from tests.emulators.base import Emulator, Response

ACCESS = "access-token-value-0123456789"
REFRESH = "refresh-token-value-0123456789"


def revocation_config(server, **kwargs) -> OAuth2Config:
    settings = {
        "token_url": f"{server.url}/token",
        "revocation_url": f"{server.url}/revoke",
        "client_id": server.client_id,
        "client_secret": server.client_secret,
        "grant_type": "password",
        "username": "alice",
        "password": server.users["alice"],
    }
    return OAuth2Config(**{**settings, **kwargs})


def first_token(config: OAuth2Config) -> Token:
    """A token with a refresh token, obtained from the server by the password grant."""
    token = TokenEndpoint(OAuth2Grant(config), retry=FAST).fetch(None)
    assert token.refresh_token
    return token


@pytest.mark.parametrize("client_auth", ["basic", "body"])
def test_the_revocation_request_is_a_form_authenticated_like_token_requests(client_auth):
    config = OAuth2Config(
        token_url="https://auth.example/token",
        revocation_url="https://auth.example/revoke",
        client_id="client-1",
        client_secret="client-secret-0123456789",
        client_auth=client_auth,
        scopes=("read",),
    )
    request = OAuth2Grant(config).revocation_request(REFRESH, "refresh_token")
    built = request.build()
    form = dict(httpx.QueryParams(built.content.decode()))
    assert built.method == "POST" and str(built.url) == "https://auth.example/revoke"
    assert built.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form["token"] == REFRESH and form["token_type_hint"] == "refresh_token"
    assert "scope" not in form and "grant_type" not in form
    if client_auth == "basic":
        assert built.headers["authorization"].startswith("Basic ") and "client_secret" not in form
    else:
        assert form["client_id"] == "client-1" and form["client_secret"] == "client-secret-0123456789"
    assert request.purpose == "revocation" and REFRESH not in repr(request)


def test_revoking_without_a_revocation_url_is_a_config_error_naming_the_field():
    config = OAuth2Config(token_url="https://auth.example/token", client_id="c", client_secret="s" * 20)
    with pytest.raises(ConfigError, match="revocation_url"):
        TokenEndpoint(OAuth2Grant(config)).revoke(Token(ACCESS, refresh_token=REFRESH))


@pytest.mark.parametrize("client_auth", ["basic", "body"])
def test_the_server_confirms_the_refresh_token_then_the_access_token_and_both_are_dead(oauth, client_auth):
    oauth.client_auth = client_auth
    config = revocation_config(oauth, client_auth=client_auth)
    token = first_token(config)
    assert httpx.get(f"{oauth.url}/api/whoami", headers={"Authorization": f"Bearer {token.access_token}"}).is_success

    revocations = TokenEndpoint(OAuth2Grant(config), retry=FAST).revoke(token)

    assert [(r.hint, r.confirmed) for r in revocations] == [("refresh_token", True), ("access_token", True)]
    assert oauth.revoked == ["refresh_token", "access_token"]
    assert [str(r) for r in revocations] == [
        "refresh token: revoked (the server confirmed)",
        "access token: revoked (the server confirmed)",
    ]
    with pytest.raises(InvalidGrantError):  # the refresh token is dead: a refresh with it is invalid_grant
        TokenEndpoint(OAuth2Grant(config), retry=FAST).fetch(token)
    dead = httpx.get(f"{oauth.url}/api/whoami", headers={"Authorization": f"Bearer {token.access_token}"})
    assert dead.status_code == 401 and oauth.invalid_grants == 1


def test_a_token_without_refresh_token_revokes_the_access_token_only_and_unknown_tokens_answer_200(oauth):
    config = revocation_config(oauth)
    revocations = TokenEndpoint(OAuth2Grant(config), retry=FAST).revoke(Token("at_never_issued_0123456789"))
    assert [(r.hint, r.confirmed) for r in revocations] == [("access_token", True)]
    assert oauth.revoked == [] and oauth.count("POST", "/revoke") == 1


def test_a_refusal_is_not_confirmed_and_names_the_error_without_secrets(oauth):
    token = first_token(revocation_config(oauth))
    wrong = revocation_config(oauth, client_secret="wrong-client-secret-0123456789")
    revocations = TokenEndpoint(OAuth2Grant(wrong), retry=FAST).revoke(token)
    assert [(r.hint, r.confirmed) for r in revocations] == [("refresh_token", False), ("access_token", False)]
    reason = revocations[0].reason
    assert "401" in reason and "invalid_client" in reason and "revocation request" in reason
    assert str(revocations[0]).startswith("refresh token: not revoked: ")
    for secret in (token.access_token, token.refresh_token, oauth.client_secret, "wrong-client-secret-0123456789"):
        assert all(secret not in str(r) for r in revocations)
    assert oauth.revoked == [] and oauth.refresh.check(token.refresh_token) is not None, "a refusal revokes nothing"


def test_a_transient_failure_is_retried_then_confirmed(oauth):
    config = revocation_config(oauth)
    token = first_token(config)
    oauth.fail_next(1, status=503, retry_after=0)
    revocations = TokenEndpoint(OAuth2Grant(config), retry=FAST).revoke(token)
    assert all(r.confirmed for r in revocations) and oauth.count("POST", "/revoke") == 3


def test_an_unreachable_endpoint_is_not_confirmed():
    config = OAuth2Config(
        token_url="http://127.0.0.1:9/token", revocation_url="http://127.0.0.1:9/revoke", client_id="c"
    )
    revocations = TokenEndpoint(OAuth2Grant(config), retry=FAST).revoke(Token(ACCESS, refresh_token=REFRESH))
    assert [r.confirmed for r in revocations] == [False, False]
    assert "unreachable" in revocations[0].reason and "127.0.0.1:9/revoke" in revocations[0].reason


class _EchoingRevoker(Emulator):
    """A revocation endpoint whose error quotes the token it was sent."""

    def setup_routes(self) -> None:
        self.route(
            "POST",
            "/revoke",
            lambda r: Response.json(
                {"error": "invalid_request", "error_description": f"bad {r.form()['token']}"}, status=400
            ),
        )


def test_a_server_that_echoes_the_token_in_its_error_has_it_scrubbed():
    with _EchoingRevoker() as server:
        config = OAuth2Config(token_url=f"{server.url}/token", revocation_url=f"{server.url}/revoke", client_id="c")
        (revocation, _) = TokenEndpoint(OAuth2Grant(config), retry=FAST).revoke(Token(ACCESS, refresh_token=REFRESH))
    assert not revocation.confirmed and "invalid_request" in revocation.reason
    assert REFRESH not in revocation.reason and "***" in revocation.reason


@pytest.mark.parametrize(
    ("key", "seconds"),
    [("x_refresh_token_expires_in", 8726400), ("refresh_token_expires_in", 7776000), ("refresh_expires_in", 1800)],
)
def test_the_refresh_tokens_expiry_is_recorded_from_each_servers_key(key, seconds):
    config = OAuth2Config(token_url="https://auth.example/token", client_id="c")
    grant = OAuth2Grant(config)
    request = grant.token_request(Token(ACCESS, refresh_token=REFRESH))
    body = {"access_token": "new-access", "expires_in": 300, "refresh_token": "new-refresh", key: seconds}
    token = grant.parse(httpx.Response(200, json=body), request, None)
    expires = pendulum.parse(token.extra[REFRESH_EXPIRES_AT])
    assert abs((expires - pendulum.now("UTC")).total_seconds() - seconds) < 5
    status = MemoryTokenStore(token).status()
    assert status["refresh_expires_at"] == token.extra[REFRESH_EXPIRES_AT]


def test_a_refresh_lifetime_of_zero_means_no_expiry_given():
    """Keycloak answers refresh_expires_in 0 for offline tokens: no expiry, not "expires now"."""
    config = OAuth2Config(token_url="https://auth.example/token", client_id="c")
    grant = OAuth2Grant(config)
    request = grant.token_request(None)
    body = {"access_token": "new-access", "refresh_token": "new-refresh", "refresh_expires_in": 0}
    token = grant.parse(httpx.Response(200, json=body), request, None)
    assert REFRESH_EXPIRES_AT not in token.extra
    assert MemoryTokenStore(token).status()["refresh_expires_at"] is None
