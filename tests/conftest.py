"""Test harness: an isolated AIRFLOW_HOME with a migrated SQLite DB, and DAG runs through `dag.test()`.

The environment is set at import, before anything imports Airflow. Tests of the Airflow-free core never
touch Airflow and pay nothing; tests that use the `airflow_db` fixture (or `run_dag`) migrate once per
session (about 5 s).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_DAGS = ROOT / "tests" / "dags"
EXAMPLE_DAGS = ROOT / "dags_examples"
DOCS_DAGS = ROOT / "docs" / "examples"  # the documentation's samples, run by tests/airflow/test_docs_examples.py

_HOME = Path(tempfile.mkdtemp(prefix="authapi-airflow-home-"))
_DAGS_FOLDER = _HOME / "dags"
_DAGS_FOLDER.mkdir()

AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(_DAGS_FOLDER),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME}/airflow.db",
    "AIRFLOW__CORE__FERNET_KEY": "5sBTJhtpNiqYk3RzMxfHX1IiB8nY3xnHJmyQBVNmmB0=",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    "AIRFLOW__SECRETS__USE_CACHE": "False",
}
os.environ.update(AIRFLOW_ENV)


def _link_dags() -> None:
    for folder in (TEST_DAGS, EXAMPLE_DAGS, DOCS_DAGS):
        for path in folder.glob("*.py"):
            target = _DAGS_FOLDER / path.name
            if not target.exists():
                target.symlink_to(path)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the session's SQLite metadata DB once; return AIRFLOW_HOME."""
    _link_dags()
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        env={**os.environ, **AIRFLOW_ENV},
        capture_output=True,
    )
    return _HOME


def load_dag(dag_id: str, file_stem: str | None = None) -> Any:
    """Import the DAG `dag_id` from the DAGs folder (file `<file_stem or dag_id>.py`)."""
    _link_dags()
    path = _DAGS_FOLDER / f"{file_stem or dag_id}.py"
    spec = importlib.util.spec_from_file_location(f"authapi_test_dag_{path.stem}", path)
    assert spec and spec.loader, f"no DAG file {path}"
    module = importlib.util.module_from_spec(spec)
    from airflow.sdk.definitions._internal.contextmanager import DagContext

    DagContext.autoregistered_dags.clear()
    DagContext.current_autoregister_module_name = spec.name
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        DagContext.current_autoregister_module_name = None
    found = [dag for dag, _ in DagContext.autoregistered_dags] + list(vars(module).values())
    for value in found:
        if getattr(value, "dag_id", None) == dag_id and hasattr(value, "test"):
            return value
    raise LookupError(f"no DAG {dag_id!r} in {path}")


class DagRunResult:
    """A finished `dag.test()` run, with helpers to read its task states and XComs from the metadata DB."""

    def __init__(self, dag_run: Any) -> None:
        self.dag_run = dag_run
        self.run_id = dag_run.run_id
        self.dag_id = dag_run.dag_id

    @property
    def state(self) -> str:
        return str(self.dag_run.state)

    def task_states(self) -> dict[str, str]:
        from airflow.utils.session import create_session

        with create_session() as session:
            tis = self.dag_run.get_task_instances(session=session)
            return {(ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state) for ti in tis}

    def task_seconds(self, task_id: str) -> float:
        """How long the task instance ran, start to end, as the metadata DB recorded it."""
        from airflow.utils.session import create_session

        with create_session() as session:
            ti = next(ti for ti in self.dag_run.get_task_instances(session=session) if ti.task_id == task_id)
            return (ti.end_date - ti.start_date).total_seconds()

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            query = XComModel.get_many(
                run_id=self.run_id, key=key, task_ids=task_id, dag_ids=self.dag_id, map_indexes=map_index
            ).with_only_columns(XComModel.value)
            row = session.execute(query).first()
            if row is None:
                raise LookupError(f"no XCom {key!r} from {task_id!r} in run {self.run_id}")
            return XComModel.deserialize_value(row)


def run_dag(dag_id: str, conf: dict[str, Any] | None = None, file_stem: str | None = None) -> DagRunResult:
    """Run `dag_id` once with `dag.test()`: the real Task SDK serves Connections, Variables and XCom."""
    dag = load_dag(dag_id, file_stem)
    return DagRunResult(dag.test(run_conf=conf))


def conn_env(conn_id: str, **fields: Any) -> tuple[str, str]:
    """(`AIRFLOW_CONN_<ID>`, JSON) for a connection given as Airflow's JSON form."""
    return f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields)


@pytest.fixture
def set_connection(monkeypatch: pytest.MonkeyPatch):
    """Define a connection for this test as `AIRFLOW_CONN_*` JSON: `set_connection("id", conn_type=..., ...)`."""

    def _set(conn_id: str, **fields: Any) -> None:
        name, value = conn_env(conn_id, **fields)
        monkeypatch.setenv(name, value)

    return _set


@pytest.fixture
def artifacts_dir() -> Iterator[Path]:
    """A folder kept after the run (screenshots and the like): test-artifacts/ at the repo root."""
    path = ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    yield path


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)
