"""AuthApiOperator and AuthApiSensor in real `dag.test()` runs against the paged API emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import run_dag
from tests.emulators.paged_api import PagedApiEmulator

TOKEN = "op-test-bearer-token-0123456789"
IDS = list(range(1, 26))


@pytest.fixture
def paged_api(airflow_db, set_connection) -> Iterator[PagedApiEmulator]:
    with PagedApiEmulator(total=25, token=TOKEN) as api:
        set_connection(
            "paged_api", conn_type="authapi_bearer", host=api.url, password=TOKEN, extra={"realm_id": api.realm_id}
        )
        yield api


def test_every_pagination_style_filter_file_and_downstream_xcom(paged_api, tmp_path):
    result = run_dag("op_pagination", conf={"out_dir": str(tmp_path), "limit": 3})
    assert result.state == "success", result.task_states()
    summary = result.xcom("summarize")
    for style in ("json_link", "header_link", "offset", "page_number"):
        assert summary[style] == IDS, style
    assert summary["cursor"] == list(range(1, 21))  # max_pages=2
    assert summary["quickbooks"] == [str(i) for i in IDS]  # /v3/company/{realm_id}/query, realm from the connection
    assert summary["names"] == ["item-1", "item-2", "item-3"]  # templated limit, `items[*].name` filter
    assert summary["to_file"] == {"path": f"file://{tmp_path}/items.jsonl", "records": 25}
    assert summary["file_lines"] == 25
    assert [json.loads(line)["id"] for line in (tmp_path / "items.jsonl").read_text().splitlines()] == IDS
    assert result.xcom("offset") == [{"id": i, "name": f"item-{i}"} for i in IDS]
    # requests made: 3 pages each, 4 for QuickBooks' 10+10+5 (stops on the short page: 3), 2 for max_pages
    assert paged_api.count("GET", "/json-link") == 3
    assert paged_api.count("GET", "/cursor") == 2
    assert paged_api.count("GET", r"/v3/company/(?P<realm>[^/]+)/query") == 3
    assert paged_api.count("GET", "/offset") == 3 + 1 + 4  # offset task, names, to_file (7+7+7+4)


def test_retries_errors_and_sensor_modes(paged_api):
    result = run_dag("op_retry_sensor")
    states = result.task_states()
    assert states["bad_request"] == "failed"
    assert paged_api.hits["flaky:dag"] == 3  # failed twice, then succeeded
    assert paged_api.count("GET", r"/status/(?P<code>\d{3})") == 1  # a 400 is not retried
    assert {task: state for task, state in states.items() if task != "bad_request"} == {
        "flaky": "success",
        "rate_limited": "success",
        "poked": "success",
        "rescheduled": "success",
        "summarize": "success",
    }
    summary = result.xcom("summarize")
    assert summary["flaky_attempts"] == 3
    assert summary["rate_limited_waited"] >= 1.0  # Retry-After: 1 was honoured
    assert summary["poked"] == {"rows": 42}  # response_filter applied to the final body
    assert summary["rescheduled_status"] == "done"
    assert paged_api.hits["job:poked"] == 3 and paged_api.hits["job:rescheduled"] == 2


def test_deferrable_operator_and_sensor_run_in_the_trigger(paged_api, tmp_path, monkeypatch):
    from airflow_provider_authapi.triggers.authapi import AuthApiTrigger

    fired: list[dict] = []
    original_run = AuthApiTrigger.run

    async def spy_run(self):
        _, kwargs = self.serialize()
        async for event in original_run(self):
            fired.append({"kwargs": kwargs, "payload": event.payload})
            yield event

    monkeypatch.setattr(AuthApiTrigger, "run", spy_run)
    result = run_dag("op_deferrable", conf={"out_dir": str(tmp_path)})
    states = result.task_states()
    assert states.pop("forbidden") == "failed"
    assert set(states.values()) == {"success"}, states
    summary = result.xcom("summarize")
    assert summary["ids"] == IDS
    assert summary["to_file"] == {"path": f"file://{tmp_path}/deferred.jsonl", "records": 25}
    assert len((tmp_path / "deferred.jsonl").read_text().splitlines()) == 25
    assert summary["names"] == ["item-1", "item-2", "item-3"]  # a callable filter, imported in the trigger
    assert summary["job"] == {"rows": 42}
    assert paged_api.hits["job:deferred"] == 3  # one poke in the task, two in the trigger
    # every deferrable task went through the trigger; its kwargs hold the request spec, no secret
    by_path = {f["kwargs"]["request"]["url"]: f for f in fired}
    assert set(by_path) == {"/cursor", "/offset", "/status/403", "/jobs/deferred"}
    assert len(fired) == 5
    assert all(TOKEN not in json.dumps(f) for f in fired)
    assert by_path["/status/403"]["payload"]["status"] == "error"
    assert by_path["/status/403"]["payload"]["message"].startswith("GET /status/403 answered 403 Forbidden")
    assert by_path["/jobs/deferred"]["kwargs"]["response_check"].endswith(":job_done")
