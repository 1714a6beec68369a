"""Google APIs with a service account end to end: the JSON key pasted as one field, the JWT bearer grant with the
scopes in the assertion, and the Sheets API reading a spreadsheet shared with the service account."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import jwt
import pytest

from airflow_provider_authapi.auth.config import OAuth2Config
from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.connections import auth_config_from_connection
from airflow_provider_authapi.hooks.authapi import reset_token_managers
from tests.conftest import run_dag
from tests.emulators.google import CLOUD_PLATFORM, SHEETS_READONLY, SPREADSHEET_ID, GoogleEmulator
from tests.emulators.jwt_oauth2 import JWT_BEARER
from tests.stored_tokens import stored_token
from tests.systems.published import published_text

VALUES = f"/v4/spreadsheets/{SPREADSHEET_ID}/values"


@pytest.fixture
def google() -> Iterator[GoogleEmulator]:
    reset_token_managers()
    with GoogleEmulator() as emulator:
        yield emulator
    reset_token_managers()


def grant(google: GoogleEmulator, kid: str | None = None, **claims: Any) -> httpx.Response:
    """A JWT bearer grant signed by hand (not by the provider), with `claims` replacing the good ones."""
    now = int(time.time())
    good = {"iss": google.client_email, "sub": google.client_email, "aud": google.token_url, "iat": now}
    payload = {**good, "exp": now + 3600, "scope": SHEETS_READONLY, "jti": secrets.token_hex(8), **claims}
    headers = {"kid": google.private_key_id if kid is None else kid}
    assertion = jwt.encode(payload, google.key.private_key, algorithm="RS256", headers=headers)
    return httpx.post(google.token_url, data={"grant_type": JWT_BEARER, "assertion": assertion})


def test_emulator_wants_kid_audience_and_scope_claim_and_checks_api_tokens(google):
    answer = grant(google)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"access_token", "expires_in", "token_type"} and answer.json()["expires_in"] == 3599
    refused = {
        "no scope claim": grant(google, scope=""),
        "aud not the token_uri": grant(google, aud="https://www.googleapis.com/oauth2/v4/token"),
        "kid of another key": grant(google, kid="0" * 40),
        "exp more than 1 h ahead": grant(google, exp=int(time.time()) + 7200),
    }
    for why, response in refused.items():
        assert (response.status_code, response.json()["error"]) == (400, "invalid_grant"), why
    assert grant(google, scope="https://www.googleapis.com/auth/gmail.send").json()["error"] == "invalid_scope"

    bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    rows = httpx.get(f"{google.url}{VALUES}/Orders!A1:B3", headers=bearer).json()
    assert rows["values"] == [["Order", "Customer"], ["SO-0001", "Customer 1"], ["SO-0002", "Customer 2"]]
    assert (rows["range"], rows["majorDimension"]) == ("Orders!A1:B3", "ROWS")
    assert httpx.get(f"{google.url}{VALUES}/Orders!D2", headers=bearer).json()["values"] == [["12.50"]]
    assert httpx.get(f"{google.url}{VALUES}/Orders").status_code == 401
    assert httpx.get(f"{google.url}{VALUES}/Nope!A1", headers=bearer).status_code == 400
    assert httpx.get(f"{google.url}/v4/spreadsheets/other/values/Orders", headers=bearer).status_code == 404
    google.shared_with[SPREADSHEET_ID].clear()  # the spreadsheet is no longer shared with the service account
    assert httpx.get(f"{google.url}{VALUES}/Orders", headers=bearer).json()["error"]["status"] == "PERMISSION_DENIED"
    platform_only = grant(google, scope=CLOUD_PLATFORM).json()["access_token"]
    no_sheets = httpx.get(f"{google.url}{VALUES}/Orders", headers={"Authorization": f"Bearer {platform_only}"})
    assert no_sheets.status_code == 403 and "insufficient" in no_sheets.json()["error"]["message"]


def connection(google: GoogleEmulator, **extra: Any) -> SimpleNamespace:
    fields = google.airflow_connection()
    return SimpleNamespace(
        conn_id="google_sheets",
        conn_type=fields["conn_type"],
        host=fields["host"],
        login=None,
        password=None,
        extra=json.dumps({**fields["extra"], **extra}),
    )


def test_the_key_file_fills_the_assertion_and_a_bad_one_is_named_without_its_key(google):
    scheme = auth_config_from_connection(connection(google)).scheme
    assert isinstance(scheme, OAuth2Config) and scheme.token_url == google.token_url
    assert (scheme.assertion_issuer, scheme.assertion_audience) == (google.client_email, google.token_url)
    assert scheme.assertion_kid == google.private_key_id and scheme.assertion_private_key == google.key.pem
    assert scheme.assertion_scope_claim and scheme.scopes == (SHEETS_READONLY,)
    assert google.key.pem not in repr(scheme)

    key = json.loads(google.service_account_json())
    broken = {
        "not JSON": google.service_account_json()[:-1],
        "a user's key": json.dumps({**key, "type": "authorized_user"}),
        "no private key": json.dumps({k: v for k, v in key.items() if k != "private_key"}),
        "a bad private key": json.dumps({**key, "private_key": key["private_key"][:200]}),
    }
    pem_line = key["private_key"].splitlines()[5]
    for why, text in broken.items():
        with pytest.raises(ConfigError) as caught:
            auth_config_from_connection(connection(google, service_account_json=text))
        assert caught.value.field == "service_account_json", why
        assert pem_line not in str(caught.value) and google.private_key_id not in str(caught.value), why
    with pytest.raises(ConfigError, match="scope") as caught:
        auth_config_from_connection(connection(google, scopes=""))
    assert caught.value.field == "scopes"


def test_google_sheets_values_dag(airflow_db, google, set_connection):
    set_connection("google_sheets", **google.airflow_connection())
    run = run_dag("google_sheets_values")
    assert run.state == "success", run.task_states()
    assert run.xcom("read_orders") == google.sheets[SPREADSHEET_ID]["Orders"]  # numbers unformatted
    summary = run.xcom("summarize")
    assert summary["orders"] == 40 and summary["columns"] == ["Order", "Customer", "Status", "Amount"]
    assert summary["amount_by_status"] == {
        status: round(sum(row[3] for row in google.sheets[SPREADSHEET_ID]["Orders"][1:] if row[2] == status), 2)
        for status in ("delivered", "placed", "returned", "shipped")
    }
    assert google.token_requests == 1 and google.refusals == []
    (claims,) = google.assertions
    assert claims["scope"] == SHEETS_READONLY and claims["aud"] == google.token_url
    assert google.last_token_form.keys() == {"grant_type", "assertion"}  # no scope parameter, no client auth

    token = stored_token("google_sheets")
    published = published_text(run)
    for secret in (google.key.pem.splitlines()[5], google.private_key_id, token["access_token"]):
        assert secret not in published
