"""Bounded retries of one API request with tenacity.

Retried: connect errors, timeouts, a dropped connection, 429 and 5xx, waiting what `Retry-After` asks
(seconds or an HTTP date) or else an exponential backoff with jitter. A `Retry-After` longer than
`max_retry_after` is not waited out: the call fails at once, so the task's own retries take over.
Any other 4xx (401 included: the auth has already refreshed and replayed once) fails at once with the
status and a short body excerpt from which known secrets are removed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from airflow_provider_authapi.api.request import RequestSpec
from airflow_provider_authapi.auth.errors import AuthApiError, response_excerpt
from airflow_provider_authapi.auth.retry import (
    is_tls_verification_error,
    is_transient_status,
    is_transient_transport_error,
    retry_after,
)

log = logging.getLogger(__name__)


IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: `attempts` in total, backoff from `backoff` up to `max_backoff` seconds.

    POST and PATCH are not idempotent: a 5xx or a timeout may come after the server acted, so by default they
    are retried only when the server surely did not act (the connection was never made, or 429). Set
    `retry_unsafe_methods` for an API whose POSTs are queries (or carry an idempotency key).
    """

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 300.0
    retry_unsafe_methods: bool = False

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")

    def to_spec(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, spec: RetryPolicy | dict[str, Any] | int | None) -> RetryPolicy:
        """From a policy, its dict form, a number of attempts, or None (the defaults)."""
        if isinstance(spec, RetryPolicy):
            return spec
        if isinstance(spec, int):
            return cls(attempts=spec)
        return cls(**(spec or {}))


class ApiHTTPError(AuthApiError):
    """The API answered an error status; the message has the status and a secret-free body excerpt."""

    def __init__(
        self,
        request: RequestSpec,
        response: httpx.Response,
        *,
        attempts: int = 1,
        note: str = "",
        secrets: Collection[str] = (),
    ) -> None:
        self.status_code = response.status_code
        self.excerpt = response_excerpt(response, tuple(secrets))
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        extra = f" ({note})" if note else ""
        super().__init__(
            f"{request.label} answered {response.status_code} {response.reason_phrase}{tries}{extra}: {self.excerpt}"
        )


class ApiTransportError(AuthApiError):
    """The API could not be reached (connect error, timeout) within the retry budget."""


class _RetryableResponse(Exception):
    def __init__(self, response: httpx.Response) -> None:
        self.response = response


class _Attempts:
    """Tenacity settings for one request; the same for sync and async."""

    def __init__(self, policy: RetryPolicy, request: RequestSpec, logger: logging.Logger | Any) -> None:
        self.policy, self.request, self.log = policy, request, logger

    def should_retry(self, exc: BaseException) -> bool:
        if isinstance(exc, _RetryableResponse):
            asked = retry_after(exc.response)
            within_bound = asked is None or asked <= self.policy.max_retry_after
            return within_bound and (self._may_repeat() or exc.response.status_code == 429)
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return is_transient_transport_error(exc)  # never reached the server: safe for any method
        return self._may_repeat() and is_transient_transport_error(exc)

    def _may_repeat(self) -> bool:
        return self.request.method.upper() in IDEMPOTENT_METHODS or self.policy.retry_unsafe_methods

    def wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableResponse):
            asked = retry_after(exc.response)
            if asked is not None:
                return asked
        exponential = self.policy.backoff * 2 ** (state.attempt_number - 1)
        return min(self.policy.max_backoff, exponential + random.uniform(0, self.policy.backoff))

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
        return {
            "stop": stop_after_attempt(self.policy.attempts),
            "wait": self.wait,
            "retry": retry_if_exception(self.should_retry),
            "before_sleep": self.before_sleep,
            "reraise": True,
            "sleep": sleep,
        }


def _classify(response: httpx.Response) -> httpx.Response:
    if is_transient_status(response.status_code):
        raise _RetryableResponse(response)
    return response


SENSITIVE_NAME = re.compile(r"auth|token|key|secret|passw|signature|session|cookie", re.IGNORECASE)


def request_secrets(response: httpx.Response) -> list[str]:
    """Credential-looking values the request carried (auth headers, `?api_key=`...), to scrub from excerpts."""
    try:
        request = response.request
    except RuntimeError:  # a response built without a request
        return []
    found: list[str] = []
    for name, value in [*request.headers.items(), *request.url.params.multi_items()]:
        if SENSITIVE_NAME.search(name):
            found.append(value)
            found.extend(value.split()[1:])  # "Bearer <token>": the token alone, too
    return found


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
    if asked is not None and asked > policy.max_retry_after:
        note = f"Retry-After {asked:.0f} s exceeds max_retry_after {policy.max_retry_after:.0f} s"
    secrets = [*secrets, *request_secrets(response)]
    raise ApiHTTPError(request, response, attempts=attempts, note=note, secrets=secrets)


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
    policy = policy or RetryPolicy()
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
    policy = policy or RetryPolicy()
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
