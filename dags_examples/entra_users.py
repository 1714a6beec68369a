"""Microsoft Graph: list every user of the tenant as an app with a certificate, then a summary downstream.

Connection `entra` (type `authapi_oauth2`, profile `entra_id`): Client ID = the app registration's Application
(client) ID, `tenant_id` = the Directory (tenant) ID, `assertion_private_key` = the private key of the
certificate uploaded to the app (Certificates & secrets; PEM, hidden like a password) and `assertion_cert_pem` =
that certificate. Grant the app the `User.Read.All` application permission, with admin consent. The profile fills
client credentials with a signed client assertion (`private_key_jwt`, the certificate's SHA-256 thumbprint in its
`x5t#S256` header), the token URL `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`, the scope
`https://graph.microsoft.com/.default` and the base URL `https://graph.microsoft.com`. No client secret.

Graph pages with `@odata.nextLink` (absolute, with a `$skiptoken`) until the last page; `$top` sets the page size.

Run it against the local emulator: `python -m tests.emulators entra_id --env-file conn.env` (see docs/systems/).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_authapi.api import JSONLinkPaginator
from airflow_provider_authapi.operators import AuthApiOperator


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"page_size": 10},
    tags=["authapi", "entra_id"],
)
def entra_users():
    users = AuthApiOperator(
        task_id="list_users",
        authapi_conn_id="entra",
        endpoint="/v1.0/users",
        query_params={"$select": "id,displayName,mail,jobTitle,accountEnabled", "$top": "{{ params.page_size }}"},
        response_filter="value",
        # "@odata.nextLink": the next page's absolute URL; the key has a dot in it, so the path quotes it.
        pagination=JSONLinkPaginator(next_url_path='["@odata.nextLink"]'),
    )

    @task
    def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
        """Downstream: count the users, the disabled accounts and the job titles."""
        return {
            "users": len(records),
            "distinct_ids": len({user["id"] for user in records}),
            "disabled": sorted(user["displayName"] for user in records if not user["accountEnabled"]),
            "job_titles": dict(sorted(Counter(user["jobTitle"] for user in records).items())),
        }

    summarize(users.output)


entra_users()
