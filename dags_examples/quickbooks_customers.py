"""QuickBooks Online: every customer of the company (all pages of the query API), then a summary downstream.

Connection `quickbooks` (type `authapi_oauth2`, profile `quickbooks_sandbox` or `quickbooks_production`): your
app's Client ID and Client secret from developer.intuit.com (Keys & credentials), and the app's Redirect URI,
which must also be registered there. The profile fills Intuit's authorization and token URLs, the scope
`com.intuit.quickbooks.accounting`, Basic client authentication, `Accept: application/json`, `minorversion=75`
and the sandbox or production base URL.

QuickBooks needs a person to consent once: open Admin > API authorizations in the Airflow UI and click
Authorize next to `quickbooks` (or run `airflow authapi authorize quickbooks` on a headless setup). The company
id (`realmId`) that Intuit sends back is stored with the tokens and fills `{realm_id}` in the endpoint; you may
also type it in the connection's `realm_id` field. From then on refreshes are automatic: Intuit rotates the
refresh token on every refresh, and the hook saves each new one before using it.

The query asks for inactive customers too (QuickBooks hides them by default). The `quickbooks` paginator
rewrites `STARTPOSITION`/`MAXRESULTS` page by page and stops when a page comes back short; the `page_size`
param (at most 1000) sets MAXRESULTS.

Run it against the local emulator: `python -m tests.emulators quickbooks --env-file conn.env` (see docs/systems/).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_authapi.operators import AuthApiOperator

CUSTOMER_QUERY = (
    "select * from Customer where Active in (true, false) STARTPOSITION 1 MAXRESULTS {{ params.page_size }}"
)


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"page_size": 1000},
    tags=["authapi", "quickbooks"],
)
def quickbooks_customers():
    # [START customers]
    customers = AuthApiOperator(
        task_id="list_customers",
        authapi_conn_id="quickbooks",
        endpoint="/v3/company/{realm_id}/query",  # {realm_id}: from the consent callback
        query_params={"query": CUSTOMER_QUERY},
        pagination="quickbooks",  # STARTPOSITION / MAXRESULTS rewritten per page
        response_filter="QueryResponse.Customer",  # each page's records
    )
    # [END customers]

    @task
    def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
        """What a downstream task does with the XCom: count, open balance, active customers, top debtors."""
        active = [customer for customer in records if customer.get("Active")]
        by_balance = sorted(records, key=lambda customer: customer.get("Balance", 0), reverse=True)
        return {
            "customers": len(records),
            "active": len(active),
            "inactive": len(records) - len(active),
            "total_balance": round(sum(customer.get("Balance", 0) for customer in records), 2),
            "top_balances": [{c["DisplayName"]: c.get("Balance", 0)} for c in by_balance[:3]],
            "distinct_ids": len({customer["Id"] for customer in records}),
        }

    summarize(customers.output)


quickbooks_customers()
