"""The lease (`LeaseQueue`, the refresh queue where the Task SDK cannot list Variable keys) across real OS
processes sharing real Variables: the metadata DB of the harness, as server and CLI processes use it. The
workers force the lease whatever this Airflow offers; on Airflow 3.1 / 3.2 tasks take it by themselves
(tests/airflow/test_token_cache.py runs tasks through the Task SDK there)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from airflow_provider_authapi.hooks.authapi import reset_token_managers
from airflow_provider_authapi.store import MetadataVariables, VariableTokenStore, queue_variable_prefix
from tests.conftest import AIRFLOW_ENV, ROOT, run_dag
from tests.emulators.strict_oauth2 import StrictOAuth2Server
from tests.stored_tokens import stored_token

# Fischer's D for every worker alike: the harness's SQLite answers in milliseconds.
LEASE_ENV = {"AIRFLOW__AUTHAPI__LEASE_DELAY": "0.3"}


def spawn(module: str, *args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module, *args], env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)


def finish(workers: list[subprocess.Popen]) -> None:
    errors = [w.communicate(timeout=600)[1] for w in workers]
    assert [w.returncode for w in workers] == [0] * len(workers), "\n".join(errors)[-3000:]


def test_the_lease_excludes_across_8_processes(airflow_db, tmp_path):
    """8 OS processes take their turn 4 times each around a racy counter: no overlap, no lost update."""
    VariableTokenStore("lease_only_procs", "fp").clear()
    counter = tmp_path / "counter"
    counter.write_text("0")
    env = {**os.environ, **AIRFLOW_ENV, **LEASE_ENV, "PYTHONPATH": str(ROOT)}
    outs = [tmp_path / f"spans-{i}.json" for i in range(8)]
    finish(
        [
            spawn("tests.airflow.lease_worker", "lease_only_procs", "4", str(out), str(counter), "lease", env=env)
            for out in outs
        ]
    )
    assert counter.read_text() == "32"
    spans = sorted(span for out in outs for span in json.loads(out.read_text()))
    assert len(spans) == 32
    for (_, end), (next_start, _) in itertools.pairwise(spans):
        assert end <= next_start, "two processes had their turn at once"
    prefix = queue_variable_prefix("lease_only_procs")
    assert MetadataVariables().get(prefix + "lease") is None  # every turn given back
    assert MetadataVariables().get(prefix + "turn")  # turns were announced in the one other register


@pytest.fixture
def strict(airflow_db) -> Iterator[StrictOAuth2Server]:
    reset_token_managers()
    with StrictOAuth2Server(access_lifetime=60) as server:
        yield server
    reset_token_managers()


def test_eight_processes_on_the_lease_never_present_a_rotating_refresh_token_twice(strict, tmp_path):
    """8 OS processes force refreshes through the hook against a server that revokes the whole chain on reuse."""
    initial = strict.issue_refresh_token()
    conn = {
        "conn_type": "authapi_oauth2",
        "host": strict.url,
        "login": strict.client_id,
        "password": strict.client_secret,
        "extra": {"login_url": "/token", "grant_type": "authorization_code", "refresh_token": initial},
    }
    env = {**os.environ, **AIRFLOW_ENV, **LEASE_ENV, "AIRFLOW_CONN_LEASE_RACE": json.dumps(conn)}
    env["PYTHONPATH"] = str(ROOT)
    outs = [tmp_path / f"w{n}.json" for n in range(8)]
    finish([spawn("tests.airflow.refresh_worker", "lease_race", "4", str(out), "lease", env=env) for out in outs])
    results = [json.loads(out.read_text()) for out in outs]
    assert {r["queue"] for r in results} == {"LeaseQueue"}
    assert strict.reuses == 0 and strict.invalid_grants == 0, "a refresh token was presented twice"
    assert strict.live_refresh_token() == stored_token("lease_race")["refresh_token"]
    # Each process forces 4 renewals in turn, each past the token it holds: at least 4 tokens. A process whose
    # renewal finds a newer token saved by another takes that one, so the total is often near 4, rarely 32.
    assert strict.token_requests >= 4 and sum(r["refreshes"] for r in results) == strict.token_requests
    assert all(r["calls_ok"] == 4 for r in results)


def test_tasks_take_the_queue_their_task_sdk_allows(strict, set_connection):
    """A dag.test() run: tasks reach Variables through the Task SDK. On an Airflow whose Task SDK cannot list
    keys (before 3.3) the renewal goes through the lease, announced in its `turn` Variable; on 3.3 the bakery."""
    from airflow_provider_authapi.store.variables import task_sdk_lists_keys

    set_connection(
        "lease_dag",
        conn_type="authapi_oauth2",
        host=strict.url,
        login=strict.client_id,
        password=strict.client_secret,
        extra={"login_url": "/token", "grant_type": "client_credentials", "scopes": "read"},
    )
    VariableTokenStore("lease_dag", "fp").clear()
    prefix = queue_variable_prefix("lease_dag")
    MetadataVariables().delete(prefix + "turn")
    run = run_dag("token_cache_shared", conf={"conn_id": "lease_dag"})
    assert run.state == "success", run.task_states()
    assert run.xcom("summarize")["token_requests"] == [1, 0, 0] and strict.token_requests == 1
    announced = MetadataVariables().get(prefix + "turn")
    assert (announced is not None) == (not task_sdk_lists_keys())
    assert MetadataVariables().get(prefix + "lease") is None  # the turn was given back
