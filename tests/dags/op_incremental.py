"""Incremental loads with a high-water mark (connection `paged_api`, see tests/airflow/test_incremental.py):
`to_asset` streams to a file with an `Asset` outlet (mark in the asset state store, record count in the asset
event); `by_variable` is deferred (mark in a Variable, read back from its file). `conf["fail_at"]` makes the
second page of both answer 409, so the run fails after a first page of newer records."""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag

from airflow_provider_authapi.operators import AuthApiOperator

CHANGES = Asset(name="authapi_test_changes", uri="file:///tmp/authapi-test-changes")
INITIAL = "2026-01-01T00:00:00Z"


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def op_incremental():
    common = {
        "authapi_conn_id": "paged_api",
        "endpoint": "/changes",
        "query_params": {"task": "{{ ti.task_id }}", "fail_at": "{{ dag_run.conf.get('fail_at', '') }}"},
        "pagination": {"type": "offset", "limit": 2},
        "response_filter": "items",
        "request_retry": 1,
        "retries": 0,
        "incremental": {"cursor_path": "updated_at", "param": "updated_since", "initial": INITIAL},
    }
    AuthApiOperator(
        task_id="to_asset",
        output_path="file://{{ dag_run.conf['out_dir'] }}/asset.jsonl",
        outlets=[CHANGES],
        **common,
    )
    AuthApiOperator(
        task_id="by_variable",
        output_path="file://{{ dag_run.conf['out_dir'] }}/variable.jsonl",
        deferrable=True,
        **common,
    )


op_incremental()
