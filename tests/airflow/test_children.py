"""Parent/child extraction through `AuthApiOperator(children=...)` (issue 25 item 1): the real Task SDK under
`dag.test()`, in a worker (XCom and a file) and deferred in the trigger, against the Jira emulator; the core's own
tests are tests/api/test_children.py."""

from __future__ import annotations

import json

import pytest

from airflow_provider_authapi.auth.errors import ConfigError
from tests.conftest import run_dag
from tests.emulators.jira import API_TOKEN, EMAIL, JiraEmulator


def test_children_in_a_worker_and_deferred_give_every_issue_with_its_project(airflow_db, set_connection, tmp_path):
    with JiraEmulator(projects=5, issues_per_project=[7, 0, 3, 10, 1], delay=0.02) as jira:
        jira.removed.add("P5")  # gone between the two calls: a child rule answers its 404 with no records
        set_connection("jira_children", conn_type="authapi_basic", host=jira.url, login=EMAIL, password=API_TOKEN)
        result = run_dag("op_children", {"out": str(tmp_path), "fields": "summary"})
        assert result.state == "success", result.task_states()
        expected = [key for key in jira.expected_issues() if not key.startswith("P5-")]
        in_xcom = result.xcom("in_xcom")
        assert [r["key"] for r in in_xcom] == expected
        assert all(r["project_key"] == r["key"].split("-")[0] for r in in_xcom)
        for task_id in ("to_file", "deferred"):
            assert result.xcom(task_id) == {"path": str(tmp_path / f"{task_id}.jsonl"), "records": len(expected)}
            lines = [json.loads(line) for line in (tmp_path / f"{task_id}.jsonl").read_text().splitlines()]
            assert lines == in_xcom
        assert 2 <= jira.in_flight_max <= 4  # children 4 at a time, in the worker as in the triggerer
        # the templated child query reached every child request
        assert jira.count("GET", "/rest/api/3/search") == 3 * (3 + 1 + 1 + 4 + 1)


def test_children_with_incremental_are_refused_naming_children() -> None:
    from airflow_provider_authapi.operators import AuthApiOperator

    with pytest.raises(ConfigError, match=r"children.*incremental with children is not supported"):
        AuthApiOperator(task_id="x", endpoint="/p", children={"endpoint": "/c/{id}"},
                        incremental={"cursor_path": "updated", "param": "since"})  # fmt: skip
    with pytest.raises(ConfigError, match=r"children.*unknown key"):
        AuthApiOperator(task_id="y", endpoint="/p", children={"endpoint": "/c/{id}", "paginator": "offset"})
