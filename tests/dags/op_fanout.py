"""Parent/child requests: one call lists ids, then `AuthApiOperator.partial(...).expand(endpoint=...)` makes one
request per id (connection `paged_api`, see tests/airflow/test_incremental.py)."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_authapi.operators import AuthApiOperator


def detail_endpoint(record_id: int) -> str:
    return f"/changes/{record_id}"


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def op_fanout():
    ids = AuthApiOperator(
        task_id="ids",
        authapi_conn_id="paged_api",
        endpoint="/changes",
        query_params={"limit": 3},
        response_filter="items[*].id",
    )
    AuthApiOperator.partial(task_id="detail", authapi_conn_id="paged_api", response_filter="$").expand(
        endpoint=ids.output.map(detail_endpoint)
    )


op_fanout()
