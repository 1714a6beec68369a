"""The deployment-wide API budget under load (tests/deployment/test_teams_and_budget.py): `hook_tasks` mapped tasks
each page `/api/items` through `AuthApiHook` (`PAGES` pages), and `deferred_tasks` mapped deferrable operators page it
in the triggerer, all at once, all on the connection `conf["conn_id"]`, whose `budget_requests` is the API's
app-wide limit. Each task returns the ids it read."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from airflow_provider_authapi.hooks.authapi import AuthApiHook
from airflow_provider_authapi.operators import AuthApiOperator

PAGES = 1  # each task's pages of `/api/items` (tests/deployment/test_teams_and_budget.py expects as many)
PAGINATION = {"type": "page_number", "page_param": "page", "has_more_path": "has_more"}


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0},
    params={"conn_id": "budget_api", "hook_tasks": 28, "deferred_tasks": 4},
    max_active_tasks=64,
    tags=["authapi", "deployment-test"],
)
def shared_budget_load():
    @task
    def numbers(count: str) -> list[int]:
        return list(range(int(count)))

    @task
    def copies(count: str) -> list[dict]:
        return [{"pages": PAGES, "copy": n} for n in range(int(count))]

    @task
    def through_the_hook(n: int, params=None) -> list[str]:
        hook = AuthApiHook(params["conn_id"])
        ids: list[str] = []
        for page in range(1, PAGES + 1):
            response = hook.request("GET", "/api/items", params={"page": page, "pages": PAGES})
            response.raise_for_status()
            ids += [item["id"] for item in response.json()["items"]]
        return ids

    through_the_hook.expand(n=numbers("{{ params.hook_tasks }}"))
    AuthApiOperator.partial(
        task_id="deferred",
        authapi_conn_id="budget_api",  # the operator's conn id is not templated: the test names it so
        endpoint="/api/items",
        pagination=PAGINATION,
        response_filter="items",
        deferrable=True,
    ).expand(query_params=copies("{{ params.deferred_tasks }}"))


shared_budget_load()
