"""pagination="auto": the paginator is picked from the first answer of each pagination style the paged API serves."""

from __future__ import annotations

import logging

import httpx
import pytest

from airflow_provider_authapi.api.fetch import Fetcher
from airflow_provider_authapi.api.pagination import RequestSpec
from tests.emulators.paged_api import PagedApiEmulator


@pytest.mark.parametrize(
    ("path", "response_filter", "picked"),
    [
        ("/json-link?per_page=10", "results", "'type': 'json_link', 'next_url_path': 'next'"),
        ("/header-link?per_page=10", None, "'type': 'header_link'"),
        ("/offset?limit=10", "items", "'type': 'offset', 'limit': 10"),
        ("/page-number?size=10", "data", "'type': 'page_number'"),
        ("/cursor?limit=10", "records", "'type': 'cursor', 'cursor_path': 'next_cursor', 'cursor_param': 'cursor'"),
    ],
)
def test_auto_picks_the_style_from_the_first_answer_and_fetches_every_record(path, response_filter, picked, caplog):
    with PagedApiEmulator(total=25) as api, httpx.Client(base_url=api.url) as client:
        fetcher = Fetcher(RequestSpec("GET", path), paginator="auto", response_filter=response_filter)
        with caplog.at_level(logging.INFO):
            records = fetcher.run(client)
    assert [record["id"] for record in records] == list(range(1, 26))
    assert f"pagination='auto' picked {{{picked}" in caplog.text
    assert fetcher.pages == 3


def test_auto_with_nothing_to_follow_is_one_page(caplog):
    with PagedApiEmulator(total=25) as api, httpx.Client(base_url=api.url) as client:
        fetcher = Fetcher(RequestSpec("GET", "/jobs/x?done_after=1"), paginator="auto")
        with caplog.at_level(logging.INFO):
            records = fetcher.run(client)
    assert fetcher.pages == 1 and records[0]["status"] == "done"
    assert "no next link, cursor or total in the first answer; one page" in caplog.text
