"""QuickBooks Online end to end: consent at the emulator, then the example DAG with a rotating refresh token."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_authapi.api import ApiHTTPError
from airflow_provider_authapi.auth import new_pkce_verifier
from airflow_provider_authapi.hooks.authapi import reset_token_managers
from airflow_provider_authapi.store import MetadataVariables, token_variable_name
from tests.conftest import run_dag
from tests.emulators.quickbooks import ACCOUNTING_SCOPE, QuickBooksEmulator
from tests.emulators.tokens import pkce_s256
from tests.stored_tokens import stored_token

REDIRECT = "http://localhost:8080/oauth-consent/callback"


@pytest.fixture
def qb() -> Iterator[QuickBooksEmulator]:
    reset_token_managers()
    with QuickBooksEmulator() as api:
        yield api
    reset_token_managers()


def consent(client: httpx.Client, qb: QuickBooksEmulator, decision: str, **params: str) -> httpx.Response:
    """Open the consent page as a browser would and press Approve or Deny; return the redirect."""
    query = {
        "client_id": qb.client_id,
        "response_type": "code",
        "scope": ACCOUNTING_SCOPE,
        "redirect_uri": REDIRECT,
        "state": "state-123",
        **params,
    }
    page = client.get("/connect/oauth2", params=query)
    assert page.status_code == 200 and "Approve" in page.text and "Deny" in page.text
    (form_id,) = re.findall(r"name='consent' value='([^']+)'", page.text)
    return client.post("/connect/oauth2/decision", data={"consent": form_id, "decision": decision})


def test_consent_approve_and_deny_then_code_exchange(qb):
    verifier = new_pkce_verifier()
    with httpx.Client(base_url=qb.url) as client:
        approved = consent(client, qb, "approve", code_challenge=pkce_s256(verifier), code_challenge_method="S256")
        assert approved.status_code == 302
        location = httpx.URL(approved.headers["location"])
        assert str(location.copy_with(query=None)) == REDIRECT
        assert location.params["state"] == "state-123" and location.params["realmId"] == qb.realm_id
        code = location.params["code"]

        denied = consent(client, qb, "deny")
        denied_params = httpx.URL(denied.headers["location"]).params
        assert dict(denied_params) == {"error": "access_denied", "state": "state-123"}

        # Refused before any consent: an unregistered redirect URI (a page, no redirect), a scope without
        # accounting and a missing state.
        base = {"client_id": qb.client_id, "response_type": "code", "state": "s", "scope": ACCOUNTING_SCOPE}
        unknown_uri = client.get("/connect/oauth2", params={**base, "redirect_uri": "http://evil.example/cb"})
        assert unknown_uri.status_code == 400 and "location" not in unknown_uri.headers
        bad_scope = client.get("/connect/oauth2", params={**base, "redirect_uri": REDIRECT, "scope": "openid"})
        assert httpx.URL(bad_scope.headers["location"]).params["error"] == "invalid_scope"
        no_state = client.get("/connect/oauth2", params={**base, "redirect_uri": REDIRECT, "state": ""})
        assert no_state.status_code == 400

        # The token endpoint takes client credentials only in a Basic header.
        exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
        in_body = {**exchange, "client_id": qb.client_id, "client_secret": qb.client_secret}
        assert client.post("/oauth2/v1/tokens/bearer", data=in_body).status_code == 401
        basic = (qb.client_id, qb.client_secret)
        no_verifier = client.post("/oauth2/v1/tokens/bearer", data=exchange, auth=basic)
        assert no_verifier.json() == {"error": "invalid_grant"}  # PKCE: and the code is now spent

    # A fresh approval, exchanged properly, then refreshed: the old refresh token dies.
    with httpx.Client(base_url=qb.url) as client:
        approved = consent(client, qb, "approve", code_challenge=pkce_s256(verifier), code_challenge_method="S256")
        code = httpx.URL(approved.headers["location"]).params["code"]
        granted = client.post(
            "/oauth2/v1/tokens/bearer", data={**exchange, "code": code, "code_verifier": verifier}, auth=basic
        ).json()
        assert (granted["token_type"], granted["expires_in"], granted["x_refresh_token_expires_in"]) == (
            "bearer",
            3600,
            8726400,
        )
        refresh = {"grant_type": "refresh_token", "refresh_token": granted["refresh_token"]}
        rotated = client.post("/oauth2/v1/tokens/bearer", data=refresh, auth=basic).json()
        assert rotated["refresh_token"] != granted["refresh_token"]
        replayed = client.post("/oauth2/v1/tokens/bearer", data=refresh, auth=basic)
        assert replayed.status_code == 400 and replayed.json() == {"error": "invalid_grant"}
    assert qb.invalid_grants == 2 and qb.refresh.live() == [rotated["refresh_token"]]


def test_query_api_faults_xml_and_realm(qb):
    token = qb.access.issue(qb.client_id, realm_id=qb.realm_id)
    url = f"{qb.url}/v3/company/{qb.realm_id}/query"
    as_json = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    empty = httpx.get(url, params={"query": "select * from Invoice STARTPOSITION 1 MAXRESULTS 10"}, headers=as_json)
    assert empty.json()["QueryResponse"] == {"startPosition": 1, "maxResults": 0}  # no entity key at all
    too_many = httpx.get(url, params={"query": "select * from Customer MAXRESULTS 1001"}, headers=as_json)
    assert too_many.status_code == 400 and too_many.json()["Fault"]["type"] == "ValidationFault"
    xml = httpx.get(url, params={"query": "select * from Customer"}, headers={"Authorization": f"Bearer {token}"})
    assert xml.headers["content-type"] == "application/xml" and xml.text.count("<Customer ") == 20  # active only
    other_company = httpx.get(f"{qb.url}/v3/company/123/query", params={"query": "select * from Customer"})
    assert other_company.status_code == 401 and other_company.json()["fault"]["error"][0]["code"] == "3200"
    info = httpx.get(f"{url[: -len('/query')]}/companyinfo/{qb.realm_id}", headers=as_json).json()
    assert info["CompanyInfo"]["Id"] == qb.realm_id
    foreign = httpx.get(f"{qb.url}/v3/company/123/query", params={"query": "select * from Item"}, headers=as_json)
    assert foreign.status_code == 403


def test_quickbooks_customers_dag(airflow_db, qb, set_connection):
    MetadataVariables().delete(token_variable_name("quickbooks"))
    seeded = qb.seed_consent()
    set_connection("quickbooks", **qb.airflow_connection())

    run = run_dag("quickbooks_customers", conf={"page_size": 5})
    assert run.state == "success", run.task_states()

    # Every customer, inactive ones included, across five pages: 5, 5, 5, 5, then 3 (< 5: the last one).
    customers = run.xcom("list_customers")
    assert [c["Id"] for c in customers] == [c["Id"] for c in qb.customers] and len(customers) == 23
    assert [q["query"].split("STARTPOSITION")[1] for q in qb.queries] == [
        f" {start} MAXRESULTS 5" for start in (1, 6, 11, 16, 21)
    ]
    assert {(q["minorversion"], q["accept"]) for q in qb.queries} == {("75", "application/json")}

    summary = run.xcom("summarize")
    assert summary["customers"] == summary["distinct_ids"] == 23
    assert (summary["active"], summary["inactive"]) == (20, 3)
    assert summary["total_balance"] == round(sum(c["Balance"] for c in qb.customers), 2)

    # One refresh; the rotated refresh token was stored and is the only live one; nothing replayed.
    token = stored_token("quickbooks")
    assert token is not None and token["refresh_token"] != seeded
    assert qb.refresh.live() == [token["refresh_token"]]
    assert (qb.refreshes, qb.token_requests, qb.invalid_grants) == (1, 1, 0)

    published = json.dumps([customers, summary])
    for secret in (qb.client_secret, seeded, token["refresh_token"], token["access_token"]):
        assert secret not in published


def query_operator(qb: QuickBooksEmulator, set_connection, conn_id: str, query: str) -> tuple[Any, str]:
    """A fresh connection `conn_id` with a seeded consent and no stored token, and an operator running `query`
    through it; returns the operator and the seeded refresh token."""
    from airflow_provider_authapi.operators import AuthApiOperator

    MetadataVariables().delete(token_variable_name(conn_id))
    seeded = qb.seed_consent()
    set_connection(conn_id, **qb.airflow_connection())
    operator = AuthApiOperator(
        task_id="query",
        authapi_conn_id=conn_id,
        endpoint="/v3/company/{realm_id}/query",
        query_params={"query": query},
        pagination="quickbooks",
        response_filter="QueryResponse.Customer",
    )
    return operator, seeded


def test_a_fault_is_surfaced_without_tokens(airflow_db, qb, set_connection):
    query = "select * from Customers STARTPOSITION 1 MAXRESULTS 10"
    operator, seeded = query_operator(qb, set_connection, "quickbooks_fault", query)
    with pytest.raises(ApiHTTPError) as failure:
        operator.execute({})
    message = str(failure.value)
    assert failure.value.status_code == 400
    assert (
        "answered 400 Bad Request: ValidationFault: Invalid query: QueryValidationError: Property Customers not "
        "found for Entity (code 4000); body: " in message
    )
    token = stored_token("quickbooks_fault")
    assert token is not None
    for secret in (qb.client_secret, seeded, token["refresh_token"], token["access_token"]):
        assert secret not in message


def test_an_access_token_dead_at_intuit_is_refreshed_once_and_the_call_replayed(airflow_db, qb, set_connection):
    query = "select * from Customer STARTPOSITION 1 MAXRESULTS 1000"
    operator, _ = query_operator(qb, set_connection, "quickbooks_expiry", query)
    assert len(operator.execute({})) == 20  # active customers only: QBO's default
    first = stored_token("quickbooks_expiry")

    qb.advance(3601)  # Intuit's clock: the cached access token (valid locally) is now refused with a 401 fault
    assert len(operator.execute({})) == 20
    second = stored_token("quickbooks_expiry")
    assert second["access_token"] != first["access_token"] and second["refresh_token"] != first["refresh_token"]
    assert qb.refresh.live() == [second["refresh_token"]]
    assert (qb.refreshes, qb.invalid_grants) == (2, 0)
    assert qb.count("GET", r"/v3/company/(\w+)/query") == 3  # first run, the refused call, its replay
