"""The one retry policy of token and API requests: what is transient, how long to wait, when to give up.

`RetryPolicy` bounds the attempts (and optionally the total time) and computes each wait: an exponential
backoff with jitter, never shorter than the server's `Retry-After`. A `Retry-After` longer than
`max_retry_after` is not waited out: the request fails at once, so the task's own retries take over.
The caller says which failures are worth another attempt (`tenacity_kwargs(retry_on=...)`).

Two uses, two sets of numbers: `TOKEN_RETRY` (a token blocks every API call: give up within a minute) and
`API_RETRY` (the `RetryPolicy()` defaults, documented for `request_retry`).

`Pace` spaces requests out before the server has to refuse them: at most `max_requests_per_second`, and slower
when its rate-limit headers say the budget runs low, across every request of a run in flight.

Each attempt is bounded too (`send_bounded`, `asend_bounded`): connecting, headers and body within
`DEADLINE_TIMEOUTS` times the client's timeout (httpx's timeouts bound each read, so a server trickling a byte a
second never trips them), and a body of at most `MAX_BODY_BYTES` once decompressed. An attempt past its deadline
fails as a timeout.

A body streamed to a decoder or a file (`send_streamed`, `asend_streamed`) may be far larger and take far longer
(a 500 MB export is legitimate): connecting and the headers keep the attempt's deadline, an answer that is not
2xx is read there (at most `ERROR_BODY_BYTES`, for its message), and a 2xx body is left to the caller
(`iter_streamed`, `aiter_streamed`) with an idle bound instead: no bytes for the client's timeout fails
(`BodyStalled`), naming the request.
"""

from __future__ import annotations

import contextvars
import random
import re
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpcore
import httpx
from tenacity import RetryCallState, retry_if_exception, stop_after_attempt, stop_after_delay

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
DEADLINE_TIMEOUTS = 4  # an attempt, headers and body, may take this many times the client's timeout
MAX_BODY_BYTES = 256 * 2**20  # a body's size once decompressed: beyond it, an error rather than a memory blow-up
ERROR_BODY_BYTES = 64 * 1024  # of a streamed request's error answer: read for its message, the rest left unread


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
        started: float | None = None,
    ) -> dict[str, Any]:
        """Arguments for tenacity's `Retrying` / `AsyncRetrying`; the same for sync and async.

        `retry_on(exc)` says whether a failure is worth another attempt; `asked(exc)` is the `Retry-After` it
        carries (or None). The last failure is re-raised. `max_total` counts from `started` (`time.monotonic()`)
        when given: the first attempt was made before the loop began.
        """

        def worth_retrying(exc: BaseException) -> bool:
            return retry_on(exc) and self.honours(asked(exc))

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return self.wait(state.attempt_number, asked(exc))

        stop = stop_after_attempt(self.attempts)
        if self.max_total is not None and started is None:
            stop = stop | stop_after_delay(self.max_total)
        elif self.max_total is not None:
            total = self.max_total
            stop = stop | (lambda state: time.monotonic() - started >= total)
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


# -- The bounds of one attempt --------------------------------------------------------------------------------------


class DeadlineExceeded(httpx.ReadTimeout):
    """An attempt took longer than its deadline (a timeout, so retried like one)."""


class BodyTooLarge(httpx.DecodingError):
    """A body larger than the limit once decompressed (not retried)."""


def attempt_deadline(client: httpx.Client | httpx.AsyncClient) -> float | None:
    """Seconds one attempt may take, headers and body: `DEADLINE_TIMEOUTS` x the client's read timeout."""
    read = client.timeout.read
    return DEADLINE_TIMEOUTS * read if read else None


def send_bounded(client: httpx.Client, request: httpx.Request, *, max_bytes: int | None = None) -> httpx.Response:
    """`client.send(request)`, its headers and body read under the attempt's deadline and size limit."""
    attempt, limit = _Attempt(attempt_deadline(client)), max_bytes or MAX_BODY_BYTES
    _bound_sockets(client)
    bound = _ATTEMPT.set(attempt)
    try:
        response = client.send(request, stream=True)
        try:
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                attempt.check(size, limit)
        finally:
            response.close()
    except httpx.TimeoutException as exc:
        raise attempt.late(exc, request) from None
    finally:
        _ATTEMPT.reset(bound)
    response._content = b"".join(chunks)  # what httpx's own `Response.read()` does with the chunks it reads
    return response


