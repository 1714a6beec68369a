"""One `AuthApiHook` subclass per connection type.

Airflow's hook registry reads `conn_type` and `hook_name` from the hook class. With one class for six types it
logs "Inconsistency!" for five of them and names every type alike once the hook is imported; a subclass per type
keeps each type's name. Use `AuthApiHook` in code: it serves every type.
"""

from __future__ import annotations

from airflow_provider_authapi.connections.fields import CONNECTION_TYPES
from airflow_provider_authapi.hooks.authapi import AuthApiHook


class AuthApiOAuth2Hook(AuthApiHook):
    """`AuthApiHook` registered for `authapi_oauth2` connections."""

    conn_type = "authapi_oauth2"
    hook_name = CONNECTION_TYPES[conn_type].hook_name


class AuthApiTokenHook(AuthApiHook):
    """`AuthApiHook` registered for `authapi_token` connections."""

    conn_type = "authapi_token"
    hook_name = CONNECTION_TYPES[conn_type].hook_name


class AuthApiApiKeyHook(AuthApiHook):
    """`AuthApiHook` registered for `authapi_apikey` connections."""

    conn_type = "authapi_apikey"
    hook_name = CONNECTION_TYPES[conn_type].hook_name


class AuthApiBasicHook(AuthApiHook):
    """`AuthApiHook` registered for `authapi_basic` connections."""

    conn_type = "authapi_basic"
    hook_name = CONNECTION_TYPES[conn_type].hook_name


class AuthApiBearerHook(AuthApiHook):
    """`AuthApiHook` registered for `authapi_bearer` connections."""

    conn_type = "authapi_bearer"
    hook_name = CONNECTION_TYPES[conn_type].hook_name


class AuthApiNoAuthHook(AuthApiHook):
    """`AuthApiHook` registered for `authapi_none` connections."""

    conn_type = "authapi_none"
    hook_name = CONNECTION_TYPES[conn_type].hook_name
