"""NetSuite end to end: token-based authentication (OAuth 1.0a, HMAC-SHA256, the account ID as the realm) signs every
request of the example DAG, whose customers come page by page until `hasMore` is false, by record list in a worker
and by SuiteQL in the triggerer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from oauthlib import oauth1

from airflow_provider_authapi.auth.errors import UnauthorizedError
from airflow_provider_authapi.hooks.authapi import AuthApiHook
from tests.conftest import run_dag
from tests.emulators.netsuite import CUSTOMERS_ROUTE, SUITEQL_ROUTE, NetSuiteEmulator
from tests.stored_tokens import stored_token
from tests.systems.published import published_text


@pytest.fixture
def ns() -> Iterator[NetSuiteEmulator]:
    with NetSuiteEmulator() as emulator:
        yield emulator


def signed(ns: NetSuiteEmulator, path: str, method: str = "GET", **overrides: Any) -> dict[str, str]:
    """An Authorization header signed by hand with oauthlib (not by the provider), `overrides` replacing the good
    settings: `realm`, `signature_method`, `client_secret`, `nonce`, `timestamp`, ..."""
    key = overrides.pop("client_key", ns.consumer_key)
    settings: dict[str, Any] = {
        "client_secret": ns.consumer_secret,
        "resource_owner_key": ns.token_id,
        "resource_owner_secret": ns.token_secret,
        "signature_method": oauth1.SIGNATURE_HMAC_SHA256,
        "realm": ns.account_id,
        **overrides,
    }
    client = oauth1.Client(key, **settings)
    _, headers, _ = client.sign(f"{ns.url}{path}", method)
    return headers


def test_emulator_checks_the_signature_as_netsuite_does_and_pages_by_offset(ns):
    page = f"{CUSTOMERS_ROUTE}?limit=100&offset=200"
    answer = httpx.get(f"{ns.url}{page}", headers=signed(ns, page))
    assert answer.status_code == 200, ns.refusals
    body = answer.json()
    assert (body["count"], body["hasMore"], body["offset"], body["totalResults"]) == (30, False, 200, 230)
    assert body["items"][0] == {
        "links": [{"rel": "self", "href": f"{ns.url}{CUSTOMERS_ROUTE}/{ns.customers[200]['id']}"}],
        "id": ns.customers[200]["id"],
    }
    assert [link["rel"] for link in body["links"]] == ["self", "first", "prev"]

    now = int(time.time())
    refused = {
        "HMAC-SHA1": ({"signature_method": oauth1.SIGNATURE_HMAC_SHA1}, "signature method 'HMAC-SHA1'"),
        "PLAINTEXT": ({"signature_method": oauth1.SIGNATURE_PLAINTEXT}, "signature method 'PLAINTEXT'"),
        "no realm": ({"realm": None}, "realm None, not the account id"),
        "the host's spelling": ({"realm": "1234567-sb1"}, "realm '1234567-sb1', not the account id"),
        "another consumer": ({"client_key": "0" * 64}, "unknown consumer key"),
        "another token": ({"resource_owner_key": "0" * 64}, "unknown token"),
        "a wrong token secret": ({"resource_owner_secret": "0" * 64}, "signature does not match"),
        "6 minutes old": ({"timestamp": str(now - 360)}, f"timestamp '{now - 360}'"),
    }
    for why, (overrides, reason) in refused.items():
        response = httpx.get(f"{ns.url}{CUSTOMERS_ROUTE}", headers=signed(ns, CUSTOMERS_ROUTE, **overrides))
        assert response.status_code == 401, why
        assert response.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN_ATTEMPT", why
        assert ns.refusals[-1].startswith(reason), (why, ns.refusals[-1])
    assert httpx.get(f"{ns.url}{CUSTOMERS_ROUTE}").status_code == 401  # no signature at all
    once = signed(ns, CUSTOMERS_ROUTE, nonce="0123456789")
    assert [httpx.get(f"{ns.url}{CUSTOMERS_ROUTE}", headers=once).status_code for _ in range(2)] == [200, 401]
    assert ns.refusals[-1] == "nonce '0123456789' used before"

    bad_limit = f"{CUSTOMERS_ROUTE}?limit=5000"
    too_many = httpx.get(f"{ns.url}{bad_limit}", headers=signed(ns, bad_limit))
    assert too_many.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_PARAMETER"
    query = {"q": "SELECT id FROM customer"}
    without_prefer = httpx.post(f"{ns.url}{SUITEQL_ROUTE}", json=query, headers=signed(ns, SUITEQL_ROUTE, "POST"))
    assert without_prefer.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_HEADER"
    headers = {**signed(ns, SUITEQL_ROUTE, "POST"), "Prefer": "transient"}
    rows = httpx.post(f"{ns.url}{SUITEQL_ROUTE}", json=query, headers=headers).json()
    assert rows["totalResults"] == 230 and rows["items"][0]["entityid"] == "CUST00001"


def test_netsuite_customers_dag(airflow_db, ns, set_connection, tmp_path):
    set_connection("netsuite", **ns.airflow_connection())
    run = run_dag("netsuite_customers", conf={"out_url": tmp_path.as_uri()})
    assert run.state == "success", run.task_states()
    listed = run.xcom("list_customers")
    assert [record["id"] for record in listed] == [customer["id"] for customer in ns.customers]
    assert ns.pages == 3 and ns.count("POST", SUITEQL_ROUTE) == 1 and ns.refusals == []
    assert run.xcom("suiteql_customers")["records"] == 230  # written by the triggerer to a JSON Lines file
    assert run.xcom("summarize") == {
        "customers": 230,
        "distinct_ids": 230,
        "same_in_suiteql": True,
        "inactive": [f"CUST{n:05d}" for n in range(17, 231, 17)],
        "domains": 230,
    }
    # Every request signed on its own: four nonces, the account ID as the realm, HMAC-SHA256; no token stored.
    assert len({request["oauth_nonce"] for request in ns.accepted}) == len(ns.accepted) == 4
    assert {(r["realm"], r["oauth_signature_method"]) for r in ns.accepted} == {("1234567_SB1", "HMAC-SHA256")}
    assert stored_token("netsuite") is None
    published = published_text(run)
    for secret in (ns.consumer_secret, ns.token_secret, ns.token_id):
        assert secret not in published


def test_the_system_type_as_a_person_fills_it_and_the_test_button(airflow_db, ns, set_connection, tmp_path):
    """`authapi_netsuite`: account ID, consumer key and secret, token ID and secret; the base URL the emulator's."""
    typed = {"realm": ns.account_id, "token_id": ns.token_id, "token_secret": ns.token_secret}
    fields = {"conn_type": "authapi_netsuite", "host": ns.url, "login": ns.consumer_key}
    set_connection("netsuite", **fields, password=ns.consumer_secret, extra=typed)
    ok, message = AuthApiHook("netsuite").test_connection()
    assert ok and message == "GET /services/rest/record/v1/customer?limit=1 answered 200", message
    run = run_dag("netsuite_customers", conf={"out_url": tmp_path.as_uri()})
    assert run.state == "success", run.task_states()
    assert run.xcom("summarize")["customers"] == 230 and ns.refusals == []

    set_connection("netsuite", **fields, password=ns.consumer_secret, extra={**typed, "token_secret": "0" * 64})
    ok, message = AuthApiHook("netsuite").test_connection()
    assert not ok and "answered 401 to its OAuth 1.0a signature" in message and "token ID and secret" in message
    with pytest.raises(UnauthorizedError) as caught:
        AuthApiHook("netsuite").request("GET", CUSTOMERS_ROUTE)
    for text in (message, str(caught.value)):
        assert not any(secret in text for secret in (ns.consumer_secret, ns.token_secret, ns.token_id, "0" * 64))
    assert ns.refusals == ["signature does not match"] * 2
