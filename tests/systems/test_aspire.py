"""Aspire end to end: one JSON login shared by every task and run, expiry from the JWT, then a refresh."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import jwt
import pendulum
import pytest

from airflow_provider_authapi.hooks.authapi import reset_token_managers
from tests.conftest import run_dag
from tests.emulators.aspire import DAY, AspireEmulator
from tests.stored_tokens import expire_stored_token, stored_token


@pytest.fixture
def aspire() -> Iterator[AspireEmulator]:
    reset_token_managers()
    with AspireEmulator() as api:
        yield api
    reset_token_managers()


def test_emulator_login_refresh_and_paging(aspire):
    refused = httpx.post(f"{aspire.url}/Authorization", json={"ClientId": aspire.client_id, "Secret": "nope"})
    assert refused.status_code == 401 and "Invalid" in refused.json()["Message"]
    tokens = httpx.post(f"{aspire.url}/Authorization", json={"ClientId": aspire.client_id, "Secret": aspire.secret})
    assert set(tokens.json()) == {"Token", "RefreshToken"}  # no expiry field: it is in the JWT
    bearer = {"Authorization": f"Bearer {tokens.json()['Token']}"}
    page = httpx.get(f"{aspire.url}/Properties", params={"$top": 5, "$skip": 55}, headers=bearer).json()
    assert [row["PropertyID"] for row in page] == [56, 57]
    assert httpx.get(f"{aspire.url}/Properties").status_code == 401
    body = {"RefreshToken": tokens.json()["RefreshToken"]}
    assert httpx.post(f"{aspire.url}/Authorization/RefreshToken", json=body).status_code == 200
    assert httpx.post(f"{aspire.url}/Authorization/RefreshToken", json=body).status_code == 401  # rotated
    aspire.advance(DAY + 1)
    assert httpx.get(f"{aspire.url}/Properties", headers=bearer).status_code == 401


def test_aspire_properties_dag(airflow_db, aspire, set_connection):
    set_connection("aspire", **aspire.airflow_connection())
    first = run_dag("aspire_properties")
    assert first.state == "success", first.task_states()
    assert first.xcom("fetch_properties") == aspire.properties  # 57 rows in pages of 25, 25 and 7
    assert aspire.count("GET", "/Properties") == 3  # the short third page ends it: no empty fourth request
    summary = first.xcom("count_by_branch")
    assert summary["properties"] == 57
    assert sum(summary["active_by_branch"].values()) == sum(
        p["PropertyStatusName"] == "Active" for p in aspire.properties
    )

    # Expiry comes from the JWT's exp: the login answer has no expiry field.
    token = stored_token("aspire")
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == DAY
    assert pendulum.parse(token["expires_at"]).int_timestamp == claims["exp"]

    # A second run (fresh processes) reuses the cached token: still one login.
    reset_token_managers()
    second = run_dag("aspire_properties")
    assert second.state == "success", second.task_states()
    assert (aspire.logins, aspire.refreshes) == (1, 0)

    # A day later: the refresh token buys a new token (no new login) and the rotated one is stored.
    aspire.advance(DAY + 60)
    old_refresh = token["refresh_token"]
    expire_stored_token("aspire")
    reset_token_managers()
    third = run_dag("aspire_properties")
    assert third.state == "success", third.task_states()
    assert (aspire.logins, aspire.refreshes) == (1, 1)
    renewed = stored_token("aspire")
    assert renewed["refresh_token"] != old_refresh and aspire.refresh.live() == [renewed["refresh_token"]]

    published = json.dumps([first.xcom("fetch_properties"), summary, third.xcom("count_by_branch")])
    for secret in (aspire.secret, token["access_token"], old_refresh, renewed["access_token"]):
        assert secret not in published
