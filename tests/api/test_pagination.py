"""Each paginator against a real local server, through the same page loop the operator and trigger use."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from airflow_provider_authapi.api import (
    PAGINATORS,
    CursorPaginator,
    Fetcher,
    HeaderLinkPaginator,
    JSONLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PaginationError,
    QuickBooksPaginator,
    RequestSpec,
    get_paginator,
)
from airflow_provider_authapi.auth.errors import ConfigError

ALL_IDS = list(range(1, 26))


def ids(records):
    return [r["id"] for r in records]


@pytest.mark.parametrize(
    ("endpoint", "paginator", "response_filter", "requests"),
    [
        ("/json-link?per_page=10", "json_link", "results", 3),
        ("/json-link?per_page=10", JSONLinkPaginator(next_url_path="next"), "results", 3),
        ("/header-link?per_page=10", "header_link", None, 3),
        ("/offset", {"type": "offset", "limit": 10}, "items", 3),
        ("/offset", OffsetPaginator(limit=10, total_path=None), "items", 4),  # stops on the empty 4th page
        ("/offset", OffsetPaginator(limit=10, total_path=None, stop_after_short_page=True), "items", 3),
        (
            "/page-number",
            PageNumberPaginator(page_size=10, page_size_param="size", total_pages_path="total_pages"),
            "data",
            3,
        ),
        ("/page-number?size=10", "page_number", "data", 4),  # no total: stops on the empty page
        ("/cursor?limit=10", CursorPaginator(cursor_path="next_cursor"), "records", 3),
    ],
)
def test_each_style_gets_every_record_once(api, client, endpoint, paginator, response_filter, requests):
    fetcher = Fetcher(RequestSpec("GET", endpoint), paginator=paginator, response_filter=response_filter)
    assert ids(fetcher.run(client)) == ALL_IDS
    assert fetcher.pages == requests
    assert sum(api.calls.values()) == requests


def test_page_number_total_records(api, client):
    api.total = 20
    paginator = PageNumberPaginator(page_size=10, page_size_param="size", total_records_path="total_records")
    # this server gives no total_records: falls back to the empty page
    fetcher = Fetcher(RequestSpec("GET", "/page-number"), paginator=paginator, response_filter="data")
    assert len(fetcher.run(client)) == 20
    assert fetcher.pages == 3


@pytest.mark.parametrize(("total", "requests"), [(25, 3), (20, 3), (9, 1)])
def test_quickbooks_startposition_maxresults(api, client, total, requests):
    api.total = total
    request = RequestSpec(
        "GET", f"/v3/company/{api.realm_id}/query", params={"query": "select * from Customer", "minorversion": "75"}
    )
    fetcher = Fetcher(request, paginator=QuickBooksPaginator(page_size=10), response_filter="QueryResponse.Customer")
    customers = fetcher.run(client)
    assert [c["Id"] for c in customers] == [str(i) for i in range(1, total + 1)]
    assert fetcher.pages == requests


def test_quickbooks_takes_page_size_from_the_query_and_rewrites_it(api, client):
    query = "SELECT * FROM Customer STARTPOSITION 1 MAXRESULTS 7"
    request = RequestSpec("GET", f"/v3/company/{api.realm_id}/query", params={"query": query})
    fetcher = Fetcher(request, paginator="quickbooks", response_filter="QueryResponse.Customer")
    assert len(fetcher.run(client)) == 25
    assert fetcher.pages == 4  # 7 + 7 + 7 + 4


def test_quickbooks_query_in_a_text_body_is_rewritten_page_by_page():
    paginator = QuickBooksPaginator()
    request = RequestSpec("POST", "/query", data="select * from Invoice MAXRESULTS 50")
    paginator.init_request(request)
    assert request.data == "select * from Invoice STARTPOSITION 1 MAXRESULTS 50"
    paginator.update_state(httpx.Response(200), {}, [{}] * 50)
    paginator.update_request(request)
    assert request.data == "select * from Invoice STARTPOSITION 51 MAXRESULTS 50"


def test_quickbooks_without_a_query_is_a_config_error():
    with pytest.raises(ConfigError, match="query"):
        QuickBooksPaginator().init_request(RequestSpec("GET", "/query"))


def test_max_pages_stops_early(api, client):
    fetcher = Fetcher(RequestSpec("GET", "/offset"), paginator=OffsetPaginator(limit=5), response_filter="items")
    fetcher.max_pages = 2
    assert ids(fetcher.run(client)) == list(range(1, 11))
    assert sum(api.calls.values()) == 2


def test_progress_is_logged_per_page_without_credentials(api, client, caplog):
    caplog.set_level(logging.INFO, logger="airflow_provider_authapi.api.fetch")
    fetcher = Fetcher(RequestSpec("GET", "/offset"), paginator=OffsetPaginator(limit=5), response_filter="items")
    fetcher.max_pages = 2
    fetcher.run(client)
    lines = [r.getMessage() for r in caplog.records]
    assert "Page 1: 5 records so far" in lines and "Page 2: 10 records so far" in lines
    assert not any("s3cr3t" in line or "Bearer" in line for line in lines)


def test_next_link_to_another_origin_is_refused(client):
    fetcher = Fetcher(RequestSpec("GET", "/json-link?per_page=10&elsewhere=1"), paginator="json_link")
    with pytest.raises(PaginationError, match="another origin"):
        fetcher.run(client)


def test_query_in_endpoint_survives_client_default_params(api):
    # httpx drops a URL's own query when the client has default params; RequestSpec carries it in params.
    with httpx.Client(base_url=api.url, params={"tenant": "t1"}, headers={"Authorization": "Bearer " + api.token}) as c:
        fetcher = Fetcher(RequestSpec("GET", "/offset?limit=4"), paginator="offset", response_filter="items")
        fetcher.paginator_spec = {"type": "offset", "limit": 4}
        assert len(fetcher.run(c)) == 25
        assert fetcher.pages == 7


def test_follow_links_keep_the_client_params(api):
    seen: list[httpx.URL] = []
    hooks = {"request": [seen.append]}
    with httpx.Client(
        base_url=api.url, params={"tenant": "t1"}, event_hooks=hooks, headers={"Authorization": "Bearer " + api.token}
    ) as c:
        Fetcher(RequestSpec("GET", "/header-link?per_page=10"), paginator="header_link").run(c)
    assert [r.url.params.get("page") for r in seen] == [None, "2", "3"]
    assert all(r.url.params.get("tenant") == "t1" for r in seen)


def test_every_style_is_registered_by_name():
    assert set(PAGINATORS) == {
        "json_link",
        "header_link",
        "offset",
        "page_number",
        "cursor",
        "quickbooks",
        "sort_key_split",
        "auto",
    }


@pytest.mark.parametrize("name", sorted(PAGINATORS))
def test_a_paginator_spec_gives_back_the_same_paginator(name):
    paginator = PAGINATORS[name]()
    again = get_paginator(paginator.to_spec())
    assert type(again) is PAGINATORS[name]
    assert again.to_spec() == paginator.to_spec()


def test_a_dict_selects_by_type_and_sets_options():
    assert get_paginator({"type": "offset", "limit": 7}).limit == 7


def test_a_name_selects_with_default_options():
    assert isinstance(get_paginator("header_link"), HeaderLinkPaginator)


def test_an_unknown_name_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown paginator"):
        get_paginator("nope")


def test_an_unknown_option_is_a_config_error_naming_the_paginator():
    with pytest.raises(ConfigError, match="offset"):
        get_paginator({"type": "offset", "bogus": 1})


def test_an_instance_is_copied_so_runs_do_not_share_state(api, client):
    paginator = OffsetPaginator(limit=10)
    fetcher = Fetcher(RequestSpec("GET", "/offset"), paginator=paginator, response_filter="items")
    assert len(fetcher.run(client)) == 25
    assert len(fetcher.run(client)) == 25
    assert paginator._offset == 0  # the caller's instance was never advanced


def test_async_loop_matches_sync(api):
    async def main():
        headers = {"Authorization": "Bearer " + api.token}
        async with httpx.AsyncClient(base_url=api.url, headers=headers) as client:
            return await fetcher.arun(client)

    fetcher = Fetcher(RequestSpec("GET", "/cursor?limit=4"), paginator="cursor", response_filter="records")
    assert ids(asyncio.run(main())) == ALL_IDS
    assert fetcher.pages == 7
