"""Jira Cloud end to end: the example DAG pulls every project's issues as children of the project list, eight
searches at once, in a worker and in the triggerer, every issue once, in project order, with its project's key."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from airflow_provider_authapi.hooks.authapi import reset_token_managers
from tests.conftest import run_dag
from tests.emulators.jira import API_TOKEN, EMAIL, JiraEmulator

COUNTS = [(n * 53) % 260 for n in range(60)]  # 0 to 257 issues: none, one page, several; 60 projects, 2 pages
# gone after the project list was read: one answers 404, the other as Jira does a JQL naming no project, 400
GONE_404, GONE_400 = "P8", "P13"


@pytest.fixture
def jira() -> Iterator[JiraEmulator]:
    reset_token_managers()
    with JiraEmulator(projects=len(COUNTS), issues_per_project=COUNTS, delay=0.01, max_in_flight=8) as api:
        yield api
    reset_token_managers()


def lines_of(summary: dict) -> bytes:
    return Path(summary["path"].removeprefix("file://")).read_bytes()


def test_emulator_searches_by_next_page_token_with_the_fields_asked(jira):
    auth = (EMAIL, API_TOKEN)
    assert httpx.get(f"{jira.url}/rest/api/3/search/jql", params={"jql": "project = P3"}).status_code == 401
    query = {"jql": "project = P3 ORDER BY created", "fields": "summary", "maxResults": 100}
    first = httpx.get(f"{jira.url}/rest/api/3/search/jql", params=query, auth=auth).json()
    assert len(first["issues"]) == 100 and first["isLast"] is False and "total" not in first
    assert first["issues"][0] == {"id": "P3-1", "key": "P3-1", "fields": {"summary": "Issue 1 of P3"}}
    pages = [first]
    while "nextPageToken" in pages[-1]:
        more = {**query, "nextPageToken": pages[-1]["nextPageToken"]}
        pages.append(httpx.get(f"{jira.url}/rest/api/3/search/jql", params=more, auth=auth).json())
    assert [len(page["issues"]) for page in pages] == [100, 6] and pages[-1]["isLast"] is True  # P3: 106 issues
    other = {**query, "jql": "project = P4", "nextPageToken": first["nextPageToken"]}
    assert httpx.get(f"{jira.url}/rest/api/3/search/jql", params=other, auth=auth).status_code == 400
    missing = httpx.get(f"{jira.url}/rest/api/3/search/jql", params={"jql": "project = NOPE"}, auth=auth)
    assert missing.status_code == 400 and "does not exist for the field 'project'" in missing.text


def test_jira_issues_dag(airflow_db, jira, set_connection, tmp_path, capfd):
    set_connection("jira", **jira.airflow_connection())
    jira.removed.add(GONE_404)
    del jira.issue_counts[GONE_400]  # still in the project list, gone from search
    run = run_dag("jira_issues", conf={"out_url": f"file://{tmp_path}"})
    assert run.state == "success", run.task_states()

    expected = [key for key in jira.expected_issues() if not key.startswith(f"{GONE_404}-")]
    assert len(expected) > 7_000
    issues, deferred = run.xcom("issues"), run.xcom("issues_deferred")
    assert issues["records"] == deferred["records"] == len(expected)
    assert lines_of(issues) == lines_of(deferred)  # the worker's file and the triggerer's, byte for byte
    records = [json.loads(line) for line in lines_of(issues).splitlines()]
    assert [r["key"] for r in records] == expected  # every issue once, projects in list order, issues by created
    assert all(r["project_key"] == r["key"].split("-")[0] for r in records)  # carried in from the parent
    assert all(set(r["fields"]) == {"summary", "updated"} for r in records)  # the child query's fields
    projects = sum(1 for key, count in jira.issue_counts.items() if count and key != GONE_404)
    assert run.xcom("count") == {
        "issues.jsonl": {"records": len(expected), "projects": projects},
        "issues-deferred.jsonl": {"records": len(expected), "projects": projects},
    }

    assert 2 <= jira.in_flight_max <= 8 and jira.refused == 0  # eight searches at once, never a ninth
    pages = {key: 1 if key == GONE_404 else max(1, -(-count // 100)) for key, count in jira.issue_counts.items()}
    searches = sum(pages.values()) + 1  # and the one answered 400
    assert jira.count("GET", "/rest/api/3/search/jql") == 2 * searches
    assert jira.count("GET", "/rest/api/3/project/search") == 2 * 2  # 60 projects, 50 a page

    logs = capfd.readouterr()
    logged = logs.out + logs.err
    assert f"Wrote {len(expected)} records" in logged  # the task logs were captured
    basic = base64.b64encode(f"{EMAIL}:{API_TOKEN}".encode()).decode()
    published = json.dumps([issues, deferred, run.xcom("count")])
    for secret in (API_TOKEN, basic):
        assert secret not in logged and secret not in published
