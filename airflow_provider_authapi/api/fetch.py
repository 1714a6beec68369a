"""The page loop shared by the operator (sync) and the trigger (async).

fetcher = Fetcher(RequestSpec("GET", "/items"), paginator="offset", response_filter="items")
records = fetcher.run(client)                 # all records, or the filtered body when not paginated
with JsonLinesWriter(path) as out:
    fetcher.run(client, out)                  # streams page by page; returns {"path", "records"}
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from typing import Any

import httpx

from airflow_provider_authapi.api.output import JsonLinesWriter
from airflow_provider_authapi.api.pagination import BasePaginator, PaginatorSpec, get_paginator
from airflow_provider_authapi.api.request import RequestSpec
from airflow_provider_authapi.api.response_filter import ResponseFilter
from airflow_provider_authapi.api.send import asend, send
from airflow_provider_authapi.auth.errors import ResponseCheckError
from airflow_provider_authapi.auth.retry import API_RETRY, RetryPolicy

log = logging.getLogger(__name__)

ResponseCheck = Callable[[Any], bool]


def parse_body(response: httpx.Response) -> Any:
    """The JSON body, the text when it is not JSON, or None when empty."""
    if not response.content:
        return None
    if "json" in response.headers.get("content-type", ""):
        return response.json()
    try:
        return json.loads(response.content)
    except ValueError:
        return response.text


def as_records(value: Any) -> list[Any]:
    """A page's records: a list as is, None as no records, anything else as one record."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class Fetcher:
    """One request spec, optionally paginated, filtered and checked, with bounded retries per page."""

    def __init__(
        self,
        request: RequestSpec,
        *,
        paginator: PaginatorSpec = None,
        response_filter: Any = None,
        response_check: ResponseCheck | None = None,
        retry: RetryPolicy | None = None,
        max_pages: int | None = None,
        secrets: Collection[str] = (),
        logger: logging.Logger | Any = log,
        ok_statuses: Collection[int] = (),
    ) -> None:
        self.request = request
        self.paginator_spec = paginator
        self.response_filter = ResponseFilter.of(response_filter)
        self.response_check = response_check
        self.retry = retry or API_RETRY
        self.max_pages = max_pages
        self.secrets = tuple(secrets)
        self.log = logger
        self.ok_statuses = ok_statuses
        self.pages = 0
        self.records = 0

    # -- one page ----------------------------------------------------------------------------------------------

    def _send_kwargs(self) -> dict[str, Any]:
        return {"ok_statuses": self.ok_statuses, "secrets": self.secrets, "logger": self.log}

    def _page(self, response: httpx.Response, paginator: BasePaginator | None) -> list[Any] | Any:
        body = parse_body(response)
        if self.response_check is not None and not self.response_check(body):
            raise ResponseCheckError(f"response_check returned False for page {self.pages + 1}")
        value = self.response_filter(body) if self.response_filter else body
        self.pages += 1
        if paginator is None:
            return value
        records = as_records(value)
        self.records += len(records)
        paginator.update_state(response, body, records)
        self.log.info("Page %d: %d records so far", self.pages, self.records)
        return records

    def _more(self, paginator: BasePaginator) -> bool:
        if not paginator.has_next_page:
            return False
        if self.max_pages is not None and self.pages >= self.max_pages:
            self.log.info("Stopping after max_pages=%d", self.max_pages)
            return False
        return True

    def _start(self) -> tuple[RequestSpec, BasePaginator | None]:
        self.pages = self.records = 0
        request, paginator = self.request.copy(), get_paginator(self.paginator_spec)
        if paginator is not None:
            paginator.init_request(request)
        return request, paginator

    # -- sync --------------------------------------------------------------------------------------------------

    def iter_pages(self, client: httpx.Client) -> Iterator[list[Any]]:
        """Yield each page's records (paginated mode)."""
        request, paginator = self._start()
        if paginator is None:
            raise ValueError("iter_pages() needs a paginator")
        while True:
            yield self._page(send(client, request, self.retry, **self._send_kwargs()), paginator)
            if not self._more(paginator):
                return
            paginator.update_request(request)

    def run(self, client: httpx.Client, writer: JsonLinesWriter | None = None) -> Any:
        """All records (paginated), or the filtered body; with `writer`, stream to it and return a summary."""
        if self.paginator_spec is None:
            request, _ = self._start()
            value = self._page(send(client, request, self.retry, **self._send_kwargs()), None)
            return self._summary(writer, [as_records(value)]) if writer else value
        if writer is not None:
            return self._summary(writer, self.iter_pages(client))
        results: list[Any] = []
        for records in self.iter_pages(client):
            results.extend(records)
        return results

    def poke(self, client: httpx.Client) -> tuple[bool, Any]:
        """One sensor poke: (done, filtered body). Not done on an `ok_statuses` answer (e.g. 404)."""
        request, _ = self._start()
        response = send(client, request, self.retry, **self._send_kwargs())
        return self._poke_result(response)

    # -- async -------------------------------------------------------------------------------------------------

    async def aiter_pages(self, client: httpx.AsyncClient) -> AsyncIterator[list[Any]]:
        request, paginator = self._start()
        if paginator is None:
            raise ValueError("aiter_pages() needs a paginator")
        while True:
            yield self._page(await asend(client, request, self.retry, **self._send_kwargs()), paginator)
            if not self._more(paginator):
                return
            paginator.update_request(request)

    async def arun(self, client: httpx.AsyncClient, write_page: Callable[[list[Any]], Any] | None = None) -> Any:
        """Async `run()`; `write_page` (an async callable, e.g. a writer's method run in a thread) streams pages."""
        if self.paginator_spec is None:
            request, _ = self._start()
            value = self._page(await asend(client, request, self.retry, **self._send_kwargs()), None)
            if write_page is None:
                return value
            await write_page(as_records(value))
            return None
        results: list[Any] = []
        async for records in self.aiter_pages(client):
            if write_page is not None:
                await write_page(records)
            else:
                results.extend(records)
        return None if write_page is not None else results

    async def apoke(self, client: httpx.AsyncClient) -> tuple[bool, Any]:
        request, _ = self._start()
        response = await asend(client, request, self.retry, **self._send_kwargs())
        return self._poke_result(response)

    # -- helpers -----------------------------------------------------------------------------------------------

    def _poke_result(self, response: httpx.Response) -> tuple[bool, Any]:
        if not response.is_success:
            self.log.info("%s answered %d; not done yet", self.request.label, response.status_code)
            return False, None
        body = parse_body(response)
        done = bool(self.response_check(body)) if self.response_check else True
        return done, (self.response_filter(body) if self.response_filter else body) if done else None

    def _summary(self, writer: JsonLinesWriter, pages: Any) -> dict[str, Any]:
        for records in pages:
            writer.write_page(records)
        return {"path": str(writer.path), "records": writer.records}
