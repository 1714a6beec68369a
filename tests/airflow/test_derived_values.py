"""Values learned after the consent through Airflow: `airflow authapi authorize` passes the whole callback on, the
hook fills the API base URL, headers and endpoints from the stored token (in a worker and on an event loop), and the
connection's Test button calls its test endpoint under the API domain the token answer named."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_authapi.hooks.authapi import ApiCall, AuthApiHook, reset_token_managers
from airflow_provider_authapi.store import VariableTokenStore
from tests.airflow.test_cli import AUTHAPI_CLI
from tests.conftest import conn_env
from tests.emulators.zoho import CLIENT_SECRET, LEADS_PATH, TOKEN_PATH, ZohoEmulator
from tests.stored_tokens import stored_token
from tests.systems.page_consent import press_first_button


@pytest.fixture
def zoho() -> Iterator[ZohoEmulator]:
    reset_token_managers()
    with ZohoEmulator() as emulator:
        yield emulator
    reset_token_managers()


def test_the_cli_authorize_keeps_the_callbacks_values(airflow_db, zoho):
    name, value = conn_env("cli_zoho", **zoho.connection())
    env = {**os.environ, name: value, "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}
    VariableTokenStore("cli_zoho", fingerprint="").clear()
    proc = subprocess.Popen([*AUTHAPI_CLI, "authorize", "cli_zoho"], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    url = next(line.strip() for line in proc.stdout if "/oauth/v2/auth?" in line)
    callback = press_first_button(url, verify=ssl.create_default_context(cadata=zoho.ca_cert_pem))
    redirected = str(httpx.URL(zoho.redirect_uris[0], params=callback))  # what the browser's address bar shows
    out, err = proc.communicate(redirected + "\n", timeout=180)
    assert proc.returncode == 0, err
    assert "is authorized" in out and zoho.eu.api_url in out  # the status lists the values kept
    token = stored_token("cli_zoho")
    assert token is not None and token["extra"]["derived"]["accounts_server"] == zoho.eu.accounts_url
    assert zoho.eu.count("POST", TOKEN_PATH.replace(".", r"\.")) == 1
    assert token["access_token"] not in out + err and CLIENT_SECRET not in out + err


def test_the_hook_fills_base_url_endpoints_and_the_test_button_from_the_token(airflow_db, zoho, set_connection):
    seeded = zoho.eu.seed_consent()
    set_connection("hook_zoho", **zoho.connection(seeded_refresh_token=seeded))
    VariableTokenStore("hook_zoho", fingerprint="").clear()
    hook = AuthApiHook("hook_zoho")
    assert hook.config.common.base_url == "{api_domain}"
    variables = hook.endpoint_vars()  # no stored token: one is obtained, its values come with it
    assert variables["api_domain"] == zoho.eu.api_url and zoho.eu.refreshes == 1
    assert hook.resolved_config.common.base_url == zoho.eu.api_url
    with hook.get_client() as client:
        leads = client.get(LEADS_PATH, params={"fields": "Last_Name", "per_page": 3}).json()["data"]
    assert [lead["id"] for lead in leads] == [lead["id"] for lead in zoho.eu.leads[:3]]
    absolute = ApiCall("hook_zoho", "{api_domain}/crm/v8/Leads").with_endpoint_vars(variables)
    assert absolute.endpoint == f"{zoho.eu.api_url}/crm/v8/Leads"

    # On an event loop (the triggerer's way): the values are read before the async client is built.
    async def in_the_triggerer() -> int:
        call = ApiCall("hook_zoho", LEADS_PATH, query_params={"fields": "Last_Name"})
        loop_hook = await call.ahook()
        async with loop_hook.get_async_client() as client:
            return (await client.get(LEADS_PATH, params={"fields": "Last_Name", "per_page": 1})).status_code

    assert asyncio.run(in_the_triggerer()) == 200

    ok, message = AuthApiHook("hook_zoho").test_connection()
    assert ok, message
    assert "GET /crm/v8/Leads?fields=Last_Name&per_page=1 with it in header 'Authorization: Zoho-oauthtoken" in message
