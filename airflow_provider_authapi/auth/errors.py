"""Every error this provider raises on purpose (all are `AuthApiError`s), and the one scrubber that keeps
secrets out of their messages: `scrub`, `safe_url`, bounded `response_excerpt`s.

Messages name the field, request or response at fault, never a secret. `config.config_secrets` says which values
of a config are secret.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from urllib.parse import urlencode

import httpx


class AuthApiError(Exception):
    """Base class of every error this provider raises on purpose."""


class ConfigError(AuthApiError, ValueError):
    """An auth configuration is malformed; the message names the field."""

    def __init__(self, field: str, problem: str, conn_id: str | None = None) -> None:
        self.field = field
        self.problem = problem
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


class DamagedRecordError(TokenStoreError):
    """The stored token record cannot be read back (redacted by a Save in Airflow's UI, edited by hand, garbage);
    the message names the one action that fixes it. Never a secret: no value of the record is quoted."""


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


class ApiResponseError(AuthApiError):
    """A 2xx answer the task cannot use: not JSON, undecodable, too large, an error in disguise, or without the
    records asked for. The message names the page and shows a secret-free excerpt."""


class ApiTransportError(AuthApiError):
    """The API could not be reached (connect error, timeout) within the retry budget, or a request could not be
    sent at all. The clients the hook hands out raise it as a subclass of httpx's own error too (`transport_error`)."""


class CredentialOriginError(AuthApiError):
    """A request with the connection's credentials for an origin it does not trust; refused before it was sent."""

    FIELD = "allowed_origins"

    def __init__(self, what: str, origin: str, trusted: Sequence[str]) -> None:
        self.origin = origin
        self.field = self.FIELD
        known = ", ".join(trusted) or "none: the connection has no API base URL"
        super().__init__(
            f"{what}: refusing to send the connection's credentials to {origin}, which is not an origin the "
            f"connection trusts (its API base URL's and its {self.FIELD}: {known}). Add {origin} to the "
            f"connection's {self.FIELD} field if it may receive them, or send the request with authenticate=False "
            "to send it with no credential at all"
        )


class ProxyAuthenticationError(AuthApiError):
    """The connection's proxy answered 407 Proxy Authentication Required: its credentials are missing or wrong.

    `field` names the connection field to fix: `egress_password` when credentials were sent, else
    `egress_username`. The message names the proxy by its URL and the request, never a credential."""

    def __init__(self, proxy: str, what: str, *, sent_credentials: bool) -> None:
        self.proxy = proxy
        self.field = "egress_password" if sent_credentials else "egress_username"
        why = (
            "refused the credentials sent: check the connection's egress_username and egress_password"
            if sent_credentials
            else "wants credentials and the connection gives none: set egress_username and egress_password"
        )
        super().__init__(f"{what}: proxy {proxy} answered 407 Proxy Authentication Required; it {why}")


class PaginationError(AuthApiError, ValueError):
    """A page told us something a paginator cannot follow (e.g. a next link to another host)."""


class ResponseCheckError(AuthApiError):
    """`response_check` returned a false value for a page."""


class ReportJobError(AuthApiError):
    """A report job (`api/reports.py`) ended in one of its failed statuses. `field` names the job's field at fault
    (`report.failed`), `status` is the status read, `report_id` the job's id; the message quotes a secret-free
    excerpt of the answer, never the download URL."""

    def __init__(self, message: str, *, field: str, status: str | None = None, report_id: str | None = None) -> None:
        self.field, self.status, self.report_id = field, status, report_id
        super().__init__(message)


class ReportTimeoutError(ReportJobError):
    """A report job was not ready within its `timeout` (field `report.timeout`)."""


# -- Keeping secrets out of messages --------------------------------------------------------------------------------

EXCERPT_CHARS = 200
SUMMARY_CHARS = 400
MIN_SECRET_CHARS = 4  # shorter values would scrub ordinary words

# Request header and query parameter names whose values are credentials.
SENSITIVE_NAME = re.compile(r"auth|token|key|secret|passw|signature|session|cookie", re.IGNORECASE)


def unsendable(what: str, request: httpx.Request | None = None) -> str:
    """Why `what` (a request) could not be sent, without the value at fault: httpx's `LocalProtocolError` quotes
    the header value it refuses, which is often a credential with a trailing newline pasted from a file. With the
    `request`, the header at fault is named."""
    name = unsendable_header(request) if request is not None else None
    which = f"header {name!r}" if name else "a header"
    return (
        f"{what} could not be sent: {which} holds a line break or another character HTTP forbids (check the "
        "request's headers, the connection's header_prefix and extra_headers, and the token, key or credentials "
        "for a line break)"
    )


_UNSENDABLE = re.compile(rb"[\r\n\0]")


def unsendable_header(request: httpx.Request) -> str | None:
    """The name of the first header of `request` whose name or value holds a line break or NUL (a name with one is
    shown up to it), or None."""
    for raw_name, raw_value in request.headers.raw:
        if _UNSENDABLE.search(raw_name) or _UNSENDABLE.search(raw_value):
            return _UNSENDABLE.split(raw_name)[0].decode("latin-1").strip() or "?"
    return None


@functools.cache
def _typed_transport_error(cls: type[httpx.TransportError]) -> type[httpx.TransportError]:
    """`ApiTransportError` and `cls` at once: code that catches httpx's class (the retry policy) still does."""
    return type(cls.__name__, (ApiTransportError, cls), {"__module__": __name__, "__doc__": cls.__doc__})


def transport_error(
    exc: httpx.TransportError, request: httpx.Request, secrets: Iterable[str | None] = ()
) -> httpx.TransportError:
    """`exc` as an `ApiTransportError` of the same httpx class, its message scrubbed of `secrets` and of what the
    request carried; a request httpx refused to send gets `unsendable`'s message instead. Raise it `from None`
    when `.scrubbed` is true (the chained original would show what was scrubbed)."""
    what = f"{request.method} {safe_url(request.url)}"
    if isinstance(exc, httpx.LocalProtocolError):
        message = unsendable(what, request)
    else:
        message = scrub(str(exc), [*secrets, *credential_values(request)])
    typed = _typed_transport_error(type(exc))(message, request=request)
    typed.scrubbed = message != str(exc)  # type: ignore[attr-defined]
    return typed


def request_secrets(response: httpx.Response) -> list[str]:
    """Credential-looking values the request carried (auth headers, `?api_key=`...), to scrub from excerpts."""
    try:
        request = response.request
    except RuntimeError:  # a response built without a request
        return []
    return credential_values(request)


def credential_values(request: httpx.Request) -> list[str]:
    """Credential-looking values `request` carries (auth headers, `?api_key=`...), to scrub from messages."""
    found: list[str] = []
    for name, value in [*request.headers.items(), *request.url.params.multi_items()]:
        if SENSITIVE_NAME.search(name):
            found.append(value)
            found.extend(value.split()[1:])  # "Bearer <token>": the token alone, too
    return found


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret (of at least `MIN_SECRET_CHARS`) replaced by `***`, the longest first.

    Longest first, so that a short secret inside a longer one cannot leave the rest of the longer one readable.
    A header value `<Scheme> <secret>` whose secret is listed too keeps its scheme word: `Bearer ***`.
    """
    values = {secret for secret in secrets if secret and len(secret) >= MIN_SECRET_CHARS}
    for secret in sorted(values, key=len, reverse=True):
        scheme, _, rest = secret.partition(" ")
        shown = f"{scheme} ***" if rest in values and scheme.isalpha() else "***"
        text = text.replace(secret, shown)
    return text


def safe_url(url: str | httpx.URL) -> str:
    """The URL without user info, query string or fragment, any of which may carry credentials."""
    return str(httpx.URL(url).copy_with(userinfo=b"", query=None, fragment=None))


def response_excerpt(response: httpx.Response, secrets: Iterable[str | None] = ()) -> str:
    """A short body excerpt for an error message: known secrets and credential-looking fields replaced by `***`.

    A well-known JSON error body (see `error_summary`) is summarised first, so its message survives the cut.
    Whatever the body's size, only its first `READ_CHARS` are looked at.
    """
    secrets = tuple(secrets)
    try:
        text = response.text[:READ_CHARS]
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return "<unreadable body>"
    text = redact_text(scrub(" ".join(text.split()), secrets))[:EXCERPT_CHARS]  # scrub first: a cut must not split
    summary = error_summary(response)
    if not summary:
        return text
    return f"{redact_text(scrub(' '.join(summary.split()), secrets))[:SUMMARY_CHARS]}; body: {text}"


READ_CHARS = 64 * 1024
CREDENTIAL_WORDS = r"token|secret|passw|key|session|cookie|assertion|signature|credential"
_JSON_FIELD = re.compile(rf'("[^"]{{0,64}}(?:{CREDENTIAL_WORDS})[^"]{{0,64}}"\s*:\s*)"(?:[^"\\]|\\.)*"', re.I)
_FORM_FIELD = re.compile(rf"((?:^|[?&\s])[\w.-]{{0,64}}(?:{CREDENTIAL_WORDS})[\w.-]{{0,64}}=)[^&\s]+", re.I)
_AUTH_VALUE = re.compile(r"\b(Basic|Bearer|Digest|Token|OAuth|DPoP)\s+[A-Za-z0-9._~+/=-]{8,}", re.I)


def redact_text(text: str) -> str:
    """`text` with the values of credential-looking fields replaced by `***`, known or not: JSON string fields
    and form/query parameters named like a credential (`"access_token": "..."`, `api_key=...`), and the value
    of an `Authorization`-style `Basic ...` or `Bearer ...`."""
    text = _JSON_FIELD.sub(r'\1"***"', text)
    text = _FORM_FIELD.sub(r"\1***", text)
    return _AUTH_VALUE.sub(r"\1 ***", text)


def redact_url(url: str | httpx.URL) -> str:
    """The URL with user info dropped and the value of every credential-looking query parameter replaced by `***`
    (for log lines that need the query; error messages use `safe_url`)."""
    parsed = httpx.URL(url)
    params = [(name, "***" if SENSITIVE_NAME.search(name) else value) for name, value in parsed.params.multi_items()]
    return str(parsed.copy_with(userinfo=b"", query=urlencode(params, safe="*").encode() or None))


_URLS_AS_ORIGIN: ContextVar[bool] = ContextVar("authapi_urls_as_origin", default=False)


@contextlib.contextmanager
def urls_logged_as_origin() -> Iterator[None]:
    """Within the block (its thread or task), httpx's log lines show each URL as its origin alone: a presigned
    download URL is a credential, whose query `redact_url` would only partly hide."""
    token = _URLS_AS_ORIGIN.set(True)
    try:
        yield
    finally:
        _URLS_AS_ORIGIN.reset(token)


def _origin_only(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{host}{port}/... (path and query not logged)"


class RedactUrlsFilter(logging.Filter):
    """A log filter that passes every URL argument of a record through `redact_url` (httpx logs each request's
    URL at INFO, query string included: an API key or token placed in the query would be in the task log), or
    within `urls_logged_as_origin()` shows its origin alone."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(arg, httpx.URL) for arg in record.args):
            shown = _origin_only if _URLS_AS_ORIGIN.get() else redact_url
            record.args = tuple(shown(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args)
        return True


def redact_httpx_logs() -> None:
    """Install `RedactUrlsFilter` on httpx's logger, once."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactUrlsFilter) for f in logger.filters):
        logger.addFilter(RedactUrlsFilter())


ERROR_KEYS = frozenset(
    {
        "error",
        "errors",
        "error_description",
        "error_uri",
        "fault",
        "Fault",
        "message",
        "code",
        "status",
        "title",
        "detail",
        "type",
        "instance",
        "statusCode",
        "time",
    }
)


def error_body(body: object) -> bool:
    """Whether a parsed body is an error and nothing else (`{"error": "quota exceeded"}`), whatever its status."""
    if not isinstance(body, dict) or not body or not set(body) <= ERROR_KEYS:
        return False
    return any(body.get(key) for key in ("error", "errors", "fault", "Fault"))


def error_summary(response: httpx.Response) -> str | None:
    """The message of a well-known JSON error body, or None.

    Recognised: QuickBooks' `Fault.Error[]` (`Message`, `Detail`, `code`; lower-case `fault.error[]` for auth
    failures), OAuth's `error` / `error_description`, RFC 9457 problem details (`title`, `detail`).
    """
    try:
        body = response.json()
    except (ValueError, httpx.ResponseNotRead, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    fault = body.get("Fault") or body.get("fault")
    if isinstance(fault, dict):
        errors = fault.get("Error") or fault.get("error") or []
        parts = [_fault_text(error) for error in errors if isinstance(error, dict)]
        kind = fault.get("type")
        text = "; ".join(part for part in parts if part)
        return f"{kind}: {text}" if kind and text else text or None
    if isinstance(body.get("error"), str):
        description = body.get("error_description")
        return f"{body['error']}: {description}" if isinstance(description, str) and description else body["error"]
    if isinstance(body.get("title"), str) and isinstance(body.get("detail"), str):
        return f"{body['title']}: {body['detail']}"
    return None


def _fault_text(error: dict) -> str:
    message = error.get("Message") or error.get("message")
    detail = error.get("Detail") or error.get("detail")
    code = error.get("code")
    text = ": ".join(str(part) for part in (message, detail) if part)
    return f"{text} (code {code})" if code and text else text


redact_httpx_logs()  # on import: every client this package builds logs through httpx's logger
