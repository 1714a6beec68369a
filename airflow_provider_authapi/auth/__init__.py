"""The Airflow-free auth core: a validated `AuthConfig` in, an `httpx.Auth` (sync and async) out::

    config = AuthConfig(OAuth2Config(token_url=..., client_id=..., client_secret=...), CommonConfig(base_url=...))
    manager = build_token_manager(config)            # None for static schemes
    with httpx.Client(**client_kwargs(config.common), auth=build_auth(config, manager)) as client:
        client.get("/v1/things")

This package exports what a user of the core needs; everything else is imported from its module:
`tokens.TokenManager`, `tokens.TokenStore` / `MemoryTokenStore`, `client` (the `httpx.Auth` classes),
`grants` (token requests and sending them), `retry.RetryPolicy`, `errors` (every error, and the scrubber).
"""

from __future__ import annotations

from airflow_provider_authapi.auth.authorization_code import authorization_url, exchange_code, new_pkce_verifier
from airflow_provider_authapi.auth.client import build_auth, build_token_manager, client_kwargs
from airflow_provider_authapi.auth.config import (
    ApiKeyConfig,
    AuthConfig,
    BasicAuthConfig,
    BearerAuthConfig,
    CommonConfig,
    CustomGrantConfig,
    NoAuthConfig,
    OAuth1Config,
    OAuth2Config,
    ProxyConfig,
    SignatureConfig,
    TLSConfig,
    TokenLoginConfig,
    TokenPlacement,
)
from airflow_provider_authapi.auth.errors import AuthApiError, ConfigError, TokenEndpointError, UnauthorizedError
from airflow_provider_authapi.auth.grants import CustomGrant
from airflow_provider_authapi.auth.tokens import Token

__all__ = [
    "ApiKeyConfig",
    "AuthApiError",
    "AuthConfig",
    "BasicAuthConfig",
    "BearerAuthConfig",
    "CommonConfig",
    "ConfigError",
    "CustomGrant",
    "CustomGrantConfig",
    "NoAuthConfig",
    "OAuth1Config",
    "OAuth2Config",
    "ProxyConfig",
    "SignatureConfig",
    "TLSConfig",
    "Token",
    "TokenEndpointError",
    "TokenLoginConfig",
    "TokenPlacement",
    "UnauthorizedError",
    "authorization_url",
    "build_auth",
    "build_token_manager",
    "client_kwargs",
    "exchange_code",
    "new_pkce_verifier",
]
