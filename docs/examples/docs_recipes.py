"""The documentation's recipes as one DAG: each `[START name]` / `[END name]` part is shown on a docs page, and
`tests/airflow/test_docs_examples.py` runs the DAG against the local paged API emulator (connection
`orders_api`), so no sample in the docs can drift from the code."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from airflow_provider_authapi.api import Fetcher, RequestSpec
from airflow_provider_authapi.hooks.authapi import AuthApiHook
from airflow_provider_authapi.operators import AuthApiOperator
from airflow_provider_authapi.sensors import AuthApiSensor


# [START sensor]
def job_done(body) -> bool:  # module level, so a deferred sensor can import it
    return body["status"] == "done"


# [END sensor]


# [START fanout_endpoint]
def detail_endpoint(order_id: int) -> str:
    return f"/changes/{order_id}"


# [END fanout_endpoint]


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"job": "export"},
    tags=["authapi", "docs"],
)
def docs_recipes():
    # [START sensor_task]
    wait = AuthApiSensor(
        task_id="wait",
        authapi_conn_id="orders_api",
        endpoint="/jobs/{{ params.job }}",
        response_check=job_done,
        response_filter="result",
        poke_interval=1,
        timeout=600,
        mode="poke",  # or "reschedule": the worker slot is freed between pokes
    )
    # [END sensor_task]

    # [START fanout]
    ids = AuthApiOperator(
        task_id="ids", authapi_conn_id="orders_api", endpoint="/changes", response_filter="items[*].id"
    )
    details = AuthApiOperator.partial(task_id="detail", authapi_conn_id="orders_api").expand(
        endpoint=ids.output.map(detail_endpoint)
    )
    # [END fanout]

    # [START taskflow]
    @task
    def first_changes() -> list[dict]:
        hook = AuthApiHook("orders_api")
        with hook.get_client() as client:  # httpx.Client: base URL, auth, TLS, timeout
            response = client.get("/changes", params={"limit": 5})
            response.raise_for_status()
            return response.json()["items"]  # return data, not the response

    # [END taskflow]

    # [START fetcher]
    @task
    def every_change() -> int:
        hook = AuthApiHook("orders_api")
        fetcher = Fetcher(RequestSpec("GET", "/changes"), paginator="offset", response_filter="items")
        with hook.get_client() as client:
            items = fetcher.run(client)  # or: await fetcher.arun(async_client)
        return len(items)

    # [END fetcher]

    wait >> ids >> details
    wait >> [first_changes(), every_change()]


docs_recipes()
