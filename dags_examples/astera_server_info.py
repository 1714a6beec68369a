"""Astera: read the server's information and the status of a job, then report them downstream.

Connection `astera` (type `authapi_token`, profile `astera`): API base URL `https://<your server>:9260`, Login
and Password of an Astera user. The profile fills the login endpoint (`POST /api/account/login` with
`{"user", "password", "rememberMe": true}`) and where the bearer token and its validity are in the answer; when
the token expires the hook logs in again. Astera servers usually run on a self-signed certificate: paste it
(PEM) into *CA certificate*; without it the task fails with an error naming `ca_cert_pem`.

Run it against the local emulator: `bash scripts/demo.sh astera` (see docs/systems/).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from airflow_provider_authapi.operators import AuthApiOperator


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["authapi", "astera"])
def astera_server_info():
    server_info = AuthApiOperator(task_id="server_info", authapi_conn_id="astera", endpoint="/api/ServerInfo")
    job_status = AuthApiOperator(
        task_id="job_status",
        authapi_conn_id="astera",
        endpoint="/api/Job/{{ params.job_id }}/Status",
        response_filter="Status",
        params={"job_id": 13},
    )

    @task
    def report(info: dict, status: str) -> str:
        """Downstream: one line for a report or a Slack message."""
        return f"{info['ServerName']} runs Astera {info['Version']} ({info['Edition']}); job status: {status}"

    report(server_info.output, job_status.output)


astera_server_info()
