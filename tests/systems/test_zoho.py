"""Zoho CRM end to end: the consent on the token page names the user's data centre, whose accounts server takes the
code and the refreshes and whose api_domain the example DAG reads its leads from."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_authapi.hooks.authapi import AuthApiHook, reset_token_managers
from airflow_provider_authapi.store import VariableTokenStore
from tests.conftest import run_dag
from tests.emulators import zoho as emulator_module
from tests.emulators.zoho import CLIENT_ID, CLIENT_SECRET, LEADS_PATH, TOKEN_PATH, ZohoEmulator
from tests.stored_tokens import stored_token
from tests.systems.page_consent import consent_through_the_token_page, press_first_button
from tests.systems.published import published_text


@pytest.fixture
def zoho() -> Iterator[ZohoEmulator]:
    reset_token_managers()
    with ZohoEmulator() as emulator:
        yield emulator
    reset_token_managers()


def verify(zoho: ZohoEmulator) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=zoho.ca_cert_pem)


def test_emulator_keeps_each_data_centre_to_its_own_origins_and_tokens(zoho):
    client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    query = {"client_id": CLIENT_ID, "response_type": "code", "redirect_uri": emulator_module.REDIRECT_URI,
             "state": "s", "scope": emulator_module.SCOPE, "access_type": "offline"}  # fmt: skip
    callback = press_first_button(str(httpx.URL(zoho.url + "/oauth/v2/auth", params=query)), verify=verify(zoho))
    assert (callback["location"], callback["accounts-server"]) == ("eu", zoho.eu.accounts_url)
    exchange = {**client, "grant_type": "authorization_code", "code": callback["code"],
                "redirect_uri": emulator_module.REDIRECT_URI}  # fmt: skip
    at_us = httpx.post(zoho.accounts_url + TOKEN_PATH, data=exchange, verify=verify(zoho))
    assert at_us.json() == {"error": "invalid_code"}  # a code of the EU data centre
    at_api_domain = httpx.post(zoho.eu.api_url + TOKEN_PATH, data=exchange, verify=verify(zoho))
    assert at_api_domain.status_code == 404
    body = httpx.post(zoho.eu.accounts_url + TOKEN_PATH, data=exchange, verify=verify(zoho)).json()
    assert body["api_domain"] == zoho.eu.api_url and body["refresh_token"] and body["expires_in"] == 3600

    header = {"Authorization": f"Zoho-oauthtoken {body['access_token']}"}
    fields = {"fields": "Last_Name", "per_page": 2}
    ok = httpx.get(zoho.eu.api_url + LEADS_PATH, params=fields, headers=header, verify=verify(zoho))
    assert ok.json()["info"] == {"per_page": 2, "count": 2, "page": 1, "more_records": True}
    refused = {
        "the accounts server": httpx.get(zoho.eu.accounts_url + LEADS_PATH, params=fields, headers=header,
                                         verify=verify(zoho)).status_code,
        "the other data centre": httpx.get(zoho.api_url + LEADS_PATH, params=fields, headers=header,
                                           verify=verify(zoho)).status_code,
        "a Bearer header": httpx.get(zoho.eu.api_url + LEADS_PATH, params=fields, verify=verify(zoho),
                                     headers={"Authorization": f"Bearer {body['access_token']}"}).status_code,
        "no fields": httpx.get(zoho.eu.api_url + LEADS_PATH, headers=header, verify=verify(zoho)).status_code,
    }  # fmt: skip
    assert refused == {"the accounts server": 404, "the other data centre": 401, "a Bearer header": 401,
                       "no fields": 400}  # fmt: skip


def test_consent_on_the_token_page_then_the_zoho_leads_dag(airflow_db, zoho, set_connection, monkeypatch):
    set_connection("zoho", **zoho.connection())  # no token URL, no API base URL: the consent names both
    VariableTokenStore("zoho", fingerprint="").clear()
    page = consent_through_the_token_page(monkeypatch, "zoho", lambda url: press_first_button(url, verify(zoho)))
    assert page.status_code == 200 and "Authorization complete" in page.text, page.text
    assert "Learned after the consent:" in page.text and zoho.eu.api_url in page.text
    assert (zoho.eu.count("POST", re.escape(TOKEN_PATH)), zoho.count("POST", re.escape(TOKEN_PATH))) == (1, 0)
    token = stored_token("zoho")
    assert token is not None and token["extra"]["derived"] == {
        "accounts_server": zoho.eu.accounts_url, "location": "eu", "api_domain": zoho.eu.api_url}  # fmt: skip
    status = VariableTokenStore("zoho", fingerprint="").status()
    assert status["extra"]["derived"]["location"] == "eu" and token["access_token"] not in str(status)

    run = run_dag("zoho_leads")
    assert run.state == "success", run.task_states()
    leads = run.xcom("list_leads")
    assert [lead["id"] for lead in leads] == [lead["id"] for lead in zoho.eu.leads]  # 457: the EU org's
    assert zoho.eu.pages == 3 and zoho.pages == 0
    assert run.xcom("data_centre") == {"location": "eu", "api_domain": zoho.eu.api_url}
    summary = run.xcom("summarize")
    assert (summary["leads"], summary["distinct_ids"], summary["data_centre"]) == (457, 457, "eu")

    # An hour on, the token is renewed at the consent's accounts server; the values stay; no secret published.
    zoho.advance(3601)
    reset_token_managers()
    again = run_dag("zoho_leads")
    assert again.state == "success", again.task_states()
    assert zoho.eu.refreshes == 1 and zoho.refreshes == 0 and zoho.token_requests == 2
    renewed = stored_token("zoho")
    assert (
        renewed["extra"]["derived"] == token["extra"]["derived"] and renewed["refresh_token"] == token["refresh_token"]
    )
    assert AuthApiHook("zoho").endpoint_vars()["api_domain"] == zoho.eu.api_url
    published = published_text(run) + published_text(again)
    for secret in (CLIENT_SECRET, token["access_token"], token["refresh_token"], renewed["access_token"]):
        assert secret not in published


def test_a_consent_whose_callback_names_another_origin_is_refused(airflow_db, zoho, set_connection, monkeypatch):
    set_connection("zoho_hostile", **zoho.connection())
    VariableTokenStore("zoho_hostile", fingerprint="").clear()

    def tampered(url: str) -> dict[str, str]:
        return {**press_first_button(url, verify(zoho)), "accounts-server": "https://accounts.evil.example"}

    page = consent_through_the_token_page(monkeypatch, "zoho_hostile", tampered)
    assert page.status_code == 502 and "login_url" in page.text and "not in allowed_origins" in page.text
    assert zoho.token_requests == 0 and stored_token("zoho_hostile") is None
