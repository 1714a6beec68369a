"""Amazon Selling Partner API: a seller's open listings through the Reports API, as one deferrable task, then a summary.

Connection `amazon_sp` (type `authapi_oauth2`, OAuth 2.0 API): API base URL = the region's SP-API endpoint
(`https://sellingpartnerapi-na.amazon.com`, `-eu`, `-fe`); login = the app's LWA client id, password = its client
secret; `grant_type` `refresh_token` with the refresh token the seller's authorization gave, `login_url`
`https://api.amazon.com/auth/o2/token`, `client_auth` `body` (Login with Amazon wants the client in the form), and
the access token in the `x-amz-access-token` header with no prefix (`header_name`, `header_prefix` empty).

A report is made in three steps: `createReport` answers a `reportId`; `getReport` says `IN_QUEUE`, `IN_PROGRESS`,
then `DONE` (or `FATAL`, `CANCELLED`) with a `reportDocumentId`; `getReportDocument` answers a presigned S3 URL,
good for five minutes, and `"compressionAlgorithm": "GZIP"`. `AuthApiReportOperator` does all three as one task:
the create in a worker, the polls (a minute apart) and the download in the triggerer, the document fetched with no
credential (S3 refuses a second one, and the URL is the credential) and decoded as tab-separated text to a JSON Lines
file.

Run it against the local emulator: `bash scripts/demo.sh amazon_sp` (see docs/systems/).
"""

from __future__ import annotations

import json
from typing import Any

import pendulum
from airflow.sdk import ObjectStoragePath, dag, task

from airflow_provider_authapi.operators import AuthApiReportOperator


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"out_url": "file:///tmp/authapi-amazon-sp", "marketplace": "ATVPDKIKX0DER", "poll_interval": 60},
    tags=["authapi", "amazon_sp"],
)
def amazon_sp_reports():
    # [START amazon_sp_report]
    listings = AuthApiReportOperator(
        task_id="open_listings",
        authapi_conn_id="amazon_sp",
        report={
            "endpoint": "/reports/2021-06-30/reports",  # createReport
            "json": {"reportType": "GET_FLAT_FILE_OPEN_LISTINGS_DATA", "marketplaceIds": ["{{ params.marketplace }}"]},
            "id_path": "reportId",
            "poll_endpoint": "/reports/2021-06-30/reports/{reportId}",  # getReport: {reportId} of the answer
            "status_path": "processingStatus",
            "done": ["DONE"],
            "failed": ["FATAL", "CANCELLED"],
            "poll_interval": "{{ params.poll_interval }}",
            "timeout": 2 * 3600,
            "document_endpoint": "/reports/2021-06-30/documents/{reportDocumentId}",  # getReportDocument
            "url_path": "url",  # the presigned URL: never logged, never in XCom
            "compression_path": "compressionAlgorithm",  # GZIP: the decoder's gzip
        },
        decoder={"format": "csv", "delimiter": "\t"},  # Amazon's flat files: tab-separated, a header row
        output_path="{{ params.out_url }}/{{ ts_nodash }}/open-listings.jsonl",
        deferrable=True,  # the polls wait in the triggerer: no worker slot while Amazon makes the report
    )
    # [END amazon_sp_report]

    @task
    def summarize(report: dict[str, Any]) -> dict[str, Any]:
        """Downstream: read the listings back from their file; count them and what is in stock."""
        with ObjectStoragePath(report["path"]).open("r") as lines:
            rows = [json.loads(line) for line in lines]
        in_stock = [row for row in rows if int(row["quantity"]) > 0]
        return {
            "report_id": report["report_id"],
            "listings": len(rows),
            "distinct_skus": len({row["sku"] for row in rows}),
            "in_stock": len(in_stock),
            "units": sum(int(row["quantity"]) for row in rows),
            "dearest": max(rows, key=lambda row: float(row["price"]))["sku"] if rows else None,
        }

    summarize(listings.output)


amazon_sp_reports()
