"""AuthApiOperator against the hostile API emulator (connection `hostile_api`, see tests/airflow/test_operators.py):
a page without the filtered key fails the task unless `allow_empty_pages`, in the worker and in the triggerer;
an error dressed as a 200 fails it; an answer whose headers trickle in fails at the attempt's deadline (4 x the
connection's timeout), in the worker and in the triggerer, instead of waiting for the last byte."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_authapi.operators import AuthApiOperator


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def op_hostile():
    common = {"authapi_conn_id": "hostile_api", "pagination": "offset", "response_filter": "items", "retries": 0}
    AuthApiOperator(task_id="wrong_key", endpoint="/wrong-key", **common)
    AuthApiOperator(task_id="wrong_key_allowed", endpoint="/wrong-key", allow_empty_pages=True, **common)
    AuthApiOperator(
        task_id="wrong_key_allowed_deferred", endpoint="/wrong-key", allow_empty_pages=True, deferrable=True, **common
    )
    AuthApiOperator(task_id="error_200", endpoint="/error-200", **common)
    once = {"authapi_conn_id": "hostile_api", "retries": 0, "request_retry": 1}
    AuthApiOperator(task_id="trickle_headers", endpoint="/trickle-headers", **once)
    AuthApiOperator(task_id="trickle_headers_deferred", endpoint="/trickle-headers", deferrable=True, **once)


op_hostile()
