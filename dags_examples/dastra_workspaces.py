"""Dastra: list the workspaces of your organisation, then summarise them downstream.

Connection `dastra` (type `authapi_oauth2`, profile `dastra`): your API key pair from Dastra
(Integrations > API keys), public key as Client ID and private key as Client secret. The profile fills the
token URL (`https://account.dastra.eu/connect/token`), Basic client authentication, scope `api1`, the base URL
`https://api.dastra.eu` and caps the token's life at 300 s: Dastra's tokens die after 5 minutes whatever
`expires_in` says. The first task fetches a token and caches it in an Airflow Variable; every task on every
worker reuses it until it nears expiry.

Run it against the local emulator: `bash scripts/demo.sh` (see docs/systems/).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from airflow_provider_authapi.operators import AuthApiOperator


@dag(schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["authapi", "dastra"])
def dastra_workspaces():
    workspaces = AuthApiOperator(
        task_id="list_workspaces",
        authapi_conn_id="dastra",
        endpoint="/v1/workspaces",
        response_check=lambda body: body["total"] == len(body["items"]),
        response_filter="items",
    )

    @task
    def summarize(items: list[dict]) -> dict:
        """What a downstream task does with the XCom: count them and find the default workspace."""
        default = next((w["label"] for w in items if w.get("isDefault")), None)
        return {"workspaces": len(items), "default": default, "labels": sorted(w["label"] for w in items)}

    summarize(workspaces.output)


dastra_workspaces()
