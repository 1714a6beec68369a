"""Sending one API request under the shared `RetryPolicy` (see `auth.retry`).

Retried: connect errors, timeouts, a dropped connection, 429 and 5xx, never sooner than `Retry-After` asks
(seconds or an HTTP date). A `Retry-After` longer than `max_retry_after` is not waited out: the call fails at
once, so the task's own retries take over. Any other 4xx (401 included: the auth has already refreshed and
replayed once) fails at once with the status and a short body excerpt from which known secrets are removed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, Retrying

from airflow_provider_authapi.api.request import RequestSpec
from airflow_provider_authapi.auth.errors import ApiHTTPError, ApiTransportError
from airflow_provider_authapi.auth.redact import request_secrets, response_excerpt
from airflow_provider_authapi.auth.retry import (
    API_RETRY,
    RetryPolicy,
    is_tls_verification_error,
    is_transient_status,
    is_transient_transport_error,
    retry_after,
)

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
