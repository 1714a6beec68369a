"""Three tasks, each starting like a fresh worker process, call an API through one connection.

Only the token store (an Airflow Variable, through the Task SDK) is shared between them: each task empties
the process-wide token managers first. `conn_id` comes from the run's conf.
"""

from __future__ import annotations

import logging

import pendulum
from airflow.sdk import dag, get_current_context, task

log = logging.getLogger(__name__)


@task
def call_api() -> dict:
    from airflow_provider_authapi.hooks.authapi import AuthApiHook, reset_token_managers

    reset_token_managers()  # as in a new task process: nothing in memory
    hook = AuthApiHook(get_current_context()["dag_run"].conf["conn_id"])
    response = hook.request("GET", "/api/whoami")
    response.raise_for_status()
    token = hook.get_token()
    log.info("Called the API with access token %s and refresh token %s", token.access_token, token.refresh_token)
    return {"subject": response.json()["subject"], "token_requests": hook.token_manager.token_requests}


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def token_cache_shared():
    @task
    def summarize(results: list[dict]) -> dict:
        return {
            "subjects": sorted({r["subject"] for r in results}),
            "token_requests": [r["token_requests"] for r in results],
        }

    first, second, third = (call_api.override(task_id=f"call_{n}")() for n in range(3))
    first >> second >> third
    summarize([first, second, third])


token_cache_shared()
