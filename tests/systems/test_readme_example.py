"""The README's example DAG, as written there, runs against the Dastra emulator."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_authapi.hooks.authapi import reset_token_managers
from tests.conftest import AIRFLOW_ENV, ROOT, run_dag
from tests.emulators.dastra import DastraEmulator


@pytest.fixture
def dastra() -> Iterator[DastraEmulator]:
    reset_token_managers()
    with DastraEmulator() as api:
        yield api
    reset_token_managers()


def test_the_readme_example_dag_runs_as_written(airflow_db, dastra, set_connection):
    (code,) = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(code.splitlines()) <= 30, "the README's example is meant to stay short"
    (Path(AIRFLOW_ENV["AIRFLOW__CORE__DAGS_FOLDER"]) / "readme_example.py").write_text(code)
    set_connection("dastra", **dastra.airflow_connection())
    run = run_dag("readme_example")
    assert run.state == "success", run.task_states()
    assert run.xcom("list_workspaces") == dastra.workspaces
    assert run.xcom("count") == len(dastra.workspaces) == 3
    assert dastra.token_requests == 1
