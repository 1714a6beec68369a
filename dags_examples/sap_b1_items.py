"""SAP Business One: pull every item through the Service Layer (OData paging), count them, summarise downstream.

Connection `sap_b1` (type `authapi_token`, profile `sap_b1`): API base URL = your Service Layer server
(`https://<server>:50000`), Login = an SAP Business One user name, Password = its password, and the company
database in *Extra login body fields*: `{"CompanyDB": "<company database>"}`. The profile fills the login endpoint
(`POST /b1s/v1/Login` with `{"CompanyDB", "UserName", "Password"}`), reads the session from the `B1SESSION`
cookie of the answer and sends it back as that cookie with `ROUTEID` (the load balancer's route), and takes the
session's life from `SessionTimeout` (minutes). One login serves every task of every run until the session is
about to time out; a session the server dropped earlier (idle too long, a restart) answers 401, and the hook
logs in again and replays the call once.

Run it against the local emulator: `bash scripts/demo.sh sap_b1` (see docs/systems/).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from airflow_provider_authapi.api import JSONLinkPaginator
from airflow_provider_authapi.operators import AuthApiOperator


@dag(schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["authapi", "sap_b1"])
def sap_b1_items():
    items = AuthApiOperator(
        task_id="fetch_items",
        authapi_conn_id="sap_b1",
        endpoint="/b1s/v1/Items",
        query_params={"$select": "ItemCode,ItemName,QuantityOnStock,Valid"},
        headers={"Prefer": "odata.maxpagesize=20"},  # records a page (the Service Layer's default is 20)
        response_filter="value",
        # "odata.nextLink": "Items?$select=...&$skip=20", relative to the service root; the key has a dot in it.
        pagination=JSONLinkPaginator(next_url_path='["odata.nextLink"]'),
    )
    count = AuthApiOperator(task_id="count_items", authapi_conn_id="sap_b1", endpoint="/b1s/v1/Items/$count")

    @task
    def summarize(rows: list[dict], total: int) -> dict:
        """Downstream: check the pages add up, count the valid items and the stock."""
        if len(rows) != total:
            raise ValueError(f"fetched {len(rows)} items but the Service Layer counts {total}")
        return {
            "items": len(rows),
            "valid": sum(row["Valid"] == "tYes" for row in rows),
            "on_stock": sum(row["QuantityOnStock"] for row in rows),
        }

    summarize(items.output, count.output)


sap_b1_items()
