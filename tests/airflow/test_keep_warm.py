"""Revocation before a clear, and keep-warm refreshes: `airflow authapi token clear|refresh` as subprocesses and
the example DAG `authapi_keep_warm` under `dag.test()`, against OAuth 2.0 emulators whose refresh tokens live
10 days (`soon`) or 100 days (`later`) and which say so (`x_refresh_token_expires_in`)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_authapi.hooks.authapi import reset_token_managers
from airflow_provider_authapi.maintenance import clear_and_revoke
from tests.airflow.test_cli import airflow
from tests.conftest import run_dag
from tests.emulators.oauth2_server import OAuth2Server
from tests.stored_tokens import stored_record, stored_token

DAY = 24 * 3600


@pytest.fixture(scope="module")
def soon() -> Iterator[OAuth2Server]:
    with OAuth2Server(client_secret="soon-client-secret-0123456789", refresh_lifetime=10 * DAY) as server:
        yield server


@pytest.fixture(scope="module")
def later() -> Iterator[OAuth2Server]:
    with OAuth2Server(client_secret="later-client-secret-0123456789", refresh_lifetime=100 * DAY) as server:
        yield server


@pytest.fixture
def connect(airflow_db, set_connection):
    """Define an OAuth 2.0 connection on a server and obtain its first token in this process (as a task would)."""
    defined: list[str] = []

    def _connect(conn_id: str, server: OAuth2Server, *, grant: str = "refresh_token", **extra) -> dict:
        fields = {"login_url": "/token", "grant_type": grant, **extra}
        if grant == "refresh_token":
            fields["refresh_token"] = server.issue_refresh_token(scope="read")
        set_connection(conn_id, conn_type="authapi_oauth2", host=server.url, login=server.client_id,
                       password=server.client_secret, extra=fields)  # fmt: skip
        from airflow_provider_authapi.consent import hook_for

        reset_token_managers()
        hook_for(conn_id).get_token()
        defined.append(conn_id)
        return stored_token(conn_id)

    yield _connect
    from airflow_provider_authapi.store import VariableTokenStore

    for conn_id in defined:
        VariableTokenStore(conn_id, fingerprint="").clear()
    reset_token_managers()


def refresh_with(server: OAuth2Server, refresh_token: str) -> httpx.Response:
    """A refresh at the server with `refresh_token`, as any client would send it."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return httpx.post(f"{server.url}/token", data=form, auth=(server.client_id, server.client_secret))


