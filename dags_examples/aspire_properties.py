"""Aspire: pull every property (OData paging), then count them per branch downstream.

Connection `aspire` (type `authapi_token`, profile `aspire`): Login = your API Client ID and Password = its
Secret (Aspire: Administration > Application > API > New). The profile fills the login endpoint
(`POST /Authorization` with `{"ClientId", "Secret"}`), where the token and refresh token are in the answer
(`Token`, `RefreshToken`), the refresh endpoint (`POST /Authorization/RefreshToken`) and the base URL
`https://cloud-api.youraspire.com`. The token is a JWT: its `exp` (24 hours on) sets the cache's expiry, and
after that the refresh token buys a new one without logging in again.

Run it against the local emulator: `bash scripts/demo.sh aspire` (see docs/systems/).
"""

from __future__ import annotations

from collections import Counter

import pendulum
from airflow.sdk import dag, task

from airflow_provider_authapi.api import OffsetPaginator
from airflow_provider_authapi.operators import AuthApiOperator


@dag(schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["authapi", "aspire"])
def aspire_properties():
    properties = AuthApiOperator(
        task_id="fetch_properties",
        authapi_conn_id="aspire",
        endpoint="/Properties",
        pagination=OffsetPaginator(
            limit=25, offset_param="$skip", limit_param="$top", total_path=None, stop_after_short_page=True
        ),
    )

    @task
    def count_by_branch(rows: list[dict]) -> dict:
        """Downstream: active properties per branch."""
        active = Counter(row["BranchName"] for row in rows if row["PropertyStatusName"] == "Active")
        return {"properties": len(rows), "active_by_branch": dict(sorted(active.items()))}

    count_by_branch(properties.output)


aspire_properties()
