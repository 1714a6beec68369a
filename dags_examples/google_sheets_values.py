"""Google Sheets: read the rows of a spreadsheet range as a service account, then total them downstream.

Connection `google_sheets` (type `authapi_oauth2`, profile `google_service_account`): API base URL
`https://sheets.googleapis.com`, `scopes` = `https://www.googleapis.com/auth/spreadsheets.readonly`, and
`service_account_json` = the service account's JSON key file (IAM & Admin > Service accounts > Keys > Add key >
JSON), pasted whole (hidden like a password). Share the spreadsheet with the service account's e-mail. The
profile sets the JWT bearer grant with the scopes in the assertion's `scope` claim; the key file gives the token
URL and audience (`token_uri`), the issuer (`client_email`), the signing key (`private_key`) and its `kid`
(`private_key_id`). Tokens live an hour; no refresh token: a new signed assertion gets the next one.

The params name the spreadsheet and the A1 range; the first row of the range is the header.

Run it against the local emulator: `python -m tests.emulators google --env-file conn.env` (see docs/systems/).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_authapi.operators import AuthApiOperator


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"spreadsheet_id": "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms", "range": "Orders!A1:D"},
    tags=["authapi", "google"],
)
def google_sheets_values():
    rows = AuthApiOperator(
        task_id="read_orders",
        authapi_conn_id="google_sheets",
        endpoint="/v4/spreadsheets/{{ params.spreadsheet_id }}/values/{{ params.range }}",
        query_params={"valueRenderOption": "UNFORMATTED_VALUE"},  # numbers as numbers, not formatted text
        response_filter="values",
    )

    @task
    def summarize(values: list[list[Any]]) -> dict[str, Any]:
        """Downstream: the header row names the columns; count the orders and total them by status."""
        header, *body = values
        orders = [dict(zip(header, row, strict=False)) for row in body]
        totals: dict[str, float] = {}
        for order in orders:
            totals[order["Status"]] = round(totals.get(order["Status"], 0) + order["Amount"], 2)
        return {"orders": len(orders), "columns": header, "amount_by_status": dict(sorted(totals.items()))}

    summarize(rows.output)


google_sheets_values()
