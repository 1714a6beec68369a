"""`AuthApiHook`: an authenticated httpx client for any of our connection types, with a shared token cache."""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx
from airflow.sdk import BaseHook

from airflow_provider_authapi.auth import (
    build_auth,
    build_token_manager,
    client_kwargs,
)
from airflow_provider_authapi.auth.config import ApiKeyConfig, AuthConfig, BearerAuthConfig
from airflow_provider_authapi.auth.config import config_secrets as core_config_secrets
from airflow_provider_authapi.auth.errors import AuthApiError
from airflow_provider_authapi.auth.store import PUBLIC_EXTRA_KEYS, Token
from airflow_provider_authapi.connections import auth_config_from_connection
from airflow_provider_authapi.connections.mapping import connection_value
from airflow_provider_authapi.store import VariableTokenStore

if TYPE_CHECKING:
    from airflow_provider_authapi.auth.manager import TokenManager

# One TokenManager per (connection, credentials) in this process: every hook instance, task and trigger
# running here shares its in-memory token, so the store is read at most once per token lifetime.
_MANAGERS: dict[tuple[str, str], TokenManager] = {}
_MANAGERS_LOCK = threading.Lock()


def reset_token_managers() -> None:
    """Forget every in-process token (tests; or after `airflow authapi token clear`)."""
    with _MANAGERS_LOCK:
        _MANAGERS.clear()


def config_secrets(config: AuthConfig) -> list[str]:
    """Every secret a config holds, to be masked in task logs."""
    return core_config_secrets(config)


def mask(*secrets: str | None) -> None:
    """Register secrets with Airflow's secrets masker so task logs show `***` in their place."""
    from airflow.sdk.log import mask_secret

    for secret in secrets:
        if secret:
            mask_secret(secret)


class _MaskingStore(VariableTokenStore):
    """A Variable token store that registers every token it reads or writes with the secrets masker."""

    def load(self) -> Token | None:
        token = super().load()
        if token is not None:
            mask(token.access_token, token.refresh_token)
        return token

    def save(self, token: Token) -> None:
        mask(token.access_token, token.refresh_token)
        super().save(token)


class AuthApiHook(BaseHook):
    """Talk to a REST API through a connection of any `authapi_*` type.

    Tokens are fetched and refreshed by the auth core and cached in a Variable shared by every task and worker
    (see README, "The token cache"). `get_client()` gives a ready `httpx.Client`; inside `@task` code:

        with AuthApiHook("dastra").get_client() as client:
            workspaces = client.get("/v1/workspaces").json()
    """

    conn_name_attr = "authapi_conn_id"
    default_conn_name = "authapi_default"
    conn_type = "authapi_oauth2"
    hook_name = "Authenticated REST API"

    def __init__(
        self,
        authapi_conn_id: str = default_conn_name,
        *,
        leeway: float | None = None,
        connection: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.authapi_conn_id = authapi_conn_id
        self.leeway = leeway
        self._connection = connection
        self._client: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"AuthApiHook(authapi_conn_id={self.authapi_conn_id!r})"

    # -- configuration ---------------------------------------------------------------------------------------

    @cached_property
    def connection(self) -> Any:
        return self._connection or self.get_connection(self.authapi_conn_id)

    @cached_property
    def config(self) -> AuthConfig:
        config = auth_config_from_connection(self.connection)
        mask(*config_secrets(config))
        return config

    @cached_property
    def store(self) -> VariableTokenStore:
        return VariableTokenStore(self.authapi_conn_id, self.config.fingerprint())

    @cached_property
    def token_manager(self) -> TokenManager | None:
        """The process-wide TokenManager of this connection, or None for static schemes."""
        key = (self.authapi_conn_id, self.config.fingerprint())
        with _MANAGERS_LOCK:
            manager = _MANAGERS.get(key)
            if manager is None:
                store = _MaskingStore(self.authapi_conn_id, self.config.fingerprint())
                manager = build_token_manager(self.config, store, leeway=self.leeway)
                if manager is not None:
                    _MANAGERS[key] = manager
            return manager

    @property
    def auth(self) -> httpx.Auth:
        return build_auth(self.config, self.token_manager)

    # -- clients -----------------------------------------------------------------------------------------------

    def get_client(self, **httpx_kwargs: Any) -> httpx.Client:
        """A new `httpx.Client`: base URL, auth, headers, query params, TLS and timeout from the connection."""
        return httpx.Client(**{**client_kwargs(self.config.common), "auth": self.auth, **httpx_kwargs})

    def get_async_client(self, **httpx_kwargs: Any) -> httpx.AsyncClient:
        """A new `httpx.AsyncClient` configured like `get_client()`, sharing the same token cache."""
        return httpx.AsyncClient(**{**client_kwargs(self.config.common), "auth": self.auth, **httpx_kwargs})

    def get_conn(self) -> httpx.Client:
        """The hook's own client, kept open for its lifetime (closed by `close()`)."""
        if self._client is None:
            self._client = self.get_client()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def request(self, method: str, endpoint: str, **httpx_kwargs: Any) -> httpx.Response:
        """Send one authenticated request. The status is not raised; a 401 is retried once by the auth."""
        return self.get_conn().request(method, endpoint, **httpx_kwargs)

    # -- tokens ------------------------------------------------------------------------------------------------

    def get_token(self, force_refresh: bool = False) -> Token | None:
        """The current token (obtaining or refreshing it as needed), or None for static schemes."""
        if self.token_manager is None:
            return None
        return self.token_manager.get_token(force_refresh=force_refresh)

    def get_access_token(self, force_refresh: bool = False) -> str:
        """The current access token string; for static schemes the configured token or key."""
        token = self.get_token(force_refresh=force_refresh)
        if token is not None:
            return token.access_token
        scheme = self.config.scheme
        if isinstance(scheme, BearerAuthConfig):
            return scheme.token
        if isinstance(scheme, ApiKeyConfig):
            return scheme.key
        raise AuthApiError(f"connection {self.authapi_conn_id!r} ({type(scheme).__name__}) uses no token")

    def endpoint_vars(self) -> dict[str, str]:
        """Non-secret values for endpoint templates, such as `realm_id` (QuickBooks company id) and `instance_url`
        (the API base URL of a Salesforce org, from its token response).

        A value stored with the token (from the consent callback or the token response) wins over the connection's
        field. A connection without a host of its own gets a token first if none is stored: its API base URL
        comes with the token (`{instance_url}/services/data/...`).
        """
        values = {key: str(value) for key in PUBLIC_EXTRA_KEYS if (value := connection_value(self.connection, key))}
        if self.token_manager is not None:
            token = self.store.load() if self.config.common.base_url else self.get_token()
            if token is not None:
                values.update({k: str(v) for k, v in token.extra.items() if k in PUBLIC_EXTRA_KEYS and v})
        return values

    # -- UI ----------------------------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """For the UI's Test button: obtain a fresh token (then GET `test_endpoint` when set), or GET
        `test_endpoint` for static schemes. See `plugins.connection_check`; the message holds no secret."""
        from airflow_provider_authapi.plugins.connection_check import run_connection_test

        return run_connection_test(self)