async def asend_bounded(
    client: httpx.AsyncClient, request: httpx.Request, *, max_bytes: int | None = None
) -> httpx.Response:
    """Async `send_bounded`."""
    attempt, limit = _Attempt(attempt_deadline(client)), max_bytes or MAX_BODY_BYTES
    _bound_sockets(client)
    bound = _ATTEMPT.set(attempt)
    try:
        response = await client.send(request, stream=True)
        try:
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                attempt.check(size, limit)
        finally:
            await response.aclose()
    except httpx.TimeoutException as exc:
        raise attempt.late(exc, request) from None
    finally:
        _ATTEMPT.reset(bound)
    response._content = b"".join(chunks)
    return response


# -- Streamed bodies: the headers under the deadline, the body under an idle bound ----------------------------------


class BodyStalled(httpx.ReadTimeout):
    """A streamed body sent no bytes for the client's timeout, its idle bound (the message names the request)."""


class BodyCutShort(httpx.RemoteProtocolError):
    """A streamed body broke off: the connection failed or closed before its end (the message names the request)."""


def send_streamed(client: httpx.Client, request: httpx.Request) -> httpx.Response:
    """`client.send(request, stream=True)` for a body too large to hold: connecting and the headers within the
    attempt's deadline, as `send_bounded`. An answer that is not 2xx is read here, at most `ERROR_BODY_BYTES`
    (within the deadline), and closed, so the retry policy and error messages see its body; a 2xx answer comes
    back open, its body unread, for `iter_streamed`: no deadline, no size limit. The caller closes it."""
    attempt = _Attempt(attempt_deadline(client))
    _bound_sockets(client)
    bound = _ATTEMPT.set(attempt)
    try:
        response = client.send(request, stream=True)
        if not response.is_success:
            read_capped(response, attempt=attempt)
    except httpx.TimeoutException as exc:
        raise attempt.late(exc, request) from None
    finally:
        _ATTEMPT.reset(bound)  # what the body's reads see from here on: their own timeout, the idle bound
    return response


