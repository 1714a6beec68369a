"""Stripe: each day's charges, a bounded pull of the data interval that also catches charges recorded late.

Connection `stripe` (type `authapi_bearer`, Bearer token API): API base URL `https://api.stripe.com`, Token your
secret key (a restricted key with read access to charges is enough).

Stripe lists page by `starting_after` (the last object's id) until `has_more` is false, and filter on `created`
in epoch seconds. `incremental=` sends `created[gte]`: the data interval's start the first time, afterwards the
newest `created` the task has loaded, one hour back (`lookback`: charges that reach the API late); `created[lte]`
is the interval's last second (`end`, which the mark never passes). `primary_key` drops a charge the run already
had. The mark is the Variable `authapi_mark_stripe_charges.<task>`; the records stream to JSON Lines, and
`charges_deferred` runs the same pull in the triggerer.

Run it against the local emulator: `bash scripts/demo.sh stripe` (see docs/systems/).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

try:
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 3.1: the same timetable, before it joined the Task SDK (3.2)
    from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_authapi.operators import AuthApiOperator

# [START stripe]
CHARGES = {
    "authapi_conn_id": "stripe",
    "endpoint": "/v1/charges",
    "query_params": {"limit": 100},
    "response_filter": "data",
    "pagination": {
        "type": "cursor",
        "cursor_path": "last_record:id",
        "cursor_param": "starting_after",
        "has_more_path": "has_more",
    },
    "incremental": {
        "cursor_path": "created",
        "param": "created[gte]",
        "initial": "{{ data_interval_start.int_timestamp }}",
        "lookback": 3600,
        "end": "{{ data_interval_end.int_timestamp - 1 }}",
        "end_param": "created[lte]",
        "format": "epoch",
        "primary_key": "id",
    },
}
# [END stripe]


@dag(
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"out_url": "file:///tmp/authapi-stripe"},
    tags=["authapi", "stripe", "incremental"],
)
def stripe_charges():
    sync = AuthApiOperator(
        task_id="charges", output_path="{{ params.out_url }}/{{ ts_nodash }}/charges.jsonl", **CHARGES
    )
    deferred = AuthApiOperator(
        task_id="charges_deferred",
        output_path="{{ params.out_url }}/{{ ts_nodash }}/charges-deferred.jsonl",
        deferrable=True,
        **CHARGES,
    )

    @task
    def report(*summaries: dict) -> dict:
        """How many charges each pull loaded (a warehouse merge by `id` would follow)."""
        return {summary["path"].rsplit("/", 1)[-1]: summary["records"] for summary in summaries}

    report(sync.output, deferred.output)


stripe_charges()
