"""Deferrable operators whose triggers finish at once, among many busy tasks (issue 21, item 7).

An Airflow race (apache/airflow#66374, #71580, #72716) fails a deferred task whose trigger fires within about a
second of the deferral, when the scheduler is slow to process the executor's "success" of the deferral exit. This
DAG makes it likely: `busy_tasks` tasks call the API through `AuthApiHook` every `interval` s for `duration` s
(load on the scheduler, the execution API and the 2 cores), while `deferred_tasks` deferrable `AuthApiOperator`s
fetch one quick page each in the triggerer, in `STAGES` stages one after the other (`quick_deferred_1`, then
`_2`, ...), so that deferrals happen throughout the busy period, not only at its start. `dag_run.conf`: conn_id
(required), busy_tasks (default 8), deferred_tasks (default 4, per stage), duration (default 60), interval
(default 2). Each deferred task's page holds one record `item_id(page_label(run_id, task_id, index), 1)`, so a
test knows what each must return.
"""

from __future__ import annotations

import time

import pendulum
from airflow.sdk import dag, get_current_context, task

from airflow_provider_authapi.operators.authapi import AuthApiOperator


def _conf() -> dict:
    return get_current_context()["dag_run"].conf or {}


STAGES = 3
DEFERRED_TASK_IDS = tuple(f"quick_deferred_{stage}" for stage in range(1, STAGES + 1))


def page_label(run_id: str, task_id: str, index: int) -> str:
    """The `task` query parameter of deferred task `task_id[index]`'s page (the deployment test builds the same)."""
    return f"{run_id}/{task_id}/{index}"


@task
def busy_indexes() -> list[int]:
    return list(range(int(_conf().get("busy_tasks", 8))))


@task
def deferred_arguments(task_id: str) -> list[dict]:
    conf, run_id = _conf(), get_current_context()["run_id"]
    return [
        {"authapi_conn_id": conf["conn_id"], "query_params": {"total": 1, "task": page_label(run_id, task_id, index)}}
        for index in range(int(conf.get("deferred_tasks", 4)))
    ]


@task
def busy(index: int) -> int:
    """Call the API every `interval` s for `duration` s; fail on any answer but 200. Returns the number of calls."""
    from airflow_provider_authapi.hooks.authapi import AuthApiHook

    conf = _conf()
    duration, interval = float(conf.get("duration", 60)), float(conf.get("interval", 2))
    hook, started, calls = AuthApiHook(authapi_conn_id=conf["conn_id"]), time.monotonic(), 0
    while time.monotonic() - started < duration:
        response = hook.request("GET", "/api/whoami")
        calls += 1
        if response.status_code != 200:
            raise RuntimeError(f"busy task {index}, call {calls}: the API answered HTTP {response.status_code}")
        time.sleep(interval)
    return calls


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0},
    tags=["authapi", "deployment-test"],
)
def deferred_burst():
    busy.expand(index=busy_indexes())
    quick = {"endpoint": "/api/items", "pagination": {"type": "offset", "limit": 1}, "response_filter": "items[*].id"}
    previous = None
    for task_id in DEFERRED_TASK_IDS:
        arguments = deferred_arguments.override(task_id=f"arguments_{task_id}")(task_id)
        stage = AuthApiOperator.partial(task_id=task_id, deferrable=True, **quick).expand_kwargs(arguments)
        if previous is not None:
            previous >> stage
        previous = stage


deferred_burst()
