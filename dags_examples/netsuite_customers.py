"""NetSuite: every customer of an account through SuiteTalk REST, by record list and by SuiteQL, then a summary.

Connection `netsuite` (type `authapi_netsuite`, NetSuite (token-based authentication); or `authapi_oauth1` with
profile `netsuite`): Account ID = the account's ID (`1234567`, or `1234567_SB1` for a sandbox), the realm of every
signature; login = the integration record's consumer key, password = its consumer secret; `token_id` and
`token_secret` = an access token of that integration record for a user and role (Setup > Users/Roles > Access
Tokens). An empty API base URL is the account's `https://1234567-sb1.suitetalk.api.netsuite.com`. The signing needs
`pip install 'airflow-provider-authapi[oauth1]'` (oauthlib) on the workers and the triggerer.

There is no token: every request carries its own OAuth 1.0a signature (HMAC-SHA256 over the method, the URL and its
query, with a fresh nonce and timestamp; NetSuite refuses HMAC-SHA1 since 2023.1 and a nonce used twice). Lists page
by `limit` and `offset` until `hasMore` is false (`has_more_path`). `list_customers` reads the record list (ids and
links) in a worker; `suiteql_customers` posts a SuiteQL query (`Prefer: transient`; the JSON body is not part of the
signature) in the triggerer, with a signature of its own for each page, to a JSON Lines file.

Run it against the local emulator: `bash scripts/demo.sh netsuite` (see docs/systems/).
"""

from __future__ import annotations

import json
from typing import Any

import pendulum
from airflow.sdk import ObjectStoragePath, dag, task

from airflow_provider_authapi.operators import AuthApiOperator

PAGES = {"type": "offset", "limit": 100, "total_path": "totalResults", "has_more_path": "hasMore"}
SUITEQL = "SELECT id, entityid, companyname, email, isinactive FROM customer ORDER BY id"


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"out_url": "file:///tmp/authapi-netsuite"},
    tags=["authapi", "netsuite"],
)
def netsuite_customers():
    listed = AuthApiOperator(
        task_id="list_customers",
        authapi_conn_id="netsuite",
        endpoint="/services/rest/record/v1/customer",
        pagination=PAGES,
        response_filter="items",
    )
    queried = AuthApiOperator(
        task_id="suiteql_customers",
        authapi_conn_id="netsuite",
        endpoint="/services/rest/query/v1/suiteql",
        method="POST",
        headers={"Prefer": "transient"},
        json={"q": SUITEQL},
        pagination={**PAGES, "limit": 1000},  # SuiteQL's most rows a page
        response_filter="items",
        output_path="{{ params.out_url }}/{{ ts_nodash }}/suiteql-customers.jsonl",  # JSON Lines, any size
        deferrable=True,
    )

    @task
    def summarize(records: list[dict[str, Any]], suiteql: dict[str, Any]) -> dict[str, Any]:
        """Downstream: the record list and the query's rows (read back from their file) agree on the customers;
        count the inactive ones."""
        with ObjectStoragePath(suiteql["path"]).open("r") as lines:
            rows = [json.loads(line) for line in lines]
        ids = [record["id"] for record in records]
        return {
            "customers": len(ids),
            "distinct_ids": len(set(ids)),
            "same_in_suiteql": ids == [row["id"] for row in rows],
            "inactive": sorted(row["entityid"] for row in rows if row["isinactive"] == "T"),
            "domains": len({row["email"].rpartition("@")[2] for row in rows if row.get("email")}),
        }

    summarize(listed.output, queried.output)


netsuite_customers()
