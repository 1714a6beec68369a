"""Xero end to end: one consent on the token page, the organisations /connections lists kept after it, then the
example DAG: a mapped task per organisation, each call with its Xero-Tenant-Id, and the connection's own
organisation read in the triggerer."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_authapi.hooks.authapi import AuthApiHook, reset_token_managers
from airflow_provider_authapi.store import VariableTokenStore
from tests.conftest import run_dag
from tests.emulators.xero import API, CLIENT_SECRET, XeroEmulator
from tests.stored_tokens import stored_token
from tests.systems.page_consent import consent_through_the_token_page, press_first_button
from tests.systems.published import published_text


@pytest.fixture
def xero() -> Iterator[XeroEmulator]:
    reset_token_managers()
    with XeroEmulator() as emulator:
        yield emulator
    reset_token_managers()


def test_emulator_wants_a_tenant_of_the_token_on_every_call(xero):
    granted = httpx.post(xero.url + "/connect/token", auth=("XEROEMULATORCLIENT0123", CLIENT_SECRET),
                         data={"grant_type": "refresh_token", "refresh_token": xero.seed_consent()}).json()  # fmt: skip
    assert (granted["expires_in"], granted["token_type"]) == (1800, "Bearer")
    bearer = {"Authorization": f"Bearer {granted['access_token']}"}
    listed = httpx.get(xero.url + "/connections", headers=bearer).json()
    assert [t["tenantName"] for t in listed] == ["Demo Company (UK)", "Demo Company (AU)", "Acme Ltd"]
    assert {t["tenantType"] for t in listed} == {"ORGANISATION"}
    uk = listed[0]["tenantId"]
    page = httpx.get(xero.url + API + "/Contacts", params={"page": 3}, headers={**bearer, "Xero-Tenant-Id": uk})
    assert page.json()["pagination"] == {"page": 3, "pageSize": 100, "pageCount": 3, "itemCount": 230}
    assert len(page.json()["Contacts"]) == 30
    for headers, status in (
        (bearer, 403),
        ({**bearer, "Xero-Tenant-Id": "00000000-0000-0000-0000-000000000000"}, 403),
        ({"Xero-Tenant-Id": uk}, 401),
    ):
        assert httpx.get(xero.url + API + "/Organisation", headers=headers).status_code == status
    assert httpx.get(xero.url + "/connections").status_code == 401


def test_consent_on_the_token_page_then_a_mapped_task_per_organisation(airflow_db, xero, set_connection, monkeypatch):
    set_connection("xero", **xero.connection())
    VariableTokenStore("xero", fingerprint="").clear()
    page = consent_through_the_token_page(monkeypatch, "xero", press_first_button)
    assert page.status_code == 200 and "Authorization complete" in page.text, page.text
    uk = xero.tenant("Demo Company (UK)")
    assert "Demo Company (UK)" in page.text and xero.count("GET", "/connections") == 1
    token = stored_token("xero")
    assert token is not None and token["extra"]["derived"] == {"tenant_id": uk["tenantId"],
                                                               "tenant_name": "Demo Company (UK)"}  # fmt: skip

    run = run_dag("xero_contacts")
    assert run.state == "success", run.task_states()
    assert run.task_states()["contacts[2]"] == "success"
    organisations = run.xcom("organisations")
    assert [org["tenant_name"] for org in organisations] == [t["tenantName"] for t in xero.tenants]
    assert run.xcom("contacts", map_index=1)[0]["Name"] == "Contact 1 of Demo Company (AU)"
    summary = run.xcom("summarize")
    assert summary["contacts"] == {"Demo Company (UK)": 230, "Demo Company (AU)": 57, "Acme Ltd": 3}
    assert summary["own_organisation"] == "Demo Company (UK)"  # the connection's header: the first organisation
    # Every API call named an organisation of the token: three for the UK's 230, one each for the others, and the
    # deferred /Organisation with the connection's own.
    calls = [(path.removeprefix(API), tenant) for path, tenant in xero.api_calls]
    assert sorted(calls) == sorted(
        [("/Contacts", uk["tenantId"])] * 3
        + [("/Contacts", xero.tenant(name)["tenantId"]) for name in ("Demo Company (AU)", "Acme Ltd")]
        + [("/Organisation", uk["tenantId"])]
    )
    assert xero.count("GET", "/connections") == 2  # the consent's, and the organisations task's listing
    published = published_text(run)
    for secret in (CLIENT_SECRET, token["access_token"], token["refresh_token"], stored_token("xero")["refresh_token"]):
        assert secret not in published


def test_a_picked_organisation_is_the_connections_own(airflow_db, xero, set_connection, monkeypatch):
    connection = xero.connection(seeded_refresh_token=xero.seed_consent())
    connection["extra"]["discovery_match"] = {"tenantName": "Acme Ltd"}
    set_connection("xero_acme", **connection)
    VariableTokenStore("xero_acme", fingerprint="").clear()
    hook = AuthApiHook("xero_acme")
    assert hook.derived_values()["tenant_name"] == "Acme Ltd"  # the seeded refresh token's first renewal
    with hook.get_client() as client:
        organisation = client.get("/Organisation").json()["Organisations"][0]
    assert organisation["Name"] == "Acme Ltd" and xero.refreshes == 1
    assert [entry["tenant_name"] for entry in hook.discovered_entries()] == [t["tenantName"] for t in xero.tenants]
