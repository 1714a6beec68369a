"""Hostile or broken pages: each fails with a typed error naming the page (or request) at fault, never with
wrong data, never for ever, never with the credential in the message, its repr or its traceback."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_authapi.api import fetch
from airflow_provider_authapi.api.fetch import Fetcher
from airflow_provider_authapi.api.pagination import RequestSpec
from airflow_provider_authapi.auth import retry
from airflow_provider_authapi.auth.errors import ApiResponseError, ApiTransportError, AuthApiError, PaginationError
from airflow_provider_authapi.auth.retry import RetryPolicy
from tests.emulators.hostile import HostileApi

TOKEN = "hostile-test-bearer-token-0123456789"
ONCE = RetryPolicy(attempts=1)


@pytest.fixture(scope="module")
def api() -> Iterator[HostileApi]:
    with HostileApi() as server:
        yield server


def client(api: HostileApi, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=timeout)


def fail(api: HostileApi, path: str, error: type[AuthApiError], **kwargs) -> AuthApiError:
    """Run one fetch that must fail with `error`; check the token is nowhere in what the failure shows."""
    with client(api) as c, pytest.raises(error) as caught:
        Fetcher(RequestSpec("GET", path), retry=ONCE, secrets=[TOKEN], **kwargs).run(c)
    shown = [str(caught.value), repr(caught.value), "".join(traceback.format_exception(caught.value))]
    assert not [text for text in shown if TOKEN in text]
    return caught.value


def test_a_page_labelled_json_that_is_html_names_the_page_and_its_type(api):
    error = fail(api, "/html-as-json", ApiResponseError, paginator="json_link", response_filter="results")
    assert "page 1 (GET /html-as-json) is application/json, not JSON" in str(error)
    assert "Bad gateway" in str(error)


def test_a_body_that_does_not_decode_is_a_typed_error_not_a_unicode_error(api):
    error = fail(api, "/undecodable", ApiResponseError, response_filter="items")
    assert "GET /undecodable does not decode as text (application/json" in str(error)


def test_an_html_page_where_json_records_were_expected_fails(api):
    error = fail(api, "/html", ApiResponseError, response_filter="items")
    assert "GET /html is text/html, not JSON" in str(error) and "Please log in" in str(error)


def test_an_html_page_without_a_filter_or_paginator_is_returned_as_text(api):
    with client(api) as c:
        assert "Please log in" in Fetcher(RequestSpec("GET", "/html"), retry=ONCE).run(c)


def test_an_error_dressed_as_a_200_fails_with_its_message_and_no_credential(api):
    error = fail(api, "/error-200", ApiResponseError, paginator="offset", response_filter="items")
    assert "page 1 (GET /error-200) answered 200 with an error: quota exceeded for Bearer ***" in str(error)


def test_an_error_dressed_as_a_200_fails_without_a_filter_too(api):
    error = fail(api, "/error-200", ApiResponseError)
    assert "GET /error-200 answered 200 with an error" in str(error)


def test_a_page_without_the_filtered_key_fails_naming_the_path_and_the_keys_it_has(api):
    error = fail(api, "/wrong-key", ApiResponseError, paginator="offset", response_filter="items")
    assert "page 1 (GET /wrong-key) has no 'items' (its keys: data, total;" in str(error)
    assert "allow_empty_pages=True" in str(error)


def test_allow_empty_pages_takes_a_page_without_the_filtered_key_as_no_records(api):
    with client(api) as c:
        fetcher = Fetcher(
            RequestSpec("GET", "/wrong-key"), paginator="offset", response_filter="items", allow_empty_pages=True
        )
        assert fetcher.run(c) == [] and fetcher.pages == 1


def test_a_next_link_to_the_same_page_stops_at_once(api):
    error = fail(api, "/same-next", PaginationError, paginator="json_link", response_filter="results")
    assert "page 3 would repeat the request of page 2 (the next link or cursor does not advance)" in str(error)


def test_a_cursor_that_never_advances_stops_at_once(api):
    paginator = {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"}
    error = fail(api, "/cursor-stuck", PaginationError, paginator=paginator, response_filter="records")
    assert "page 3 would repeat the request of page 2" in str(error)


def test_a_cursor_that_never_ends_stops_at_the_default_ceiling(api, monkeypatch):
    monkeypatch.setattr(fetch, "DEFAULT_MAX_PAGES", 25)
    paginator = {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"}
    error = fail(api, "/cursor-forever", PaginationError, paginator=paginator, response_filter="records")
    assert "GET /cursor-forever: more than 25 pages; set max_pages" in str(error)


def test_max_pages_given_stops_quietly_below_or_above_the_default_ceiling(api, monkeypatch):
    monkeypatch.setattr(fetch, "DEFAULT_MAX_PAGES", 5)
    paginator = {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"}
    with client(api) as c:
        fetcher = Fetcher(RequestSpec("GET", "/cursor-forever"), paginator=paginator, response_filter="records")
        fetcher.max_pages = 8
        assert fetcher.run(c) == [1] * 8


# A trickling body: 40 bytes at 0.25 s each would take 10 s; trickling headers (the status line and headers, about
# 130 bytes) at 0.25 s a byte would take over 30 s. The client's timeout of 0.5 s gives a deadline of 2 s per
# attempt (4 x). Each byte comes well within the read timeout, so only the deadline can stop it; the bound below
# (8 s) leaves 6 s for a loaded machine and still fails if the whole answer was waited for.
TRICKLE_BOUND = 8.0
TRICKLING = pytest.mark.parametrize("path", ["/trickle?n=40", "/trickle-headers"], ids=["body", "headers"])


@TRICKLING
def test_a_trickling_answer_is_cut_off_at_the_attempt_deadline(api, path):
    started = time.monotonic()
    with client(api, timeout=0.5) as c, pytest.raises(ApiTransportError) as caught:
        Fetcher(RequestSpec("GET", path), retry=ONCE, response_filter="items").run(c)
    assert time.monotonic() - started < TRICKLE_BOUND
    assert "no complete answer within 2 s (4 x the connection's timeout)" in str(caught.value)


def arun(api: HostileApi, path: str, timeout: float = 5.0) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(base_url=api.url, timeout=timeout) as c:
            await Fetcher(RequestSpec("GET", path), retry=ONCE, response_filter="items").arun(c)

    asyncio.run(main())


@TRICKLING
def test_a_trickling_answer_is_cut_off_at_the_attempt_deadline_async(api, path):
    started = time.monotonic()
    with pytest.raises(ApiTransportError) as caught:
        arun(api, path, timeout=0.5)
    assert time.monotonic() - started < TRICKLE_BOUND
    assert "no complete answer within 2 s" in str(caught.value)


class SlowToken(httpx.Auth):
    """An auth flow that takes `seconds` to get its token (waiting on the refresh queue, say) before it sends."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def sync_auth_flow(self, request: httpx.Request):
        time.sleep(self.seconds)
        yield request

    async def async_auth_flow(self, request: httpx.Request):
        await asyncio.sleep(self.seconds)
        yield request


