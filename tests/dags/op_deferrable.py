"""The deferrable path: AuthApiOperator (paginated, to a file, with a callable filter, and a failing call)
and AuthApiSensor defer to AuthApiTrigger; `dag.test()` runs the trigger inline. Connection `paged_oauth`
(OAuth2 client credentials), so the trigger needs the token store."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from airflow_provider_authapi.operators import AuthApiOperator
from airflow_provider_authapi.sensors import AuthApiSensor


def job_done(body) -> bool:
    return body["status"] == "done"


def item_names(body) -> list:
    return [item["name"] for item in body["items"]]


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def op_deferrable():
    common = {"authapi_conn_id": "paged_oauth", "deferrable": True, "retries": 0}
    pages = AuthApiOperator(
        task_id="pages",
        endpoint="/cursor",
        query_params={"limit": 10},
        pagination="cursor",
        response_filter="records",
        **common,
    )
    to_file = AuthApiOperator(
        task_id="to_file",
        endpoint="/offset",
        pagination={"type": "offset", "limit": 10},
        response_filter="items",
        output_path="file://{{ dag_run.conf['out_dir'] }}/deferred.jsonl",
        **common,
    )
    names = AuthApiOperator(
        task_id="names", endpoint="/offset", query_params={"limit": 3}, response_filter=item_names, **common
    )
    AuthApiOperator(task_id="forbidden", endpoint="/status/403", **common)
    job = AuthApiSensor(
        task_id="job",
        endpoint="/jobs/deferred",
        query_params={"done_after": 3},
        response_check=job_done,
        response_filter="result",
        poke_interval=0.2,
        timeout=60,
        **common,
    )

    @task
    def summarize(pages, to_file, names, job) -> dict:
        return {"ids": [r["id"] for r in pages], "to_file": to_file, "names": names, "job": job}

    summarize(pages.output, to_file.output, names.output, job.output)


op_deferrable()
