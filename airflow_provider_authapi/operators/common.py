"""What the operator, the sensor and the trigger share: building the request, secrets to scrub, events."""

from __future__ import annotations

import string
from typing import Any

from airflow_provider_authapi.api import RequestSpec
from airflow_provider_authapi.api.response_filter import ResponseFilter, callable_ref
from airflow_provider_authapi.auth.errors import AuthApiError, ConfigError


class AuthApiTaskError(AuthApiError):
    """A deferred request failed in the triggerer; the message is the trigger's, secret-free."""


def format_endpoint(endpoint: str, variables: dict[str, str]) -> str:
    """Fill `{name}` placeholders (e.g. `/v3/company/{realm_id}/query`) from the hook's `endpoint_vars()`."""
    if "{" not in endpoint:
        return endpoint
    names = {name for _, name, _, _ in string.Formatter().parse(endpoint) if name}
    missing = sorted(names - set(variables))
    if missing:
        known = ", ".join(sorted(variables)) or "none"
        raise ConfigError("endpoint", f"{endpoint!r} needs {missing}; the connection provides: {known}")
    return endpoint.format_map(variables)


def build_request(
    hook: Any,
    *,
    method: str,
    endpoint: str,
    query_params: dict[str, Any] | None,
    json: Any,
    data: Any,
    headers: dict[str, str] | None,
) -> RequestSpec:
    url = format_endpoint(endpoint, hook.endpoint_vars())
    return RequestSpec(method, url, params=dict(query_params or {}), json=json, data=data, headers=headers or {})


def hook_secrets(hook: Any) -> list[str]:
    """Every secret of the hook's connection, to scrub from error excerpts."""
    from airflow_provider_authapi.hooks.authapi import config_secrets

    return config_secrets(hook.config)


def callable_spec(func: Any, field: str) -> str | None:
    """`module:qualname` of a callable a deferred task sends to the triggerer (None stays None)."""
    if func is None:
        return None
    try:
        return callable_ref(func)
    except ConfigError as exc:
        raise ConfigError(field, f"{exc} (deferrable=True sends it to the triggerer by import path)") from None


def filter_spec(response_filter: Any) -> dict[str, str] | None:
    built = ResponseFilter.of(response_filter)
    if built is None:
        return None
    try:
        return built.to_spec()
    except ConfigError as exc:
        raise ConfigError("response_filter", f"{exc} (deferrable=True sends it by import path)") from None


def event_result(event: dict[str, Any]) -> Any:
    """The result a trigger sent back, or raise with its (secret-free) error message."""
    if event.get("status") != "success":
        raise AuthApiTaskError(f"{event.get('error', 'Error')}: {event.get('message', 'no message')}")
    return event.get("result")
