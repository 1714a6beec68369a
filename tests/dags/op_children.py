"""Parent/child extraction in one task (connection `jira_children`, the Jira emulator): projects, then each
project's issues with the project's key carried in; in a worker to XCom, in a worker to a file, and deferred to a
file (see tests/airflow/test_children.py)."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_authapi.operators import AuthApiOperator

OFFSET = {"type": "offset", "offset_param": "startAt", "limit_param": "maxResults", "total_path": "total"}
COMMON = {
    "authapi_conn_id": "jira_children",
    "endpoint": "/rest/api/3/project/search",
    "pagination": {**OFFSET, "limit": 2},
    "response_filter": "values",
    "retries": 0,
    "children": {
        "endpoint": "/rest/api/3/search",
        "query_params": {"jql": "project = {key} ORDER BY created", "fields": "{{ params.fields }}"},
        "pagination": {**OFFSET, "limit": 3},
        "response_filter": "issues",
        "include": {"project_key": "key"},
        "response_actions": {404: "empty"},
        "concurrency": 4,
    },
}


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False,
     params={"out": "", "fields": "summary,updated"})  # fmt: skip
def op_children():
    AuthApiOperator(task_id="in_xcom", **COMMON)
    AuthApiOperator(task_id="to_file", output_path="{{ params.out }}/to_file.jsonl", **COMMON)
    AuthApiOperator(task_id="deferred", output_path="{{ params.out }}/deferred.jsonl", deferrable=True, **COMMON)


op_children()
