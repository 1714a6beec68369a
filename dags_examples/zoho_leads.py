"""Zoho CRM: every lead of the org in the user's own data centre, wherever that is, then a summary downstream.

Connection `zoho` (type `authapi_zoho`, Zoho CRM (any data centre)): the Client ID and Client secret of a
server-based client (api-console.zoho.com) with Multi-DC on, and its Authorized Redirect URI, this Airflow's
`<base URL>/oauth-consent/callback`. Leave the API base URL empty. Then Authorize it on Admin > API tokens (or
`airflow authapi authorize zoho`).

The consent starts at accounts.zoho.com for every user. Its callback names the user's data centre
(`location=eu&accounts-server=https://accounts.zoho.eu`): the code exchange and every refresh go to that accounts
server (`login_url` `{accounts_server}/oauth/v2/token`), and its token answer's `api_domain`
(`https://www.zohoapis.eu`) is the API base URL (`{api_domain}`). Both are kept with the token, shown on Admin >
API tokens, and trusted only within Zoho's origins (the profile's `allowed_origins`). Calls carry
`Authorization: Zoho-oauthtoken <token>`.

Leads come 200 a page (`page`, `per_page`) until `info.more_records` is false; CRM API v8 wants the `fields`
named. `data_centre` shows where the run went.

Run it against the local emulator (two data centres): `bash scripts/demo.sh zoho` (see docs/systems/).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_authapi.api import PageNumberPaginator
from airflow_provider_authapi.hooks.authapi import AuthApiHook
from airflow_provider_authapi.operators import AuthApiOperator

FIELDS = "Last_Name,Company,Email"


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["authapi", "zoho"],
)
def zoho_leads():
    # [START leads]
    leads = AuthApiOperator(
        task_id="list_leads",
        authapi_conn_id="zoho",
        endpoint="/crm/v8/Leads",  # under {api_domain}, the API base URL the token answer named
        query_params={"fields": FIELDS},
        pagination=PageNumberPaginator(page_size=200, page_size_param="per_page", has_more_path="info.more_records"),
        response_filter="data",
    )
    # [END leads]

    @task
    def data_centre() -> dict[str, str]:
        """The values the consent and the token answer gave, as kept with the token (none of them a secret)."""
        values = AuthApiHook("zoho").derived_values()
        return {name: values[name] for name in ("location", "api_domain") if name in values}

    @task
    def summarize(records: list[dict[str, Any]], where: dict[str, str]) -> dict[str, Any]:
        """What a downstream task does with the XCom: count the leads, by company."""
        return {
            "leads": len(records),
            "distinct_ids": len({record["id"] for record in records}),
            "top_companies": dict(Counter(record["Company"] for record in records).most_common(3)),
            "data_centre": where.get("location"),
        }

    summarize(leads.output, data_centre())


zoho_leads()
