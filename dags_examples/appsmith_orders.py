"""An "authenticated API" as Appsmith's datasource form describes one: pull every order, then total them.

Connection `appsmith_api` (type `authapi_apikey`):
- API key: the key; Key name `api_key`, Key location `query`, Key prefix `Api-Key` (sent as
  `?api_key=Api-Key <key>`);
- Extra headers `{"X-Tenant": "acme"}` and Extra query parameters `{"region": "eu"}` on every request;
- Signature header `X-APPSMITH-SIGNATURE` with a Signature secret of at least 32 characters: each request
  carries a fresh JWT signed HS256 with it, which the API verifies.

Run it against the local emulator: `python -m tests.emulators appsmith --env-file conn.env` (see docs/systems/).
"""

from __future__ import annotations

from collections import defaultdict

import pendulum
from airflow.sdk import dag, task

from airflow_provider_authapi.api import PageNumberPaginator
from airflow_provider_authapi.operators import AuthApiOperator


@dag(
    schedule="@hourly", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["authapi", "appsmith"]
)
def appsmith_orders():
    orders = AuthApiOperator(
        task_id="fetch_orders",
        authapi_conn_id="appsmith_api",
        endpoint="/api/v1/orders",
        pagination=PageNumberPaginator(page_size=20, page_size_param="page_size", total_pages_path="total_pages"),
        response_filter="data",
    )

    @task
    def revenue_by_status(rows: list[dict]) -> dict:
        """Downstream: the orders' amounts per status, and how many there were."""
        totals: dict[str, float] = defaultdict(float)
        for row in rows:
            totals[row["status"]] += row["amount"]
        return {"orders": len(rows), "amount_by_status": {k: round(v, 2) for k, v in sorted(totals.items())}}

    revenue_by_status(orders.output)


appsmith_orders()
