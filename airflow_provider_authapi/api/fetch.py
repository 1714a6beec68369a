"""Fetching: the page loop shared by the operator (sync) and the trigger (async), and sending each request
under the API `RetryPolicy` (`send`, `asend`, below).

fetcher = Fetcher(RequestSpec("GET", "/items"), paginator="offset", response_filter="items")
records = fetcher.run(client)                 # all records, or the filtered body when not paginated
with JsonLinesWriter(path) as out:
    fetcher.run(client, out)                  # streams page by page; returns {"path", "records"}

With `decoder` (`"csv+gzip"`, `{"format": "xml", "record_tag": "item"}`: `api/decoders.py`), each answer is
streamed (`retry.send_streamed`) and decoded record by record instead of read whole and parsed as JSON; with
`decoder="raw"`, `download()` writes its bytes unchanged (`RawFileWriter`). `check_streamed` says what such a call
cannot have (a filter, body-reading paginators, concurrency).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import httpx

from airflow_provider_authapi.api.decoders import Decoder, DecoderSpec
from airflow_provider_authapi.api.output import JsonLinesWriter, RawFileWriter
from airflow_provider_authapi.api.pagination import (
    BasePaginator,
    PaginatorSpec,
    RequestSpec,
    ResponseFilter,
    get_paginator,
)
from airflow_provider_authapi.api.rules import (
    ResponseActionsSpec,
    ResponseRule,
    ResponseRules,
    RuleFailError,
    RuleRefreshError,
    TokenRefresh,
)
from airflow_provider_authapi.api.sending import asend, matched, send
from airflow_provider_authapi.api.streamed import (
    Tally,
    abody_chunks,
    adecoded_records,
    body_chunks,
    check_streamed,
    decoded_records,
)
from airflow_provider_authapi.auth.errors import (
    ApiResponseError,
    ConfigError,
    PaginationError,
    ResponseCheckError,
    error_body,
    error_summary,
    request_secrets,
    response_excerpt,
    scrub,
)
from airflow_provider_authapi.auth.json_path import MISSING
from airflow_provider_authapi.auth.retry import (
    API_RETRY,
    Pace,
    RetryPolicy,
)

if TYPE_CHECKING:
    from airflow_provider_authapi.auth.tokens import TokenManager

log = logging.getLogger(__name__)

ResponseCheck = Callable[[Any], bool]


DEFAULT_MAX_PAGES = 10_000  # without max_pages, more pages than this is an error: an API that never stops
RAW_BUFFER = 1024 * 1024  # bytes of a raw body gathered before each write in the triggerer (one thread hop each)


def parse_body(response: httpx.Response, *, where: str = "the answer", need_json: bool = False) -> Any:
    """The JSON body, the text of a body that is not JSON (an error when `need_json`), or None when empty.

    A body labelled JSON that does not parse, or bytes that do not decode, raise `ApiResponseError` naming
    `where`."""
    if not response.content:
        return None
    content_type = response.headers.get("content-type", "").split(";")[0].strip() or "without a content type"
    try:
        return response.json()
    except UnicodeDecodeError as exc:
        problem = f"{content_type}, {exc.reason} at byte {exc.start}"
        raise ApiResponseError(f"{where} does not decode as text ({problem})") from None
    except ValueError as exc:
        if "json" in content_type or need_json:
            how = f"{exc.msg} at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise ApiResponseError(
                f"{where} is {content_type}, not JSON ({how}): {response_excerpt(response, request_secrets(response))}"
            ) from None
    return response.text


def as_records(value: Any) -> list[Any]:
    """A page's records: a list as is, None as no records, anything else as one record."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class Fetcher:
    """One request spec, optionally paginated, filtered and checked, with bounded retries per page.

    `response_actions` (see `api/rules.py`) are checked on each answer, in order, before its body is used; a
    `refresh` rule needs the `token_manager` of the client's auth."""

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
        allow_empty_pages: bool = False,
        concurrency: int = 1,
        max_requests_per_second: float | None = None,
        response_actions: ResponseRules | ResponseActionsSpec = None,
        token_manager: TokenManager | None = None,
        decoder: DecoderSpec | None = None,
        pace: Pace | None = None,
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
        self.allow_empty_pages = allow_empty_pages
        self.concurrency = max(1, int(concurrency))
        # `pace`: one shared with other fetchers of the same run (a parent's children), else this run's own
        self.pace = pace or Pace(max_requests_per_second, in_flight=self.concurrency)
        # without rules, no rule code runs at all (the request path stays the one docs/architecture.md draws)
        self.rules = (ResponseRules.of(response_actions) or None) if response_actions is not None else None
        self.token_refresh = self._token_refresh(self.rules, token_manager) if self.rules else None
        self.streamed = None
        if decoder is not None:  # checked here too: the core is used without ApiCall
            self.streamed = check_streamed(
                decoder,
                paginator=paginator,
                response_filter=response_filter,
                response_check=response_check,
                concurrency=self.concurrency,
                response_actions=self.rules,
            )
        self.pages = 0
        self.records = 0
        self._requested: dict[str, int] = {}  # fingerprint of each page's request -> its page number

    @staticmethod
    def _token_refresh(rules: ResponseRules, manager: TokenManager | None) -> TokenRefresh | None:
        if not rules.refreshes:
            return None
        if manager is None:
            rule = next(rule for rule in rules if rule.action == "refresh")
            raise ConfigError(
                "response_actions",
                f"{rule.describe()} renews the token, but the connection has none to renew (a static credential)",
            )
        return TokenRefresh(manager)

    # -- one request -------------------------------------------------------------------------------------------

    def _send_kwargs(self) -> dict[str, Any]:
        return {
            "ok_statuses": self.ok_statuses,
            "secrets": self.secrets,
            "logger": self.log,
            "pace": self.pace,
            "rules": self.rules,
            "stream": self.streamed is not None,
        }

    def _fetch(self, client: httpx.Client, request: RequestSpec) -> httpx.Response:
        """`send` under the retry policy, then the `refresh` and `fail` rules the answer matches."""
        response = send(client, request, self.retry, **self._send_kwargs())
        if self.token_refresh is not None and self._refreshing(request, response):
            self.token_refresh(response)
            response = self._refreshed(request, send(client, request, self.retry, **self._send_kwargs()))
        return self._unless_failing(request, response)

    async def _afetch(self, client: httpx.AsyncClient, request: RequestSpec) -> httpx.Response:
        """Async `_fetch`."""
        response = await asend(client, request, self.retry, **self._send_kwargs())
        if self.token_refresh is not None and self._refreshing(request, response):
            await self.token_refresh.arefresh(response)
            response = self._refreshed(request, await asend(client, request, self.retry, **self._send_kwargs()))
        return self._unless_failing(request, response)

    def _refreshing(self, request: RequestSpec, response: httpx.Response) -> bool:
        rule = matched(response)
        if rule is None or rule.action != "refresh":
            return False
        self.log.warning(
            "%s answered %d, matching %s: renewing the token, sending it once more",
            request.label,
            response.status_code,
            rule.describe(),
        )
        return True

    def _refreshed(self, request: RequestSpec, response: httpx.Response) -> httpx.Response:
        rule = matched(response)
        if rule is not None and rule.action == "refresh":
            raise RuleRefreshError(request.label, rule, response, self._excerpt(response), " even with a new token")
        return response

    def _unless_failing(self, request: RequestSpec, response: httpx.Response) -> httpx.Response:
        rule = matched(response)
        if rule is not None and rule.action == "fail":
            raise RuleFailError(request.label, rule, response, self._excerpt(response), "")
        return response

    def _excerpt(self, response: httpx.Response) -> str:
        return response_excerpt(response, [*self.secrets, *request_secrets(response)])

    # -- one page ----------------------------------------------------------------------------------------------

    def _page(self, response: httpx.Response, paginator: BasePaginator | None) -> list[Any] | Any:
        if (rule := matched(response)) is not None:
            return self._acted_on(response, paginator, rule)
        where = f"page {self.pages + 1} ({self.request.label})" if paginator else self.request.label
        body = parse_body(response, where=where, need_json=paginator is not None or self.response_filter is not None)
        self._refuse_error_body(body, response, where)
        if self.response_check is not None and not self.response_check(body):
            raise ResponseCheckError(f"response_check returned False for page {self.pages + 1}")
        value = self._filtered(body, response, where)
        self.pages += 1
        if paginator is None:
            return value
        records = as_records(value)
        self.records += len(records)
        paginator.update_state(response, body, records)
        self.log.info("Page %d: %d records so far", self.pages, self.records)
        return records

    def _acted_on(
        self, response: httpx.Response, paginator: BasePaginator | None, rule: ResponseRule
    ) -> list[Any] | None:
        """An answer a `response_actions` rule matched: "empty" (and its other name, "ignore") is a page of no
        records (which ends a run that stops on an empty page), "skip" is a page left out (a run with page numbers
        or offsets goes on to the next)."""
        self.pages += 1
        self.log.info("%s answered %d, matching %s", self.request.label, response.status_code, rule.describe())
        if paginator is None:
            return None
        paginator.update_state(response, None, [])
        if rule.action == "skip" and paginator.predictable:
            paginator.has_next_page = True
        return []

    def _filtered(self, body: Any, response: httpx.Response, where: str) -> Any:
        """The records `response_filter` picks. A path that is not in the body fails, unless `allow_empty_pages`
        or only its last key is missing from an empty object (QuickBooks answers `"QueryResponse": {}`)."""
        if self.response_filter is None:
            return body
        value = self.response_filter.pick(body)
        if value is not MISSING:
            return value
        if self.allow_empty_pages or self.response_filter.parent_is_empty(body):
            return None
        keys = f"its keys: {', '.join(map(str, list(body)[:10]))}" if isinstance(body, dict) else type(body).__name__
        raise ApiResponseError(
            f"{where} has no {self.response_filter.path!r} ({keys}; set allow_empty_pages=True if such pages are "
            f"expected): {response_excerpt(response, [*self.secrets, *request_secrets(response)])}"
        )

    def _refuse_error_body(self, body: Any, response: httpx.Response, where: str) -> None:
        if error_body(body):
            excerpt = error_summary(response) or response_excerpt(response, ())
            secrets = [*self.secrets, *request_secrets(response)]
            raise ApiResponseError(f"{where} answered {response.status_code} with an error: {scrub(excerpt, secrets)}")

    def _more(self, paginator: BasePaginator) -> bool:
        if not paginator.has_next_page:
            return False
        if self.max_pages is not None and self.pages >= self.max_pages:
            self.log.info("Stopping after max_pages=%d", self.max_pages)
            return False
        if self.max_pages is None and self.pages >= DEFAULT_MAX_PAGES:
            raise PaginationError(
                f"{self.request.label}: more than {DEFAULT_MAX_PAGES:,} pages; set max_pages to the number of pages "
                "you expect (without it, this ceiling stops an API that never says it is done)"
            )
        return True

    def _next(self, request: RequestSpec, paginator: BasePaginator) -> None:
        """Edit `request` into the next page's; a request already sent means the API is going round in circles."""
        paginator.update_request(request)
        self._remember(request, paginator)

    def _remember(self, request: RequestSpec, paginator: BasePaginator) -> None:
        if paginator.predictable:  # offsets and page numbers are counted up, not read from answers: no circles
            return
        blob = json.dumps([request.method, request.url, request.params, request.json, request.data], default=str)
        key = hashlib.sha256(blob.encode()).hexdigest()
        if key in self._requested:
            raise PaginationError(
                f"{request.label}: page {self.pages + 1} would repeat the request of page {self._requested[key]} "
                "(the next link or cursor does not advance)"
            )
        self._requested[key] = self.pages + 1

    def _start(self) -> tuple[RequestSpec, BasePaginator | None]:
        self.pages = self.records = 0
        self._requested = {}
        request, paginator = self.request.copy(), get_paginator(self.paginator_spec)
        if paginator is not None:
            paginator.init_request(request)
            self._remember(request, paginator)
        return request, paginator

    # -- sync --------------------------------------------------------------------------------------------------

    def iter_pages(self, client: httpx.Client) -> Iterator[list[Any]]:
        """Yield each page's records (paginated mode), one request at a time (see `aiter_pages` for concurrency)."""
        if self.streamed is not None:
            raise ValueError("a decoder's answers are streamed by run() / download(), not iter_pages()")
        request, paginator = self._start()
        if paginator is None:
            raise ValueError("iter_pages() needs a paginator")
        while True:
            yield self._page(self._fetch(client, request), paginator)
            if not self._more(paginator):
                return
            self._next(request, paginator)

    def run(self, client: httpx.Client, writer: JsonLinesWriter | None = None) -> Any:
        """All records (paginated), or the filtered body; with `writer`, stream to it and return a summary.

        With a decoder, the records of every answer (a list, even unpaginated), or with `writer` the summary."""
        if self.streamed is not None:
            return self._run_decoded(client, writer)
        if self.paginator_spec is None:
            request, _ = self._start()
            value = self._page(self._fetch(client, request), None)
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
        return self._poke_result(self._fetch(client, request))

    # -- async -------------------------------------------------------------------------------------------------

    async def aiter_pages(self, client: httpx.AsyncClient) -> AsyncIterator[list[Any]]:
        """Yield each page's records in page order. With `concurrency` > 1 and a paginator whose later requests
        are known (offsets or page numbers, once the first page gives a total or `max_pages` bounds the run), up
        to `concurrency` requests are in flight; the others page one request at a time."""
        if self.streamed is not None:
            raise ValueError("a decoder's answers are streamed by arun() / adownload(), not aiter_pages()")
        request, paginator = self._start()
        if paginator is None:
            raise ValueError("aiter_pages() needs a paginator")
        counting = paginator.count_request(request) if self.concurrency > 1 and paginator.predictable else None
        if counting is not None:
            paginator.read_count(parse_body(await self._afetch(client, counting)))
        yield self._page(await self._afetch(client, request), paginator)
        if not self._more(paginator):
            return
        if self.concurrency > 1:
            planned = self._planned(paginator)
            if planned is not None:
                async for records in self._concurrently(client, paginator.plan(request, planned), paginator):
                    yield records
                return
        while True:
            self._next(request, paginator)
            yield self._page(await self._afetch(client, request), paginator)
            if not self._more(paginator):
                return

    def _planned(self, paginator: BasePaginator) -> int | None:
        """How many more pages to request ahead of their answers, or None (page one request at a time)."""
        if not paginator.predictable:
            self.log.info(
                "%s: the %s paginator learns each next request from an answer; paging one at a time",
                self.request.label,
                paginator.name or type(paginator).__name__,
            )
            return None
        left, cap = paginator.pages_left(), (self.max_pages or DEFAULT_MAX_PAGES + 1) - self.pages
        if left is None and self.max_pages is None:
            self.log.info("%s: no total on the first page and no max_pages; paging one at a time", self.request.label)
            return None
        if left is not None and left > cap and self.max_pages is None:
            raise PaginationError(
                f"{self.request.label}: {self.pages + left:,} pages, more than {DEFAULT_MAX_PAGES:,}; set max_pages"
                " to the number of pages you expect (without it, this ceiling stops an API that never says it is done)"
            )
        return min(cap, left) if left is not None else cap

    async def _concurrently(
        self, client: httpx.AsyncClient, requests: Iterator[RequestSpec], paginator: BasePaginator
    ) -> AsyncIterator[list[Any]]:
        """Up to `concurrency` requests in flight; answers read in page order (so the paginator sees what it would
        sequentially); the run ends at the first page that says it is the last, and what is still in flight is
        cancelled. Memory holds at most `concurrency` pages."""
        window: deque[asyncio.Task[httpx.Response]] = deque()

        def fill() -> None:
            while len(window) < self.concurrency and (request := next(requests, None)) is not None:
                window.append(asyncio.ensure_future(self._afetch(client, request)))

        fill()
        try:
            while window:
                records = self._page(await window.popleft(), paginator)
                yield records
                if not paginator.has_next_page:
                    return
                fill()
        finally:
            for task in window:
                task.cancel()
            await asyncio.gather(*window, return_exceptions=True)

    async def arun(self, client: httpx.AsyncClient, write_page: Callable[[list[Any]], Any] | None = None) -> Any:
        """Async `run()`; `write_page` (an async callable, e.g. a writer's method run in a thread) streams pages
        (with a decoder, batches of at most `BATCH_RECORDS` records)."""
        if self.streamed is not None:
            return await self._arun_decoded(client, write_page)
        if self.paginator_spec is None:
            request, _ = self._start()
            value = self._page(await self._afetch(client, request), None)
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
        return self._poke_result(await self._afetch(client, request))

    # -- streamed answers: a decoder's records, or the raw bytes ---------------------------------------------

    @property
    def decoder(self) -> Decoder | None:
        return self.streamed if isinstance(self.streamed, Decoder) else None

    def _decoding(self) -> Decoder:
        if self.decoder is None:
            raise ValueError("decoder='raw' writes bytes: download() / adownload(), not run()")
        return self.decoder

    def _where(self, paginator: BasePaginator | None) -> str:
        return f"page {self.pages + 1} ({self.request.label})" if paginator else self.request.label

    def _run_decoded(self, client: httpx.Client, writer: JsonLinesWriter | None) -> Any:
        decoder, results = self._decoding(), []
        write = writer.write_page if writer is not None else results.extend
        request, paginator = self._start()
        while True:
            response = self._fetch(client, request)
            if (rule := matched(response)) is not None:
                self._acted_on(response, paginator, rule)
            else:
                tally = Tally()
                try:
                    records = decoded_records(decoder, response, self.request.label, self._where(paginator))
                    for batch in tally.batches(records):
                        write(batch)
                finally:
                    response.close()
                self._decoded_page(response, paginator, tally)
            if paginator is None or not self._more(paginator):
                break
            self._next(request, paginator)
        return {"path": str(writer.path), "records": writer.records} if writer is not None else results

    async def _arun_decoded(
        self, client: httpx.AsyncClient, write_page: Callable[[list[Any]], Awaitable[Any]] | None
    ) -> Any:
        decoder, results = self._decoding(), []

        async def keep(batch: list[Any]) -> None:
            results.extend(batch)

        write = write_page or keep
        request, paginator = self._start()
        while True:
            response = await self._afetch(client, request)
            if (rule := matched(response)) is not None:
                self._acted_on(response, paginator, rule)
            else:
                tally = Tally()
                records = adecoded_records(decoder, response, self.request.label, self._where(paginator))
                try:
                    async with aclosing(tally.abatches(records)) as batches:
                        async for batch in batches:
                            await write(batch)
                finally:
                    await response.aclose()
                self._decoded_page(response, paginator, tally)
            if paginator is None or not self._more(paginator):
                break
            self._next(request, paginator)
        return None if write_page is not None else results

    def _decoded_page(self, response: httpx.Response, paginator: BasePaginator | None, tally: Tally) -> None:
        self.pages += 1
        self.records += tally.count
        if paginator is not None:
            paginator.update_state(response, None, tally)  # type: ignore[arg-type]  # a count and a last record
            self.log.info("Page %d: %d records so far", self.pages, self.records)

    def download(self, client: httpx.Client, out: RawFileWriter) -> dict[str, Any]:
        """`decoder="raw"`: the answer's bytes into `out` as they arrive; `{"path", "bytes", "sha256"}`."""
        request, _ = self._start()
        response = self._fetch(client, request)
        if (rule := matched(response)) is not None:
            self._acted_on(response, None, rule)
            return out.summary()
        try:
            for chunk in body_chunks(response, self.request.label):
                out.write(chunk)
        finally:
            response.close()
        self.pages += 1
        return out.summary()

    async def adownload(self, client: httpx.AsyncClient, write: Callable[[bytes], Awaitable[Any]]) -> int:
        """Async `download`: `write` (async, e.g. a `RawFileWriter.write` run in a thread) gets the bytes in pieces
        of `RAW_BUFFER` or so; returns how many bytes there were."""
        request, _ = self._start()
        response = await self._afetch(client, request)
        if (rule := matched(response)) is not None:
            self._acted_on(response, None, rule)
            return 0
        size, pending, held = 0, [], 0
        try:
            async with aclosing(abody_chunks(response, self.request.label)) as chunks:
                async for chunk in chunks:
                    pending.append(chunk)
                    held += len(chunk)
                    if held >= RAW_BUFFER:
                        await write(b"".join(pending))
                        size, pending, held = size + held, [], 0
            if pending:
                await write(b"".join(pending))
                size += held
        finally:
            await response.aclose()
        self.pages += 1
        return size

    # -- helpers -----------------------------------------------------------------------------------------------

    def _poke_result(self, response: httpx.Response) -> tuple[bool, Any]:
        if not response.is_success or matched(response) is not None:
            self.log.info("%s answered %d; not done yet", self.request.label, response.status_code)
            return False, None
        where = self.request.label
        body = parse_body(response, where=where, need_json=self.response_filter is not None)
        self._refuse_error_body(body, response, where)
        done = bool(self.response_check(body)) if self.response_check else True
        return done, self._filtered(body, response, where) if done else None

    def _summary(self, writer: JsonLinesWriter, pages: Any) -> dict[str, Any]:
        for records in pages:
            writer.write_page(records)
        return {"path": str(writer.path), "records": writer.records}
