"""Retries (fails twice then succeeds; 429 with Retry-After), a 4xx that fails at once, and AuthApiSensor in
poke and reschedule mode, against the paged API emulator (connection `paged_api`)."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from airflow_provider_authapi.operators import AuthApiOperator
from airflow_provider_authapi.sensors import AuthApiSensor


def job_done(body) -> bool:
    return body["status"] == "done"


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def op_retry_sensor():
    common = {"authapi_conn_id": "paged_api", "retries": 0}
    flaky = AuthApiOperator(
        task_id="flaky", endpoint="/flaky/dag", request_retry={"attempts": 4, "backoff": 0.05}, **common
    )
    rate_limited = AuthApiOperator(
        task_id="rate_limited", endpoint="/rate-limited/dag", query_params={"after": "1"}, **common
    )
    AuthApiOperator(task_id="bad_request", endpoint="/status/400", **common)
    poked = AuthApiSensor(
        task_id="poked",
        endpoint="/jobs/poked",
        query_params={"done_after": 3},
        response_check=job_done,
        response_filter="result",
        poke_interval=0.1,
        timeout=60,
        mode="poke",
        **common,
    )
    rescheduled = AuthApiSensor(
        task_id="rescheduled",
        endpoint="/jobs/rescheduled",
        query_params={"done_after": 2},
        response_check=job_done,
        poke_interval=1,
        timeout=60,
        mode="reschedule",
        **common,
    )

    @task
    def summarize(flaky, rate_limited, poked, rescheduled) -> dict:
        return {
            "flaky_attempts": flaky["attempts"],
            "rate_limited_waited": rate_limited["waited"],
            "poked": poked,
            "rescheduled_status": rescheduled["status"],
        }

    summarize(flaky.output, rate_limited.output, poked.output, rescheduled.output)


op_retry_sensor()
