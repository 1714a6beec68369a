"""The one retry policy of token and API requests: what is transient, how long to wait, when to give up.

`RetryPolicy` bounds the attempts (and optionally the total time) and computes each wait: an exponential
backoff with jitter, never shorter than the server's `Retry-After`. A `Retry-After` longer than
`max_retry_after` is not waited out: the request fails at once, so the task's own retries take over.
The caller says which failures are worth another attempt (`tenacity_kwargs(retry_on=...)`).

Two uses, two sets of numbers: `TOKEN_RETRY` (a token blocks every API call: give up within a minute) and
`API_RETRY` (the `RetryPolicy()` defaults, documented for `request_retry`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import RetryCallState, retry_if_exception, stop_after_attempt, stop_after_delay

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def is_transient_status(status: int) -> bool:
    """429, 408, 425 and 5xx (but 501 Not Implemented, which no retry cures)."""
    return status in TRANSIENT_STATUSES or (status >= 500 and status != 501)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks us to wait (`Retry-After` as delta-seconds or HTTP date), or None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def is_transient_transport_error(exc: BaseException) -> bool:
    """Connect errors and timeouts are worth retrying; a failed TLS verification is not."""
    if not isinstance(exc, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)):
        return False
    return not is_tls_verification_error(exc)


def is_tls_verification_error(exc: BaseException) -> bool:
    text = f"{exc} {exc.__cause__ or ''} {exc.__context__ or ''}"
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one request: `attempts` in total, within `max_total` seconds (None: no time bound),
    waiting an exponential backoff from `backoff` up to `max_backoff` seconds plus up to `backoff` of jitter.

    POST and PATCH are not idempotent: a 5xx or a timeout may come after the server acted, so by default API
    requests with them are retried only when the server surely did not act (the connection was never made, or
    429). Set `retry_unsafe_methods` for an API whose POSTs are queries (or carry an idempotency key). Token
    requests are always repeatable and ignore it.
    """

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 300.0
    max_total: float | None = None
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

    def honours(self, asked: float | None) -> bool:
        """False when the server asks for a wait longer than `max_retry_after`: not worth waiting out."""
        return asked is None or asked <= self.max_retry_after

    def wait(self, attempt: int, asked: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (from 1), never less than `asked`."""
        exponential = self.backoff * 2 ** (attempt - 1)
        backoff = min(self.max_backoff, exponential + random.uniform(0, self.backoff))
        return max(backoff, asked or 0.0)

    def tenacity_kwargs(
        self,
        *,
        retry_on: Callable[[BaseException], bool],
        asked: Callable[[BaseException | None], float | None],
        before_sleep: Callable[[RetryCallState], None],
        sleep: Callable[[float], Any] | None = None,
    ) -> dict[str, Any]:
        """Arguments for tenacity's `Retrying` / `AsyncRetrying`; the same for sync and async.

        `retry_on(exc)` says whether a failure is worth another attempt; `asked(exc)` is the `Retry-After` it
        carries (or None). The last failure is re-raised.
        """

        def worth_retrying(exc: BaseException) -> bool:
            return retry_on(exc) and self.honours(asked(exc))

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return self.wait(state.attempt_number, asked(exc))

        stop = stop_after_attempt(self.attempts)
        if self.max_total is not None:
            stop = stop | stop_after_delay(self.max_total)
        kwargs: dict[str, Any] = {
            "retry": retry_if_exception(worth_retrying),
            "wait": wait,
            "stop": stop,
            "before_sleep": before_sleep,
            "reraise": True,
        }
        if sleep is not None:
            kwargs["sleep"] = sleep
        return kwargs


API_RETRY = RetryPolicy()
TOKEN_RETRY = RetryPolicy(attempts=5, backoff=0.5, max_backoff=10.0, max_retry_after=60.0, max_total=60.0)


# `TokenRetry`: the name (and field names) this package exported before one policy served both uses.
def TokenRetry(
    attempts: int = TOKEN_RETRY.attempts,
    max_total: float | None = TOKEN_RETRY.max_total,
    initial_wait: float = TOKEN_RETRY.backoff,
    max_wait: float = TOKEN_RETRY.max_backoff,
    max_retry_after: float = TOKEN_RETRY.max_retry_after,
) -> RetryPolicy:
    """The token endpoint's `RetryPolicy` under its former name and field names.

    `initial_wait` is `backoff`, `max_wait` is `max_backoff`; the defaults are `TOKEN_RETRY`'s.
    """
    return RetryPolicy(
        attempts=attempts,
        backoff=initial_wait,
        max_backoff=max_wait,
        max_retry_after=max_retry_after,
        max_total=max_total,
    )
