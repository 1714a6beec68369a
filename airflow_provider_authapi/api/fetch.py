"""Fetching: the page loop shared by the operator (sync) and the trigger (async), and sending each request
under the API `RetryPolicy` (`send`, `asend`, below).

fetcher = Fetcher(RequestSpec("GET", "/items"), paginator="offset", response_filter="items")
records = fetcher.run(client)                 # all records, or the filtered body when not paginated
with JsonLinesWriter(path) as out:
    fetcher.run(client, out)                  # streams page by page; returns {"path", "records"}
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, Retrying

from airflow_provider_authapi.api.output import JsonLinesWriter
from airflow_provider_authapi.api.pagination import (
    BasePaginator,
    PaginatorSpec,
    RequestSpec,
    ResponseFilter,
    get_paginator,
)
from airflow_provider_authapi.auth.errors import (
    ApiHTTPError,
    ApiTransportError,
    ResponseCheckError,
    request_secrets,
    response_excerpt,
)
from airflow_provider_authapi.auth.retry import (
    API_RETRY,
    RetryPolicy,
    is_tls_verification_error,
    is_transient_status,
    is_transient_transport_error,
    retry_after,
)

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


# -- Sending one request under the retry policy ---------------------------------------------------------------------

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


class _RetryableResponse(Exception):
    def __init__(self, response: httpx.Response) -> None:
        self.response = response


class _Attempts:
    """What is worth another attempt for one API request, and how retries are logged."""

    def __init__(self, policy: RetryPolicy, request: RequestSpec, logger: logging.Logger | Any) -> None:
        self.policy, self.request, self.log = policy, request, logger

    def should_retry(self, exc: BaseException) -> bool:
        if isinstance(exc, _RetryableResponse):
            return self._may_repeat() or exc.response.status_code == 429
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return is_transient_transport_error(exc)  # never reached the server: safe for any method
        return self._may_repeat() and is_transient_transport_error(exc)

    def _may_repeat(self) -> bool:
        return self.request.method.upper() in IDEMPOTENT_METHODS or self.policy.retry_unsafe_methods

    def before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = f"answered {exc.response.status_code}" if isinstance(exc, _RetryableResponse) else type(exc).__name__
        delay = state.next_action.sleep if state.next_action else 0.0
        self.log.warning(
            "%s %s; attempt %d of %d, retrying in %.1f s",
            self.request.label,
            reason,
            state.attempt_number,
            self.policy.attempts,
            delay,
        )

    def kwargs(self, sleep: Callable[[float], Any]) -> dict[str, Any]:
        return self.policy.tenacity_kwargs(
            retry_on=self.should_retry, asked=_asked, before_sleep=self.before_sleep, sleep=sleep
        )


def _asked(exc: BaseException | None) -> float | None:
    return retry_after(exc.response) if isinstance(exc, _RetryableResponse) else None


def _classify(response: httpx.Response) -> httpx.Response:
    if is_transient_status(response.status_code):
        raise _RetryableResponse(response)
    return response


def _final(
    request: RequestSpec,
    response: httpx.Response,
    attempts: int,
    ok_statuses: Collection[int],
    secrets: Collection[str],
    policy: RetryPolicy,
) -> httpx.Response:
    if response.is_success or response.status_code in ok_statuses:
        return response
    note = ""
    asked = retry_after(response)
    if not policy.honours(asked):
        note = f"Retry-After {asked:.0f} s exceeds max_retry_after {policy.max_retry_after:.0f} s"
    excerpt = response_excerpt(response, [*secrets, *request_secrets(response)])
    raise ApiHTTPError(request.label, response, excerpt=excerpt, attempts=attempts, note=note)


def send(
    client: httpx.Client,
    request: RequestSpec,
    policy: RetryPolicy | None = None,
    *,
    ok_statuses: Collection[int] = (),
    secrets: Collection[str] = (),
    logger: logging.Logger | Any = log,
    sleep: Callable[[float], None] = time.sleep,
) -> httpx.Response:
    """Send `request` with retries; return a 2xx (or `ok_statuses`) response or raise ApiHTTPError/ApiTransportError."""
    policy = policy or API_RETRY
    retrying = Retrying(**_Attempts(policy, request, logger).kwargs(sleep))
    try:
        response = retrying(lambda: _classify(request.send(client)))
    except _RetryableResponse as exc:
        response = exc.response
    except httpx.TransportError as exc:
        raise _transport_error(request, exc, retrying.statistics.get("attempt_number", 1)) from exc
    return _final(request, response, retrying.statistics.get("attempt_number", 1), ok_statuses, secrets, policy)


async def asend(
    client: httpx.AsyncClient,
    request: RequestSpec,
    policy: RetryPolicy | None = None,
    *,
    ok_statuses: Collection[int] = (),
    secrets: Collection[str] = (),
    logger: logging.Logger | Any = log,
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> httpx.Response:
    """Async `send()`."""
    policy = policy or API_RETRY
    retrying = AsyncRetrying(**_Attempts(policy, request, logger).kwargs(sleep))

    async def once() -> httpx.Response:
        return _classify(await request.asend(client))

    try:
        response = await retrying(once)
    except _RetryableResponse as exc:
        response = exc.response
    except httpx.TransportError as exc:
        raise _transport_error(request, exc, retrying.statistics.get("attempt_number", 1)) from exc
    return _final(request, response, retrying.statistics.get("attempt_number", 1), ok_statuses, secrets, policy)


def _transport_error(request: RequestSpec, exc: httpx.TransportError, attempts: int) -> ApiTransportError:
    if is_tls_verification_error(exc):
        return ApiTransportError(
            f"{request.label}: TLS verification failed ({exc}): give the server's CA certificate in the "
            "connection's ca_cert_pem field (self-signed servers), or set verify_tls to false"
        )
    return ApiTransportError(f"{request.label} failed after {attempts} attempts: {type(exc).__name__}")
