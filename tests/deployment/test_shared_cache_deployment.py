"""The shared token cache in a real deployment (issues 11 and 21): PostgreSQL, api-server, scheduler,
dag-processor and triggerer as separate processes, two concurrent runs of `shared_cache_load` per scenario,
against strict OAuth 2.0 servers that revoke the whole token chain when a refresh token is presented twice. The
test runs once per executor: LocalExecutor (every scenario below), and CeleryExecutor (Redis as the broker, two
`airflow celery worker` processes of concurrency 8 with their own hostnames, as on two machines; scenarios A and
B with 2 x (5 hook + 2 sync + 2 deferrable) task instances, sized to the 16 worker slots, and every worker must
have run some of them, as the task instances' hostnames show).

Scenario A (`rotating`): grant `refresh_token`, the refresh token rotates on every use, access tokens live 60 s.
Scenario B (`client_credentials`): access tokens live 20 s, less than the provider's default 60 s leeway.
Scenario C (`jwt_bearer`): RFC 7523 assertions signed RS256 with a key made at test time, tokens live 20 s, tasks
run 45 s (2 lifetimes at least); a `jti` presented twice is counted like a reused refresh token.

LocalExecutor, per scenario: 2 runs x (18 hook tasks + 3 sync + 3 deferrable operators) = 48 task instances; the
deferrable operators page with `concurrency=3` in the real triggerer. Checked: every task instance succeeded, at
least 48 (Celery: 16) ran at once, for 3 token lifetimes (C: 2), no refresh token nor assertion `jti` was presented
twice, token requests <= 1.5 x lifetimes elapsed, and the stored token is the live one; each operator's XCom is
every id of its pages in page order, the emulator saw each deferred task keep 2 to 3 pages in flight at once (each
sync one 1), and each deferred task's trigger log shows its "Trigger fired event" with the result's size while no
record id appears in any trigger log or the triggerer's own log. All scenarios share one deployment and run one
after the other in one test per executor, so that a failure of one still leaves the others' figures; pytest-xdist
may give the two executors' tests to two workers, but the harness's machine lock starts one deployment at a time
(two at once would not fit a 2-core machine). Figures are printed and written to
test-artifacts/deployment-[celery-]<scenario>.json.

Run: `python -m pytest tests/deployment -q -p no:xdist -s` (about 12 minutes on 2 cores, then Celery; root installs
PostgreSQL and Redis with apt-get when missing); `-k CeleryExecutor` or `-k LocalExecutor` runs one executor.
`AUTHAPI_DEPLOYMENT_PROVIDER_REV=<git rev>` runs that revision of the provider instead of the working tree (to
measure an earlier design); `AUTHAPI_DEPLOYMENT_AIRFLOW_BIN=<venv>/bin` runs the Airflow of that venv.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.deployment.harness import DEPLOYMENT_DAGS, Deployment, DeploymentError, Redis, executor_name, machine_lock
from tests.deployment.scenarios import (
    CONCURRENCY,
    DAG_ID,
    OPERATOR_TASKS,
    SCENARIOS,
    SCENARIOS_BY_EXECUTOR,
    Burst,
    Scenario,
    assertion_key,
    connection,
    env_int,
    expected_ids,
    new_server,
    page_label,
    run_burst,
    run_scenario,
    write_figures,
)
from tests.emulators.recorder import Recorder, leaks
from tests.emulators.strict_oauth2 import StrictOAuth2Server


@pytest.fixture(scope="module", params=list(SCENARIOS_BY_EXECUTOR))
def executor(request: pytest.FixtureRequest) -> str:
    """The deployment's executor: each runs its own deployment with its own scenarios and servers."""
    return request.param


@pytest.fixture(scope="module")
def servers(executor: str) -> Iterator[dict[str, StrictOAuth2Server]]:
    """One strict OAuth 2.0 server per scenario (its counters are then the scenario's), in this process."""
    running = {s.name: new_server(s).start() for s in SCENARIOS_BY_EXECUTOR[executor]}
    yield running
    for server in running.values():
        server.stop()


@pytest.fixture(scope="module")
def deployment(
    executor: str, servers: dict[str, StrictOAuth2Server], request: pytest.FixtureRequest
) -> Iterator[Deployment]:
    connections = {s.conn_id: connection(s, servers[s.name]) for s in SCENARIOS_BY_EXECUTOR[executor]}
    running = Deployment(connections=connections, executor=executor,
                         parallelism=env_int("AUTHAPI_DEPLOYMENT_PARALLELISM", 64))  # fmt: skip
    failed_before = request.session.testsfailed
    try:
        running.start()
    except BaseException:
        running.stop(failed=True)
        raise
    yield running
    running.stop(failed=request.session.testsfailed > failed_before)


