"""What a task gets when it asks for every connection with a stored token (see tests/airflow/test_keep_warm.py):
the ids on Airflow 3.3, the message naming the version it needs before."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def keep_warm_listing():
    @task
    def listing() -> dict:
        from airflow_provider_authapi.compat import NeedsNewerAirflow
        from airflow_provider_authapi.maintenance import stored_conn_ids

        try:
            return {"ids": stored_conn_ids()}
        except NeedsNewerAirflow as exc:
            return {"error": str(exc)}

    listing()


keep_warm_listing()
