"""GitHub App end to end: the app's JWT buys an installation token (absolute `expires_at`, no refresh token), and the
installation's repositories are listed page by page through the `Link` header."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import jwt
import pendulum
import pytest

from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.connections import auth_config_from_connection
from airflow_provider_authapi.hooks.authapi import reset_token_managers
from tests.conftest import run_dag
from tests.emulators.github import (
    EXP_PAST,
    EXP_TOO_FAR,
    IAT_BAD,
    NOT_ACCESSIBLE,
    UNDECODABLE,
    UNKNOWN_APP,
    GitHubEmulator,
)
from tests.emulators.jwt_oauth2 import new_key
from tests.stored_tokens import stored_token
from tests.systems.published import published_text

UA = {"User-Agent": "authapi-tests"}


@pytest.fixture
def gh() -> Iterator[GitHubEmulator]:
    reset_token_managers()
    with GitHubEmulator() as emulator:
        yield emulator
    reset_token_managers()


def app_jwt(gh: GitHubEmulator, key: Any = None, algorithm: str = "RS256", **claims: Any) -> str:
    """The app's JWT signed by hand (not by the provider), with `claims` replacing the good ones."""
    now = int(time.time())
    payload = {"iss": str(gh.app_id), "iat": now - 60, "exp": now + 540, **claims}
    return jwt.encode(payload, key if key is not None else gh.key.private_key, algorithm=algorithm)


def token_request(gh: GitHubEmulator, token: str, installation: int | None = None, **kwargs: Any) -> httpx.Response:
    url = f"{gh.url}/app/installations/{installation or gh.installation_id}/access_tokens"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json", **UA}
    return httpx.post(url, headers={**headers, **kwargs.pop("headers", {})}, **kwargs)


def test_emulator_checks_the_app_jwt_as_github_does_and_pages_by_link_header(gh):
    answer = token_request(gh, app_jwt(gh))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert set(body) == {"token", "expires_at", "permissions", "repository_selection"}
    assert body["token"].startswith("ghs_") and body["repository_selection"] == "all"
    expires_at = pendulum.parse(body["expires_at"])
    assert body["expires_at"].endswith("Z") and 3590 < expires_at.timestamp() - time.time() <= 3600

    now = int(time.time())
    refused = {
        "signed by another key": (app_jwt(gh, key=new_key().private_key), UNDECODABLE),
        "HS256 with a secret": (app_jwt(gh, key="s" * 32, algorithm="HS256"), UNDECODABLE),
        "not a JWT": ("ghs_not-a-jwt", UNDECODABLE),
        "another app": (app_jwt(gh, iss="7654321"), UNKNOWN_APP),
        "exp 11 minutes ahead": (app_jwt(gh, iat=now, exp=now + 660), EXP_TOO_FAR),
        "exp - iat over 600 s": (app_jwt(gh, iat=now - 120, exp=now + 540), EXP_TOO_FAR),
        "expired": (app_jwt(gh, iat=now - 700, exp=now - 100), EXP_PAST),
        "iat 2 minutes ahead": (app_jwt(gh, iat=now + 120, exp=now + 500), IAT_BAD),
        "iat a string": (app_jwt(gh, iat=str(now)), IAT_BAD),
    }
    for why, (token, message) in refused.items():
        response = token_request(gh, token)
        assert (response.status_code, response.json()) == (
            401,
            {"message": message, "documentation_url": "https://docs.github.com/rest", "status": "401"},
        ), why
    assert len(gh.refusals) == len(refused)
    assert token_request(gh, app_jwt(gh, iss=gh.client_id)).status_code == 201  # the client ID is an issuer too
    assert token_request(gh, app_jwt(gh), installation=11111111).json()["message"] == "Not Found"
    assert token_request(gh, app_jwt(gh), headers={"User-Agent": ""}).status_code == 403
    narrowed = token_request(gh, app_jwt(gh), json={"repositories": ["service-003"], "permissions": {"issues": "read"}})
    assert narrowed.status_code == 201 and narrowed.json()["permissions"] == {"issues": "read"}
    assert [repo["name"] for repo in narrowed.json()["repositories"]] == ["service-003"]
    assert token_request(gh, app_jwt(gh), json={"repositories": ["elsewhere"]}).json()["message"] == NOT_ACCESSIBLE
    assert token_request(gh, app_jwt(gh), json={"permissions": {"contents": "write"}}).status_code == 422

    listing = f"{gh.url}/installation/repositories"
    with httpx.Client(headers={"Authorization": f"token {body['token']}", **UA}) as api:
        page = api.get(listing, params={"per_page": 30})
        names, pages = [repo["name"] for repo in page.json()["repositories"]], 1
        assert page.json()["total_count"] == 75 and set(page.links) == {"next", "last"}
        while "next" in page.links:
            page = api.get(page.links["next"]["url"])
            names += [repo["name"] for repo in page.json()["repositories"]]
            pages += 1
        assert pages == 3 and names == [repo["name"] for repo in gh.repositories]
        assert set(page.links) == {"first", "prev"}  # the last page
        assert len(api.get(listing, params={"per_page": 500}).json()["repositories"]) == 75  # cut to 100 a page
    assert httpx.get(listing, headers=UA).json()["message"] == "Bad credentials"
    assert httpx.get(listing, headers={"Authorization": f"Bearer {app_jwt(gh)}", **UA}).status_code == 401
    only_one = {"Authorization": f"Bearer {narrowed.json()['token']}", **UA}
    assert httpx.get(listing, headers=only_one).json()["total_count"] == 1
    gh.advance(3600)  # the hour is up
    assert httpx.get(listing, headers={"Authorization": f"Bearer {body['token']}", **UA}).status_code == 401


