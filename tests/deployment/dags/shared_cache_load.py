"""Load for the deployment tests: many tasks of one or more runs share one connection's token at the same time.

`dag_run.conf`:
  conn_id         the connection (required)
  hook_tasks      mapped `@task`s calling `GET /api/whoami` through `AuthApiHook` every `interval` s (default 16)
  operator_tasks  sync `AuthApiOperator`s, and as many deferrable ones, paging `/api/items` (default 3 each)
  duration        seconds each task keeps using the token (default 60)
  interval        seconds between two calls or two pages (default 2)
  deferred_concurrency  the deferrable operators' `concurrency`: pages in flight at once (default 1)

The operators page through `duration / interval` one-record pages and the emulator answers each page after
`interval` seconds, so every operator task keeps using the token for the whole duration, as the hook tasks do;
the deferrable ones do it inside the triggerer. (A chain of short operators would leave gaps between them and
pay a task start-up, 10 s or more on a small machine, for each.) With `deferred_concurrency` N > 1 the emulator
answers each deferred page after N x `interval` s: N pages in flight then still take `duration` (plus the first
page, which is alone: it gives the total), so the triggerer runs concurrent pages for as long as before.

Each operator's `task` query parameter is the label `page_label(run_id, task_id, map_index)`; the emulator makes
its record ids from it (`item_id`), so a test knows every id a task must return, in order, and can look for them
in logs, and counts that label's requests in flight.
"""

from __future__ import annotations

import time

import pendulum
from airflow.sdk import dag, get_current_context, task

from airflow_provider_authapi.operators.authapi import AuthApiOperator


def _conf() -> dict:
    return get_current_context()["dag_run"].conf or {}


@task
def hook_indexes() -> list[int]:
    return list(range(int(_conf().get("hook_tasks", 16))))


def page_label(run_id: str, task_id: str, map_index: int) -> str:
    """The `task` query parameter of one operator task's pages (the deployment test builds the same)."""
    return f"{run_id}/{task_id}/{map_index}"


@task
def operator_arguments(task_id: str) -> list[dict]:
    """The connection, query and concurrency of each `task_id` operator: `duration / interval` one-record pages,
    each `interval` s slow, times the concurrency."""
    context = get_current_context()
    conf = _conf()
    interval = float(conf.get("interval", 2))
    pages = max(1, round(float(conf.get("duration", 60)) / interval))
    concurrency = int(conf.get("deferred_concurrency", 1)) if task_id == "deferred_pages" else 1
    extra = {"concurrency": concurrency} if concurrency > 1 else {}  # absent: any provider version runs the DAG
    return [
        {
            "authapi_conn_id": conf["conn_id"],
            "query_params": {
                "total": pages,
                "delay": interval * concurrency,
                "task": page_label(context["run_id"], task_id, index),
            },
            **extra,
        }
        for index in range(int(conf.get("operator_tasks", 3)))
    ]


@task
def call_api(index: int) -> dict:
    """Call the API every `interval` s for `duration` s; fail on any answer but 200. Returns call timings."""
    from airflow_provider_authapi.hooks.authapi import AuthApiHook

    conf = _conf()
    duration, interval = float(conf.get("duration", 60)), float(conf.get("interval", 2))
    hook = AuthApiHook(authapi_conn_id=conf["conn_id"])
    started = time.monotonic()
    waits: list[float] = []
    while True:
        before = time.monotonic()
        response = hook.request("GET", "/api/whoami")
        waits.append(round(time.monotonic() - before, 3))
        if response.status_code != 200:
            raise RuntimeError(f"task {index}, call {len(waits)}: the API answered HTTP {response.status_code}")
        next_call = started + len(waits) * interval
        if next_call - started >= duration:
            break
        time.sleep(max(0.0, next_call - time.monotonic()))
    manager = getattr(hook, "token_manager", None)
    return {
        "calls": len(waits),
        "max_wait": max(waits),
        "waits": waits,
        "token_requests": getattr(manager, "token_requests", None),
        "seconds": round(time.monotonic() - started, 1),
    }


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0},
    tags=["authapi", "deployment-test"],
)
def shared_cache_load():
    call_api.expand(index=hook_indexes())
    pages = {
        "endpoint": "/api/items",
        "pagination": {"type": "offset", "limit": 1},
        "response_filter": "items[*].id",
    }
    sync_arguments = operator_arguments.override(task_id="sync_arguments")("sync_pages")
    deferred_arguments = operator_arguments.override(task_id="deferred_arguments")("deferred_pages")
    AuthApiOperator.partial(task_id="sync_pages", **pages).expand_kwargs(sync_arguments)
    AuthApiOperator.partial(task_id="deferred_pages", deferrable=True, **pages).expand_kwargs(deferred_arguments)


shared_cache_load()
