"""The trigger holds its event until `MIN_SECONDS_AFTER_DEFERRAL` after the deferral (issue 21, item 7: an Airflow
race fails a deferred task whose trigger fires within about a second), never longer than that minimum whatever the
clocks say, and not at all under `dag.test()`, which has no executor and so no race. The proof under load is the
deployment test `test_deferred_operators_resume_under_load`; these run in seconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from airflow_provider_authapi.api.pagination import OffsetPaginator
from airflow_provider_authapi.hooks.authapi import ApiCall
from airflow_provider_authapi.triggers import authapi as trigger_module
from airflow_provider_authapi.triggers.authapi import MIN_SECONDS_AFTER_DEFERRAL, AuthApiTrigger, resume_not_before
from tests.deployment.harness import DEPLOYMENT_DAGS
from tests.emulators.paged_api import PagedApiEmulator
from tests.emulators.strict_oauth2 import StrictOAuth2Server, item_id

TOKEN = "deferral-hold-bearer-token-0123456789"


def trigger(not_before: float | None) -> AuthApiTrigger:
    call = ApiCall("hold_api", "/offset", pagination=OffsetPaginator(limit=10), response_filter="items")
    return AuthApiTrigger(**call.to_dict(), not_before=not_before)


@pytest.fixture
def paged(airflow_db, set_connection) -> Iterator[PagedApiEmulator]:
    with PagedApiEmulator(total=3, token=TOKEN) as api:
        set_connection("hold_api", conn_type="authapi_bearer", host=api.url, password=TOKEN)
        yield api


def test_the_hold_lasts_until_not_before_and_never_more_than_the_minimum() -> None:
    now = 1_000_000.0
    assert trigger(None).hold_seconds(now) == 0.0  # a trigger serialized by an earlier provider version
    assert trigger(now - 5).hold_seconds(now) == 0.0  # the triggerer picked it up late: nothing left to hold
    assert trigger(now + 4.5).hold_seconds(now) == 4.5
    # a worker clock far ahead of the triggerer's never holds an event for longer than the minimum
    assert trigger(now + 3600).hold_seconds(now) == MIN_SECONDS_AFTER_DEFERRAL
    assert trigger(now + 7).serialize()[1]["not_before"] == now + 7  # survives a triggerer restart
    assert 10 <= MIN_SECONDS_AFTER_DEFERRAL <= 15


def test_a_deferral_in_a_worker_is_held_for_the_minimum(monkeypatch) -> None:
    before = time.time()
    not_before = resume_not_before()
    assert not_before is not None and before + MIN_SECONDS_AFTER_DEFERRAL <= not_before <= time.time() + 15
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.supervisor import InProcessSupervisorComms

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", object.__new__(InProcessSupervisorComms), raising=False)
    assert resume_not_before() is None  # dag.test(): the trigger runs in the task's own process


def test_a_ready_event_waits_for_not_before(paged, monkeypatch) -> None:
    """A real trigger run: the event (every record) comes once `not_before` has passed, not before."""
    monkeypatch.setattr(trigger_module, "MIN_SECONDS_AFTER_DEFERRAL", 3.0)
    started = time.time()

    async def first() -> object:
        async for event in trigger(started + 2.0).run():
            return event

    event = asyncio.run(first())
    assert event.payload["status"] == "success" and [r["id"] for r in event.payload["result"]] == [1, 2, 3]
    assert time.time() >= started + 2.0  # a lower bound only: the hold slept until then


@pytest.mark.slow
def test_dag_test_defers_with_no_hold(airflow_db, set_connection, monkeypatch) -> None:
    """Under dag.test() every AuthApiTrigger the operator builds has no `not_before`, and the task still resumes
    with its page (the deployment DAG of the load test, one deferred task)."""
    from tests.conftest import run_dag

    link = airflow_db / "dags" / "deferred_burst.py"
    if not link.exists():
        link.symlink_to(DEPLOYMENT_DAGS / "deferred_burst.py")
    built: list[float | None] = []
    original = AuthApiTrigger.__init__

    def spy(self, **kwargs) -> None:
        built.append(kwargs.get("not_before"))
        original(self, **kwargs)

    monkeypatch.setattr(AuthApiTrigger, "__init__", spy)
    with StrictOAuth2Server(access_lifetime=60) as server:
        extra = {"login_url": "/token", "grant_type": "client_credentials"}
        set_connection("hold_dag_test", conn_type="authapi_oauth2", host=server.url, login=server.client_id,
                       password=server.client_secret, extra=extra)  # fmt: skip
        result = run_dag("deferred_burst", {"conn_id": "hold_dag_test", "busy_tasks": 0, "deferred_tasks": 1})
        assert result.state == "success", result.task_states()
        for task_id in ("quick_deferred_1", "quick_deferred_2", "quick_deferred_3"):
            assert result.xcom(task_id, map_index=0) == [item_id(f"{result.run_id}/{task_id}/0", 1)]
    assert built and all(value is None for value in built), built
