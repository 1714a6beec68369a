"""Parent/child extraction in one run (`api/children.py`), against the Jira emulator on 127.0.0.1: projects, then
each project's issues (offset pages `startAt`/`maxResults`), then each issue's comments; sync one after another,
async `concurrency` at a time, records in parent order either way."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_authapi.api.children import ChildRequests, Nested, fill
from airflow_provider_authapi.api.fetch import Fetcher
from airflow_provider_authapi.api.pagination import RequestSpec
from airflow_provider_authapi.api.rules import ResponseRules
from airflow_provider_authapi.auth.errors import ApiHTTPError, ConfigError
from tests.emulators.jira import API_TOKEN, EMAIL, JiraEmulator

PROJECTS = {"type": "offset", "offset_param": "startAt", "limit_param": "maxResults", "limit": 2,
            "total_path": "total"}  # fmt: skip
ISSUES = {"type": "offset", "offset_param": "startAt", "limit_param": "maxResults", "limit": 3, "total_path": "total"}


def issues(**changes: Any) -> ChildRequests:
    spec: dict[str, Any] = {
        "endpoint": "/rest/api/3/search",
        "query_params": {"jql": "project = {key} ORDER BY created"},
        "pagination": ISSUES,
        "response_filter": "issues",
        "include": {"project_key": "key", "project_name": "name"},
        "concurrency": 3,
    }
    return ChildRequests(**{**spec, **changes})


def nested(children: ChildRequests) -> Nested:
    parent = Fetcher(RequestSpec("GET", "/rest/api/3/project/search"), paginator=PROJECTS, response_filter="values")

    def child(request: RequestSpec, spec: ChildRequests) -> Fetcher:
        rules = ResponseRules.of(spec.response_actions) if spec.response_actions is not None else None
        return Fetcher(request, paginator=spec.pagination, response_filter=spec.response_filter,
                       response_actions=rules, pace=parent.pace, retry=parent.retry)  # fmt: skip

    return Nested(parent, children, child)


@pytest.fixture
def jira() -> Iterator[JiraEmulator]:
    with JiraEmulator(projects=5, issues_per_project=[7, 0, 3, 10, 1], delay=0.03) as api:
        yield api


def client(api: JiraEmulator) -> httpx.Client:
    return httpx.Client(base_url=api.url, auth=(EMAIL, API_TOKEN), timeout=10)


def arun(api: JiraEmulator, run: Nested, write_page: Any = None) -> Any:
    async def main() -> Any:
        async with httpx.AsyncClient(base_url=api.url, auth=(EMAIL, API_TOKEN), timeout=10) as http:
            return await run.arun(http, write_page)

    return asyncio.run(main())


def test_sync_every_issue_of_every_project_with_its_project_fields(jira) -> None:
    run = nested(issues())
    with client(jira) as http:
        records = run.run(http)
    assert [r["key"] for r in records] == jira.expected_issues()
    carried = {r["key"].split("-")[0]: (r["project_key"], r["project_name"]) for r in records}
    assert carried == {f"P{n}": (f"P{n}", f"Project {n}") for n in (1, 3, 4, 5)}  # P2 has no issues
    # 3 project pages (5 projects, 2 a page), then per project ceil(issues / 3) pages, at least 1
    assert jira.count("GET", "/rest/api/3/project/search") == 3
    assert jira.count("GET", "/rest/api/3/search") == 3 + 1 + 1 + 4 + 1
    assert run.children_fetched == 5 and run.records == 21 and run.pages == 3 + 10
    assert jira.in_flight_max == 1


def test_async_children_run_concurrently_and_come_out_in_parent_order(jira) -> None:
    run = nested(issues(concurrency=3))
    records = arun(jira, run)
    assert [r["key"] for r in records] == jira.expected_issues()
    assert 2 <= jira.in_flight_max <= 3  # the children of one page of 2 projects... and of the next pages
    assert run.records == 21


def test_written_page_by_page_in_the_same_order(jira) -> None:
    pages: list[list[str]] = []

    async def write_page(records: list[Any]) -> None:
        pages.append([r["key"] for r in records])

    assert arun(jira, nested(issues()), write_page) is None
    assert [key for page in pages for key in page] == jira.expected_issues()
    assert max(map(len, pages)) <= 3  # one child page at a time: the writer never gets a project's issues whole


def test_children_of_children_carry_every_ancestors_fields(jira) -> None:
    comments = ChildRequests(
        "/rest/api/3/issue/{key}/comment",
        pagination={
            "type": "offset",
            "offset_param": "startAt",
            "limit_param": "maxResults",
            "limit": 50,
            "total_path": "total",
        },
        response_filter="comments",
        include={"issue_key": "key", "project_key": "project_key"},
        concurrency=4,
    )
    sync_run, async_run = nested(issues(children=comments)), nested(issues(children=comments))
    with client(jira) as http:
        synced = sync_run.run(http)
    assert arun(jira, async_run) == synced
    assert [r["id"] for r in synced] == [f"{key}/c{n}" for key in jira.expected_issues() for n in (1, 2)]
    assert all(r["issue_key"] == r["id"].split("/")[0] and r["issue_key"].startswith(r["project_key"] + "-")
               for r in synced)  # fmt: skip
    assert sync_run.children_fetched == 5 + 21


def test_a_failed_child_fails_the_run_unless_a_rule_says_otherwise(jira) -> None:
    jira.removed.add("P3")  # deleted between the project list and its issues
    with client(jira) as http, pytest.raises(ApiHTTPError, match=r"GET /rest/api/3/search answered 404"):
        nested(issues()).run(http)
    records = arun(jira, nested(issues(response_actions={404: "empty"})))
    assert [r["key"] for r in records] == [k for k in jira.expected_issues() if not k.startswith("P3-")]


def test_placeholders_fill_path_segments_query_json_and_headers() -> None:
    parent = {"id": 17, "key": "A/B C", "meta": {"since": "2026-01-01"}, "tags": ["x"]}
    assert fill("/projects/{key}/issues", parent, "endpoint", segment=True) == "/projects/A%2FB%20C/issues"
    assert fill({"id": "{id}", "q": "id = {id} AND since {meta.since}", "n": 3}, parent, "json") == {
        "id": 17, "q": "id = 17 AND since 2026-01-01", "n": 3}  # fmt: skip
    assert fill(["{tags[0]}", "{{literal}}"], parent, "json") == ["x", "{literal}"]
    spec = ChildRequests("/p/{id}", headers={"X-Project": "{id}"}, json={"filter": {"project": "{id}"}})
    request = spec.request_for(parent)
    assert (request.url, request.headers, request.json) == ("/p/17", {"X-Project": "17"}, {"filter": {"project": 17}})
    with pytest.raises(ConfigError, match=r"children\.endpoint.*\{missing\}.*no value there.*its keys: id, key"):
        ChildRequests("/p/{missing}").request_for(parent)


def test_a_bad_spec_is_refused_naming_children() -> None:
    with pytest.raises(ConfigError, match=r"children.*unknown key.*'paginator'"):
        ChildRequests.of({"endpoint": "/x", "paginator": "offset"})
    with pytest.raises(ConfigError, match=r"children.*needs an endpoint"):
        ChildRequests.of({"pagination": "offset"})
    with pytest.raises(ConfigError, match="concurrency"):
        ChildRequests("/x", concurrency=0)
    with pytest.raises(ConfigError, match=r"children\.include\.bad.*cannot parse"):
        ChildRequests("/x", include={"bad": "a..b]"})
    deep: dict[str, Any] = {"endpoint": "/x"}
    for _ in range(5):
        deep = {"endpoint": "/x", "children": deep}
    with pytest.raises(ConfigError, match="at most 5 deep"):
        ChildRequests.of(deep)


def test_the_spec_travels_as_plain_data() -> None:
    spec = issues(children=ChildRequests("/c/{key}", response_actions={404: "empty"}))
    data = spec.to_spec()
    import json

    assert ChildRequests.of(json.loads(json.dumps(data))) == ChildRequests.of(data)
    assert data["pagination"]["type"] == "offset" and data["children"]["response_actions"]
    with pytest.raises(ConfigError, match="children"):
        ChildRequests("/x", response_filter=lambda body: body).to_spec()


def test_a_server_that_caps_the_page_size_loses_no_record() -> None:
    """Jira serves at most 100 issues a page; asked for 250, a paginator stepping by its limit skipped 150 of each
    250. With a total in the answer the offset steps by what the server served, sync and concurrently."""
    with JiraEmulator(projects=1, issues_per_project=[730]) as api:
        spec = {**ISSUES, "limit": 250}
        request = RequestSpec("GET", "/rest/api/3/search", params={"jql": "project = P1"})
        with client(api) as http:
            synced = Fetcher(request, paginator=spec, response_filter="issues").run(http)
        assert [r["key"] for r in synced] == [f"P1-{n}" for n in range(1, 731)]
        concurrent = Fetcher(request, paginator=spec, response_filter="issues", concurrency=4)

        async def main() -> Any:
            async with httpx.AsyncClient(base_url=api.url, auth=(EMAIL, API_TOKEN), timeout=10) as http:
                return await concurrent.arun(http)

        assert [r["key"] for r in asyncio.run(main())] == [f"P1-{n}" for n in range(1, 731)]


def test_a_missing_parent_record_fails_sync_and_async_alike(jira) -> None:
    spec = ChildRequests("/rest/api/3/search", query_params={"jql": "project = {key}"}, response_filter="issues")
    run = nested(spec)

    async def main() -> Any:
        async with httpx.AsyncClient(base_url=jira.url, auth=(EMAIL, API_TOKEN), timeout=10) as http:
            return [page async for page in run._aexpand_all(http, [{"key": "P1"}, None, {"key": "P3"}], spec)]

    with pytest.raises(ConfigError, match=r"children\.query_params.*\{key\}"):
        asyncio.run(main())
