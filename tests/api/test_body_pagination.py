"""Pagination in the JSON body, `has_more` stops, cursors from headers and last records, and splitting a capped
query by its sort key, against real HTTP servers on 127.0.0.1 (the HubSpot search emulator among them)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_authapi.api import (
    CursorPaginator,
    Fetcher,
    OffsetPaginator,
    PageNumberPaginator,
    RequestSpec,
    RequestTarget,
    ResponseSource,
    SortKeySplitPaginator,
    get_paginator,
)
from airflow_provider_authapi.auth.errors import ApiHTTPError, ConfigError, PaginationError
from airflow_provider_authapi.auth.json_path import set_path
from tests.emulators.base import Emulator, Request, Response
from tests.emulators.hubspot import HubSpotEmulator

SEARCH = {
    "filterGroups": [{"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": "0"}]}],
    "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
    "limit": 100,
}
HUBSPOT_PAGES = {
    "type": "sort_key_split",
    "cap": 1000,
    "paginator": {"type": "cursor", "cursor_path": "paging.next.after", "cursor_param": "body:after"},
}


class BodyPagedApi(Emulator):
    """Jira-style `startAt`/`maxResults` in a POST body, Stripe-style `starting_after` + `has_more`, and a cursor
    in a response header; every request's body and query recorded."""

    RECORDS = [{"id": f"rec_{n:03d}", "n": n} for n in range(1, 26)]

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any], Any]] = []
        super().__init__()

    def setup_routes(self) -> None:
        self.route("POST", "/search", self.search)
        self.route("GET", "/charges", self.charges)
        self.route("GET", "/events", self.events)

    def search(self, request: Request) -> Response:
        body = request.json()
        self.seen.append(("search", dict(request.query), body))
        start, size = body["page"]["startAt"], body["page"]["maxResults"]
        return Response.json({"issues": self.RECORDS[start : start + size], "total": len(self.RECORDS)})

    def charges(self, request: Request) -> Response:
        self.seen.append(("charges", dict(request.query), None))
        after = request.query.get("starting_after")
        start = 0 if after is None else next(i + 1 for i, r in enumerate(self.RECORDS) if r["id"] == after)
        page = self.RECORDS[start : start + 10]
        return Response.json({"object": "list", "data": page, "has_more": start + 10 < len(self.RECORDS)})

    def events(self, request: Request) -> Response:
        self.seen.append(("events", dict(request.query), None))
        start = int(request.query.get("cursor", 0))
        headers = {"X-Next-Cursor": str(start + 10)} if start + 10 < len(self.RECORDS) else {}
        return Response.json(self.RECORDS[start : start + 10], headers=headers)


@pytest.fixture
def api() -> Iterator[BodyPagedApi]:
    with BodyPagedApi() as server:
        yield server


@pytest.fixture
def hubspot() -> Iterator[HubSpotEmulator]:
    with HubSpotEmulator(contacts=2_450, result_cap=1000, max_limit=100, requests_per_second=1000) as server:
        yield server


def hubspot_client(server: HubSpotEmulator) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"})


def test_targets_write_a_query_param_a_body_path_or_a_header():
    request = RequestSpec("POST", "/x", json={"page": {"size": 5}, "filters": [{"value": "0"}]})
    RequestTarget("offset").set(request, 10)
    RequestTarget("query:limit").set(request, 5)
    RequestTarget("body:page.startAt").set(request, 20)
    RequestTarget("body:filters[0].value").set(request, "17")
    RequestTarget("header:X-Cursor").set(request, 3)
    assert request.params == {"offset": 10, "limit": 5}
    assert request.json == {"page": {"size": 5, "startAt": 20}, "filters": [{"value": "17"}]}
    assert request.headers == {"X-Cursor": "3"}
    fresh = RequestSpec("POST", "/x")
    RequestTarget("body:after").set(fresh, "200")
    assert fresh.json == {"after": "200"}
    assert RequestTarget("body:page.startAt").get(request) == 20


