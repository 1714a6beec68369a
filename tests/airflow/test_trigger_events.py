"""What the trigger's event carries and what the triggerer logs of it: sizes, never the records; a result too big
for an event fails with a pointer to output_path; the operator warns about it when the task is defined."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from airflow_provider_authapi.api.pagination import OffsetPaginator
from airflow_provider_authapi.hooks.authapi import ApiCall
from airflow_provider_authapi.triggers import authapi as trigger_module
from airflow_provider_authapi.triggers.authapi import AuthApiTrigger
from tests.emulators.paged_api import PagedApiEmulator

TOKEN = "trigger-event-bearer-token-0123456789"


@pytest.fixture
def paged(airflow_db, set_connection) -> Iterator[PagedApiEmulator]:
    with PagedApiEmulator(total=25, token=TOKEN) as api:
        set_connection("events_api", conn_type="authapi_bearer", host=api.url, password=TOKEN)
        yield api


def fire(**call) -> object:
    kwargs = ApiCall("events_api", "/offset", pagination=OffsetPaginator(limit=10), response_filter="items", **call)
    trigger = AuthApiTrigger(**kwargs.to_dict())

    async def first():
        async for event in trigger.run():
            return event

    return asyncio.run(first())


def test_the_logged_event_names_the_result_size_not_its_records(paged):
    event = fire()
    assert event.payload["status"] == "success" and len(event.payload["result"]) == 25
    shown = repr(event)  # what the triggerer's "Trigger fired event" line prints
    assert "item-1" not in shown and "'records': 25" in shown and "<25 records," in shown


def test_a_result_too_big_for_an_event_fails_and_points_to_output_path(paged, monkeypatch):
    monkeypatch.setattr(trigger_module, "MAX_EVENT_BYTES", 500)
    event = fire()
    assert event.payload["status"] == "error"
    assert "more than the 500 a trigger event carries" in event.payload["message"]
    assert "give the task an output_path" in event.payload["message"]
    assert "item-1" not in repr(event)


def test_a_deferred_paginated_pull_without_output_path_warns_when_defined():
    from airflow_provider_authapi.operators import AuthApiOperator

    with pytest.warns(UserWarning, match="trigger event, which carries at most 1 MiB.*give output_path"):
        AuthApiOperator(task_id="big", endpoint="/offset", pagination="offset", deferrable=True)
