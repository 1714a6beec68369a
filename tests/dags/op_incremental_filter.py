"""Incremental pulls from an API that ignores its `created[...]` filter (connection `stripe_ignoring`): the
client-side filter keeps one day, in a worker without a file, in a worker to a file and deferred to a file (see
tests/airflow/test_incremental_depth.py)."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_authapi.operators import AuthApiOperator

COMMON = {
    "authapi_conn_id": "stripe_ignoring",
    "endpoint": "/v1/charges",
    "query_params": {"limit": 100},
    "response_filter": "data",
    "pagination": {"type": "cursor", "cursor_path": "last_record:id", "cursor_param": "starting_after"},
    "retries": 0,
    "incremental": {
        "cursor_path": "created",
        "param": "created[gte]",
        "initial": "{{ params.day }}",
        "end": "{{ params.day + 86399 }}",
        "end_param": "created[lte]",
        "filter": True,
        "primary_key": "id",
    },
}


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, params={"day": 0, "out": ""})
def op_incremental_filter():
    AuthApiOperator(task_id="in_xcom", **COMMON)
    AuthApiOperator(task_id="to_file", output_path="{{ params.out }}/to_file.jsonl", **COMMON)
    AuthApiOperator(task_id="deferred", output_path="{{ params.out }}/deferred.jsonl", deferrable=True, **COMMON)


op_incremental_filter()
