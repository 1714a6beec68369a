"""Every error this provider raises on purpose: all are `AuthApiError`s.

Messages name the field, request or response at fault, never a secret (see `auth.redact`).
"""

from __future__ import annotations

import httpx


class AuthApiError(Exception):
    """Base class of every error this provider raises on purpose."""


class ConfigError(AuthApiError, ValueError):
    """An auth configuration is malformed; the message names the field."""

    def __init__(self, field: str, problem: str, conn_id: str | None = None) -> None:
        self.field = field
        self.conn_id = conn_id
        where = f"connection {conn_id!r}, field {field!r}" if conn_id else f"field {field!r}"
        super().__init__(f"{where}: {problem}")


class TokenEndpointError(AuthApiError):
    """The token endpoint refused or answered something unusable."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error: str | None = None,
        error_description: str | None = None,
        url: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.error = error
        self.error_description = error_description
        self.url = url
        super().__init__(message)


class InvalidGrantError(TokenEndpointError):
    """OAuth `invalid_grant`: the refresh token, code or credentials are dead."""


class TransientTokenEndpointError(TokenEndpointError):
    """A token endpoint failure worth retrying (429, 5xx)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class TokenTransportError(TokenEndpointError):
    """The token endpoint could not be reached (connect error, timeout, failed TLS verification)."""

    def __init__(self, message: str, *, transient: bool = False, **kwargs) -> None:
        self.transient = transient
        super().__init__(message, **kwargs)


class UnauthorizedError(AuthApiError):
    """The API answered 401 even after a fresh token was obtained."""

    def __init__(self, message: str, response: httpx.Response | None = None) -> None:
        self.response = response
        super().__init__(message)


class TokenStoreError(AuthApiError):
    """The token store could not be read or written."""


class ApiHTTPError(AuthApiError):
    """The API answered an error status; the message has the status and a secret-free body excerpt."""

    def __init__(
        self, request_label: str, response: httpx.Response, *, excerpt: str, attempts: int = 1, note: str = ""
    ) -> None:
        self.status_code = response.status_code
        self.excerpt = excerpt
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        extra = f" ({note})" if note else ""
        super().__init__(
            f"{request_label} answered {response.status_code} {response.reason_phrase}{tries}{extra}: {excerpt}"
        )


class ApiTransportError(AuthApiError):
    """The API could not be reached (connect error, timeout) within the retry budget."""


class PaginationError(AuthApiError, ValueError):
    """A page told us something a paginator cannot follow (e.g. a next link to another host)."""


class ResponseCheckError(AuthApiError):
    """`response_check` returned a false value for a page."""
