"""Fetching: the page loop shared by the operator (sync) and the trigger (async), and sending each request
under the API `RetryPolicy` (`send`, `asend`, below).

fetcher = Fetcher(RequestSpec("GET", "/items"), paginator="offset", response_filter="items")
records = fetcher.run(client)                 # all records, or the filtered body when not paginated
with JsonLinesWriter(path) as out:
    fetcher.run(client, out)                  # streams page by page; returns {"path", "records"}
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from typing import TYPE_CHECKING, Any

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
from airflow_provider_authapi.api.rules import (
    RULE,
    ResponseActionsSpec,
    ResponseRule,
    ResponseRules,
    RuleFailError,
    RuleRefreshError,
    RuleRetryError,
    TokenRefresh,
)
from airflow_provider_authapi.auth.errors import (
    ApiHTTPError,
    ApiResponseError,
    ApiTransportError,
    ConfigError,
    PaginationError,
    ResponseCheckError,
    error_body,
    error_summary,
    request_secrets,
    response_excerpt,
    scrub,
    unsendable,
)
from airflow_provider_authapi.auth.json_path import MISSING
from airflow_provider_authapi.auth.retry import (
    API_RETRY,
    DeadlineExceeded,
    Pace,
    RetryPolicy,
    is_tls_verification_error,
    is_transient_status,
    is_transient_transport_error,
    retry_after,
)

if TYPE_CHECKING:
    from airflow_provider_authapi.auth.tokens import TokenManager

log = logging.getLogger(__name__)

ResponseCheck = Callable[[Any], bool]


DEFAULT_MAX_PAGES = 10_000  # without max_pages, more pages than this is an error: an API that never stops


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


def _matched(response: httpx.Response) -> ResponseRule | None:
    """The `response_actions` rule `send`/`asend` found `response` to match (`rules.RULE`), if any."""
    return response.extensions.get(RULE)


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
        self.pace = Pace(max_requests_per_second, in_flight=self.concurrency)
        # without rules, no rule code runs at all (the request path stays the one docs/architecture.md draws)
        self.rules = (ResponseRules.of(response_actions) or None) if response_actions is not None else None
        self.token_refresh = self._token_refresh(self.rules, token_manager) if self.rules else None
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
        rule = _matched(response)
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
        rule = _matched(response)
        if rule is not None and rule.action == "refresh":
            raise RuleRefreshError(request.label, rule, response, self._excerpt(response), " even with a new token")
        return response

    def _unless_failing(self, request: RequestSpec, response: httpx.Response) -> httpx.Response:
        rule = _matched(response)
        if rule is not None and rule.action == "fail":
            raise RuleFailError(request.label, rule, response, self._excerpt(response), "")
        return response

    def _excerpt(self, response: httpx.Response) -> str:
        return response_excerpt(response, [*self.secrets, *request_secrets(response)])

    # -- one page ----------------------------------------------------------------------------------------------

    def _page(self, response: httpx.Response, paginator: BasePaginator | None) -> list[Any] | Any:
        if (rule := _matched(response)) is not None:
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
        request, paginator = self._start()
        if paginator is None:
            raise ValueError("iter_pages() needs a paginator")
        while True:
            yield self._page(self._fetch(client, request), paginator)
            if not self._more(paginator):
                return
            self._next(request, paginator)

    def run(self, client: httpx.Client, writer: JsonLinesWriter | None = None) -> Any:
        """All records (paginated), or the filtered body; with `writer`, stream to it and return a summary."""
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
        """Async `run()`; `write_page` (an async callable, e.g. a writer's method run in a thread) streams pages."""
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

    # -- helpers -----------------------------------------------------------------------------------------------

    def _poke_result(self, response: httpx.Response) -> tuple[bool, Any]:
        if not response.is_success or _matched(response) is not None:
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


# -- Sending one request under the retry policy ---------------------------------------------------------------------

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


class _RetryableResponse(Exception):
    def __init__(self, response: httpx.Response, rule: ResponseRule | None = None) -> None:
        self.response, self.rule = response, rule  # rule: the `retry` rule it matched (else a transient status)


class _Attempts:
    """What is worth another attempt for one API request, and how retries are logged."""

    def __init__(self, policy: RetryPolicy, request: RequestSpec, logger: logging.Logger | Any) -> None:
        self.policy, self.request, self.log = policy, request, logger

    def should_retry(self, exc: BaseException) -> bool:
        if isinstance(exc, _RetryableResponse):  # a retry rule says the server did not act: any method
            return exc.rule is not None or self._may_repeat() or exc.response.status_code == 429
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return is_transient_transport_error(exc)  # never reached the server: safe for any method
        return self._may_repeat() and is_transient_transport_error(exc)

    def _may_repeat(self) -> bool:
        return self.request.method.upper() in IDEMPOTENT_METHODS or self.policy.retry_unsafe_methods

    def before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = type(exc).__name__
        if isinstance(exc, _RetryableResponse):
            rule = f", matching {exc.rule.describe()}" if exc.rule is not None else ""
            reason = f"answered {exc.response.status_code}{rule}"
        delay = state.next_action.sleep if state.next_action else 0.0
        self.log.warning(
            "%s %s; attempt %d of %d, retrying in %.1f s",
            self.request.label,
            reason,
            state.attempt_number,
            self.policy.attempts,
            delay,
        )

    def kwargs(self, sleep: Callable[[float], Any], started: float) -> dict[str, Any]:
        return self.policy.tenacity_kwargs(
            retry_on=self.should_retry, asked=_asked, before_sleep=self.before_sleep, sleep=sleep, started=started
        )


def _asked(exc: BaseException | None) -> float | None:
    return retry_after(exc.response) if isinstance(exc, _RetryableResponse) else None


def _classify(response: httpx.Response, rules: ResponseRules | None = None) -> httpx.Response:
    """Raise `_RetryableResponse` for an answer worth another attempt: one a `retry` rule matches, or (matching no
    rule) a transient status. The first rule that matches decides, so a rule on a 503 overrides its retries."""
    if rules is not None and (rule := rules.match(response)) is not None:
        if rule.action == "retry":
            raise _RetryableResponse(response, rule)
        return response
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
    rule = _matched(response)
    if (rule is not None and rule.action != "retry") or (
        rule is None and (response.is_success or response.status_code in ok_statuses)
    ):
        return response
    note = ""
    asked = retry_after(response)
    if not policy.honours(asked):
        note = f"Retry-After {asked:.0f} s exceeds max_retry_after {policy.max_retry_after:.0f} s"
    excerpt = response_excerpt(response, [*secrets, *request_secrets(response)])
    if rule is not None:
        tries = f" after {attempts} attempt{'s' if attempts > 1 else ''}"
        raise RuleRetryError(request.label, rule, response, excerpt, tries + (f" ({note})" if note else ""))
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
    pace: Pace | None = None,
    rules: ResponseRules | None = None,
) -> httpx.Response:
    """Send `request` with retries; return a 2xx (or `ok_statuses`) response or raise ApiHTTPError/ApiTransportError.

    With `pace`, each attempt waits for its slot first and tells the pace what the answer said of the rate limit.
    With `rules`, each answer is judged by them first: one a `retry` rule matches is retried as a transient
    status is (`RuleRetryError` after the last attempt); one another rule matches is returned, whatever its
    status, marked with its rule (`rules.matched_rule`)."""
    policy = policy or API_RETRY

    def once() -> httpx.Response:
        if pace is not None and (wait := pace.delay()) > 0:
            sleep(wait)
        response = request.send(client)
        if pace is not None:
            pace.observe(response)
        return _classify(response, rules)

    started = time.monotonic()
    try:  # the first attempt outside tenacity: most requests need no other, and its machinery costs per page
        return _final(request, once(), 1, ok_statuses, secrets, policy)
    except (_RetryableResponse, httpx.HTTPError) as exc:
        first = exc
    retrying = Retrying(**_Attempts(policy, request, logger).kwargs(sleep, started))
    try:
        response = retrying(_replaying(first, once))
    except (_RetryableResponse, httpx.HTTPError) as exc:
        response = _last_answer(request, exc, retrying.statistics.get("attempt_number", 1))
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
    pace: Pace | None = None,
    rules: ResponseRules | None = None,
) -> httpx.Response:
    """Async `send()`."""
    policy = policy or API_RETRY

    async def once() -> httpx.Response:
        if pace is not None and (wait := pace.delay()) > 0:
            await sleep(wait)
        response = await request.asend(client)
        if pace is not None:
            pace.observe(response)
        return _classify(response, rules)

    started = time.monotonic()
    try:
        return _final(request, await once(), 1, ok_statuses, secrets, policy)
    except (_RetryableResponse, httpx.HTTPError) as exc:
        first = exc
    retrying = AsyncRetrying(**_Attempts(policy, request, logger).kwargs(sleep, started))

    attempt = _replaying(first, once)

    async def replayed() -> httpx.Response:
        return await attempt()  # the first failure raised again, then `once` itself

    try:
        response = await retrying(replayed)
    except (_RetryableResponse, httpx.HTTPError) as exc:
        response = _last_answer(request, exc, retrying.statistics.get("attempt_number", 1))
    return _final(request, response, retrying.statistics.get("attempt_number", 1), ok_statuses, secrets, policy)


