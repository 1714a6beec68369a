"""The GitHub App grant (issue 26 item 2) in the Airflow-free core, against the GitHub emulator on 127.0.0.1: the
app's RS256 JWT (iat a minute back, exp 10 minutes after it) buys one installation token for many calls, sync and
async; the answer's absolute `expires_at` is the token's expiry and renewal comes ahead of it with a new JWT (no
refresh token); a bad key, app or installation is an error that names the field and never holds the key."""

from __future__ import annotations

import time
import types
from collections.abc import Iterator
from typing import Any

import jwt
import pendulum
import pytest

from airflow_provider_authapi.auth import (
    AuthConfig,
    CommonConfig,
    ConfigError,
    OAuth2Config,
    TokenEndpointError,
    build_token_manager,
    tokens,
)
from airflow_provider_authapi.auth.config import config_secrets
from airflow_provider_authapi.auth.grants import GitHubAppGrant, TokenEndpoint, grant_for, token_from_answer
from airflow_provider_authapi.auth.tokens import MemoryTokenStore
from tests.core.conftest import FAST, call
from tests.emulators.github import EXP_TOO_FAR, UNKNOWN_APP, GitHubEmulator
from tests.emulators.jwt_oauth2 import new_key

REPOSITORIES = "/installation/repositories"


@pytest.fixture
def gh() -> Iterator[GitHubEmulator]:
    with GitHubEmulator(repositories=12) as emulator:
        yield emulator


@pytest.fixture
def clock(monkeypatch):
    """The token manager's clock, movable: `clock.advance(s)` makes it `s` seconds later for the manager only."""
    shim = types.SimpleNamespace(offset=0.0, monotonic=time.monotonic, sleep=time.sleep)
    shim.time = lambda: time.time() + shim.offset
    shim.advance = lambda seconds: setattr(shim, "offset", shim.offset + seconds)
    monkeypatch.setattr(tokens, "time", shim)
    return shim


def app_config(gh: GitHubEmulator, **kwargs: Any) -> AuthConfig:
    """The app's settings as a person gives them: App ID, installation ID, private key; the token URL's template."""
    scheme: dict[str, Any] = {
        "token_url": f"{gh.url}/app/installations/{{installation_id}}/access_tokens",
        "grant_type": "github_app",
        "client_id": str(gh.app_id),
        "installation_id": str(gh.installation_id),
        "assertion_private_key": gh.key.pem,
        "assertion_lifetime": 600,
        **kwargs,
    }
    return AuthConfig(OAuth2Config(**scheme), CommonConfig(base_url=gh.url))


def test_one_installation_token_serves_many_calls(gh, mode):
    config = app_config(gh)
    assert config.scheme.token_url == gh.installation_token_url()  # {installation_id} filled in
    manager = build_token_manager(config, retry=FAST)
    signed_at = time.time()
    responses = call(mode, config, manager, f"{REPOSITORIES}?per_page=5", times=20)
    assert [r.status_code for r in responses] == [200] * 20
    assert responses[0].json()["total_count"] == 12 and len(responses[0].json()["repositories"]) == 5
    assert gh.token_requests == 1 and manager.token_requests == 1 and gh.refusals == []

    (claims,) = gh.jwts  # what the provider signed, as GitHub read it
    assert claims["iss"] == str(gh.app_id) and claims["exp"] - claims["iat"] == 600
    assert signed_at - 62 <= claims["iat"] <= signed_at - 58  # a minute back, for a GitHub clock behind ours
    token = manager.cached_token
    assert token.access_token.startswith("ghs_") and token.refresh_token is None
    assert token.expires_at == pendulum.from_timestamp(int(gh.tokens.expires_at(token.access_token)))


def test_the_client_id_is_an_issuer_too_and_a_narrowed_token_sees_less(gh, mode):
    config = app_config(
        gh,
        client_id=gh.client_id,
        installation_repositories=("service-002", "service-007"),
        installation_permissions={"contents": "read"},
    )
    manager = build_token_manager(config, retry=FAST)
    body = call(mode, config, manager, REPOSITORIES)[0].json()
    assert [repo["name"] for repo in body["repositories"]] == ["service-002", "service-007"]
    assert body["repository_selection"] == "selected"
    assert gh.bodies == [{"repositories": ["service-002", "service-007"], "permissions": {"contents": "read"}}]
    assert gh.jwts[0]["iss"] == gh.client_id


