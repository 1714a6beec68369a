"""AuthApiOperator and AuthApiSensor in real `dag.test()` runs against the paged API emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from airflow_provider_authapi.hooks.authapi import reset_token_managers
from tests.conftest import run_dag
from tests.emulators.base import Handler, Request, Response
from tests.emulators.oauth2_server import OAuth2Server
from tests.emulators.paged_api import PagedApiEmulator
from tests.stored_tokens import stored_token

TOKEN = "op-test-bearer-token-0123456789"
IDS = list(range(1, 26))


@pytest.fixture
def paged_api(airflow_db, set_connection) -> Iterator[PagedApiEmulator]:
    with PagedApiEmulator(total=25, token=TOKEN) as api:
        set_connection(
            "paged_api", conn_type="authapi_bearer", host=api.url, password=TOKEN, extra={"realm_id": api.realm_id}
        )
        yield api


class OAuthPagedApi(PagedApiEmulator):
    """The paged API accepting only live access tokens issued by `oauth`."""

    def __init__(self, oauth: OAuth2Server, **kwargs) -> None:
        self.oauth = oauth
        super().__init__(**kwargs)

    def _guarded(self, handler: Handler) -> Handler:
        def guarded(request: Request) -> Response:
            if self.oauth.access.check(request.bearer()) is None:
                return Response.json({"error": "invalid_token"}, status=401)
            return handler(request)

        return guarded


@pytest.fixture
def oauth_paged_api(airflow_db, set_connection) -> Iterator[tuple[OAuthPagedApi, OAuth2Server]]:
    reset_token_managers()
    with OAuth2Server() as oauth, OAuthPagedApi(oauth, total=25) as api:
        set_connection(
            "paged_oauth",
            conn_type="authapi_oauth2",
            host=api.url,
            login=oauth.client_id,
            password=oauth.client_secret,
            extra={"login_url": f"{oauth.url}/token", "grant_type": "client_credentials", "scopes": "read"},
        )
        yield api, oauth
    reset_token_managers()


def stored_text(result) -> dict[str, str]:
    """Every XCom value and every rendered template field of the run, as JSON text per task."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as Rendered
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    where = {"dag_id": result.dag_id, "run_id": result.run_id}
    with create_session() as session:
        xcoms = session.execute(select(XComModel.task_id, XComModel.value).filter_by(**where)).all()
        rendered = session.execute(select(Rendered.task_id, Rendered.rendered_fields).filter_by(**where)).all()
    return {
        **{f"xcom:{task}": json.dumps(value) for task, value in xcoms},
        **{f"rendered:{task}": json.dumps(fields) for task, fields in rendered},
    }


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
    # XCom holds parsed JSON only, and neither XCom nor rendered template fields hold the token
    stored = stored_text(result)
    assert json.loads(stored["rendered:names"])["headers"] == {"X-Run": result.run_id}
    assert json.loads(stored["rendered:names"])["query_params"] == {"limit": "3"}
    assert len([key for key in stored if key.startswith("xcom:")]) == 9
    assert not [key for key, text in stored.items() if TOKEN in text]


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


def test_deferrable_operator_and_sensor_run_in_the_trigger_with_the_shared_token_store(
    oauth_paged_api, tmp_path, monkeypatch
):
    from airflow_provider_authapi.triggers.authapi import AuthApiTrigger

    api, oauth = oauth_paged_api
    fired: list[dict] = []
    original_run = AuthApiTrigger.run

    async def spy_run(self):
        # a triggerer is another process: no token in memory, only what the Variable store holds
        reset_token_managers()
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
    assert api.hits["job:deferred"] == 3  # one poke in the task, two in the trigger
    # every deferrable task went through the trigger; its kwargs hold the request spec, no secret
    by_path = {f["kwargs"]["request"]["url"]: f for f in fired}
    assert set(by_path) == {"/cursor", "/offset", "/status/403", "/jobs/deferred"}
    assert len(fired) == 5
    # one token for the whole run: five triggers, each starting with an empty memory, read it from the store
    assert oauth.token_requests == 1
    live = stored_token("paged_oauth")["access_token"]
    assert oauth.access.check(live) is not None
    for secret in (live, oauth.client_secret):
        assert all(secret not in json.dumps(f) for f in fired)
        assert not [key for key, text in stored_text(result).items() if secret in text]
    forbidden = by_path["/status/403"]["payload"]
    assert forbidden["status"] == "error"
    assert forbidden["message"].startswith("GET /status/403 answered 403 Forbidden")
    assert '"you_sent": "Bearer ***"' in forbidden["message"]  # the echoed Authorization header is scrubbed
    assert by_path["/jobs/deferred"]["kwargs"]["response_check"].endswith(":job_done")


def test_hostile_pages_fail_the_task_unless_empty_pages_are_allowed(airflow_db, set_connection):
    from tests.emulators.hostile import HostileApi

    with HostileApi() as api:
        # timeout 0.5 s: a deadline of 2 s per attempt, where the trickled headers (about 130 bytes at 0.25 s each)
        # would take over 30 s an attempt. A task takes 3-5 s on an idle machine and took 17 s in a loaded CI run:
        # the 25 s bound leaves that room and still fails a task that waits out even one trickled attempt
        set_connection("hostile_api", conn_type="authapi_bearer", host=api.url, password=TOKEN, extra={"timeout": 0.5})
        result = run_dag("op_hostile")
    states = result.task_states()
    assert states["wrong_key"] == "failed" and states["error_200"] == "failed"
    for task_id in ("trickle_headers", "trickle_headers_deferred"):
        assert states[task_id] == "failed" and result.task_seconds(task_id) < 25, task_id
    assert states["wrong_key_allowed"] == "success" and result.xcom("wrong_key_allowed") == []
    assert states["wrong_key_allowed_deferred"] == "success" and result.xcom("wrong_key_allowed_deferred") == []
    assert not [key for key, text in stored_text(result).items() if TOKEN in text]


def test_concurrent_pages_in_the_worker_to_a_file_and_in_the_triggerer(paged_api, tmp_path):
    result = run_dag("op_concurrency", conf={"out_dir": str(tmp_path)})
    assert result.state == "success", result.task_states()
    expected = [{"id": i, "name": f"item-{i}"} for i in IDS]
    assert result.xcom("in_worker") == expected and result.xcom("deferred") == expected
    assert result.xcom("to_file") == {"path": f"file://{tmp_path}/concurrent.jsonl", "records": 25}
    assert [json.loads(line)["id"] for line in (tmp_path / "concurrent.jsonl").read_text().splitlines()] == IDS
    assert [record["id"] for record in result.xcom("skip_409")] == [i for i in IDS if not 11 <= i <= 15]
    assert paged_api.count("GET", "/offset") == 4 * 5  # 5 pages each, as many as the total says, no more
