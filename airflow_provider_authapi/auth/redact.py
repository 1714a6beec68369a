"""Keeping secrets out of messages: which values are secret, scrubbing them, safe URLs, short response excerpts."""

from __future__ import annotations

import re
from collections.abc import Iterable

import httpx

from airflow_provider_authapi.auth.config import (
    ApiKeyConfig,
    AuthConfig,
    BasicAuthConfig,
    BearerAuthConfig,
    OAuth2Config,
    SchemeConfig,
    TokenLoginConfig,
)

EXCERPT_CHARS = 200
SUMMARY_CHARS = 400
MIN_SECRET_CHARS = 4  # shorter values would scrub ordinary words

# Request header and query parameter names whose values are credentials.
SENSITIVE_NAME = re.compile(r"auth|token|key|secret|passw|signature|session|cookie", re.IGNORECASE)


def config_secrets(config: AuthConfig | SchemeConfig) -> list[str]:
    """Every secret a config (or just its scheme) holds: to mask in task logs and scrub from error messages."""
    scheme = config.scheme if isinstance(config, AuthConfig) else config
    values: list[str | None] = []
    if isinstance(config, AuthConfig):
        common = config.common
        values += [common.tls.client_key_pem, common.signature.secret if common.signature else None]
    if isinstance(scheme, OAuth2Config):
        values += [scheme.client_secret, scheme.password, scheme.refresh_token]
    elif isinstance(scheme, TokenLoginConfig | BasicAuthConfig):
        values.append(scheme.password)
    elif isinstance(scheme, BearerAuthConfig):
        values.append(scheme.token)
    elif isinstance(scheme, ApiKeyConfig):
        values.append(scheme.key)
    return [value for value in values if value]


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


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret (of at least `MIN_SECRET_CHARS`) replaced by `***`, in the order given.

    A secret listed before a longer value that contains it keeps that value's context: the token first, then
    the header value `Bearer <token>`, gives `Bearer ***`.
    """
    for secret in dict.fromkeys(secrets):
        if secret and len(secret) >= MIN_SECRET_CHARS:
            text = text.replace(secret, "***")
    return text


def safe_url(url: str | httpx.URL) -> str:
    """The URL without user info, query string or fragment, any of which may carry credentials."""
    return str(httpx.URL(url).copy_with(userinfo=b"", query=None, fragment=None))


def response_excerpt(response: httpx.Response, secrets: Iterable[str | None] = ()) -> str:
    """A short body excerpt for an error message, with any known secret replaced by `***`.

    A well-known JSON error body (see `error_summary`) is summarised first, so its message survives the cut.
    """
    secrets = tuple(secrets)
    try:
        text = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return "<unreadable body>"
    text = scrub(" ".join(text.split()), secrets)[:EXCERPT_CHARS]  # scrub first: a cut must not split a secret
    summary = error_summary(response)
    if not summary:
        return text
    return f"{scrub(' '.join(summary.split()), secrets)[:SUMMARY_CHARS]}; body: {text}"


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