def test_machine_lock_starts_one_deployment_at_a_time(tmp_path) -> None:
    """Two deployments never run at once (two xdist workers): a second holder of the lock waits for the first."""
    import threading

    path, acquired = tmp_path / "deployment.lock", threading.Event()

    def second() -> None:
        with machine_lock(path):
            acquired.set()

    thread = threading.Thread(target=second)
    with machine_lock(path):
        thread.start()
        assert not acquired.wait(1.0), "the lock let a second deployment start while the first ran"
    assert acquired.wait(30), "the second deployment never got the lock after the first let go"
    thread.join(30)


def test_redis_broker_starts_answers_and_stops(tmp_path) -> None:
    """The Celery broker: a private redis-server on a free port that answers PING, stopped by its process id."""
    redis = Redis(tmp_path / "redis").start()
    try:
        assert redis.ping() and redis.url == f"redis://127.0.0.1:{redis.port}/0"
    finally:
        redis.stop()
    assert redis.process is not None and redis.process.poll() is not None and not redis.ping()
    assert [executor_name(n) for n in ("celery", "CeleryExecutor", "local")] == [
        "CeleryExecutor", "CeleryExecutor", "LocalExecutor"]  # fmt: skip
    with pytest.raises(DeploymentError, match="unknown executor"):
        executor_name("kubernetes")


def test_strict_server_revokes_the_chain_on_reuse() -> None:
    """What the deployment test relies on: a second presentation is counted and kills every token of the grant."""
    import httpx

    with StrictOAuth2Server(access_lifetime=60) as server:
        auth = (server.client_id, server.client_secret)
        first = server.issue_refresh_token()
        rotated = httpx.post(f"{server.url}/token", data={"grant_type": "refresh_token", "refresh_token": first},
                             auth=auth).json()  # fmt: skip
        assert server.live_refresh_token() == rotated["refresh_token"]
        bearer = {"Authorization": f"Bearer {rotated['access_token']}"}
        page = httpx.get(f"{server.url}/api/items", params={"offset": 2, "limit": 2, "total": 3}, headers=bearer)
        assert page.json() == {"items": [{"id": 3}], "total": 3}
        replay = httpx.post(f"{server.url}/token", data={"grant_type": "refresh_token", "refresh_token": first},
                            auth=auth)  # fmt: skip
        assert replay.json()["error"] == "invalid_grant"
        assert (server.reuses, server.revoked_chains, server.live_refresh_tokens()) == (1, 1, [])
        assert httpx.get(f"{server.url}/api/whoami", headers=bearer).status_code == 401
        assert [e.outcome for e in server.token_events] == ["ok", "reuse"]
        assert server.summary()["api_refused"] == 1


def test_strict_server_refuses_a_reused_jti() -> None:
    """The jwt_bearer scenario's server: a signed assertion buys a token once; its jti presented again is counted."""
    import httpx

    from airflow_provider_authapi.auth.assertions import AssertionSigner, load_private_key

    scenario = next(s for s in SCENARIOS if s.grant_type == "jwt_bearer")
    with new_server(scenario) as server:
        signer = AssertionSigner(load_private_key(assertion_key(scenario).pem, "RS256", "key"), "RS256", lifetime=60)
        claims = {"iss": "loader", "sub": "user", "aud": f"{server.url}/token"}
        grant = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": signer.sign(claims)}
        first = httpx.post(f"{server.url}/token", data=grant)
        assert first.status_code == 200 and server.issued_access_token(first.json()["access_token"])
        assert httpx.post(f"{server.url}/token", data=grant).json()["error"] == "invalid_grant"
        wrong_aud = {**grant, "assertion": signer.sign({**claims, "aud": "https://elsewhere.example/token"})}
        assert httpx.post(f"{server.url}/token", data=wrong_aud).json()["error"] == "invalid_grant"
        assert [e.outcome for e in server.token_events] == ["ok", "jti_reuse", "bad_assertion"]
        assert (server.jti_reuses, server.summary()["token_requests"]) == (1, 3)


@pytest.mark.slow
def test_load_dag_runs_in_dag_test(airflow_db, set_connection) -> None:
    """The load DAG's wiring in seconds, before the deployment test proves it for real: each operator returns
    every page's ids in order, the deferrable one with `concurrency` pages in flight at once, the sync one 1."""
    from tests.conftest import run_dag

    link = airflow_db / "dags" / f"{DAG_ID}.py"
    if not link.exists():
        link.symlink_to(DEPLOYMENT_DAGS / f"{DAG_ID}.py")
    scenario = Scenario("dag_test", "authapi_dag_test", "client_credentials", lifetime=60, duration=2, interval=0.5,
                        hook_tasks=1, operator_tasks=1, runs=1, deferred_concurrency=CONCURRENCY)  # fmt: skip
    with new_server(scenario) as server:
        set_connection(scenario.conn_id, **connection(scenario, server))
        result = run_dag(DAG_ID, scenario.conf)
        assert result.state == "success", result.task_states()
        for task_id in OPERATOR_TASKS:
            assert result.xcom(task_id, map_index=0) == expected_ids(scenario, result.run_id, task_id, 0)
        in_flight = {task_id: server.items_max_in_flight[page_label(result.run_id, task_id, 0)]
                     for task_id in OPERATOR_TASKS}  # fmt: skip
        assert in_flight == {"sync_pages": 1, "deferred_pages": CONCURRENCY}
        assert server.summary()["api_calls"]["items"] == 2 * scenario.pages


