"""The token cache under multi-team (`[core] multi_team`, tests/deployment/test_teams_and_budget.py): one file, linked
into the global bundle (`dags`) and each team's bundle (its folder is the team's name), so each bundle has its own
DAG `multi_team_<folder>`.

`tokens` obtains a token of each connection in `conf["conn_ids"]` and returns the Variable each record is in;
`peek` reads the Variables in `conf["peek"]` (other teams' records) and returns which it could read;
`deferred_global` calls `/api/items` of the global connection `shared_cc` in the team's triggerer, and a team's
`deferred_own` that of its own connection `<team>_cc` (which the triggerer cannot read)."""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import Variable, dag, task

from airflow_provider_authapi.hooks.authapi import AuthApiHook
from airflow_provider_authapi.operators import AuthApiOperator

FOLDER = Path(__file__).parent.name  # a symlink's folder: the bundle's


@dag(
    dag_id=f"multi_team_{FOLDER}",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0},
    params={"conn_ids": [], "peek": []},
    tags=["authapi", "deployment-test"],
)
def multi_team_tokens():
    @task
    def tokens(params=None) -> dict:
        stored = {}
        for conn_id in params["conn_ids"]:
            hook = AuthApiHook(conn_id)
            hook.get_access_token()  # not returned: a token never goes to XCom
            stored[conn_id] = hook.store.key
        return {"team": os.environ.get("AIRFLOW_CTX_TEAM_NAME"), "records": stored}

    @task
    def peek(params=None) -> dict:
        return {key: Variable.get(key, default=None) is not None for key in params["peek"]}

    deferred = {"endpoint": "/api/items", "query_params": {"total": 3}, "response_filter": "items", "deferrable": True}
    done = tokens() >> peek()
    done >> AuthApiOperator(task_id="deferred_global", authapi_conn_id="shared_cc", **deferred)
    if FOLDER != "dags":
        done >> AuthApiOperator(task_id="deferred_own", authapi_conn_id=f"{FOLDER}_cc", **deferred)


multi_team_tokens()
