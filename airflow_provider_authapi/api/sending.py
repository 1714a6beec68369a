"""Sending one API request under the `RetryPolicy`: `send` and `asend`, shared by the page loop (`fetch.Fetcher`),
the hook and the sensor.

A request's first attempt runs outside tenacity (most need no other); an answer worth another attempt (a transient
status, or one a `retry` response rule matches) is retried with the policy's backoff, Retry-After honoured; what is
left at the end becomes `ApiHTTPError`, `RuleRetryError` or `ApiTransportError`, its message scrubbed of secrets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, Retrying

from airflow_provider_authapi.api.pagination import RequestSpec
from airflow_provider_authapi.api.rules import RULE, ResponseRule, ResponseRules, RuleRetryError
from airflow_provider_authapi.auth.errors import (
    ApiHTTPError,
    ApiResponseError,
    ApiTransportError,
    request_secrets,
    response_excerpt,
    unsendable,
)
from airflow_provider_authapi.auth.retry import (
    API_RETRY,
    DeadlineExceeded,
    Pace,
    RetryPolicy,
    aread_capped,
    asend_streamed,
    is_tls_verification_error,
    is_transient_status,
    is_transient_transport_error,
    read_capped,
    retry_after,
    send_streamed,
)

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
    rule = matched(response)
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
    stream: bool = False,
) -> httpx.Response:
    """Send `request` with retries; return a 2xx (or `ok_statuses`) response or raise ApiHTTPError/ApiTransportError.

    With `pace`, each attempt waits for its slot first and tells the pace what the answer said of the rate limit.
    With `rules`, each answer is judged by them first: one a `retry` rule matches is retried as a transient
    status is (`RuleRetryError` after the last attempt); one another rule matches is returned, whatever its
    status, marked with its rule (`matched`).

    With `stream`, each attempt is `retry.send_streamed`: the status is judged (and retried) before the body is
    read, and an unmatched 2xx comes back open, its body unread, for the caller to stream and close; any other
    answer is read (at most `retry.ERROR_BODY_BYTES`) and closed."""
    policy = policy or API_RETRY

    def once() -> httpx.Response:
        if pace is not None and (wait := pace.delay()) > 0:
            sleep(wait)
        response = send_streamed(client, _built(client, request)) if stream else request.send(client)
        if pace is not None:
            pace.observe(response)
        if not stream:
            return _classify(response, rules)
        try:
            _classify(response, rules)
        except _RetryableResponse:
            if not response.is_closed:  # a retry rule on a 2xx: its body is not wanted
                read_capped(response)
            raise
        if matched(response) is not None and not response.is_closed:
            read_capped(response)
        return response

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
    stream: bool = False,
) -> httpx.Response:
    """Async `send()`."""
    policy = policy or API_RETRY

    async def once() -> httpx.Response:
        if pace is not None and (wait := pace.delay()) > 0:
            await sleep(wait)
        response = await asend_streamed(client, _built(client, request)) if stream else await request.asend(client)
        if pace is not None:
            pace.observe(response)
        if not stream:
            return _classify(response, rules)
        try:
            _classify(response, rules)
        except _RetryableResponse:
            if not response.is_closed:
                await aread_capped(response)
            raise
        if matched(response) is not None and not response.is_closed:
            await aread_capped(response)
        return response

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


def _built(client: httpx.Client | httpx.AsyncClient, request: RequestSpec) -> httpx.Request:
    return client.build_request(request.method, request.url, **request.httpx_kwargs())


def matched(response: httpx.Response) -> ResponseRule | None:
    """The rule `send`/`asend` found `response` to match (`ResponseRules.match` marks it under `rules.RULE`); here
    on the request path, so that a call without rules runs no code of `api/rules.py`."""
    return response.extensions.get(RULE)
