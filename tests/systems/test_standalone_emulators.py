"""`python -m tests.emulators SYSTEM` hands out a connection that works as written, for every system."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from types import SimpleNamespace

import httpx
import pytest

from airflow_provider_authapi.auth import build_auth, build_token_manager, client_kwargs
from airflow_provider_authapi.auth.derived import resolve, values_of
from airflow_provider_authapi.auth.tokens import MemoryTokenStore
from airflow_provider_authapi.connections import auth_config_from_connection
from tests.conftest import ROOT
from tests.emulators.google import SPREADSHEET_ID
from tests.emulators.systems import SYSTEMS, start

PROBES = {
    "amazon_sp": "/reports/2021-06-30/reports?reportTypes=GET_FLAT_FILE_OPEN_LISTINGS_DATA",  # x-amz-access-token
    "aspire": "/Properties?$top=2",
    "astera": "/api/ServerInfo",
    "appsmith": "/api/v1/orders?page_size=2",
    "custom_grant": "POST /api/signed",  # the grant's ticket and the signer's signature, both checked
    "dastra": "/v1/workspaces",
    "entra_id": "/v1.0/users?$top=2",
    "github_app": "/installation/repositories?per_page=2",  # with the installation token the app's JWT bought
    "google": f"/v4/spreadsheets/{SPREADSHEET_ID}/values/Orders!A1:D3",
    "hubspot": "POST /crm/v3/objects/contacts/search",  # a search: the body pages
    "jira": "/rest/api/3/project/search?maxResults=2",  # Basic: the account's email and an API token
    "netsuite": "/services/rest/record/v1/customer?limit=2",  # every request signed (OAuth 1.0a)
    "quickbooks": "/v3/company/{realm_id}/companyinfo/{realm_id}",
    "salesforce": "{instance_url}/services/data/v60.0/limits",  # the API base URL comes with the token
    "sap_b1": "/b1s/v1/Items?$top=2",
    "stripe": "/v1/charges?limit=2",
    "xero": "/Contacts?page=1",  # the organisation the discovery after the first token picked, in a header
    "zoho": "/crm/v8/Leads?fields=Last_Name&per_page=2",  # at the api_domain the token answer named
}


def as_connection(conn_id: str, fields: dict) -> SimpleNamespace:
    return SimpleNamespace(
        conn_id=conn_id,
        conn_type=fields["conn_type"],
        host=fields.get("host"),
        login=fields.get("login"),
        password=fields.get("password"),
        extra=json.dumps(fields.get("extra") or {}),
    )


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_standalone_connection_calls_the_api(system):
    assert set(PROBES) == set(SYSTEMS)
    emulator = start(system)
    try:
        fields = emulator.airflow_connection()
        config = auth_config_from_connection(as_connection(system, fields))
        manager = build_token_manager(config, MemoryTokenStore())
        token = manager.get_token() if manager is not None else None
        token_extra = token.extra if token is not None else {}
        config = resolve(config, values_of(token))  # a base URL or header the token's values fill
        method, _, endpoint = PROBES[system].rpartition(" ")
        endpoint = endpoint.format_map({**(fields.get("extra") or {}), **token_extra})
        with httpx.Client(**client_kwargs(config.common), auth=build_auth(config, manager)) as client:
            body = {"limit": 2} if method == "POST" else None
            response = client.request(method or "GET", endpoint, json=body)
        assert response.status_code == 200, response.text[:300]
        assert response.json()
    finally:
        emulator.stop()


def test_runner_writes_a_sourceable_env_file(tmp_path):
    env_file = tmp_path / "conn.env"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulators", "appsmith", "--conn-id", "my_api", "--env-file", str(env_file)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 30
        while not env_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        line = env_file.read_text().strip()
        name, _, value = line.removeprefix("export ").partition("=")
        assert name == "AIRFLOW_CONN_MY_API"
        connection = json.loads(shlex.split(value)[0])
        assert connection["conn_type"] == "authapi_apikey"
        assert httpx.get(connection["host"] + "/api/v1/orders").status_code == 401  # it is up, and guarded
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0  # SIGTERM stops it cleanly