async def asend_streamed(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """Async `send_streamed`."""
    attempt = _Attempt(attempt_deadline(client))
    _bound_sockets(client)
    bound = _ATTEMPT.set(attempt)
    try:
        response = await client.send(request, stream=True)
        if not response.is_success:
            await aread_capped(response, attempt=attempt)
    except httpx.TimeoutException as exc:
        raise attempt.late(exc, request) from None
    finally:
        _ATTEMPT.reset(bound)
    return response


def read_capped(
    response: httpx.Response, max_bytes: int = ERROR_BODY_BYTES, *, attempt: _Attempt | None = None
) -> httpx.Response:
    """Read at most `max_bytes` of a streamed answer's body (what an error message quotes), then close it; the
    rest is never read. `response.content` is what was read."""
    chunks, size = [], 0
    try:
        for chunk in response.iter_bytes():
            chunks.append(chunk[: max_bytes - size])
            size += len(chunks[-1])
            if attempt is not None:
                attempt.check(size, max_bytes)
            if size >= max_bytes:
                break
    finally:
        response.close()
    response._content = b"".join(chunks)  # as `send_bounded` does
    return response


async def aread_capped(
    response: httpx.Response, max_bytes: int = ERROR_BODY_BYTES, *, attempt: _Attempt | None = None
) -> httpx.Response:
    """Async `read_capped`."""
    chunks, size = [], 0
    try:
        async for chunk in response.aiter_bytes():
            chunks.append(chunk[: max_bytes - size])
            size += len(chunks[-1])
            if attempt is not None:
                attempt.check(size, max_bytes)
            if size >= max_bytes:
                break
    finally:
        await response.aclose()
    response._content = b"".join(chunks)
    return response


def iter_streamed(response: httpx.Response, label: str) -> Iterator[bytes]:
    """The body of an open answer from `send_streamed`, decompressed (`Content-Encoding`) as it arrives. No deadline
    and no size limit; each wait for bytes is bounded by the client's timeout: past it, `BodyStalled`. A body that
    breaks off raises `BodyCutShort`. Both name `label` (the request) and the bytes received."""
    received = 0
    try:
        for chunk in response.iter_bytes():
            received += len(chunk)
            yield chunk
    except httpx.TimeoutException:
        raise BodyStalled(_stalled(label, response, received), request=response.request) from None
    except httpx.TransportError as exc:
        raise BodyCutShort(_cut_short(label, exc, received), request=response.request) from None


async def aiter_streamed(response: httpx.Response, label: str) -> AsyncIterator[bytes]:
    """Async `iter_streamed`."""
    received = 0
    try:
        async for chunk in response.aiter_bytes():
            received += len(chunk)
            yield chunk
    except httpx.TimeoutException:
        raise BodyStalled(_stalled(label, response, received), request=response.request) from None
    except httpx.TransportError as exc:
        raise BodyCutShort(_cut_short(label, exc, received), request=response.request) from None


def _stalled(label: str, response: httpx.Response, received: int) -> str:
    idle = (response.request.extensions.get("timeout") or {}).get("read")
    wait = f"{idle:g} s" if idle else "the connection's timeout"
    return (
        f"{label}: the body stalled, no bytes for {wait} after {received:,} bytes (a streamed body has no deadline, "
        "but each wait for bytes is bounded by the connection's timeout)"
    )


def _cut_short(label: str, exc: httpx.TransportError, received: int) -> str:
    return f"{label}: the body broke off after {received:,} bytes ({type(exc).__name__})"


class _Attempt:
    """The clock and the byte count of one attempt. The clock starts at the attempt's first read or write on a
    socket, so the time an auth flow spends getting a token (its own attempts, bounded alike) is not counted."""

    __slots__ = ("ends", "seconds")

    def __init__(self, seconds: float | None) -> None:
        self.seconds, self.ends = seconds, None

    def left(self) -> float | None:
        """Seconds left (None: no deadline); starts the clock."""
        if self.seconds is None:
            return None
        now = time.monotonic()
        if self.ends is None:
            self.ends = now + self.seconds
        return self.ends - now

    def check(self, size: int, max_bytes: int) -> None:
        if size > max_bytes:
            raise BodyTooLarge(f"the body is over {max_bytes:,} bytes once decompressed")
        left = self.left()
        if left is not None and left <= 0:
            raise DeadlineExceeded(_late(self.seconds or 0.0))

    def late(self, exc: httpx.TimeoutException, request: httpx.Request) -> httpx.TimeoutException:
        """`exc`, or `DeadlineExceeded` when it is the deadline, not one read's timeout, that ran out."""
        left = self.left()
        if isinstance(exc, DeadlineExceeded) or left is None or left > 0:
            return exc
        return DeadlineExceeded(_late(self.seconds or 0.0), request=request)


def _late(deadline: float) -> str:
    return f"no complete answer within {deadline:.0f} s ({DEADLINE_TIMEOUTS} x the connection's timeout)"


# httpx bounds each read of a socket (`timeout`), never a whole answer: a server that sends a byte a second,
# headers included, keeps a blocking client waiting for ever, and httpx offers no public way to change that.
# So each connection pool of a client is put on a network backend whose every connect, read and write waits no
# longer than what is left of the current attempt (`_ATTEMPT`, set by `send_bounded` in the task or thread that
# sends). This reaches into httpx's `_transport`/`_mounts` and httpcore's `_network_backend`;
# `tests/api/test_hostile_pages.py` fails if a release of either moves them.

_ATTEMPT: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar("authapi_attempt", default=None)


def _within(timeout: float | None, error: type[Exception]) -> float | None:
    """`timeout` cut to what is left of the current attempt; `error` when nothing is."""
    attempt = _ATTEMPT.get()
    left = attempt.left() if attempt is not None else None
    if left is None:
        return timeout
    if left <= 0:
        raise error("the attempt's deadline has passed")
    return left if timeout is None else min(timeout, left)


_BOUND: weakref.WeakSet[httpx.Client | httpx.AsyncClient] = weakref.WeakSet()  # clients already on _Backend


def _bound_sockets(client: httpx.Client | httpx.AsyncClient) -> None:
    if client in _BOUND:
        return
    _BOUND.add(client)
    for transport in (client._transport, *client._mounts.values()):
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend) and not isinstance(backend, _Backend):
            pool._network_backend = _Backend(backend)  # type: ignore[union-attr]
        elif isinstance(backend, httpcore.AsyncNetworkBackend) and not isinstance(backend, _AsyncBackend):
            pool._network_backend = _AsyncBackend(backend)  # type: ignore[union-attr]


