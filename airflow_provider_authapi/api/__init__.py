"""Airflow-free request layer: pagination, response filters, retries and JSON Lines output over httpx."""

from __future__ import annotations

from airflow_provider_authapi.api.fetch import Fetcher, ResponseCheckError, as_records, parse_body
from airflow_provider_authapi.api.output import JsonLinesWriter
from airflow_provider_authapi.api.pagination import (
    PAGINATORS,
    BasePaginator,
    CursorPaginator,
    HeaderLinkPaginator,
    JSONLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PaginationError,
    QuickBooksPaginator,
    get_paginator,
)
from airflow_provider_authapi.api.request import RequestSpec
from airflow_provider_authapi.api.response_filter import ResponseFilter, find_path
from airflow_provider_authapi.api.retry import ApiHTTPError, ApiTransportError, RetryPolicy, asend, send

__all__ = [
    "PAGINATORS",
    "ApiHTTPError",
    "ApiTransportError",
    "BasePaginator",
    "CursorPaginator",
    "Fetcher",
    "HeaderLinkPaginator",
    "JSONLinkPaginator",
    "JsonLinesWriter",
    "OffsetPaginator",
    "PageNumberPaginator",
    "PaginationError",
    "QuickBooksPaginator",
    "RequestSpec",
    "ResponseCheckError",
    "ResponseFilter",
    "RetryPolicy",
    "as_records",
    "asend",
    "find_path",
    "get_paginator",
    "parse_body",
    "send",
]
