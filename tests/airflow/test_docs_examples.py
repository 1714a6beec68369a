"""The documentation's recipes run: `docs/examples/docs_recipes.py`, whose parts the docs pages include (see
tests/test_manual.py for the rule that every docs sample is such a file)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_authapi.hooks.authapi import reset_token_managers
from tests.conftest import run_dag
from tests.emulators.paged_api import PagedApiEmulator


@pytest.fixture
def orders_api(set_connection) -> Iterator[PagedApiEmulator]:
    reset_token_managers()
    with PagedApiEmulator(total=12) as api:
        set_connection("orders_api", conn_type="authapi_none", host=api.url)
        yield api
    reset_token_managers()


def test_the_docs_recipes_dag_runs(airflow_db, orders_api):
    result = run_dag("docs_recipes")
    assert result.state == "success", result.task_states()
    assert result.xcom("wait") == {"rows": 42}  # the job was polled until done, then its result filtered
    assert orders_api.count("GET", r"/jobs/(?P<job>\w+)") >= 2
    assert result.xcom("ids") == list(range(1, 11))  # the first page's ids (the emulator's default limit 10)
    assert [result.xcom("detail", map_index=i)["id"] for i in range(10)] == list(range(1, 11))
    assert [r["id"] for r in result.xcom("first_changes")] == [1, 2, 3, 4, 5]
    assert result.xcom("every_change") == 12  # two offset pages through the hook's client