class _Stream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _within(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _within(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, _within(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, *args: Any, **kwargs: Any) -> Any:
        return _Stream(
            self._backend.connect_tcp(host, port, _within(timeout, httpcore.ConnectTimeout), *args, **kwargs)
        )

    def connect_unix_socket(self, path: str, timeout: float | None = None, *args: Any, **kwargs: Any) -> Any:
        return _Stream(
            self._backend.connect_unix_socket(path, _within(timeout, httpcore.ConnectTimeout), *args, **kwargs)
        )

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _AsyncStream(httpcore.AsyncNetworkStream):
    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, _within(timeout, httpcore.ReadTimeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, _within(timeout, httpcore.WriteTimeout))

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> Any:
        tls = await self._stream.start_tls(ssl_context, server_hostname, _within(timeout, httpcore.ConnectTimeout))
        return _AsyncStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, *args: Any, **kwargs: Any) -> Any:
        stream = await self._backend.connect_tcp(host, port, _within(timeout, httpcore.ConnectTimeout), *args, **kwargs)
        return _AsyncStream(stream)

    async def connect_unix_socket(self, path: str, timeout: float | None = None, *args: Any, **kwargs: Any) -> Any:
        stream = await self._backend.connect_unix_socket(
            path, _within(timeout, httpcore.ConnectTimeout), *args, **kwargs
        )
        return _AsyncStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


# -- The pace of requests -------------------------------------------------------------------------------------------

_REMAINING = re.compile(r"(?:\bremaining=|;\s*r=)(\d+)", re.IGNORECASE)
_RESET = re.compile(r"(?:\breset=|;\s*t=)(\d+)", re.IGNORECASE)
_WINDOW = re.compile(r"(?:;\s*w=)(\d+)", re.IGNORECASE)
EPOCH_SECONDS = 1_000_000_000  # a reset header above this is a point in time (Unix seconds), not a delay


def rate_limit(response: httpx.Response) -> tuple[int, float] | None:
    """(requests remaining, seconds until the budget resets) from the answer's headers, or None.

    Read: `X-RateLimit-Remaining`/`-Reset` (and `X-Rate-Limit-*`, `RateLimit-*`), the IETF `RateLimit` field in
    both drafts' syntax (`remaining=5, reset=30` and `"default";r=5;t=30`), with `RateLimit-Policy`'s window
    (`w=60`) when no reset is given. A reset may be seconds or a Unix time."""
    headers = {name: value for name, value in response.headers.items() if "rate" in name}  # one pass, lower-case
    if not headers:
        return None
    remaining = reset = None
    for prefix in ("x-ratelimit-", "x-rate-limit-", "ratelimit-"):
        if (value := headers.get(prefix + "remaining")) is not None and value.strip().isdigit():
            remaining = int(value)
            reset_value = (headers.get(prefix + "reset") or "").strip()
            reset = float(reset_value) if reset_value.replace(".", "", 1).isdigit() else None
            break
    field = headers.get("ratelimit", "")
    if remaining is None and (left := _REMAINING.search(field)):
        remaining = int(left.group(1))
        reset = float(resets.group(1)) if (resets := _RESET.search(field)) else None
    if remaining is None:
        return None
    if reset is None and (window := _WINDOW.search(headers.get("ratelimit-policy", ""))):
        reset = float(window.group(1))
    if reset is None:
        return None
    return remaining, max(0.0, reset - time.time()) if reset > EPOCH_SECONDS else reset


class Pace:
    """When each request of one run may go: at most `max_per_second`, never before a `Retry-After` or an
    exhausted rate-limit budget resets, and spread out when the budget left is small for the `in_flight`
    requests that share it. Thread-safe; `delay()` reserves a slot and says how long to wait for it."""

    def __init__(self, max_per_second: float | None = None, *, in_flight: int = 1) -> None:
        self.interval = 1.0 / max_per_second if max_per_second else 0.0
        self.in_flight = max(1, in_flight)
        self.waited = 0.0  # seconds spent waiting for slots, for the log
        self._next = 0.0
        self._lock = threading.Lock()

    def delay(self) -> float:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
            self.waited += start - now
            return start - now

    def observe(self, response: httpx.Response) -> None:
        """Read the answer's pacing hints: `Retry-After` on a 429 or 503, and the rate-limit headers."""
        now = time.monotonic()
        after = retry_after(response) if response.status_code in (429, 503) else None
        budget = rate_limit(response)
        with self._lock:
            if after is not None:
                self._next = max(self._next, now + after)
            if budget is None:
                return
            remaining, reset = budget
            if remaining <= self.in_flight:  # what is already in flight may use it all: wait for the reset
                self._next = max(self._next, now + reset)
            elif remaining <= 4 * self.in_flight:  # running low: spread what is left over the window
                self._next = max(self._next, now + reset / (remaining - self.in_flight))
