"""Credentials stay at their origin on the user's path (issue 22, item 2): the endpoint is templated from
`dag_run.conf["endpoint"]`, as anyone allowed to trigger the DAG could fill it, and points at another origin. In a
real deployment the sync operator (worker), the deferrable operator (refused in the real triggerer) and the
deferrable sensor (first poke in the worker) must all fail unsent, each log naming `allowed_origins`.

The connection is the deployment test's client-credentials one (`CONN_ID`), on the strict OAuth 2.0 server."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_authapi.operators import AuthApiOperator
from airflow_provider_authapi.sensors import AuthApiSensor

CONN_ID = "authapi_client_credentials"  # tests/deployment/scenarios.py: a connection of every executor's scenarios
ENDPOINT = "{{ dag_run.conf['endpoint'] }}"
TASKS = ("refused_sync", "refused_deferred", "refused_sensor")


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0},
    tags=["authapi", "deployment-test"],
)
def deployment_origin_guard():
    once = {"authapi_conn_id": CONN_ID, "endpoint": ENDPOINT, "request_retry": 1}
    AuthApiOperator(task_id="refused_sync", **once)
    AuthApiOperator(task_id="refused_deferred", deferrable=True, **once)
    AuthApiSensor(task_id="refused_sensor", deferrable=True, poke_interval=5, timeout=120, **once)


deployment_origin_guard()
