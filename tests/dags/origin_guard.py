"""Credentials stay at their origin, through the operator, the sensor, the triggerer and the hook in tasks
(tests/airflow/test_origin.py): endpoints filled from `dag_run.conf` point at another origin (`conf["other"]`),
as anyone allowed to trigger the DAG could make them. Also values HTTP cannot carry: a token pasted with a trailing
newline works, one with a line break inside and a request header with one fail, the secret in neither error."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from airflow_provider_authapi.hooks.authapi import AuthApiHook
from airflow_provider_authapi.operators import AuthApiOperator
from airflow_provider_authapi.sensors import AuthApiSensor

OTHER = "{{ dag_run.conf['other'] }}"
REQUEST_SECRET = "request-header-secret-0123456789"


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def origin_guard():
    once = {"retries": 0, "request_retry": 1}
    bearer = {"authapi_conn_id": "origin_bearer", **once}
    AuthApiOperator(task_id="refused", endpoint=OTHER + "/x", **bearer)
    AuthApiOperator(task_id="refused_deferred", endpoint=OTHER + "/x", deferrable=True, **bearer)
    AuthApiSensor(task_id="refused_sensor", endpoint=OTHER + "/x", poke_interval=1, timeout=30, **bearer)
    AuthApiOperator(task_id="next_link", endpoint="/page", pagination="json_link", response_filter="items", **bearer)
    presigned = {"endpoint": OTHER + "/presigned?sig=operator", "authenticate": False, **bearer}
    AuthApiOperator(task_id="presigned", **presigned)
    AuthApiOperator(task_id="presigned_deferred", deferrable=True, **presigned)
    AuthApiOperator(task_id="allowed", authapi_conn_id="origin_allowed", endpoint=OTHER + "/x", **once)
    AuthApiOperator(task_id="trailing_newline", authapi_conn_id="origin_newline", endpoint="/x", **once)
    AuthApiOperator(task_id="line_break_token", authapi_conn_id="origin_crlf", endpoint="/x", **once)
    bad_header = {"X-Request-Secret": REQUEST_SECRET + "\r\nX-Injected: 1"}
    AuthApiOperator(task_id="line_break_header", endpoint="/x", headers=bad_header, **bearer)
    AuthApiOperator(task_id="line_break_header_deferred", endpoint="/x", headers=bad_header, deferrable=True, **bearer)

    @task(retries=0)
    def hook_refused(other: str) -> None:
        AuthApiHook("origin_bearer").request("GET", f"{other}/x")

    @task(retries=0)
    def hook_presigned(other: str) -> dict:
        return AuthApiHook("origin_bearer").request("GET", f"{other}/presigned?sig=abc", authenticate=False).json()

    @task(retries=0)
    def hook_line_break_header() -> None:
        AuthApiHook("origin_bearer").request("GET", "/x", headers=bad_header)

    hook_refused(OTHER)
    hook_presigned(OTHER)
    hook_line_break_header()


origin_guard()
