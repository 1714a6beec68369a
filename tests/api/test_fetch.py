"""The page loop's other duties: response_check, body parsing, sensor pokes."""

from __future__ import annotations

import logging

import httpx
import pytest

from airflow_provider_authapi.api import Fetcher, RequestSpec, ResponseCheckError, RetryPolicy, parse_body


def test_response_check_runs_on_every_page(api, client):
    seen = []

    def check(body):
        seen.append(len(body["items"]))
        return len(body["items"]) > 0

    fetcher = Fetcher(RequestSpec("GET", "/offset"), paginator={"type": "offset", "limit": 10, "total_path": None})
    fetcher.response_filter, fetcher.response_check = None, check
    with pytest.raises(ResponseCheckError, match="page 4"):
        fetcher.run(client)
    assert seen == [10, 10, 5, 0]


KEY = {"api_key": "k3y-in-the-query"}


def our_log_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("airflow_provider_authapi")]


def test_one_progress_line_per_page_and_no_query_string_in_our_logs(api, client, caplog):
    caplog.set_level(logging.INFO)
    offset = {"type": "offset", "limit": 10}
    pages = Fetcher(RequestSpec("GET", "/offset", params=KEY), paginator=offset, response_filter="items")
    assert len(pages.run(client)) == 25
    ours = our_log_lines(caplog)
    assert [line for line in ours if "records so far" in line] == [
        "Page 1: 10 records so far",
        "Page 2: 20 records so far",
        "Page 3: 25 records so far",
    ]
    assert not [line for line in ours if "k3y" in line or "?" in line]


def test_a_retry_warning_names_the_path_but_not_the_query_string(api, client, caplog):
    caplog.set_level(logging.INFO)
    flaky = Fetcher(RequestSpec("GET", "/flaky/logs?fail=1", params=KEY), retry=RetryPolicy(backoff=0.01))
    assert flaky.run(client) == {"key": "logs", "attempts": 2}
    ours = our_log_lines(caplog)
    assert any(line.startswith("GET /flaky/logs answered 503; attempt 1 of 5") for line in ours)
    assert not [line for line in ours if "k3y" in line or "?" in line]


def test_unpaginated_result_is_the_filtered_body(api, client):
    assert Fetcher(RequestSpec("GET", "/offset?limit=2"), response_filter="items[*].name").run(client) == [
        "item-1",
        "item-2",
    ]


def test_poke_until_done(api, client):
    fetcher = Fetcher(
        RequestSpec("GET", "/jobs/j1?done_after=3"),
        response_check=lambda body: body["status"] == "done",
        response_filter="result",
    )
    assert [fetcher.poke(client) for _ in range(3)] == [(False, None), (False, None), (True, {"rows": 42})]


def test_poke_treats_ok_statuses_as_not_yet(api, client):
    assert Fetcher(RequestSpec("GET", "/status/404"), ok_statuses={404}).poke(client) == (False, None)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(200, json={"a": 1}), {"a": 1}),
        (httpx.Response(200, content=b"[1, 2]", headers={"content-type": "text/plain"}), [1, 2]),
        (httpx.Response(200, text="hello"), "hello"),
        (httpx.Response(204), None),
    ],
)
def test_parse_body(response, expected):
    assert parse_body(response) == expected


SPEC = RequestSpec("post", "/v1/items?a=1&a=2&b=x", params={"b": "y"}, json={"k": 1})


def test_request_spec_keeps_method_url_and_query_apart():
    assert (SPEC.method, SPEC.url, SPEC.params) == ("POST", "/v1/items", {"a": ["1", "2"], "b": "y"})


def test_request_spec_label_has_no_query_and_no_host():
    assert SPEC.label == "POST /v1/items"


def test_request_spec_round_trips_through_its_dict_form():
    assert RequestSpec.from_dict(SPEC.to_dict()) == SPEC


def test_a_text_body_is_sent_as_content():
    assert RequestSpec("POST", "/q", data="select 1").httpx_kwargs()["content"] == "select 1"