@pytest.mark.deployment
@pytest.mark.slow
def test_shared_token_cache_holds_in_a_real_deployment(
    executor: str, deployment: Deployment, servers: dict[str, StrictOAuth2Server]
) -> None:
    problems: list[str] = []
    for scenario in SCENARIOS_BY_EXECUTOR[executor]:
        figures, found = run_scenario(deployment, servers[scenario.name], scenario)
        path = write_figures(figures)
        print(f"\n[{scenario.name}] {json.dumps(figures, default=str)}\n(written to {path})", flush=True)
        problems += found
    assert not problems, "\n\n".join(problems)


ORIGIN_DAG_ID = "deployment_origin_guard"
ORIGIN_TASKS = ("refused_sync", "refused_deferred", "refused_sensor")  # as in dags/deployment_origin_guard.py


@pytest.mark.deployment
@pytest.mark.slow
def test_an_endpoint_from_the_run_conf_on_another_origin_is_refused_unsent(
    deployment: Deployment, servers: dict[str, StrictOAuth2Server]
) -> None:
    """Issue 22, item 2, on the user's path: a run triggered through the REST API with `conf.endpoint` on another
    origin (a second server on 127.0.0.1); the sync operator, the deferrable one (in the real triggerer) and the
    deferrable sensor fail unsent: the other server sees no request at all, so no credential, and each task's
    log names `allowed_origins` and the refused origin, never the client secret."""
    deployment.wait_for_dags([ORIGIN_DAG_ID])
    secret = servers["client_credentials"].client_secret
    with Recorder() as other:
        run_id, origin = f"origin_{int(time.time())}", other.url
        body = {"dag_run_id": run_id, "logical_date": None, "conf": {"endpoint": f"{origin}/steal"}}
        deployment.api("POST", f"/api/v2/dags/{ORIGIN_DAG_ID}/dagRuns", body)
        states = deployment.wait_for_runs(ORIGIN_DAG_ID, [run_id], timeout=600)
        seen = list(other.seen)
    assert states == {run_id: "failed"}
    tis = {ti.task_id: ti.state for ti in deployment.task_instances(ORIGIN_DAG_ID, run_id)}
    assert tis == dict.fromkeys(ORIGIN_TASKS, "failed"), tis
    assert leaks(seen) == [] and [r.path for r in seen] == [], "the other origin received requests"
    for task_id in ORIGIN_TASKS:
        paths = deployment.task_log_paths(ORIGIN_DAG_ID, run_id, task_id)
        text = "\n".join(path.read_text(errors="replace") for path in paths)
        errors = deployment.task_errors(ORIGIN_DAG_ID, run_id, task_id)
        assert any("allowed_origins" in e and origin in e for e in errors), (task_id, errors)
        assert secret not in text, f"{task_id}: the client secret is in its log"
    trigger_logs = [
        p for p in deployment.task_log_paths(ORIGIN_DAG_ID, run_id, "refused_deferred") if ".trigger." in p.name
    ]
    assert trigger_logs and any("CredentialOriginError" in p.read_text(errors="replace") for p in trigger_logs), (
        "the deferred request was not refused in the triggerer"
    )


@pytest.mark.deployment
@pytest.mark.slow
def test_deferred_operators_resume_under_load(executor: str, deployment: Deployment) -> None:
    """Issue 21, item 7: deferrable operators whose triggers finish at once, in 3 stages one after the other, among
    busy tasks (by default 24 busy + 3 x 8 deferred; the issue's 71 at once with AUTHAPI_DEPLOYMENT_BURST_BUSY=63,
    AUTHAPI_DEPLOYMENT_BURST_DEFERRED=8, AUTHAPI_DEPLOYMENT_BURST_SECONDS=120, AUTHAPI_DEPLOYMENT_PARALLELISM=72):
    none fails, Airflow logs no state mismatch, and every trigger held its event until MIN_SECONDS_AFTER_DEFERRAL
    after the deferral. Measured so, provider before the hold: 3 of 24 deferrals failed (state mismatch); with
    it: 0 of 24. LocalExecutor only (the issue's executor; keeps CI short)."""
    if executor != "LocalExecutor":
        pytest.skip("measured on the LocalExecutor, where the issue saw the race")
    figures, problems = run_burst(deployment, Burst(conn_id="authapi_client_credentials"),
                                  held_expected=not deployment.provider_revision)  # fmt: skip
    path = write_figures(figures)
    print(f"\n[deferred_burst] {json.dumps(figures, default=str)}\n(written to {path})", flush=True)
    assert not problems, "\n\n".join(problems)
