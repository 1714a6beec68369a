"""Airflow-free request layer over httpx: pagination, response filters, sending with retries, JSON Lines output.

The errors, the retry policy and the path language live in the auth core and are re-exported here. The request
arguments the operator, the sensor and the trigger share (`ApiCall`) sit with the Airflow hook that runs them.
"""

from __future__ import annotations

from airflow_provider_authapi.api.fetch import Fetcher, as_records, parse_body
from airflow_provider_authapi.api.output import JsonLinesWriter
from airflow_provider_authapi.api.pagination import (
    PAGINATORS,
    BasePaginator,
    CursorPaginator,
    HeaderLinkPaginator,
    JSONLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    QuickBooksPaginator,
    RequestSpec,
    RequestTarget,
    ResponseFilter,
    ResponseSource,
    SortKeySplitPaginator,
    get_paginator,
)
from airflow_provider_authapi.api.sending import asend, send
from airflow_provider_authapi.auth.errors import ApiHTTPError, ApiTransportError, PaginationError, ResponseCheckError
from airflow_provider_authapi.auth.json_path import find_path
from airflow_provider_authapi.auth.retry import RetryPolicy

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
    "RequestTarget",
    "ResponseCheckError",
    "ResponseFilter",
    "ResponseSource",
    "RetryPolicy",
    "SortKeySplitPaginator",
    "as_records",
    "asend",
    "find_path",
    "get_paginator",
    "parse_body",
    "send",
]
