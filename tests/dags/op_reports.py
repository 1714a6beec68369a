"""AuthApiReportOperator: an SP-API report created in the worker, then polled and downloaded in the worker or in the
triggerer, to a JSON Lines file, to XCom, or raw; and a report that ends FATAL (its date range ends before it starts).
Connection `amazon_sp` (the emulator's); `dag_run.conf["out_dir"]` is where the files go."""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag

from airflow_provider_authapi.operators import AuthApiReportOperator

OUT = "file://{{ dag_run.conf['out_dir'] }}"
REPORT = {
    "endpoint": "/reports/2021-06-30/reports",
    "json": {
        "reportType": "GET_FLAT_FILE_OPEN_LISTINGS_DATA",
        "marketplaceIds": ["ATVPDKIKX0DER"],
        "dataStartTime": "{{ dag_run.conf.get('since', '2026-01-01T00:00:00Z') }}",
    },
    "id_path": "reportId",
    "poll_endpoint": "/reports/2021-06-30/reports/{reportId}",
    "status_path": "processingStatus",
    "done": ["DONE"],
    "failed": ["FATAL", "CANCELLED"],
    "poll_interval": "{{ dag_run.conf.get('poll_interval', 0.05) }}",  # rendered as text, read as seconds
    "timeout": 60,
    "document_endpoint": "/reports/2021-06-30/documents/{reportDocumentId}",
    "url_path": "url",
    "compression_path": "compressionAlgorithm",
}
TSV = {"format": "csv", "delimiter": "\t"}
BACKWARDS = {**REPORT["json"], "dataStartTime": "2026-02-01T00:00:00Z", "dataEndTime": "2026-01-01T00:00:00Z"}


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def op_reports():
    common = {"authapi_conn_id": "amazon_sp", "retries": 0, "request_retry": {"attempts": 3, "backoff": 0.05}}
    for deferrable in (False, True):
        suffix = "_deferred" if deferrable else ""
        AuthApiReportOperator(
            task_id=f"to_file{suffix}",
            report=REPORT,
            decoder=TSV,
            output_path=f"{OUT}/listings{suffix}.jsonl",
            deferrable=deferrable,
            outlets=[Asset(f"file:///reports/listings{suffix}")],
            **common,
        )
        AuthApiReportOperator(task_id=f"to_xcom{suffix}", report=REPORT, decoder=TSV, deferrable=deferrable, **common)
        AuthApiReportOperator(
            task_id=f"raw{suffix}",
            report=REPORT,
            decoder="raw",
            output_path=f"{OUT}/listings{suffix}.tsv.gz",
            deferrable=deferrable,
            **common,
        )
        AuthApiReportOperator(
            task_id=f"fatal{suffix}",
            report={**REPORT, "json": BACKWARDS},
            decoder=TSV,
            deferrable=deferrable,
            **common,
        )


op_reports()
