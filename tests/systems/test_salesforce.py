"""Salesforce end to end: the JWT bearer flow at the login host, the API at the `instance_url` the token names."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pendulum
import pytest

from airflow_provider_authapi.hooks.authapi import reset_token_managers
from tests.conftest import run_dag
from tests.emulators.jwt_oauth2 import JWT_BEARER, new_key
from tests.emulators.salesforce import LOGIN_HOST, SalesforceEmulator
from tests.stored_tokens import stored_token
from tests.systems.published import published_text

QUERY = "/services/data/v60.0/query"
FIELDS = ("Id", "Name", "Industry", "AnnualRevenue")  # the example DAG's SELECT


@pytest.fixture
def sf() -> Iterator[SalesforceEmulator]:
    reset_token_managers()
    with SalesforceEmulator() as emulator:
        yield emulator
    reset_token_managers()


def grant(sf: SalesforceEmulator, key: Any = None, **claims: Any) -> httpx.Response:
    """A JWT bearer grant signed by hand (not by the provider), with `claims` replacing the good ones."""
    now = int(time.time())
    good = {"iss": sf.consumer_key, "sub": sf.user, "aud": LOGIN_HOST, "iat": now, "exp": now + 170}
    payload = {**good, "jti": secrets.token_hex(8), **claims}
    assertion = jwt.encode(payload, (key or sf.key).private_key, algorithm="RS256")
    return httpx.post(sf.token_url, data={"grant_type": JWT_BEARER, "assertion": assertion})


def test_emulator_checks_the_assertion_answers_without_expiry_and_serves_the_api_at_the_instance(sf):
    answer = grant(sf)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "expires_in" not in body and "refresh_token" not in body
    assert body["instance_url"] == sf.instance.url != sf.url and body["token_type"] == "Bearer"

    refused = {
        "aud the token URL": grant(sf, aud=sf.token_url),
        "unknown user": grant(sf, sub="someone@else.example"),
        "other consumer key": grant(sf, iss="3MVG9OtherApp"),
        "exp beyond 3 minutes": grant(sf, exp=int(time.time()) + 300),
        "expired": grant(sf, exp=int(time.time()) - 5),
        "other key": grant(sf, key=new_key()),
    }
    for why, response in refused.items():
        assert (response.status_code, response.json()["error"]) == (400, "invalid_grant"), why
    assert httpx.post(sf.token_url, data={"grant_type": "client_credentials"}).status_code == 400

    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert httpx.get(sf.url + QUERY, params={"q": "SELECT Id FROM Account"}, headers=bearer).status_code == 404
    no_session = httpx.get(sf.instance.url + QUERY, params={"q": "SELECT Id FROM Account"})
    assert no_session.status_code == 401 and no_session.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    with httpx.Client(base_url=sf.instance.url, headers={**bearer, "Sforce-Query-Options": "batchSize=200"}) as api:
        page = api.get(QUERY, params={"q": "SELECT Id, Name FROM Account"}).json()
        sizes = [len(page["records"])]
        while not page["done"]:
            assert page["nextRecordsUrl"].startswith("/services/data/v60.0/query/01g")
            page = api.get(page["nextRecordsUrl"]).json()
            sizes.append(len(page["records"]))
        assert sizes == [200, 200, 50] and page["totalSize"] == 450 and "nextRecordsUrl" not in page
        assert set(page["records"][0]) == {"attributes", "Id", "Name"}
        errors = [api.get(QUERY, params={"q": q}).json()[0]["errorCode"] for q in ("Id", "SELECT Nope FROM Account")]
        assert errors == ["MALFORMED_QUERY", "INVALID_FIELD"]
        sf.advance(2 * 3600 + 1)  # the session timeout
        assert api.get(QUERY, params={"q": "SELECT Id FROM Account"}).status_code == 401


def test_salesforce_accounts_dag(airflow_db, sf, set_connection):
    set_connection("salesforce", **sf.airflow_connection())  # no host: the API base URL comes with the token
    run = run_dag("salesforce_accounts")
    assert run.state == "success", run.task_states()
    expected = [
        {"attributes": {"type": "Account", "url": f"/services/data/v60.0/sobjects/Account/{row['Id']}"}}
        | {name: row[name] for name in FIELDS}
        for row in sorted(sf.accounts, key=lambda row: row["Name"])
    ]
    assert run.xcom("query_accounts") == expected  # 450 accounts in pages of 200, 200 and 50
    assert sf.instance.pages == 3 and sf.token_requests == 1
    summary = run.xcom("summarize")
    assert summary["accounts"] == summary["distinct_ids"] == 450
    assert summary["annual_revenue"] == sum(row["AnnualRevenue"] for row in sf.accounts)

    (claims,) = sf.assertions  # what the provider signed, as the server read it
    assert (claims["iss"], claims["sub"], claims["aud"]) == (sf.consumer_key, sf.user, LOGIN_HOST)
    assert claims["exp"] - claims["iat"] == 180
    token = stored_token("salesforce")
    assert token["extra"] == {"instance_url": sf.instance.url}
    life = pendulum.parse(token["expires_at"]) - pendulum.parse(token["obtained_at"])
    assert life.total_seconds() == 2 * 3600  # no expires_in: the profile's session timeout

    # The org ends the session early (a shorter timeout, a logout): the stored token still looks fresh, the first
    # call gets 401, and one new signed assertion (a fresh jti) gets a session for the replay.
    sf.advance(2 * 3600 + 1)
    reset_token_managers()
    again = run_dag("salesforce_accounts")
    assert again.state == "success", again.task_states()
    assert sf.token_requests == 2 and sf.refusals == [] and len({c["jti"] for c in sf.assertions}) == 2
    assert again.xcom("summarize") == summary
    assert sf.instance.pages == 3 + 4  # run 2: the refused first page, its replay, then two more

    published = published_text(run) + published_text(again)
    pem_body = "".join(sf.key.pem.splitlines()[1:-1])
    for secret in (pem_body[100:160], token["access_token"], stored_token("salesforce")["access_token"]):
        assert secret not in published