def test_github_app_repositories_dag(airflow_db, gh, set_connection):
    set_connection("github_app", **gh.airflow_connection())
    run = run_dag("github_app_repositories")
    assert run.state == "success", run.task_states()
    assert run.xcom("list_repositories") == gh.repositories  # 75 repositories in pages of 30, 30 and 15
    assert gh.pages == 3 and gh.token_requests == 1 and gh.refusals == []
    summary = run.xcom("summarize")
    assert summary["repositories"] == summary["distinct_ids"] == 75
    assert summary["archived"] == [f"service-{i:03d}" for i in range(10, 76, 10)]
    assert summary["private"] == sum(1 for repo in gh.repositories if repo["private"])

    (claims,) = gh.jwts  # what the provider signed, as GitHub read it
    assert claims["iss"] == str(gh.app_id) and claims["exp"] - claims["iat"] == 600
    token = stored_token("github_app")
    assert token["refresh_token"] is None and token["extra"] == {}
    answer_expiry = gh.tokens.expires_at(token["access_token"])
    assert pendulum.parse(token["expires_at"]) == pendulum.from_timestamp(int(answer_expiry))  # GitHub's, absolute

    reset_token_managers()  # a new worker process: the stored token serves it, no new JWT
    assert run_dag("github_app_repositories").state == "success" and gh.token_requests == 1

    # GitHub ends the token early (it was revoked): the stored one still looks fresh, the first call gets 401,
    # and one new JWT buys a new installation token for the replay.
    gh.tokens.revoke_all()
    reset_token_managers()
    again = run_dag("github_app_repositories")
    assert again.state == "success", again.task_states()
    assert gh.token_requests == 2 and len(gh.jwts) == 2 and gh.refusals == []
    assert again.xcom("summarize") == summary
    assert stored_token("github_app")["access_token"] != token["access_token"]

    published = published_text(run) + published_text(again)
    for secret in (gh.key.pem.splitlines()[5], token["access_token"], stored_token("github_app")["access_token"]):
        assert secret not in published


def test_the_system_type_as_a_person_fills_it(airflow_db, gh, set_connection):
    """`authapi_github_app`: App ID, installation ID and the key; the base URL here the emulator's, not GitHub's."""
    typed = {"installation_id": str(gh.installation_id), "assertion_private_key": gh.key.pem}
    set_connection("github_app", conn_type="authapi_github_app", host=gh.url, login=str(gh.app_id), extra=typed)
    run = run_dag("github_app_repositories", conf={"per_page": 100})
    assert run.state == "success", run.task_states()
    assert gh.pages == 1 and gh.token_requests == 1 and len(run.xcom("list_repositories")) == 75


def test_a_bad_key_names_the_connection_and_the_field_never_the_key():
    pem = new_key().pem
    broken = pem.replace(pem.splitlines()[4], "x" * 64)  # a damaged paste
    for bad in (broken, new_key("ES256").pem, f"-----BEGIN PRIVATE KEY-----\n{secrets.token_hex(40)}\n"):
        conn = SimpleNamespace(
            conn_id="github_app",
            conn_type="authapi_github_app",
            host=None,
            login="1234567",
            password=None,
            extra=json.dumps({"installation_id": "45678901", "assertion_private_key": bad}),
        )
        with pytest.raises(ConfigError) as caught:
            auth_config_from_connection(conn)
        message = str(caught.value)
        assert message.startswith("connection 'github_app', field 'assertion_private_key'"), message
        assert all(line not in message for line in bad.splitlines()[1:-1] if len(line) > 8), message