def test_a_copied_request_does_not_share_its_body():
    original = RequestSpec("POST", "/x", json={"page": {"startAt": 0}})
    copied = original.copy()
    RequestTarget("body:page.startAt").set(copied, 50)
    assert original.json == {"page": {"startAt": 0}} and copied.json == {"page": {"startAt": 50}}


def test_a_body_path_that_cannot_be_written_is_an_error_naming_the_path():
    with pytest.raises(ConfigError, match=r"pagination.*filters\[3\]\.value.*index 3"):
        RequestTarget("body:filters[3].value").set(RequestSpec("POST", "/x", json={"filters": [{}]}), "1")
    with pytest.raises(ConfigError, match="not a JSON object"):
        RequestTarget("body:after").set(RequestSpec("POST", "/x", json="text"), "1")
    with pytest.raises(ConfigError, match=r"pagination.*cannot parse path"):
        RequestTarget("body:a..b[")
    with pytest.raises(ConfigError, match=r"cannot write through \[\*\]"):
        set_path({"a": [1]}, "a[*]", 2)


def test_sources_read_the_body_a_header_or_the_last_record():
    response = httpx.Response(200, headers={"X-Next": "abc"}, json={"paging": {"next": "p2"}})
    body, records = {"paging": {"next": "p2"}}, [{"id": 1}, {"id": 2}]
    assert ResponseSource("paging.next").read(response, body, records) == "p2"
    assert ResponseSource("body:paging.next").read(response, body, records) == "p2"
    assert ResponseSource("header:x-next").read(response, body, records) == "abc"
    assert ResponseSource("last_record:id").read(response, body, records) == 2
    assert ResponseSource("last_record:id").read(response, body, []) is None


def test_offsets_in_a_post_body_page_through_every_record(api):
    paginator = OffsetPaginator(limit=10, offset_param="body:page.startAt", limit_param="body:page.maxResults")
    request = RequestSpec("POST", "/search", json={"jql": "project = DEMO", "page": {}})
    with httpx.Client(base_url=api.url) as client:
        records = Fetcher(request, paginator=paginator, response_filter="issues").run(client)
    assert [r["n"] for r in records] == list(range(1, 26))
    bodies = [body for _, _, body in api.seen]
    assert [b["page"] for b in bodies] == [{"startAt": s, "maxResults": 10} for s in (0, 10, 20)]
    assert all(b["jql"] == "project = DEMO" for b in bodies) and all(not q for _, q, _ in api.seen)
    assert request.json == {"jql": "project = DEMO", "page": {}}  # the operator's own body is left as given


def test_stripe_style_cursor_from_the_last_record_stops_on_has_more_false(api):
    paginator = CursorPaginator(cursor_path="last_record:id", cursor_param="starting_after", has_more_path="has_more")
    with httpx.Client(base_url=api.url) as client:
        records = Fetcher(RequestSpec("GET", "/charges"), paginator=paginator, response_filter="data").run(client)
    assert [r["n"] for r in records] == list(range(1, 26))
    assert [q.get("starting_after") for _, q, _ in api.seen] == [None, "rec_010", "rec_020"]


def test_a_cursor_from_a_response_header(api):
    paginator = CursorPaginator(cursor_path="header:X-Next-Cursor", cursor_param="cursor")
    with httpx.Client(base_url=api.url) as client:
        records = Fetcher(RequestSpec("GET", "/events"), paginator=paginator).run(client)
    assert [r["n"] for r in records] == list(range(1, 26))
    assert [q.get("cursor") for _, q, _ in api.seen] == [None, "10", "20"]


def test_page_numbers_stop_on_has_more():
    paginator = PageNumberPaginator(page_param="body:page", has_more_path="meta.more")
    request = RequestSpec("POST", "/x", json={})
    paginator.init_request(request)
    assert request.json == {"page": 1}
    paginator.update_state(httpx.Response(200), {"meta": {"more": True}}, [1])
    assert paginator.has_next_page
    paginator.update_request(request)
    assert request.json == {"page": 2}
    paginator.update_state(httpx.Response(200), {"meta": {"more": "false"}}, [1])
    assert not paginator.has_next_page


