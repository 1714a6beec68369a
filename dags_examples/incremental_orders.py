"""Load only what changed, two ways, against an API that filters on `updated_at` (`/changes`).

1. Airflow's own idiom, `orders_in_interval`: each run asks for its data interval with templated query
   parameters, `updated_since={{ data_interval_start | ts }}` and `updated_until={{ data_interval_end | ts }}`.
   Re-running a past interval (a backfill, a clear) asks for exactly that interval again. The schedule is a
   `CronDataIntervalTimetable`: in Airflow 3 a cron string alone (`"@daily"`) makes a `CronTriggerTimetable`,
   whose runs have an empty interval (start == end), unless `[scheduler] create_cron_data_intervals = True`.
2. A high-water mark, `orders_changed`: `incremental=` sends the largest `updated_at` the previous successful run
   saw (`initial` the first time) and saves the new one when the task succeeds. With the `ORDERS` asset as outlet
   the mark lives in that asset's state store (key `high_water_mark`), and the asset event's extra carries
   `records`, `path` and `high_water_mark` for DAGs scheduled on the asset, such as `orders_report` below.

Run it against the local paged emulator: `python -m tests.emulators.paged_api 8765`, then a connection
`AIRFLOW_CONN_ORDERS_API='{"conn_type": "authapi_none", "host": "http://127.0.0.1:8765"}'`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task

try:
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 3.1: the same timetable, before it joined the Task SDK (3.2)
    from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_authapi.operators import AuthApiOperator

# [START asset]
ORDERS = Asset(name="orders_changed", uri="file:///tmp/authapi-orders/changed")
# [END asset]


@dag(
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"out_url": "file:///tmp/authapi-orders"},
    tags=["authapi", "incremental"],
)
def incremental_orders():
    # [START interval]
    AuthApiOperator(
        task_id="orders_in_interval",
        authapi_conn_id="orders_api",
        endpoint="/changes",
        query_params={
            "updated_since": "{{ data_interval_start | ts }}",
            "updated_until": "{{ data_interval_end | ts }}",
        },
        pagination={"type": "offset", "limit": 100},
        response_filter="items",
        output_path="{{ params.out_url }}/{{ ds }}/interval.jsonl",
    )
    # [END interval]
    # [START mark]
    AuthApiOperator(
        task_id="orders_changed",
        authapi_conn_id="orders_api",
        endpoint="/changes",
        pagination={"type": "offset", "limit": 100},
        response_filter="items",
        incremental={"cursor_path": "updated_at", "param": "updated_since", "initial": "2026-01-01T00:00:00Z"},
        output_path="{{ params.out_url }}/{{ ts_nodash }}/changed.jsonl",
        outlets=[ORDERS],
    )
    # [END mark]


# [START consumer]
@dag(schedule=[ORDERS], start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["authapi"])
def orders_report():
    @task
    def report(triggering_asset_events=None) -> list[dict]:
        """What each orders load said in its asset event: how many records, where, and up to which mark."""
        return [event.extra for event in triggering_asset_events[ORDERS]]

    report()


# [END consumer]


incremental_orders()
orders_report()
