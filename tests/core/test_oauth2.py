"""OAuth 2.0 grants against a strict local server, with httpx.Client and httpx.AsyncClient."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_authapi.auth import (
    AuthConfig,
    CommonConfig,
    OAuth2Config,
    TokenEndpointError,
    TokenPlacement,
    UnauthorizedError,
    authorization_url,
    build_token_manager,
    exchange_code,
    new_pkce_verifier,
)
from airflow_provider_authapi.auth.errors import InvalidGrantError
from airflow_provider_authapi.auth.tokens import MemoryTokenStore
from tests.core.conftest import FAST, call


def oauth_config(server, **kwargs) -> AuthConfig:
    scheme = {"token_url": f"{server.url}/token", "client_id": server.client_id, "client_secret": server.client_secret}
    return AuthConfig(OAuth2Config(**{**scheme, **kwargs}), CommonConfig(base_url=server.url))


@pytest.mark.parametrize("client_auth", ["basic", "body"])
def test_client_credentials_with_basic_or_body_client_auth(oauth, mode, client_auth):
    oauth.client_auth = client_auth
    config = oauth_config(oauth, client_auth=client_auth, scopes=("read", "write"))
    manager = build_token_manager(config, retry=FAST)
    responses = call(mode, config, manager, "/api/whoami", times=3)
    assert [r.json() for r in responses] == [{"subject": oauth.client_id, "scope": "read write"}] * 3
    assert oauth.token_requests == 1 == manager.token_requests  # one token for three calls
    sent = oauth.last_token_form
    assert ("client_secret" in sent) is (client_auth == "body")


def test_client_auth_mismatch_is_invalid_client_without_the_secret(oauth, mode):
    config = oauth_config(oauth, client_auth="body")  # server wants Basic
    with pytest.raises(TokenEndpointError) as caught:
        call(mode, config, build_token_manager(config, retry=FAST), "/api/whoami")
    assert caught.value.error == "invalid_client" and caught.value.status_code == 401
    assert "invalid_client" in str(caught.value) and oauth.client_secret not in str(caught.value)


def test_audience_resource_and_custom_params_reach_the_token_endpoint(oauth, mode):
    oauth.audience = "https://api.example"
    config = oauth_config(
        oauth, audience="https://api.example", resource="urn:res", extra_token_params={"tenant": "t1"}
    )
    assert call(mode, config, build_token_manager(config, retry=FAST), "/api/whoami")[0].status_code == 200
    expected = {"audience": "https://api.example", "resource": "urn:res", "tenant": "t1"}
    assert oauth.last_token_form.items() >= expected.items()


def test_a_missing_audience_the_server_wants_is_a_typed_error(oauth, mode):
    oauth.audience = "https://api.example"
    with pytest.raises(TokenEndpointError, match="invalid_request"):
        config = oauth_config(oauth)  # no audience: refused
        call(mode, config, build_token_manager(config, retry=FAST), "/api/whoami")


def test_unknown_scope_is_surfaced_as_a_typed_error(oauth):
    config = oauth_config(oauth, scopes=("admin",))
    with pytest.raises(TokenEndpointError) as caught:
        build_token_manager(config, retry=FAST).get_token()
    assert caught.value.error == "invalid_scope" and "'admin'" in str(caught.value)


def test_token_in_a_query_parameter_with_a_custom_name(oauth, mode):
    config = oauth_config(oauth, placement=TokenPlacement("query", query_param="access_token"))
    assert call(mode, config, None, "/api/whoami")[0].status_code == 200


def test_a_prefix_the_server_refuses_gives_one_forced_refresh_then_a_secret_free_401(oauth, mode):
    config = oauth_config(oauth, placement=TokenPlacement("header", prefix="Token"))  # server wants "Bearer"
    manager = build_token_manager(config, retry=FAST)
    with pytest.raises(UnauthorizedError) as caught:
        call(mode, config, manager, "/api/whoami")
    assert "401" in str(caught.value) and manager.token_requests == 2  # one forced refresh, then raised
    assert manager.cached_token.access_token not in str(caught.value)


def test_a_refused_fresh_token_names_how_it_was_sent(oauth, caplog):
    config = oauth_config(oauth, placement=TokenPlacement("header", prefix="Token"))
    manager = build_token_manager(config, retry=FAST)
    with pytest.raises(UnauthorizedError) as caught:
        call("sync", config, manager, "/api/whoami")
    assert "sent as header 'Authorization: Token <token>'" in str(caught.value)
    assert "check how the connection sends it (header 'Authorization: Token <token>')" in caplog.text
    assert manager.cached_token.access_token not in caplog.text


def test_password_grant_and_its_refresh(oauth, mode):
    config = oauth_config(oauth, grant_type="password", username="alice", password="alice-password-123")
    manager = build_token_manager(config, retry=FAST)
    assert call(mode, config, manager, "/api/whoami")[0].json()["subject"] == "alice"
    first = manager.cached_token
    assert first.refresh_token
    oauth.advance(3600)  # access token expired: refresh (not a new password login)
    assert call(mode, config, manager, "/api/whoami")[0].json()["subject"] == "alice"
    assert oauth.last_token_form["grant_type"] == "refresh_token"
    assert manager.cached_token.refresh_token != first.refresh_token  # rotated


def test_password_grant_with_bad_credentials_is_invalid_grant(oauth):
    config = oauth_config(oauth, grant_type="password", username="alice", password="wrong-password")
    with pytest.raises(InvalidGrantError) as caught:
        build_token_manager(config, retry=FAST).get_token()
    assert "wrong-password" not in str(caught.value)


def test_refresh_token_grant_rotates_and_saves_before_use(oauth, mode):
    initial = oauth.issue_refresh_token()
    config = oauth_config(oauth, grant_type="refresh_token", refresh_token=initial)
    store = MemoryTokenStore()
    manager = build_token_manager(config, store, retry=FAST)
    assert call(mode, config, manager, "/api/whoami")[0].status_code == 200
    stored = store.load()
    assert stored.refresh_token and stored.refresh_token != initial
    assert oauth.refresh.live() == [stored.refresh_token]  # the old one is dead, the stored one is live
    oauth.advance(3600)
    assert call(mode, config, manager, "/api/whoami")[0].status_code == 200
    assert store.saves == 2 and oauth.refresh.live() == [store.load().refresh_token]
    assert oauth.invalid_grants == 0


def code_flow_config(oauth) -> AuthConfig:
    oauth.client_auth = "basic"
    return oauth_config(
        oauth,
        grant_type="authorization_code",
        authorization_url=f"{oauth.url}/authorize",
        redirect_uri="http://127.0.0.1:9/callback",
        scopes=("read",),
        use_pkce=True,
    )


def consent(url: httpx.URL) -> str:
    """The code the (auto-approving) consent page redirects back with."""
    return httpx.URL(httpx.get(str(url), follow_redirects=False).headers["location"]).params["code"]


def test_the_consent_url_carries_state_pkce_scope_and_redirect_uri(oauth):
    config = code_flow_config(oauth)
    url = httpx.URL(authorization_url(config.scheme, state="st-1", code_verifier=new_pkce_verifier()))
    assert url.params["state"] == "st-1" and url.params["code_challenge_method"] == "S256"
    assert url.params["scope"] == "read" and url.params["redirect_uri"] == "http://127.0.0.1:9/callback"


def test_a_code_exchanged_with_the_wrong_pkce_verifier_is_refused(oauth):
    config = code_flow_config(oauth)
    code = consent(httpx.URL(authorization_url(config.scheme, state="st-1", code_verifier=new_pkce_verifier())))
    with pytest.raises(InvalidGrantError, match="PKCE"):
        exchange_code(config.scheme, code, code_verifier=new_pkce_verifier(), retry=FAST)  # wrong verifier


def test_authorization_code_with_pkce_then_refresh(oauth, mode):
    config = code_flow_config(oauth)
    verifier = new_pkce_verifier()
    code = consent(httpx.URL(authorization_url(config.scheme, state="st-1", code_verifier=verifier)))
    token = exchange_code(config.scheme, code, code_verifier=verifier, retry=FAST)
    assert token.refresh_token and token.scope == "read" and token.extra["refresh_token_expires_at"]
    store = MemoryTokenStore(token)
    manager = build_token_manager(config, store, retry=FAST)
    assert call(mode, config, manager, "/api/whoami")[0].status_code == 200
    assert manager.token_requests == 0  # the exchanged token is used as it is
    oauth.advance(3600)
    assert call(mode, config, manager, "/api/whoami")[0].status_code == 200
    assert oauth.last_token_form["grant_type"] == "refresh_token" and store.load().scope == "read"


def test_authorization_code_without_a_refresh_token_says_to_authorize(oauth):
    config = oauth_config(oauth, grant_type="authorization_code")
    with pytest.raises(InvalidGrantError, match="authorize the connection first"):
        build_token_manager(config, retry=FAST).get_token()
    assert oauth.token_requests == 0


def test_a_401_forces_exactly_one_refresh_and_one_replay(oauth, mode):
    config = oauth_config(oauth)
    manager = build_token_manager(config, retry=FAST)
    assert call(mode, config, manager, "/api/whoami")[0].status_code == 200
    oauth.access.revoke_all()  # the server forgets its tokens before they expire
    assert call(mode, config, manager, "/api/whoami")[0].status_code == 200
    assert oauth.token_requests == 2 and oauth.count("GET", "/api/whoami") == 3
