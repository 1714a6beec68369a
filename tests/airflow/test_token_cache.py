"""The hook's token cache in real Airflow: tasks and runs share one token through a Variable (issue 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from airflow_provider_authapi.hooks.authapi import AuthApiHook, reset_token_managers
from airflow_provider_authapi.store import MetadataVariables, token_variable_name
from tests.conftest import AIRFLOW_ENV, ROOT, run_dag
from tests.emulators.oauth2_server import OAuth2Server
from tests.stored_tokens import expire_stored_token, stored_record


@pytest.fixture
def oauth(airflow_db) -> Iterator[OAuth2Server]:
    reset_token_managers()
    with OAuth2Server() as server:
        yield server
    reset_token_managers()


def define(set_connection, conn_id: str, server: OAuth2Server, **extra) -> None:
    set_connection(
        conn_id,
        conn_type="authapi_oauth2",
        host=server.url,
        login=server.client_id,
        password=server.client_secret,
        extra={"login_url": "/token", "grant_type": "client_credentials", "scopes": "read", **extra},
    )


def live_token(conn_id: str) -> str:
    return stored_record(conn_id)["token"]["access_token"]


def test_one_token_for_every_task_and_run_until_it_expires_and_secrets_are_masked(oauth, set_connection):
    define(set_connection, "cache_cc", oauth)
    first = run_dag("token_cache_shared", conf={"conn_id": "cache_cc"})
    assert first.state == "success", first.task_states()
    assert first.xcom("summarize") == {"subjects": [oauth.client_id], "token_requests": [1, 0, 0]}
    reset_token_managers()
    second = run_dag("token_cache_shared", conf={"conn_id": "cache_cc"})
    assert second.xcom("summarize")["token_requests"] == [0, 0, 0]
    assert oauth.token_requests == 1 and oauth.count("GET", "/api/whoami") == 6

    # Expiry: make the stored token stale (as if its lifetime had passed); exactly one more token request.
    token = expire_stored_token("cache_cc")
    reset_token_managers()
    third = run_dag("token_cache_shared", conf={"conn_id": "cache_cc"})
    assert third.xcom("summarize")["token_requests"] == [1, 0, 0] and oauth.token_requests == 2
    assert stored_record("cache_cc")["token"]["access_token"] != token["access_token"]

    # Encrypted at rest: the harness configures a Fernet key, so the row holds ciphertext.
    from airflow.models.variable import Variable as VariableRow
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(VariableRow).filter_by(key=token_variable_name("cache_cc")).one()
        assert row.is_encrypted and live_token("cache_cc") not in row._val

    # Every token and the client secret are registered with Airflow's secrets masker (dag.test runs the
    # tasks in this process), so the task log line that printed them is redacted by Airflow's log pipeline.
    from airflow.sdk.log import redact

    live = stored_record("cache_cc")["token"]["access_token"]
    for secret in (live, token["access_token"], oauth.client_secret):
        line = f"Called the API with access token {secret}"
        assert redact(line) == "Called the API with access token ***"


def test_a_changed_client_secret_ignores_the_cached_token(oauth, set_connection):
    define(set_connection, "cache_rotated_secret", oauth)
    hook = AuthApiHook("cache_rotated_secret")
    assert hook.request("GET", "/api/whoami").status_code == 200
    old_fingerprint = stored_record("cache_rotated_secret")["fingerprint"]
    oauth.client_secret = "a-new-client-secret-9876543210"  # rotated at the provider and in the connection
    define(set_connection, "cache_rotated_secret", oauth)
    run = run_dag("token_cache_shared", conf={"conn_id": "cache_rotated_secret"})
    assert run.xcom("summarize")["token_requests"] == [1, 0, 0] and oauth.token_requests == 2
    assert stored_record("cache_rotated_secret")["fingerprint"] != old_fingerprint


def test_a_deleted_variable_is_recovered_from_the_connections_refresh_token(oauth, set_connection):
    oauth.refresh.rotating = False  # a provider whose refresh tokens stay valid after use
    initial = oauth.issue_refresh_token()
    define(set_connection, "cache_refresh", oauth, grant_type="authorization_code", refresh_token=initial)
    hook = AuthApiHook("cache_refresh")
    assert hook.request("GET", "/api/whoami").status_code == 200
    assert oauth.last_token_form["refresh_token"] == initial
    MetadataVariables().delete(token_variable_name("cache_refresh"))
    reset_token_managers()
    run = run_dag("token_cache_shared", conf={"conn_id": "cache_refresh"})
    assert run.state == "success" and run.xcom("summarize")["token_requests"] == [1, 0, 0]
    sent = oauth.last_token_form
    assert (sent["grant_type"], sent["refresh_token"]) == ("refresh_token", initial)
    assert stored_record("cache_refresh")["token"]["refresh_token"]


def test_eight_processes_refreshing_a_rotating_token_never_lose_it(oauth, tmp_path):
    """8 OS processes force refreshes in a loop against a server that kills each used refresh token."""
    initial = oauth.issue_refresh_token()
    conn = {
        "conn_type": "authapi_oauth2",
        "host": oauth.url,
        "login": oauth.client_id,
        "password": oauth.client_secret,
        "extra": {"login_url": "/token", "grant_type": "authorization_code", "refresh_token": initial},
    }
    env = {**os.environ, **AIRFLOW_ENV, "AIRFLOW_CONN_CACHE_RACE": json.dumps(conn), "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.airflow.refresh_worker", "cache_race", "4", str(tmp_path / f"w{n}.json")],
            env=env,
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    errors = [w.communicate(timeout=600)[1] for w in workers]
    assert [w.returncode for w in workers] == [0] * 8, "\n".join(errors)[-3000:]
    results = [json.loads((tmp_path / f"w{n}.json").read_text()) for n in range(8)]
    assert oauth.invalid_grants == 0
    final = stored_record("cache_race")["token"]["refresh_token"]
    assert oauth.refresh.live() == [final]  # the stored refresh token is the one live refresh token
    # Each process forces 4 renewals in turn, each past the token it holds: at least 4 tokens. A process whose
    # renewal finds a newer token saved by another takes that one, so the total is often near 4, rarely 32.
    assert oauth.token_requests >= 4 and sum(r["refreshes"] for r in results) == oauth.token_requests
    assert all(r["calls_ok"] == 4 for r in results)
