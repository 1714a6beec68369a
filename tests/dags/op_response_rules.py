"""AuthApiOperator with `response_actions` rules, in the worker and deferred to the triggerer (connection
`rules_oauth`, OAuth 2.0 client credentials, on `tests.emulators.rules_api.RulesApi`; see
tests/airflow/test_response_rules.py): a 200 saying "rate limited" retried, a 200 saying the token expired
refreshing it, a 200 that is a refusal failing the task."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_authapi.operators import AuthApiOperator


def rate_limited(response) -> bool:
    """A predicate the triggerer imports by path."""
    return "rate limited" in response.text


RETRY = {"attempts": 3, "backoff": 0.01, "max_backoff": 0.02}
REFRESH = {"path": "error.code", "value": "TOKEN_EXPIRED", "action": "refresh"}


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def op_response_rules():
    common = {"authapi_conn_id": "rules_oauth", "request_retry": RETRY, "retries": 0}
    for deferrable, suffix in ((False, "sync"), (True, "deferred")):
        AuthApiOperator(
            task_id=f"retry_{suffix}",
            endpoint=f"/scripted/limited_{suffix}",
            response_filter="items",
            response_actions=[{"status": 200, "predicate": f"{__name__}.rate_limited", "action": "retry"}],
            deferrable=deferrable,
            **common,
        )
        AuthApiOperator(
            task_id=f"refresh_{suffix}",
            endpoint=f"/expiring/{suffix}",
            response_filter="items[*].id",
            response_actions=[{"status": 404, "action": "empty"}, REFRESH],
            deferrable=deferrable,
            **common,
        )
        AuthApiOperator(
            task_id=f"fail_{suffix}",
            endpoint=f"/scripted/denied_{suffix}",
            response_actions=[{"path": "status", "value": "denied", "action": "fail"}],
            deferrable=deferrable,
            **common,
        )


op_response_rules()
