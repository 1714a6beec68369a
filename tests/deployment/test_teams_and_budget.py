"""Two promises of Airflow 3.3 in one real deployment (LocalExecutor, PostgreSQL, scheduler, dag-processor, the
triggerers): the token cache under multi-team, and one API budget for the whole deployment.

**Multi-team** (`[core] multi_team`, issue 22 item 3): two teams, each its own DAG bundle and its own triggerer
(`triggerer --team-name`), and a global bundle.

Connections: `shared_cc` is global (client credentials on its own strict OAuth 2.0 server), `team_a_cc` and
`team_b_cc` belong to their team (created through the REST API with `team_name`, each on its own server). Each
bundle's `multi_team_<team>` DAG runs twice, one run after the other, and each run:
- `tokens`: a token of `shared_cc` and of the team's own connection, through `AuthApiHook`;
- `peek`: reads the other team's records and the global one through the Task SDK;
- `deferred_global`: a deferrable operator on `shared_cc`, in the team's triggerer;
- `deferred_own`: a deferrable operator on the team's connection, which a triggerer cannot read (Airflow 3.3's
  triggerer reads global connections and Variables only): it must fail with the reason and the way out.

Checked: each team's records are Variables of that team, named `authapi_cache_<conn_id>@<team>`, and the global
DAG's and the triggerer's are the global `authapi_cache_shared_cc`; a team's task cannot read the other team's
records; one token request per record for both runs (the second run reuses the first's); no refresh-queue ticket is
left; no token in any log. Runs on Airflow 3.3 only (a task of 3.2 cannot tell its team: the provider refuses the
cache there, as tests/airflow/test_multi_team.py shows).

**The API budget** (issue 26 item 7): 32 tasks at once (28 mapped tasks paging through `AuthApiHook` in their own
task processes, 4 deferrable operators paging in the real triggerer) on a global connection with
`budget_requests` 60, against an API that allows 60 requests a minute per app in a sliding window and answers 429
beyond (`tests/emulators/app_rate_limit.py`). Checked: every task has every record; no 429; no sliding minute
held more than 60 calls; the ledger is the only budget Variable left and holds no secret. Measured, not yet
asserted: the share of 60 a minute used between the first call and the last (the issue asks 90%; see the
test). 32 calls, one a task: with three each, 96 calls took 13 minutes at 8.3 a minute (13.8% of the limit).
Without the budget the same load gets 429s (the control: tests/airflow/test_budget.py). On 3.3 the turns are
the bakery's; on 3.1 and 3.2 the lease's turn takes its delay D (4 s), which caps how many short tasks a minute
can take a turn (see docs/connections/common.md, *API budget*).

About 6 minutes on 2 cores.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_authapi.compat import AIRFLOW_V_3_3_PLUS
from tests.deployment.harness import Deployment
from tests.emulators.app_rate_limit import TOKEN as BUDGET_TOKEN
from tests.emulators.app_rate_limit import AppRateLimitEmulator
from tests.emulators.strict_oauth2 import StrictOAuth2Server

DAGS = Path(__file__).resolve().parent / "dags_33"
TEAM_DAG, BUDGET_DAG = DAGS / "multi_team_tokens.py", DAGS / "shared_budget_load.py"
BUDGET_CONN_ID = "budget_api"  # as in dags_33/shared_budget_load.py
HOOK_TASKS, DEFERRED_TASKS, PAGES = 28, 4, 1  # one call a task: 3 took 13 min in CI (8 calls a minute)
TEAMS = ("team_a", "team_b")
RUNS = 2

pytestmark = [
    pytest.mark.deployment,
    pytest.mark.slow,
    pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="a task knows its team from Airflow 3.3 (AIRFLOW_CTX_TEAM_NAME)"),
]


def oauth2(server: StrictOAuth2Server) -> dict:
    extra = {"login_url": "/token", "grant_type": "client_credentials", "scopes": "read"}
    return {"conn_type": "authapi_oauth2", "host": server.url, "login": server.client_id,
            "password": server.client_secret, "extra": extra}  # fmt: skip


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, StrictOAuth2Server]]:
    running = {name: StrictOAuth2Server(access_lifetime=3600).start() for name in ("shared_cc", "team_a_cc",
                                                                                   "team_b_cc")}  # fmt: skip
    yield running
    for server in running.values():
        server.stop()


@pytest.fixture(scope="module")
def budget_api() -> Iterator[AppRateLimitEmulator]:
    """60 requests a minute for the whole app, in a sliding window."""
    with AppRateLimitEmulator(limit=60, period=60.0) as server:
        yield server


@pytest.fixture(scope="module")
def deployment(servers: dict[str, StrictOAuth2Server], budget_api: AppRateLimitEmulator) -> Iterator[Deployment]:
    dag_ids = ["multi_team_dags", *(f"multi_team_{team}" for team in TEAMS), "shared_budget_load"]
    budget = {"conn_type": "authapi_bearer", "host": budget_api.url, "password": BUDGET_TOKEN,
              "extra": {"budget_requests": 60, "budget_period": 60}}  # fmt: skip
    with Deployment(
        connections={"shared_cc": oauth2(servers["shared_cc"]), BUDGET_CONN_ID: budget},
        dag_files=[TEAM_DAG, BUDGET_DAG],
        teams={team: [TEAM_DAG] for team in TEAMS},
        dag_ids=dag_ids,
        parallelism=40,
    ) as d:
        for team in TEAMS:
            conn = oauth2(servers[f"{team}_cc"])
            d.api("POST", "/api/v2/connections", {"connection_id": f"{team}_cc", "conn_type": conn["conn_type"],
                  "host": conn["host"], "login": conn["login"], "password": conn["password"],
                  "extra": json.dumps(conn["extra"]), "team_name": team})  # fmt: skip
        yield d


def run(d: Deployment, dag_id: str, conf: dict, n: int) -> str:
    run_id = f"{dag_id}_{n}_{int(time.time())}"
    d.trigger(dag_id, run_id, conf)
    d.wait_for_runs(dag_id, [run_id], timeout=600)
    return run_id


def test_each_team_keeps_its_own_records(deployment: Deployment, servers: dict[str, StrictOAuth2Server]) -> None:
    d = deployment
    runs: dict[str, list[str]] = {}
    global_conf = {"conn_ids": ["shared_cc"], "peek": [f"authapi_cache_shared_cc@{t}" for t in TEAMS]}
    runs["dags"] = [run(d, "multi_team_dags", global_conf, n) for n in range(RUNS)]
    for team, other in (TEAMS, TEAMS[::-1]):
        conf = {
            "conn_ids": ["shared_cc", f"{team}_cc"],
            "peek": [
                f"authapi_cache_shared_cc@{other}",
                f"authapi_cache_{other}_cc@{other}",
                "authapi_cache_shared_cc",
            ],
        }
        runs[team] = [run(d, f"multi_team_{team}", conf, n) for n in range(RUNS)]

    for folder, run_ids in runs.items():
        dag_id = f"multi_team_{folder}"
        for run_id in run_ids:
            states = {ti.task_id: ti.state for ti in d.task_instances(dag_id, run_id)}
            expected = {"tokens": "success", "peek": "success", "deferred_global": "success"}
            if folder != "dags":
                expected["deferred_own"] = "failed"
            assert states == expected, d.failure_report(dag_id, run_id)
            team = None if folder == "dags" else folder
            records = d.xcom(dag_id, run_id, "tokens")
            assert records["team"] == team, records
            suffix = f"@{team}" if team else ""
            assert records["records"] == {c: f"authapi_cache_{c}{suffix}" for c in records["records"]}
            peeked = d.xcom(dag_id, run_id, "peek")
            # another team's records are not readable; the global record is (it holds the triggerer's token)
            assert peeked == {key: "@" not in key for key in peeked}, peeked
            assert [r["id"] for r in d.xcom(dag_id, run_id, "deferred_global")] == [1, 2, 3]
            if team:
                log = d.task_log(dag_id, run_id, "deferred_own", lines=200)
                assert "multi_team on, the triggerer reads global connections" in log, log
                assert "deferrable=False" in log, log

    rows = d.query("SELECT key, team_name FROM variable WHERE key LIKE 'authapi_%%' AND key NOT LIKE "
                   "'authapi_budget:%%' ORDER BY key")  # fmt: skip
    assert rows == sorted(
        [
            ("authapi_cache_shared_cc", None),
            ("authapi_cache_shared_cc@team_a", "team_a"),
            ("authapi_cache_shared_cc@team_b", "team_b"),
            ("authapi_cache_team_a_cc@team_a", "team_a"),
            ("authapi_cache_team_b_cc@team_b", "team_b"),
        ]
    ), rows  # fmt: skip  (and no refresh-queue ticket left)
    # one token request per record, over both runs of each DAG: the global record serves the global DAG and every
    # trigger (deferred_global); each team's, its two runs
    assert {name: s.summary()["token_requests"] for name, s in servers.items()} == {
        "shared_cc": 3, "team_a_cc": 1, "team_b_cc": 1}  # fmt: skip
    assert all(s.summary()["api_refused"] == 0 for s in servers.values())
    issued = [token for s in servers.values() for token in s.issued_access_tokens()]
    for path in d.logs.rglob("*.log"):
        text = path.read_text(errors="replace")
        assert not any(token in text for token in issued), path


def test_32_tasks_share_one_api_budget_with_no_429_and_use_it(
    deployment: Deployment, budget_api: AppRateLimitEmulator
) -> None:
    api, d = budget_api, deployment
    run_id = f"budget_{int(time.time())}"
    d.trigger("shared_budget_load", run_id, {"hook_tasks": HOOK_TASKS, "deferred_tasks": DEFERRED_TASKS})
    states = d.wait_for_runs("shared_budget_load", [run_id], timeout=900)
    assert states == {run_id: "success"}, d.failure_report("shared_budget_load", run_id)
    expected = [f"{page}-{n}" for page in range(1, PAGES + 1) for n in range(1, 11)]
    hooked = d.xcoms("shared_budget_load", run_id, "through_the_hook")
    deferred = d.xcoms("shared_budget_load", run_id, "deferred")
    assert len(hooked) == HOOK_TASKS and all(ids == expected for ids in hooked.values())
    assert len(deferred) == DEFERRED_TASKS and all([r["id"] for r in rs] == expected for rs in deferred.values())
    rows = d.query("SELECT key, val FROM variable WHERE key LIKE 'authapi_budget:%%'")
    figures = {
        "calls": len(api.accepted),
        "refused_429": api.refused,
        "max_in_any_minute": api.max_in_window,
        "calls_per_minute": round(api.throughput(), 1),
        "share_of_the_limit": round(api.throughput() / 60, 3),
        "budget_variables": sorted(row[0] for row in rows),
    }
    print(f"[budget] {json.dumps(figures)}", flush=True)
    assert len(api.accepted) == (HOOK_TASKS + DEFERRED_TASKS) * PAGES, figures
    assert api.refused == 0 and api.unauthenticated == 0, figures
    assert api.max_in_window <= 60, figures
    # Not asserted: the share of the limit used. The issue asks for 90%; turns through the execution API are
    # serialized and take seconds under load, and a task that stops with send times reserved wastes them: with 3
    # calls a task, 13.7% and 13.8% in two runs; with one a task (no time wasted) 74.3%, 44.6 calls a minute.
    assert [row[0] for row in rows] == [f"authapi_budget:{BUDGET_CONN_ID}:ledger"], figures
    assert BUDGET_TOKEN not in rows[0][1]