def test_renewal_comes_ahead_of_the_absolute_expiry_with_a_new_jwt(gh, mode, clock):
    store = MemoryTokenStore()
    config = app_config(gh)
    manager = build_token_manager(config, store, retry=FAST)
    call(mode, config, manager, REPOSITORIES)
    first = manager.cached_token
    lifetime = first.expires_at.timestamp() - time.time()  # what the answer's expires_at leaves: about 1 h
    assert 3590 < lifetime <= 3600

    def later(seconds: float) -> None:  # the same time passes for GitHub and for the manager
        gh.advance(seconds)
        clock.advance(seconds)

    later(lifetime - 400)  # 400 s left: not yet in the renewal window (at most 60 + 300 s before expiry)
    assert call(mode, config, manager, REPOSITORIES, times=3)[-1].status_code == 200
    assert gh.token_requests == 1 and manager.cached_token is first

    later(300)  # 100 s left: past this process's renewal moment, the token still good at GitHub
    assert gh.tokens.check(first.access_token) is not None
    assert call(mode, config, manager, REPOSITORIES)[0].status_code == 200
    renewed = manager.cached_token
    assert gh.token_requests == 2 and renewed.access_token != first.access_token and renewed.refresh_token is None
    assert len(gh.jwts) == 2 and gh.jwts[0]["jti"] != gh.jwts[1]["jti"], "a new JWT for the new token"
    assert renewed.expires_at.timestamp() - clock.time() == pytest.approx(3600, abs=2)  # from GitHub's answer
    assert store.load().access_token == renewed.access_token


def test_a_shorter_lived_answer_is_honoured_and_the_maximum_lifetime_caps_it(gh):
    gh.tokens.lifetime = 900
    manager = build_token_manager(app_config(gh), retry=FAST)
    token = manager.get_token()
    assert 895 < (token.expires_at - token.obtained_at).in_seconds() <= 900  # not the 3600 s default lifetime
    capped = build_token_manager(app_config(gh, max_lifetime=300), retry=FAST).get_token()
    assert (capped.expires_at - capped.obtained_at).in_seconds() == 300


def test_a_502_is_retried_with_a_freshly_signed_jwt(gh, mode):
    gh.fail_next(2)
    config = app_config(gh)
    manager = build_token_manager(config, retry=FAST)
    assert call(mode, config, manager, REPOSITORIES)[0].status_code == 200
    assert gh.token_requests == 3 and manager.token_requests == 3 and len(gh.jwts) == 1


