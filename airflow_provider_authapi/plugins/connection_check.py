"""What the Test button of a connection does (`AuthApiHook.test_connection`), and the message it shows.

- Token schemes obtain a fresh token: a login, a client credentials / password grant or a grant of the user's
  own (`grant_class`) into a throwaway in-memory store (the shared token cache is left alone), or, for grants
  that live on a stored refresh token (authorization code, refresh token), a refresh through the connection's own
  token cache, whose rotated refresh token must be kept. When `test_endpoint` is set, a GET on it with that token
  (and the user's own signer, `auth_class`) follows.
- Static schemes GET `test_endpoint` (default `/`).

Messages name the connection the user typed (not the API's temporary copy), the token endpoint, the token's type
when the endpoint declared one, and where the token is sent; never a secret.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_authapi.auth import build_auth, build_token_manager
from airflow_provider_authapi.auth.client import build_client
from airflow_provider_authapi.auth.config import (
    TOKEN_SCHEMES,
    CustomGrantConfig,
    OAuth2Config,
    TokenLoginConfig,
    TokenPlacement,
    config_secrets,
)
from airflow_provider_authapi.auth.derived import resolve, values_of
from airflow_provider_authapi.auth.errors import AuthApiError, UnauthorizedError, scrub
from airflow_provider_authapi.auth.tokens import MemoryTokenStore, Token
from airflow_provider_authapi.plugins.connection_test import tested_connection_id

STORED_TOKEN_GRANTS = ("authorization_code", "refresh_token")
TokenScheme = OAuth2Config | TokenLoginConfig | CustomGrantConfig


def run_connection_test(hook: Any) -> tuple[bool, str]:
    """(ok, message) for `hook`'s connection, with the user's connection id in place of a temporary one."""
    shown = tested_connection_id() or hook.authapi_conn_id
    secrets: list[str] = []
    try:
        ok, message = _run(hook, shown, secrets)
    except Exception as exc:  # the UI shows the message; an escaping exception would show Airflow's wording
        ok, message = False, f"{type(exc).__name__}: {exc}"
        if shown not in message and hook.authapi_conn_id not in message:
            message = f"Connection {shown!r}: {message}"
    if shown != hook.authapi_conn_id:
        message = message.replace(hook.authapi_conn_id, shown)
    return ok, scrub(message, secrets)


def _run(hook: Any, shown: str, secrets: list[str]) -> tuple[bool, str]:
    config = hook.config
    secrets += config_secrets(config)
    scheme = config.scheme
    if not isinstance(scheme, TOKEN_SCHEMES):
        return _static(hook, config)

    manager = _token_manager(hook, shown, config)
    try:
        token = manager.get_token(force_refresh=True)
    except AuthApiError as exc:
        return False, f"Connection {shown!r}: {_how(scheme)} failed: {type(exc).__name__}: {exc}"
    secrets += [v for v in (token.access_token, token.refresh_token) if v]
    got = f"Connection {shown!r}: {_how(scheme)} gave {_describe_token(token, scheme)}"
    where = scheme.placement.describe()
    endpoint = explicit_test_endpoint(hook.connection)
    if not endpoint:
        hint = f"Set {field_reference(hook.connection, 'test_endpoint')} to also try an API call with it."
        return True, f"{got}; it will be sent in {where}. {hint}"
    config = resolve(config, values_of(token))  # a base URL the token's values name (`{api_domain}`)
    try:
        with build_client(config, build_auth(config, manager)) as client:
            response = client.get(endpoint)
    except UnauthorizedError:
        check = _placement_fields(hook.connection, scheme.placement)
        return False, f"{got}. GET {endpoint} with it in {where} was refused (401): check {check}."
    if response.is_success:
        return True, f"{got}. GET {endpoint} with it in {where} answered {response.status_code}."
    return False, f"{got}. GET {endpoint} with it in {where} answered {response.status_code}."


def _static(hook: Any, config: Any) -> tuple[bool, str]:
    from airflow_provider_authapi.connections.fields import connection_value

    endpoint = connection_value(hook.connection, "test_endpoint")
    with build_client(config) as client:
        response = client.get(endpoint)
    return response.is_success, f"GET {endpoint} answered {response.status_code}"


def _token_manager(hook: Any, shown: str, config: Any) -> Any:
    """The connection's own (shared) token cache when the grant lives on a stored refresh token; else a
    throwaway in-memory store, so a test never replaces the token tasks are using."""
    scheme = config.scheme
    if isinstance(scheme, OAuth2Config) and (scheme.grant_type in STORED_TOKEN_GRANTS or scheme.refresh_token):
        if shown == hook.authapi_conn_id:
            return hook.token_manager
        return type(hook)(shown, connection=hook.connection, leeway=hook.leeway).token_manager
    store = MemoryTokenStore()
    store.name = f"{shown} (Test)"  # the name token log lines give
    return build_token_manager(config, store, leeway=hook.leeway)


def _how(scheme: TokenScheme) -> str:
    if isinstance(scheme, CustomGrantConfig):
        return f"the custom grant {scheme.grant_class}"
    if isinstance(scheme, TokenLoginConfig):
        return f"the login at {scheme.token_url}"
    if scheme.grant_type in STORED_TOKEN_GRANTS or scheme.refresh_token:
        return f"refreshing the stored token at {scheme.token_url}"
    return f"the {scheme.grant_type.replace('_', ' ')} grant at {scheme.token_url}"


def _describe_token(token: Token, scheme: TokenScheme) -> str:
    from airflow_provider_authapi.plugins.pages import when

    # OAuth 2.0 token responses must say their token_type; a login API's type would be our default, not its word.
    kind = f"a token of type {token.token_type}" if isinstance(scheme, OAuth2Config) else "a token"
    until = f"valid until {when(token.expires_at.isoformat())}" if token.expires_at else "with no expiry given"
    refresh = "with a refresh token" if token.refresh_token else "without a refresh token"
    return f"{kind} {until} ({refresh})"


def _placement_fields(conn: Any, placement: TokenPlacement) -> str:
    names = ("token_placement", "token_query_param") if placement.location == "query" else ()
    names = names or ("token_header_name", "token_prefix")
    return " and ".join(field_reference(conn, name) for name in names)


def field_reference(conn: Any, name: str) -> str:
    """A field as the form shows it, `'Header prefix' (header_prefix)`, under its current name if it was renamed."""
    from airflow_provider_authapi.connections import CONNECTION_TYPES, fields

    current = getattr(fields, "RENAMED", {}).get(name, name)
    conn_type = CONNECTION_TYPES.get(getattr(conn, "conn_type", None) or "")
    specs = {spec.name: spec for spec in conn_type.fields} if conn_type else {}
    spec = specs.get(current) or specs.get(name)
    return f"'{spec.label}' ({spec.name})" if spec else current


def explicit_test_endpoint(conn: Any) -> str | None:
    """`test_endpoint` unless it is the field's default (`/`), which the form saves whether the user meant it or
    not: a token scheme's Test then stops at the token instead of calling a root that may well not exist."""
    from airflow_provider_authapi.connections import CONNECTION_TYPES, connection_value

    value = connection_value(conn, "test_endpoint")
    conn_type = CONNECTION_TYPES.get(getattr(conn, "conn_type", None) or "")
    default = next((s.default for s in conn_type.fields if s.name == "test_endpoint"), None) if conn_type else None
    return str(value) if value and value != default else None
