"""What counts as transient, and how long a server asks us to wait: shared by token and API requests."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx

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