def no_secret_in(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


def test_token_clear_revokes_the_refresh_token_then_the_access_token(connect, soon):
    revoked = connect("kw_revoke", soon, revocation_url="/revoke")
    refused = connect("kw_revoke_refused", soon, revocation_url="/no-such-endpoint")
    unset = connect("kw_revoke_unset", soon)
    env = {**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}

    cleared = airflow(env, "token", "clear", "kw_revoke")
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.splitlines()[-3:] == [
        "refresh token: revoked (the server confirmed)",
        "access token: revoked (the server confirmed)",
        "Cleared the stored token of connection 'kw_revoke'.",
    ]
    assert stored_record("kw_revoke") is None
    assert soon.revoked[-2:] == ["refresh_token", "access_token"]
    dead = refresh_with(soon, revoked["refresh_token"])
    assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant", "the revoked refresh token still works"

    failed = airflow(env, "token", "clear", "kw_revoke_refused")
    assert failed.returncode == 1, "a revocation the API did not confirm is an error"
    assert "refresh token: not revoked: token endpoint " in failed.stdout and "answered 404" in failed.stdout
    assert "Cleared the stored token of connection 'kw_revoke_refused' anyway" in failed.stdout
    assert stored_record("kw_revoke_refused") is None, "a failed revocation still deletes the local copy"
    assert refresh_with(soon, refused["refresh_token"]).status_code == 200, "nothing was revoked"

    without_url = clear_and_revoke("kw_revoke_unset")  # the same code the CLI and the token page run
    assert without_url.lines() == [
        "not revoked: the connection has no revocation_url",
        "Cleared the stored token of connection 'kw_revoke_unset'.",
    ]
    assert stored_record("kw_revoke_unset") is None and not without_url.refused

    for result in (cleared, failed):
        tokens = [token[key] for token in (revoked, refused) for key in ("access_token", "refresh_token")]
        no_secret_in(result.stdout + result.stderr, soon.client_secret, *tokens)
    no_secret_in(str(without_url), unset["access_token"], unset["refresh_token"])


def test_token_refresh_expiring_within_refreshes_only_refresh_tokens_that_die_soon(connect, soon, later):
    first = {
        "kw_soon": connect("kw_soon", soon),
        "kw_later": connect("kw_later", later),
        "kw_cc": connect("kw_cc", later, grant="client_credentials"),
        "kw_dead": connect("kw_dead", soon),
    }
    expiry = {conn_id: token["extra"].get("refresh_token_expires_at") for conn_id, token in first.items()}
    assert expiry["kw_soon"] < expiry["kw_later"] and expiry["kw_cc"] is None
    soon.refresh.revoke(first["kw_dead"]["refresh_token"])  # as if it had died idle at the API
    later_requests = later.token_requests
    env = {**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}

    run = airflow(env, "token", "refresh", "--all", "--expiring-within", "30d")

    lines = {line.partition(":")[0]: line for line in run.stdout.splitlines() if line.startswith("kw_")}
    assert lines["kw_soon"].startswith("kw_soon: refreshed: refresh token valid until ")
    assert lines["kw_later"].startswith("kw_later: skipped: refresh token valid until ")
    assert lines["kw_later"].endswith("more than 30 days away")
    assert lines["kw_cc"] == "kw_cc: skipped: no refresh token: nothing to keep alive"
    assert lines["kw_dead"].startswith("kw_dead: failed: ") and "invalid_grant" in lines["kw_dead"]
    assert run.returncode == 1 and "error: kw_dead: failed: " in run.stderr, "a failed refresh fails the command"

    now = stored_token("kw_soon")
    assert now["refresh_token"] != first["kw_soon"]["refresh_token"], "the rotated refresh token was not saved"
    assert now["refresh_token"] in soon.refresh.live() and first["kw_soon"]["refresh_token"] not in soon.refresh.live()
    assert stored_token("kw_later") == first["kw_later"] and later.token_requests == later_requests
    assert stored_token("kw_cc") == first["kw_cc"]

    one = airflow(env, "token", "refresh", "kw_later")  # a named connection alone: refreshed now, whatever is due
    assert one.returncode == 0, one.stderr
    assert "\nkw_later: refreshed: refresh token valid until " in "\n" + one.stdout
    assert "  refresh token valid until: 20" in one.stdout, "the status block shows the refresh token's expiry"
    assert later.token_requests == later_requests + 1

    bad = airflow(env, "token", "refresh", "--all", "--expiring-within", "a month")
    assert bad.returncode == 2 and "is not a duration such as 30d" in bad.stderr

    secrets = [soon.client_secret, later.client_secret, now["access_token"], now["refresh_token"]]
    secrets += [value for token in first.values() for value in (token["access_token"], token["refresh_token"]) if value]
    for result in (run, one, bad):
        no_secret_in(result.stdout + result.stderr, *secrets)


def test_the_keep_warm_dag_refreshes_the_connection_whose_refresh_token_dies_soon(connect, soon, later):
    first = {"kw_dag_soon": connect("kw_dag_soon", soon), "kw_dag_later": connect("kw_dag_later", later)}
    soon_requests, later_requests = soon.token_requests, later.token_requests
    reset_token_managers()  # as on a fresh worker

    result = run_dag("authapi_keep_warm", conf={"expiring_within": "30d", "conn_ids": sorted(first)})

    assert result.state == "success", result.task_states()
    outcomes = {row["conn_id"]: row for row in result.xcom("refresh_expiring_tokens")}
    assert outcomes["kw_dag_soon"]["outcome"] == "refreshed"
    assert outcomes["kw_dag_later"]["outcome"] == "skipped" and "30 days" in outcomes["kw_dag_later"]["detail"]
    assert soon.token_requests == soon_requests + 1 and later.token_requests == later_requests
    now = stored_token("kw_dag_soon")
    assert now["refresh_token"] != first["kw_dag_soon"]["refresh_token"]
    assert now["refresh_token"] in soon.refresh.live()
    assert outcomes["kw_dag_soon"]["refresh_expires_at"] == now["extra"]["refresh_token_expires_at"]
    assert stored_token("kw_dag_later") == first["kw_dag_later"]
    text = str(outcomes)
    no_secret_in(text, now["access_token"], now["refresh_token"], first["kw_dag_soon"]["refresh_token"])


def test_a_task_lists_stored_tokens_on_airflow_3_3_and_is_told_what_to_do_before(connect, soon):
    from airflow_provider_authapi.compat import TASKS_LIST_VARIABLES

    connect("kw_listed", soon)
    listed = run_dag("keep_warm_listing")
    assert listed.state == "success", listed.task_states()
    if TASKS_LIST_VARIABLES:
        assert "kw_listed" in listed.xcom("listing")["ids"]
    else:
        error = listed.xcom("listing")["error"]
        assert "needs Airflow 3.3 or later; this is Airflow 3." in error
        assert "conn_ids" in error and "token refresh --all" in error
        everything = run_dag("authapi_keep_warm", conf={"expiring_within": "30d", "conn_ids": []})
        assert everything.task_states() == {"refresh_expiring_tokens": "failed"}, "no silent 'nothing to do'"
