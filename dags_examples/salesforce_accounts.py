"""Salesforce: every Account of the org through the REST API's query (all pages), then a summary downstream.

Connection `salesforce` (type `authapi_oauth2`, profile `salesforce`, or `salesforce_sandbox` for a sandbox):
Client ID = the consumer key of your connected app (with "Use digital signatures" and the certificate you made
uploaded to it, and the integration user pre-authorized), `assertion_subject` = that user's user name, and
`assertion_private_key` = the certificate's private key (PEM; hidden like a password). Leave the API base URL
empty. The profile fills the JWT bearer grant, the token URL `https://login.salesforce.com/services/oauth2/token`,
the assertion's audience `https://login.salesforce.com`, a 180 s assertion lifetime (Salesforce wants `exp` within
3 minutes) and a 2 h token lifetime (the answer has no `expires_in`: match your org's session timeout).

The token response names the org's own host in `instance_url`; the hook stores it with the token and fills
`{instance_url}` in the endpoint with it. No refresh token is issued: a new signed assertion gets the next token.
Pages follow `nextRecordsUrl` until `done`; `Sforce-Query-Options: batchSize=200` asks for pages of 200 records.

Run it against the local emulator: `python -m tests.emulators salesforce --env-file conn.env` (see docs/systems/).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_authapi.api import JSONLinkPaginator
from airflow_provider_authapi.operators import AuthApiOperator

ACCOUNT_QUERY = "SELECT Id, Name, Industry, AnnualRevenue FROM Account ORDER BY Name"


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["authapi", "salesforce"],
)
def salesforce_accounts():
    accounts = AuthApiOperator(
        task_id="query_accounts",
        authapi_conn_id="salesforce",
        endpoint="{instance_url}/services/data/v60.0/query",
        query_params={"q": ACCOUNT_QUERY},
        headers={"Sforce-Query-Options": "batchSize=200"},
        pagination=JSONLinkPaginator(next_url_path="nextRecordsUrl"),  # relative, absent once done
        response_filter="records",
    )

    @task
    def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
        """What a downstream task does with the XCom: count the accounts, by industry, and their revenue."""
        return {
            "accounts": len(records),
            "distinct_ids": len({record["Id"] for record in records}),
            "by_industry": dict(sorted(Counter(record["Industry"] for record in records).items())),
            "annual_revenue": sum(record["AnnualRevenue"] or 0 for record in records),
        }

    summarize(accounts.output)


salesforce_accounts()
