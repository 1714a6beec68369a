"""AuthApiOperator(decoder=...): streamed exports decoded to JSON Lines files, to XCom, or written raw, each in the
worker and deferred to the triggerer. Connections `exports_api` (bearer) and `exports_slow` (the same, timeout
0.5 s); `dag_run.conf["out_dir"]` is where the files go."""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag

from airflow_provider_authapi.operators import AuthApiOperator

OUT = "file://{{ dag_run.conf['out_dir'] }}"
EXPORTS = {
    "csv_gz": ("/export.csv.gz", {"format": "csv", "compression": "gzip"}, "jsonl"),
    "jsonl": ("/export.jsonl", "jsonl", "jsonl"),
    "xml": ("/export.xml", {"format": "xml", "record_tag": "item"}, "jsonl"),
    "raw": ("/export.csv.gz", "raw", "csv.gz"),
}


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def op_decoders():
    common = {"authapi_conn_id": "exports_api", "retries": 0}
    for name, (endpoint, decoder, suffix) in EXPORTS.items():
        for deferrable in (False, True):
            task_id = f"{name}_deferred" if deferrable else name
            AuthApiOperator(
                task_id=task_id,
                endpoint=endpoint,
                decoder=decoder,
                output_path=f"{OUT}/{task_id}.{suffix}",
                deferrable=deferrable,
                outlets=[Asset(f"file:///exports/{task_id}")],
                **common,
            )
    for deferrable in (False, True):
        AuthApiOperator(
            task_id="csv_to_xcom_deferred" if deferrable else "csv_to_xcom",
            endpoint="/flaky/export.csv",
            query_params={"fail": 1, "key": f"dag-{deferrable}"},  # a 503 first: retried before the body is read
            decoder="csv",
            deferrable=deferrable,
            request_retry={"attempts": 3, "backoff": 0.05},
            **common,
        )
        AuthApiOperator(
            task_id="paged_deferred" if deferrable else "paged",
            endpoint="/paged/export.jsonl",
            query_params={"per_page": 15},
            pagination="header_link",
            decoder="jsonl",
            output_path=f"{OUT}/paged_{deferrable}.jsonl",
            deferrable=deferrable,
            **common,
        )
        AuthApiOperator(
            task_id="incremental_deferred" if deferrable else "incremental",
            endpoint="/export.csv.gz",
            decoder="csv+gzip",
            incremental={"cursor_path": "id", "param": "since", "initial": "0"},  # the mark: the largest id, 40
            output_path=f"{OUT}/incremental_{deferrable}.jsonl",
            deferrable=deferrable,
            **common,
        )
        AuthApiOperator(
            task_id="stalled_deferred" if deferrable else "stalled",
            authapi_conn_id="exports_slow",
            endpoint="/stall/export.csv",
            query_params={"after": 1500, "seconds": 3},
            decoder="csv",
            output_path=f"{OUT}/stalled_{deferrable}.jsonl",
            deferrable=deferrable,
            retries=0,
        )


op_decoders()
