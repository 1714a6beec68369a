"""After a browser consent: a task calls the API with the stored tokens (conf: conn_id, endpoint template)."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def consent_uses_tokens():
    @task
    def call_api() -> dict:
        from airflow_provider_authapi.hooks.authapi import AuthApiHook

        conf = get_current_context()["dag_run"].conf or {}
        hook = AuthApiHook(conf.get("conn_id", "authapi_default"))
        values = hook.endpoint_vars()
        endpoint = conf.get("endpoint", "/").format(**values)
        response = hook.request("GET", endpoint)
        return {
            "status": response.status_code,
            "endpoint": endpoint,
            "realm_id": values.get("realm_id"),
            "token_requests": hook.token_manager.token_requests,
        }

    call_api()


consent_uses_tokens()
