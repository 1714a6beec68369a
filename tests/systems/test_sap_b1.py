"""SAP Business One end to end: a session login whose cookies go back on every call, OData pages followed by
`odata.nextLink`, one login for a whole run, and one new login when the session has died of idleness."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_authapi.hooks.authapi import reset_token_managers
from tests.conftest import run_dag
from tests.emulators.sap_b1 import ROUTE, SapB1Emulator
from tests.stored_tokens import stored_token

SELECTED = ("ItemCode", "ItemName", "QuantityOnStock", "Valid")  # the example DAG's $select


@pytest.fixture
def sap() -> Iterator[SapB1Emulator]:
    reset_token_managers()
    with SapB1Emulator() as api:
        yield api
    reset_token_managers()


def test_emulator_session_cookies_paging_and_logout(sap):
    login = {"CompanyDB": sap.company_db, "UserName": sap.user, "Password": sap.password}
    wrong_company = httpx.post(f"{sap.url}/b1s/v1/Login", json={**login, "CompanyDB": "SBOOTHER"})
    assert wrong_company.status_code == 401 and wrong_company.json()["error"]["code"] == -304
    assert httpx.post(f"{sap.url}/b1s/v1/Login", json={**login, "Password": "nope"}).status_code == 401
    answer = httpx.post(f"{sap.url}/b1s/v1/Login", json=login)
    assert answer.json()["SessionTimeout"] == 30 and answer.json()["SessionId"] == answer.cookies["B1SESSION"]
    assert answer.cookies["ROUTEID"] == ROUTE
    invalid = {"error": {"code": 301, "message": {"lang": "en-us", "value": "Invalid session."}}}
    only_session = httpx.get(f"{sap.url}/b1s/v1/Items", headers={"Cookie": f"B1SESSION={answer.cookies['B1SESSION']}"})
    assert only_session.status_code == 401 and only_session.json() == invalid

    with httpx.Client(base_url=sap.url, cookies=answer.cookies) as client:
        first = client.get("/b1s/v1/Items", params={"$select": "ItemCode", "$top": 30}).json()
        assert [row["ItemCode"] for row in first["value"]] == [f"A{i:05d}" for i in range(1, 21)]
        assert first["odata.nextLink"] == "Items?$select=ItemCode&$top=10&$skip=20"
        last = client.get(f"/b1s/v1/{first['odata.nextLink']}").json()
        assert len(last["value"]) == 10 and "odata.nextLink" not in last
        assert client.get("/b1s/v1/Items/$count").json() == 45
        sap.advance(29 * 60)  # each call restarts the idle time...
        assert client.get("/b1s/v1/Items/$count").status_code == 200
        sap.advance(31 * 60)  # ...but not this long
        assert client.get("/b1s/v1/Items/$count").json() == invalid
        relogged = client.post("/b1s/v1/Login", json=login)
        client.cookies = relogged.cookies
        assert client.post("/b1s/v1/Logout").status_code == 204
        assert client.get("/b1s/v1/Items/$count").status_code == 401


def test_sap_b1_items_dag(airflow_db, sap, set_connection, capfd):
    set_connection("sap_b1", **sap.airflow_connection())
    first = run_dag("sap_b1_items")
    assert first.state == "success", first.task_states()
    items = first.xcom("fetch_items")
    assert items == [{k: row[k] for k in SELECTED} for row in sap.items]  # 45 items in pages of 20, 20 and 5
    assert sap.pages == 3 and first.xcom("count_items") == 45
    summary = first.xcom("summarize")
    assert summary == {
        "items": 45,
        "valid": sum(row["Valid"] == "tYes" for row in sap.items),
        "on_stock": sum(row["QuantityOnStock"] for row in sap.items),
    }
    assert sap.logins == 1  # both API tasks, four calls, one session

    token = stored_token("sap_b1")
    assert token["access_token"] == sap.issued[0] and token["extra"] == {"session_cookies": {"ROUTEID": ROUTE}}
    assert token["expires_at"] > token["obtained_at"]

    # The session dies of idleness on the server while the stored one still looks fresh: the first call gets
    # "Invalid session.", the hook logs in once more and replays it, and the task succeeds.
    sap.advance(31 * 60)
    reset_token_managers()
    second = run_dag("sap_b1_items")
    assert second.state == "success", second.task_states()
    assert (sap.logins, sap.refused) == (2, 1)
    assert stored_token("sap_b1")["access_token"] == sap.issued[1]
    assert second.xcom("summarize") == summary

    logs = capfd.readouterr()
    published = json.dumps([items, summary, second.xcom("fetch_items"), second.xcom("count_items")])
    assert "Done: 3 pages, 45 records" in logs.out + logs.err  # the task logs were captured
    for secret in (*sap.issued, sap.password):
        assert secret not in published and secret not in logs.out + logs.err
