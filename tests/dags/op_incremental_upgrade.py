"""One incremental task with an `Asset` outlet (connection `paged_api`): where Airflow < 3.3 keeps its mark in a
Variable and 3.3 in the asset state store (see tests/airflow/test_incremental.py, the upgrade test)."""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag

from airflow_provider_authapi.operators import AuthApiOperator

UPGRADED = Asset(name="authapi_test_upgraded", uri="file:///tmp/authapi-test-upgraded")


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def op_incremental_upgrade():
    AuthApiOperator(
        task_id="upgraded",
        authapi_conn_id="paged_api",
        endpoint="/changes",
        query_params={"task": "{{ ti.task_id }}"},
        pagination={"type": "offset", "limit": 10},
        response_filter="items",
        retries=0,
        outlets=[UPGRADED],
        incremental={"cursor_path": "updated_at", "param": "updated_since", "initial": "2026-01-01T00:00:00Z"},
    )


op_incremental_upgrade()
