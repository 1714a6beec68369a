"""Dastra end to end: the example DAG against the emulator, a token capped at its real 5-minute life."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pendulum
import pytest

from airflow_provider_authapi.hooks.authapi import reset_token_managers
from tests.conftest import run_dag
from tests.emulators.dastra import DastraEmulator
from tests.stored_tokens import stored_token


@pytest.fixture
def dastra() -> Iterator[DastraEmulator]:
    reset_token_managers()
    with DastraEmulator() as api:
        yield api
    reset_token_managers()


def test_emulator_wants_basic_client_auth_and_a_live_token(dastra):
    refused = httpx.get(f"{dastra.url}/v1/workspaces")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    in_body = {"grant_type": "client_credentials", "client_id": dastra.public_key, "client_secret": dastra.private_key}
    assert httpx.post(f"{dastra.url}/connect/token", data=in_body).json() == {"error": "invalid_client"}
    basic = base64.b64encode(f"{dastra.public_key}:{dastra.private_key}".encode()).decode()
    granted = httpx.post(
        f"{dastra.url}/connect/token",
        headers={"Authorization": f"Basic {basic}"},
        data={"grant_type": "client_credentials", "scope": "api1"},
    ).json()
    assert (granted["expires_in"], granted["token_type"], granted["scope"]) == (3600, "Bearer", "api1")
    bearer = {"Authorization": f"Bearer {granted['access_token']}"}
    assert httpx.get(f"{dastra.url}/v1/workspaces", headers=bearer).json()["total"] == 3
    dastra.advance(301)  # the token really dies after 5 minutes, whatever expires_in said
    expired = httpx.get(f"{dastra.url}/v1/workspaces", headers=bearer)
    assert expired.status_code == 401 and 'error="invalid_token"' in expired.headers["WWW-Authenticate"]


def test_dastra_workspaces_dag(airflow_db, dastra, set_connection):
    set_connection("dastra", **dastra.airflow_connection())
    run = run_dag("dastra_workspaces")
    assert run.state == "success", run.task_states()
    assert run.xcom("list_workspaces") == dastra.workspaces
    assert run.xcom("summarize") == {
        "workspaces": 3,
        "default": "Workspace 1",
        "labels": ["Workspace 1", "Workspace 2", "Workspace 3"],
    }
    assert dastra.token_requests == 1

    # The profile caps the declared 3600 s at Dastra's real 300 s: the cache never serves a dead token.
    token = stored_token("dastra")
    life = pendulum.parse(token["expires_at"]) - pendulum.parse(token["obtained_at"])
    assert 299 <= life.total_seconds() <= 300

    # Should the server drop the token early anyway, the next run recovers with one token request: the
    # 401 forces one refresh and one replay.
    dastra.advance(301)
    reset_token_managers()
    again = run_dag("dastra_workspaces")
    assert again.state == "success", again.task_states()
    assert dastra.token_requests == 2
    assert dastra.count("GET", "/v1/workspaces") == 3  # run 1, then run 2's refused call and its replay

    published = json.dumps([run.xcom("list_workspaces"), run.xcom("summarize"), again.xcom("summarize")])
    for secret in (dastra.private_key, token["access_token"], stored_token("dastra")["access_token"]):
        assert secret not in published
