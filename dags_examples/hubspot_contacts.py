"""HubSpot: every contact through the CRM search API, past its 10,000-results-per-query cap, then count them.

Connection `hubspot` (type `authapi_bearer`, Bearer token API): API base URL `https://api.hubapi.com`, Token your
private app's access token (HubSpot: Settings > Integrations > Private apps, scope `crm.objects.contacts.read`).

The search API pages through its POST body (`after`, from `paging.next.after`) and answers at most 10,000 results
per query. Sorted by `hs_object_id` with a filter `hs_object_id GT <bound>`, `sort_key_split` starts the query
again from the last id before the cap. Search allows 5 requests per second per token: the pull paces itself at 4.
`pull_contacts` runs in a worker, `pull_contacts_deferred` the same pull in the triggerer; both stream to JSON
Lines files, and `count` reads them back.

Run it against the local emulator: `bash scripts/demo.sh hubspot` (see docs/systems/).
"""

from __future__ import annotations

import json

import pendulum
from airflow.sdk import ObjectStoragePath, dag, task

from airflow_provider_authapi.operators import AuthApiOperator

SEARCH = {
    "filterGroups": [{"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": "0"}]}],
    "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
    "properties": ["email", "firstname", "createdate"],
    "limit": 200,
}
# [START pagination]
PAGES = {
    "type": "sort_key_split",
    "cap": 10_000,  # HubSpot's results per query
    "sort_key_path": "id",
    "bound_param": "body:filterGroups[0].filters[0].value",
    "paginator": {"type": "cursor", "cursor_path": "paging.next.after", "cursor_param": "body:after"},
}
# [END pagination]


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"out_url": "file:///tmp/authapi-hubspot"},
    tags=["authapi", "hubspot"],
)
def hubspot_contacts():
    common = {
        "authapi_conn_id": "hubspot",
        "endpoint": "/crm/v3/objects/contacts/search",
        "method": "POST",
        "json": SEARCH,
        "response_filter": "results",
        "pagination": PAGES,
        "max_requests_per_second": 4,
    }
    sync = AuthApiOperator(
        task_id="pull_contacts", output_path="{{ params.out_url }}/{{ ts_nodash }}/contacts.jsonl", **common
    )
    deferred = AuthApiOperator(
        task_id="pull_contacts_deferred",
        output_path="{{ params.out_url }}/{{ ts_nodash }}/contacts-deferred.jsonl",
        deferrable=True,
        **common,
    )

    @task
    def count(*summaries: dict) -> dict:
        """Read each file back: every contact once, in id order."""
        counted = {}
        for summary in summaries:
            with ObjectStoragePath(summary["path"]).open("r") as lines:
                ids = [int(json.loads(line)["id"]) for line in lines]
            assert ids == sorted(set(ids)), f"{summary['path']}: ids repeated or out of order"
            counted[summary["path"].rsplit("/", 1)[-1]] = {"records": len(ids), "last_id": ids[-1] if ids else None}
        return counted

    count(sync.output, deferred.output)


hubspot_contacts()
