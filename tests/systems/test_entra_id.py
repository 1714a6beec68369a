"""Microsoft Entra ID end to end: client credentials with a certificate (a signed client assertion carrying the
certificate's x5t#S256), the tenant in the token URL, and Graph's users paged by @odata.nextLink."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from airflow_provider_authapi.hooks.authapi import reset_token_managers
from tests.conftest import run_dag
from tests.emulators.entra import GRAPH_DEFAULT, EntraEmulator
from tests.emulators.jwt_oauth2 import CLIENT_ASSERTION, certificate_pem, new_key, thumbprint_s256
from tests.stored_tokens import stored_token
from tests.systems.published import published_text

SELECTED = ("id", "displayName", "mail", "jobTitle", "accountEnabled")  # the example DAG's $select


@pytest.fixture
def entra() -> Iterator[EntraEmulator]:
    reset_token_managers()
    with EntraEmulator() as emulator:
        yield emulator
    reset_token_managers()


def token_request(
    entra: EntraEmulator, *, x5t: str | None = "good", key: Any = None, tenant: str | None = None, **form: str
) -> httpx.Response:
    """Client credentials with a client assertion signed by hand (not by the provider)."""
    now = int(time.time())
    claims = {"iss": entra.client_id, "sub": entra.client_id, "aud": entra.token_url, "iat": now, "exp": now + 300}
    headers = {} if x5t is None else {"x5t#S256": thumbprint_s256(entra.certificate) if x5t == "good" else x5t}
    assertion = jwt.encode({**claims, "jti": secrets.token_hex(8)}, (key or entra.key).private_key, "RS256", headers)
    data = {
        "grant_type": "client_credentials",
        "client_id": entra.client_id,
        "scope": GRAPH_DEFAULT,
        "client_assertion_type": CLIENT_ASSERTION,
        "client_assertion": assertion,
        **form,
    }
    url = entra.token_url if tenant is None else f"{entra.url}/{tenant}/oauth2/v2.0/token"
    return httpx.post(url, data=data)


def test_emulator_wants_the_certificate_thumbprint_a_default_scope_and_a_live_token(entra):
    answer = token_request(entra)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    other_certificate = certificate_pem(new_key())
    refused = {
        "no x5t#S256": token_request(entra, x5t=None),
        "another certificate's x5t#S256": token_request(entra, x5t=thumbprint_s256(other_certificate)),
        "signed by another key": token_request(entra, key=new_key()),
    }
    for why, response in refused.items():
        assert (response.status_code, response.json()["error"]) == (401, "invalid_client"), why
    no_default = token_request(entra, scope="https://graph.microsoft.com/User.Read.All")
    assert no_default.json()["error"] == "invalid_scope" and "AADSTS1002012" in no_default.json()["error_description"]
    assert "AADSTS90002" in token_request(entra, tenant="contoso.example").json()["error_description"]
    with_secret = {"grant_type": "client_credentials", "client_id": entra.client_id, "client_secret": "guess"}
    assert httpx.post(entra.token_url, data={**with_secret, "scope": GRAPH_DEFAULT}).status_code == 401

    bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    page = httpx.get(f"{entra.url}/v1.0/users", params={"$top": 10, "$select": "id,mail"}, headers=bearer).json()
    sizes = [len(page["value"])]
    while "@odata.nextLink" in page:
        assert (
            page["@odata.nextLink"].startswith(f"{entra.url}/v1.0/users?") and "%24skiptoken" in page["@odata.nextLink"]
        )
        page = httpx.get(page["@odata.nextLink"], headers=bearer).json()
        sizes.append(len(page["value"]))
    assert sizes == [10, 10, 5] and set(page["value"][0]) == {"id", "mail"}
    assert httpx.get(f"{entra.url}/v1.0/users").json()["error"]["code"] == "InvalidAuthenticationToken"
    entra.advance(3600)
    assert httpx.get(f"{entra.url}/v1.0/users", headers=bearer).status_code == 401


def test_entra_users_dag(airflow_db, entra, set_connection):
    set_connection("entra", **entra.airflow_connection())
    run = run_dag("entra_users")
    assert run.state == "success", run.task_states()
    assert run.xcom("list_users") == [{name: user[name] for name in SELECTED} for user in entra.users]
    assert entra.pages == 3 and entra.token_requests == 1 and entra.refusals == []
    summary = run.xcom("summarize")
    assert summary["users"] == summary["distinct_ids"] == 25
    assert summary["disabled"] == ["User 07", "User 14", "User 21"]

    form = entra.last_token_form  # client credentials, the client authenticated by the signed assertion only
    assert (form["grant_type"], form["scope"], form["client_id"]) == (
        "client_credentials",
        GRAPH_DEFAULT,
        entra.client_id,
    )
    assert "client_secret" not in form and form["client_assertion_type"] == CLIENT_ASSERTION
    header = jwt.get_unverified_header(form["client_assertion"])
    assert header["x5t#S256"] == thumbprint_s256(entra.certificate) and header["alg"] == "RS256"
    claims = jwt.decode(form["client_assertion"], options={"verify_signature": False})
    assert claims["aud"] == entra.token_url and claims["iss"] == claims["sub"] == entra.client_id

    token = stored_token("entra")
    published = published_text(run)
    for secret in (entra.key.pem.splitlines()[5], token["access_token"], form["client_assertion"]):
        assert secret not in published
