"""Keep idle refresh tokens alive: refresh every OAuth 2.0 connection whose refresh token expires soon.

When to use it: some APIs kill a refresh token that goes unused for a while (QuickBooks Online after 100 days,
many others after 30 to 90), and then only a person's new consent brings the connection back. A connection that
a rarely run pipeline uses (a quarterly report, a yearly export) is at risk. This DAG runs daily and refreshes
the stored token of each `authapi_oauth2` connection whose refresh token expires within `expiring_within`
(default 30 days), so the API hands out a new refresh token with a new lifetime. Connections used every day
need nothing: each task's refresh already does the same.

Only refresh tokens whose expiry the API told (`x_refresh_token_expires_in`, `refresh_token_expires_in` or
`refresh_expires_in` in its token response; the token page and `airflow authapi token status` show it) are
candidates. For an API that never says, set the param `expiring_within` to an empty string to refresh every stored
refresh token (about once a month is enough for most); `conn_ids` limits the run to those connections. The
refresh goes through the connection's token manager, as in any task, so a refresh token is never presented twice
even while other tasks use the connection.

The task fails when a connection could not be refreshed (its log says which and why, never a secret):
that connection needs attention (a new consent at Admin > API tokens, or a fixed connection) before its refresh
token dies. The same from a terminal or cron: `airflow authapi token refresh --all --expiring-within 30d`.
"""

from __future__ import annotations

import logging
from typing import Any

import pendulum
from airflow.sdk import dag, get_current_context, task

log = logging.getLogger(__name__)


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"expiring_within": "30d", "conn_ids": []},
    tags=["authapi", "maintenance"],
)
def authapi_keep_warm():
    @task
    def refresh_expiring_tokens() -> list[dict[str, Any]]:
        """Refresh each OAuth 2.0 connection whose refresh token expires within `expiring_within`."""
        from airflow.exceptions import AirflowException

        from airflow_provider_authapi.maintenance import keep_warm, parse_duration

        params = get_current_context()["params"]
        within_text = params.get("expiring_within") or ""
        within = parse_duration(within_text) if within_text.strip() else None
        conn_ids = params.get("conn_ids") or None  # empty: every connection with a stored token
        results = keep_warm(conn_ids, within=within, conn_types=("authapi_oauth2",))
        for result in results:
            log.info("%s", result)
        failed = [result.conn_id for result in results if result.outcome == "failed"]
        if failed:
            raise AirflowException(f"could not refresh the token of {', '.join(failed)} (see the log above)")
        return [result.as_dict() for result in results]

    refresh_expiring_tokens()


authapi_keep_warm()