def test_hubspot_search_stops_at_its_cap_without_a_split(hubspot):
    pages = {"type": "cursor", "cursor_path": "paging.next.after", "cursor_param": "body:after"}
    with hubspot_client(hubspot) as client, pytest.raises(ApiHTTPError, match="400") as refused:
        Fetcher(RequestSpec("POST", "/crm/v3/objects/contacts/search", json=SEARCH), paginator=pages).run(client)
    assert "maximum number of results per query" in str(refused.value)
    assert hubspot.token not in str(refused.value)


def test_sort_key_split_gets_every_record_past_the_cap(hubspot):
    request = RequestSpec("POST", "/crm/v3/objects/contacts/search", json=SEARCH)
    with hubspot_client(hubspot) as client:
        fetcher = Fetcher(request, paginator=HUBSPOT_PAGES, response_filter="results")
        records = fetcher.run(client)
    ids = [int(r["id"]) for r in records]
    assert ids == [int(c["id"]) for c in hubspot.contacts]  # all 2,450, each once, in order
    assert hubspot.over_cap == 0
    assert fetcher.pages == 25  # 10 + 10 + 5 pages of 100: no page asked twice, none past a cap
    assert SEARCH["filterGroups"][0]["filters"][0]["value"] == "0"  # the DAG's constant is never edited


def test_sort_key_split_restarts_from_the_last_key_of_the_query(hubspot):
    paginator = get_paginator(HUBSPOT_PAGES)
    request = RequestSpec("POST", "/crm/v3/objects/contacts/search", json=copy.deepcopy(SEARCH))  # edited in place
    paginator.init_request(request)
    bounds = []
    with hubspot_client(hubspot) as client:
        while True:
            body = request.send(client).json()
            bounds.append((request.json["filterGroups"][0]["filters"][0]["value"], request.json.get("after")))
            paginator.update_state(httpx.Response(200), body, body["results"])
            if not paginator.has_next_page:
                break
            paginator.update_request(request)
    assert isinstance(paginator, SortKeySplitPaginator) and paginator.queries == 3
    assert bounds[9] == ("0", "900") and bounds[10] == (hubspot.contacts[999]["id"], None)
    assert bounds[20] == (hubspot.contacts[1999]["id"], None) and len(bounds) == 25


def test_sort_key_split_in_the_async_engine_with_concurrency_one(hubspot):
    async def pull() -> list[Any]:
        headers = {"Authorization": f"Bearer {hubspot.token}"}
        async with httpx.AsyncClient(base_url=hubspot.url, headers=headers) as client:
            request = RequestSpec("POST", "/crm/v3/objects/contacts/search", json=SEARCH)
            return await Fetcher(request, paginator=HUBSPOT_PAGES, response_filter="results").arun(client)

    records = asyncio.run(pull())
    assert [r["id"] for r in records] == [c["id"] for c in hubspot.contacts]


def test_sort_key_split_survives_the_trip_to_the_trigger():
    paginator = get_paginator(HUBSPOT_PAGES)
    spec = paginator.to_spec()
    assert spec == {**HUBSPOT_PAGES, "sort_key_path": "id", "bound_param": "body:filterGroups[0].filters[0].value"}
    again = get_paginator(spec)
    assert again.to_spec() == spec


def test_sort_key_split_needs_the_apis_own_paginator_and_a_key():
    with pytest.raises(ConfigError, match="sort_key_split: `paginator`"):
        get_paginator({"type": "sort_key_split", "paginator": "auto"})
    with pytest.raises(ConfigError, match="cap must be a positive number"):
        get_paginator({"type": "sort_key_split", "cap": 0})
    paginator = get_paginator({**HUBSPOT_PAGES, "cap": 2, "sort_key_path": "missing"})
    request = RequestSpec("POST", "/x", json=copy.deepcopy(SEARCH))
    paginator.init_request(request)
    with pytest.raises(PaginationError, match="no 'missing' to start the next query from"):
        paginator.update_state(httpx.Response(200), {"paging": {"next": {"after": "2"}}}, [{"id": "1"}, {"id": "2"}])
