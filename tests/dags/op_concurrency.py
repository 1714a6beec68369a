"""AuthApiOperator with `concurrency` (connection `paged_api`, see tests/airflow/test_operators.py): in the worker,
to a JSON Lines file, and deferred to the triggerer; with `response_actions` and a rate limit."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_authapi.operators import AuthApiOperator


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, params={"out_dir": "/tmp"})
def op_concurrency():
    common = {
        "authapi_conn_id": "paged_api",
        "endpoint": "/offset",
        "pagination": {"type": "offset", "limit": 5},
        "response_filter": "items",
        "concurrency": 4,
    }
    AuthApiOperator(task_id="in_worker", **common)
    AuthApiOperator(task_id="to_file", output_path="file://{{ params.out_dir }}/concurrent.jsonl", **common)
    AuthApiOperator(task_id="deferred", deferrable=True, **common)
    AuthApiOperator(
        task_id="skip_409",
        **{**common, "endpoint": "/offset?fail_at=10&fail_status=409"},
        response_actions={409: "skip"},
        max_requests_per_second=50,
    )


op_concurrency()