def test_the_deadline_starts_with_the_request_not_with_the_wait_for_a_token(api):
    # deadline 4 x 0.25 = 1 s; the token takes 1.5 s; the answer itself comes at once
    with httpx.Client(base_url=api.url, timeout=0.25, auth=SlowToken(1.5)) as c:
        assert Fetcher(RequestSpec("GET", "/wrong-key"), retry=ONCE, response_filter="data").run(c) == [1, 2]


def test_the_deadline_starts_with_the_request_not_with_the_wait_for_a_token_async(api):
    async def main() -> list:
        async with httpx.AsyncClient(base_url=api.url, timeout=0.25, auth=SlowToken(1.5)) as c:
            return await Fetcher(RequestSpec("GET", "/wrong-key"), retry=ONCE, response_filter="data").arun(c)

    assert asyncio.run(main()) == [1, 2]


def test_a_slow_but_steady_body_within_the_deadline_is_read_whole(api):
    with client(api, timeout=2.0) as c:
        records = Fetcher(RequestSpec("GET", "/trickle?n=30&delay=0.01"), retry=ONCE, response_filter="items").run(c)
    assert len(records) == 1 and len(records[0]) == 16


def test_a_decompression_bomb_stops_at_the_body_limit(api, monkeypatch):
    monkeypatch.setattr(retry, "MAX_BODY_BYTES", 2**20)
    error = fail(api, "/bomb?mib=8", ApiResponseError, response_filter="items")
    assert "GET /bomb: the body is over 1,048,576 bytes once decompressed" in str(error)


def test_a_decompression_bomb_stops_at_the_body_limit_async(api, monkeypatch):
    monkeypatch.setattr(retry, "MAX_BODY_BYTES", 2**20)
    with pytest.raises(ApiResponseError, match="over 1,048,576 bytes once decompressed"):
        arun(api, "/bomb?mib=8")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {TOKEN}\n"},  # a token pasted from a file, trailing newline and all
        {"Authorization": f"Bearer\r\nX-Injected: 1 {TOKEN}"},  # a CR/LF in the prefix
        {"X-Api-Key": f"{TOKEN}\n"},
    ],
)
def test_a_header_value_http_forbids_is_a_typed_error_without_the_value(api, headers):
    with httpx.Client(base_url=api.url, headers=headers) as c, pytest.raises(ApiTransportError) as caught:
        Fetcher(RequestSpec("GET", "/wrong-key"), retry=ONCE).run(c)
    shown = [str(caught.value), repr(caught.value), "".join(traceback.format_exception(caught.value))]
    assert not [text for text in shown if TOKEN in text]
    (name,) = headers
    assert f"GET /wrong-key could not be sent: header {name!r} holds a line break" in str(caught.value)


def test_httpx_request_log_lines_carry_no_key_placed_in_the_query(api, caplog):
    with caplog.at_level(logging.INFO, logger="httpx"), httpx.Client(base_url=api.url) as c:
        Fetcher(RequestSpec("GET", f"/wrong-key?api_key={TOKEN}&page=2&access_token={TOKEN}"), retry=ONCE).run(c)
    lines = [record.getMessage() for record in caplog.records if record.name == "httpx"]
    assert lines and all(TOKEN not in line for line in lines)
    assert "/wrong-key?api_key=***&page=2&access_token=***" in lines[0]
