"""Smoke DAG for the harness: a Variable set in one task is read by the next, results go through XCom."""

from __future__ import annotations

import pendulum
from airflow.sdk import Variable, dag, task


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def harness_smoke():
    @task
    def write() -> int:
        Variable.set("harness_smoke_value", "41")
        return 1

    @task
    def read(one: int) -> int:
        return int(Variable.get("harness_smoke_value")) + one

    read(write())


harness_smoke()
