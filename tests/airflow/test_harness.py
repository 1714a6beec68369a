from __future__ import annotations

from tests.conftest import run_dag


def test_dag_test_serves_variables_and_xcom(airflow_db):
    result = run_dag("harness_smoke")
    assert result.state == "success", result.task_states()
    assert result.xcom("read") == 42
