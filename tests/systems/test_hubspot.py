"""HubSpot end to end: the example DAG pulls every contact through the CRM search API, in a worker and in the
triggerer, past the 10,000-results-per-query cap and within the search endpoints' 5 requests per second."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_authapi.hooks.authapi import reset_token_managers
from tests.conftest import run_dag
from tests.emulators.hubspot import HubSpotEmulator

SEARCH = "/crm/v3/objects/contacts/search"


@pytest.fixture
def hubspot() -> Iterator[HubSpotEmulator]:
    reset_token_managers()
    with HubSpotEmulator() as api:
        yield api
    reset_token_managers()


def test_emulator_checks_the_token_the_cap_and_the_rate(hubspot):
    bearer = {"Authorization": f"Bearer {hubspot.token}"}
    refused = httpx.post(f"{hubspot.url}{SEARCH}", json={})
    assert refused.status_code == 401 and refused.json()["category"] == "INVALID_AUTHENTICATION"
    first = httpx.post(f"{hubspot.url}{SEARCH}", json={"limit": 200}, headers=bearer).json()
    assert first["total"] == 10_500 and len(first["results"]) == 200 and first["paging"]["next"]["after"] == "200"
    past_cap = httpx.post(f"{hubspot.url}{SEARCH}", json={"limit": 200, "after": "9900"}, headers=bearer)
    assert past_cap.status_code == 400 and "maximum number of results" in past_cap.json()["message"]
    answers = [httpx.post(f"{hubspot.url}{SEARCH}", json={"limit": 1}, headers=bearer).status_code for _ in range(8)]
    assert 429 in answers and hubspot.rate_limited >= 1
    assert "X-HubSpot-RateLimit-Remaining" not in refused.headers  # search sends none


def test_hubspot_contacts_dag(airflow_db, hubspot, set_connection, tmp_path):
    set_connection("hubspot", **hubspot.airflow_connection())
    run = run_dag("hubspot_contacts", conf={"out_url": f"file://{tmp_path}"})
    assert run.state == "success", run.task_states()
    last_id = int(hubspot.contacts[-1]["id"])
    counted = run.xcom("count")
    assert counted == {
        "contacts.jsonl": {"records": 10_500, "last_id": last_id},
        "contacts-deferred.jsonl": {"records": 10_500, "last_id": last_id},
    }
    assert hubspot.over_cap == 0  # the split came before the cap, in the worker and in the triggerer
    assert hubspot.rate_limited == 0  # paced at 4 a second, under search's 5
    pages = hubspot.count("POST", SEARCH)
    assert pages == 2 * 53  # 10,500 / 200 = 52.5 pages each, one more for the split query's start: no repeats
    published = json.dumps([run.xcom("pull_contacts"), run.xcom("pull_contacts_deferred"), counted])
    assert hubspot.token not in published
