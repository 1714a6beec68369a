"""The two factories of the core: a config's `TokenManager` and its `httpx.Auth`."""

from __future__ import annotations

import httpx

from airflow_provider_authapi.auth.client import ssl_verify
from airflow_provider_authapi.auth.config import (
    ApiKeyConfig,
    AuthConfig,
    BasicAuthConfig,
    BearerAuthConfig,
    OAuth2Config,
    TokenLoginConfig,
)
from airflow_provider_authapi.auth.endpoint import TokenEndpoint
from airflow_provider_authapi.auth.grants import LoginGrant, OAuth2Grant
from airflow_provider_authapi.auth.manager import TokenManager
from airflow_provider_authapi.auth.retry import RetryPolicy
from airflow_provider_authapi.auth.schemes import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    ExtraQueryParams,
    MultiAuth,
    RequestDecorator,
    SignatureAuth,
    TokenAuth,
)
from airflow_provider_authapi.auth.store import TokenStore
from airflow_provider_authapi.auth.token import DEFAULT_LEEWAY


def build_token_manager(
    config: AuthConfig,
    store: TokenStore | None = None,
    *,
    leeway: float | None = None,
    retry: RetryPolicy | None = None,
) -> TokenManager | None:
    """A `TokenManager` for schemes that obtain tokens (OAuth 2.0, token login); None for static ones.

    `leeway` wins over the config's; without either, `DEFAULT_LEEWAY`. `retry` defaults to `retry.TOKEN_RETRY`.
    """
    scheme = config.scheme
    if isinstance(scheme, OAuth2Config):
        grant: OAuth2Grant | LoginGrant = OAuth2Grant(scheme)
        initial_refresh_token = scheme.refresh_token
    elif isinstance(scheme, TokenLoginConfig):
        grant, initial_refresh_token = LoginGrant(scheme), None
    else:
        return None
    tls = config.common.tls
    endpoint = TokenEndpoint(grant, verify=ssl_verify(tls), timeout=config.common.timeout, retry=retry)
    if leeway is None:
        leeway = scheme.leeway if scheme.leeway is not None else DEFAULT_LEEWAY
    return TokenManager(endpoint, store, leeway=leeway, initial_refresh_token=initial_refresh_token)


def build_auth(config: AuthConfig, manager: TokenManager | None = None) -> httpx.Auth:
    """The `httpx.Auth` of a config: its scheme, the extra query parameters and the signature header."""
    scheme = config.scheme
    decorators: list[RequestDecorator] = []
    if isinstance(scheme, BasicAuthConfig):
        decorators.append(BasicAuth(scheme))
    elif isinstance(scheme, BearerAuthConfig):
        decorators.append(BearerAuth(scheme))
    elif isinstance(scheme, ApiKeyConfig):
        decorators.append(ApiKeyAuth(scheme))
    if config.common.params:
        decorators.append(ExtraQueryParams(config.common.params))
    if config.common.signature is not None:
        decorators.append(SignatureAuth(config.common.signature))
    if isinstance(scheme, OAuth2Config | TokenLoginConfig):
        manager = manager or build_token_manager(config)
        assert manager is not None
        return TokenAuth(manager, scheme.placement, also=decorators)
    return decorators[0] if len(decorators) == 1 else MultiAuth(decorators)