def test_a_key_that_is_not_one_names_the_field_never_the_key(gh):
    pem = gh.key.pem
    broken = pem.replace(pem.splitlines()[5], "A" * len(pem.splitlines()[5]))
    for bad in ("not a key at all, but a secret-ish text 0123456789", broken, new_key("ES256").pem):
        with pytest.raises(ConfigError) as caught:
            app_config(gh, assertion_private_key=bad)
        assert caught.value.field == "assertion_private_key", str(caught.value)
        assert bad not in str(caught.value) and bad.splitlines()[len(bad.splitlines()) // 2] not in str(caught.value)
    with pytest.raises(ConfigError, match="not an RSA key"):
        app_config(gh, assertion_private_key=new_key("ES256").pem)


def test_a_key_github_does_not_know_is_a_401_that_says_what_to_check(gh, mode):
    stranger = new_key("RS256")
    config = app_config(gh, assertion_private_key=stranger.pem)
    manager = build_token_manager(config, retry=FAST)
    with pytest.raises(TokenEndpointError) as caught:
        call(mode, config, manager, REPOSITORIES)
    message = str(caught.value)
    assert caught.value.status_code == 401 and "A JSON web token could not be decoded" in message
    assert "assertion_private_key" in message and "login" in message and "clock" in message
    assert gh.token_requests == 1  # a refusal is not retried
    for secret in config_secrets(config):
        assert secret not in message and secret.splitlines()[3] not in message


def test_another_app_or_installation_is_named(gh):
    with pytest.raises(TokenEndpointError, match=UNKNOWN_APP):
        build_token_manager(app_config(gh, client_id="999"), retry=FAST).get_token()
    with pytest.raises(TokenEndpointError) as caught:
        build_token_manager(app_config(gh, installation_id="11111111"), retry=FAST).get_token()
    assert caught.value.status_code == 404 and "installation_id" in str(caught.value)
    with pytest.raises(TokenEndpointError) as caught:
        build_token_manager(app_config(gh, installation_repositories=("nope",)), retry=FAST).get_token()
    assert caught.value.status_code == 422 and "not accessible to the parent installation" in str(caught.value)


def test_a_jwt_that_lives_too_long_would_be_refused(gh):
    """What GitHub refuses, the config refuses first: more than 600 s from iat to exp."""
    with pytest.raises(ConfigError) as caught:
        app_config(gh, assertion_lifetime=660)
    assert caught.value.field == "assertion_lifetime"
    grant = grant_for(app_config(gh).scheme)
    assert isinstance(grant, GitHubAppGrant)
    grant.signer.lifetime = 660  # past the config's check, GitHub's own answer
    with pytest.raises(TokenEndpointError, match=EXP_TOO_FAR.replace("(", r"\(").replace(")", r"\)")):
        TokenEndpoint(grant, retry=FAST).fetch(None)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"installation_id": None}, "installation_id"),
        ({"installation_id": "acme-corp"}, "installation_id"),
        ({"client_id": ""}, "client_id"),
        ({"assertion_private_key": None}, "assertion_private_key"),
        ({"assertion_algorithm": "ES256"}, "assertion_algorithm"),
        ({"installation_repositories": ("acme-corp/service-001",)}, "installation_repositories"),
        ({"installation_permissions": {"contents": "everything"}}, "installation_permissions"),
    ],
)
def test_settings_the_grant_cannot_use_name_their_field(gh, settings, field):
    with pytest.raises(ConfigError) as caught:
        app_config(gh, **settings)
    assert caught.value.field == field


def test_an_absolute_expires_at_is_read_in_any_token_answer():
    """An OAuth 2.0 answer with `expires_at` and no `expires_in`: ISO 8601 or epoch seconds, both the expiry."""
    at = pendulum.now("UTC").add(seconds=1234).replace(microsecond=0)
    for value in (at.isoformat().replace("+00:00", "Z"), int(at.timestamp())):
        token = token_from_answer({"access_token": "a" * 20, "expires_at": value}, 3600, None, None, "test")
        assert token.expires_at == at, value
    both = token_from_answer({"access_token": "a" * 20, "expires_in": 60, "expires_at": value}, 3600, None, None, "t")
    assert (both.expires_at - both.obtained_at).in_seconds() == 60  # expires_in wins
    unreadable = token_from_answer({"access_token": "a" * 20, "expires_at": "soon"}, 3600, None, None, "test")
    assert (unreadable.expires_at - unreadable.obtained_at).in_seconds() == 3600  # the default lifetime


def test_the_app_jwt_is_signed_rs256_with_the_apps_key(gh):
    request = grant_for(app_config(gh).scheme).token_request(None)
    built = request.build()
    assert built.headers["accept"] == "application/vnd.github+json" and built.headers["user-agent"]
    assert built.headers["x-github-api-version"] == "2022-11-28" and built.content == b""
    scheme, _, signed = built.headers["authorization"].partition(" ")
    assert scheme == "Bearer" and jwt.get_unverified_header(signed)["alg"] == "RS256"
    claims = jwt.decode(signed, gh.key.public_key, algorithms=["RS256"], options={"verify_iat": False})
    assert set(claims) == {"iss", "iat", "exp", "jti"}
    assert request.build().headers["authorization"] != built.headers["authorization"]  # signed for each attempt