def _replaying(first: BaseException, once: Callable[[], Any]) -> Callable[[], Any]:
    """`once`, except that its first call raises `first`: how the retry loop learns of the attempt already made
    (so it counts, waits, logs and gives up exactly as if it had made that attempt itself)."""
    pending = [first]

    def attempt() -> Any:
        if pending:
            raise pending.pop()
        return once()

    return attempt


def _last_answer(request: RequestSpec, exc: BaseException, attempts: int) -> httpx.Response:
    """What the last attempt of `send`/`asend` ended with: a retryable answer given up on, or a typed error."""
    if isinstance(exc, _RetryableResponse):
        return exc.response
    if isinstance(exc, httpx.LocalProtocolError):
        raise ApiTransportError(unsendable(request.label, _sent(exc))) from None  # its own message quotes the value
    if isinstance(exc, httpx.TransportError):
        raise _transport_error(request, exc, attempts) from exc
    if isinstance(exc, httpx.DecodingError):
        raise ApiResponseError(f"{request.label}: {exc}") from None
    raise exc


def _sent(exc: httpx.RequestError) -> httpx.Request | None:
    """The request `exc` is about, when httpx knows it (it names the header at fault)."""
    try:
        return exc.request
    except RuntimeError:
        return None


def _transport_error(request: RequestSpec, exc: httpx.TransportError, attempts: int) -> ApiTransportError:
    if is_tls_verification_error(exc):
        return ApiTransportError(
            f"{request.label}: TLS verification failed ({exc}): give the server's CA certificate in the "
            "connection's ca_cert_pem field (self-signed servers), or set verify_tls to false"
        )
    why = f"{type(exc).__name__}: {exc}" if isinstance(exc, DeadlineExceeded) else type(exc).__name__
    return ApiTransportError(f"{request.label} failed after {attempts} attempts: {why}")
