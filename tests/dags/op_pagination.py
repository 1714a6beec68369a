"""AuthApiOperator against the paged API emulator: every pagination style, filters, templating, a JSON Lines
file, and a downstream task that reads all their XComs (connection `paged_api`, see tests/airflow)."""

from __future__ import annotations

import pendulum
from airflow.sdk import ObjectStoragePath, dag, task

from airflow_provider_authapi.api import CursorPaginator, PageNumberPaginator, QuickBooksPaginator
from airflow_provider_authapi.operators import AuthApiOperator


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def op_pagination():
    common = {"authapi_conn_id": "paged_api"}
    json_link = AuthApiOperator(
        task_id="json_link",
        endpoint="/json-link",
        query_params={"per_page": 10},
        pagination="json_link",
        response_filter="results",
        **common,
    )
    header_link = AuthApiOperator(
        task_id="header_link", endpoint="/header-link?per_page=10", pagination="header_link", **common
    )
    offset = AuthApiOperator(
        task_id="offset",
        endpoint="/offset",
        pagination={"type": "offset", "limit": 10},
        response_filter="items",
        **common,
    )
    page_number = AuthApiOperator(
        task_id="page_number",
        endpoint="/page-number",
        pagination=PageNumberPaginator(page_size=10, page_size_param="size", total_pages_path="total_pages"),
        response_filter="data",
        **common,
    )
    cursor = AuthApiOperator(
        task_id="cursor",
        endpoint="/cursor",
        query_params={"limit": 10},
        pagination=CursorPaginator(cursor_path="next_cursor", cursor_param="cursor"),
        response_filter="records",
        max_pages=2,
        **common,
    )
    quickbooks = AuthApiOperator(
        task_id="quickbooks",
        endpoint="/v3/company/{realm_id}/query",
        query_params={"query": "select * from Customer", "minorversion": "75"},
        pagination=QuickBooksPaginator(page_size=10),
        response_filter="QueryResponse.Customer",
        **common,
    )
    names = AuthApiOperator(
        task_id="names",
        endpoint="/offset",
        query_params={"limit": "{{ dag_run.conf['limit'] }}"},
        headers={"X-Run": "{{ run_id }}"},
        response_filter="items[*].name",
        **common,
    )
    to_file = AuthApiOperator(
        task_id="to_file",
        endpoint="/offset",
        pagination={"type": "offset", "limit": 7},
        response_filter="items",
        output_path="file://{{ dag_run.conf['out_dir'] }}/items.jsonl",
        **common,
    )

    @task
    def summarize(json_link, header_link, offset, page_number, cursor, quickbooks, names, to_file) -> dict:
        with ObjectStoragePath(to_file["path"]).open("r") as lines:
            file_lines = sum(1 for _ in lines)
        return {
            "json_link": [r["id"] for r in json_link],
            "header_link": [r["id"] for r in header_link],
            "offset": [r["id"] for r in offset],
            "page_number": [r["id"] for r in page_number],
            "cursor": [r["id"] for r in cursor],
            "quickbooks": [c["Id"] for c in quickbooks],
            "names": names,
            "to_file": to_file,
            "file_lines": file_lines,
        }

    summarize(
        json_link.output,
        header_link.output,
        offset.output,
        page_number.output,
        cursor.output,
        quickbooks.output,
        names.output,
        to_file.output,
    )


op_pagination()
