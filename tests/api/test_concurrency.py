"""Concurrent pages, rate-limit awareness and response actions, against the paged API emulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from airflow_provider_authapi.api.fetch import Fetcher
from airflow_provider_authapi.api.pagination import OffsetPaginator, QuickBooksPaginator, RequestSpec
from airflow_provider_authapi.auth.errors import ConfigError, PaginationError
from airflow_provider_authapi.auth.retry import Pace, rate_limit
from tests.emulators.paged_api import PagedApiEmulator

IDS = list(range(1, 101))


def arun(api: PagedApiEmulator, fetcher: Fetcher, write_page: Any = None) -> Any:
    async def main() -> Any:
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
            return await fetcher.arun(client, write_page)

    return asyncio.run(main())


def offset_fetcher(**kwargs: Any) -> Fetcher:
    return Fetcher(
        RequestSpec("GET", "/offset"), paginator=OffsetPaginator(limit=10), response_filter="items", **kwargs
    )


def test_offset_pages_come_in_order_with_up_to_n_requests_in_flight():
    # 50 ms per answer: 8 concurrent requests overlap on the server, 1 never does
    with PagedApiEmulator(total=100, latency=0.05) as api:
        fetcher = offset_fetcher(concurrency=8)
        records = arun(api, fetcher)
        assert [r["id"] for r in records] == IDS
        assert fetcher.pages == 10 and api.count("GET", "/offset") == 10  # the total says 10 pages: no extra
        assert 2 <= api.max_in_flight <= 8


def test_one_request_at_a_time_without_concurrency():
    with PagedApiEmulator(total=100, latency=0.02) as api:
        assert [r["id"] for r in arun(api, offset_fetcher())] == IDS
        assert api.max_in_flight == 1


def test_page_numbers_with_a_total_of_pages_go_concurrently():
    from airflow_provider_authapi.api.pagination import PageNumberPaginator

    paginator = PageNumberPaginator(page_size=10, page_size_param="size", total_pages_path="total_pages")
    with PagedApiEmulator(total=95, latency=0.05) as api:
        fetcher = Fetcher(
            RequestSpec("GET", "/page-number"), paginator=paginator, response_filter="data", concurrency=4
        )
        assert [r["id"] for r in arun(api, fetcher)] == list(range(1, 96))
        assert api.count("GET", "/page-number") == 10 and api.max_in_flight >= 2


def test_without_a_total_max_pages_bounds_a_speculative_run_that_stops_at_the_short_page():
    with PagedApiEmulator(total=35, latency=0.02) as api:
        paginator = OffsetPaginator(limit=10, total_path=None, stop_after_short_page=True)
        fetcher = Fetcher(
            RequestSpec("GET", "/offset"), paginator=paginator, response_filter="items", concurrency=4, max_pages=20
        )
        assert [r["id"] for r in arun(api, fetcher)] == list(range(1, 36))
        assert fetcher.pages == 4  # pages after the short 4th are cancelled or discarded, never returned
        assert api.count("GET", "/offset") <= 4 + 4


def test_quickbooks_counts_first_then_pages_concurrently():
    with PagedApiEmulator(total=45, latency=0.02) as api:
        query = {"query": "select * from Customer MAXRESULTS 10"}
        fetcher = Fetcher(
            RequestSpec("GET", f"/v3/company/{api.realm_id}/query", params=query),
            paginator=QuickBooksPaginator(),
            response_filter="QueryResponse.Customer",
            concurrency=4,
        )
        records = arun(api, fetcher)
        assert [r["Id"] for r in records] == [str(i) for i in range(1, 46)]
        assert api.count("GET", r"/v3/company/(?P<realm>[^/]+)/query") == 1 + 5  # COUNT(*), then 5 pages


def test_a_cursor_paginator_stays_sequential_and_says_so(caplog):
    with PagedApiEmulator(total=30, latency=0.02) as api:
        paginator = {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"}
        fetcher = Fetcher(RequestSpec("GET", "/cursor"), paginator=paginator, response_filter="records", concurrency=8)
        with caplog.at_level("INFO"):
            assert len(arun(api, fetcher)) == 30
        assert api.max_in_flight == 1
        assert "learns each next request from an answer; paging one at a time" in caplog.text


def test_more_planned_pages_than_the_ceiling_fail_before_requesting_them(monkeypatch):
    from airflow_provider_authapi.api import fetch

    monkeypatch.setattr(fetch, "DEFAULT_MAX_PAGES", 5)
    with PagedApiEmulator(total=100) as api:
        with pytest.raises(PaginationError, match="GET /offset: 10 pages, more than 5; set max_pages"):
            arun(api, offset_fetcher(concurrency=4))
        assert api.count("GET", "/offset") == 1


def test_output_pages_are_written_in_page_order_with_concurrency():
    written: list[int] = []

    async def write_page(records: list[dict]) -> None:
        written.extend(r["id"] for r in records)

    with PagedApiEmulator(total=100, latency=0.03) as api:
        assert arun(api, offset_fetcher(concurrency=8), write_page) is None
    assert written == IDS


def test_rate_limit_headers_keep_concurrent_requests_under_the_limit():
    # 10 requests per 1 s window; 30 pages with 8 in flight would hit 429s at once without pacing
    with PagedApiEmulator(total=300, rate_limit=(10, 1.0)) as api:
        fetcher = offset_fetcher(concurrency=8)
        assert len(arun(api, fetcher)) == 300
        assert api.refused == 0 and fetcher.pace.waited > 0


def test_max_requests_per_second_spaces_requests_out():
    with PagedApiEmulator(total=50) as api:
        fetcher = offset_fetcher(concurrency=4, max_requests_per_second=20)
        assert len(arun(api, fetcher)) == 50
    # 5 requests at 20/s: slots at 0, 50, 100, 150, 200 ms; the waits add up to 500 ms, whatever the machine
    assert fetcher.pace.waited == pytest.approx(0.5, abs=0.2)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "30"}, (5, 30.0)),
        ({"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "2"}, (0, 2.0)),
        ({"RateLimit": "limit=100, remaining=50, reset=5"}, (50, 5.0)),
        ({"RateLimit": '"default";r=3;t=12'}, (3, 12.0)),
        ({"RateLimit": '"default";r=3', "RateLimit-Policy": '"default";q=100;w=60'}, (3, 60.0)),
        ({"X-RateLimit-Remaining": "5"}, None),
        ({}, None),
    ],
)
def test_rate_limit_headers_are_read_in_every_common_spelling(headers, expected):
    assert rate_limit(httpx.Response(200, headers=headers)) == expected


def test_a_spent_budget_holds_every_request_until_the_reset():
    pace = Pace(in_flight=4)
    pace.observe(httpx.Response(200, headers={"X-RateLimit-Remaining": "2", "X-RateLimit-Reset": "3"}))
    assert pace.delay() == pytest.approx(3.0, abs=0.1)


def test_a_retry_after_on_a_429_holds_every_request():
    pace = Pace()
    pace.observe(httpx.Response(429, headers={"Retry-After": "2"}))
    assert pace.delay() == pytest.approx(2.0, abs=0.1)


def test_response_actions_empty_ends_and_skip_moves_on():
    with PagedApiEmulator(total=50) as api, httpx.Client(base_url=api.url) as client:
        request = RequestSpec("GET", "/offset?fail_at=20&fail_status=409")
        skip = Fetcher(
            request, paginator=OffsetPaginator(limit=10), response_filter="items", response_actions={409: "skip"}
        )
        assert [r["id"] for r in skip.run(client)] == [i for i in range(1, 51) if not 21 <= i <= 30]
        request = RequestSpec("GET", "/offset?fail_at=20&fail_status=404")
        empty = Fetcher(
            request, paginator=OffsetPaginator(limit=10), response_filter="items", response_actions={404: "empty"}
        )
        assert [r["id"] for r in empty.run(client)] == list(range(1, 21))


def test_a_response_action_that_is_not_one_names_the_field():
    with pytest.raises(ConfigError, match=r"response_actions'?: \[404\]: action 'explode' is not one of empty, skip"):
        Fetcher(RequestSpec("GET", "/x"), response_actions={404: "explode"})


class _OAuthPaged(PagedApiEmulator):
    """The paged API accepting only live access tokens of `oauth`; after `revoke_after` answers it revokes them all
    (as a server does when a token dies mid-run), so every request then in flight gets a 401."""

    def __init__(self, oauth: Any, revoke_after: int, **kwargs: Any) -> None:
        self.oauth, self.revoke_after, self.answers, self.unauthorized = oauth, revoke_after, 0, 0
        super().__init__(**kwargs)

    def _guarded(self, handler: Any) -> Any:
        inner = super()._guarded(handler)

        def guarded(request: Any) -> Any:
            from tests.emulators.base import Response

            with self.lock:
                if self.oauth.access.check(request.bearer()) is None:
                    self.unauthorized += 1
                    return Response.json({"error": "invalid_token"}, status=401)
                self.answers += 1
                if self.answers == self.revoke_after:
                    self.oauth.access.revoke_all()
            return inner(request)

        return guarded


def test_a_401_for_every_request_in_flight_costs_one_token_request():
    from airflow_provider_authapi.auth import AuthConfig, CommonConfig, OAuth2Config, build_auth, build_token_manager
    from tests.emulators.oauth2_server import OAuth2Server

    # the token dies as page 1 is served, so the 8 requests sent after it all meet the dead token at once
    with OAuth2Server() as oauth, _OAuthPaged(oauth, revoke_after=1, total=100, latency=0.05) as api:
        config = AuthConfig(
            OAuth2Config(token_url=f"{oauth.url}/token", client_id=oauth.client_id, client_secret=oauth.client_secret),
            CommonConfig(base_url=api.url),
        )
        manager = build_token_manager(config)

        async def main() -> list[Any]:
            async with httpx.AsyncClient(base_url=api.url, auth=build_auth(config, manager)) as client:
                return await offset_fetcher(concurrency=8).arun(client)

        records = asyncio.run(main())
        assert [r["id"] for r in records] == IDS
        assert api.unauthorized >= 2  # several requests in flight met the dead token...
        assert oauth.token_requests == 2  # ...and one refresh served them all
