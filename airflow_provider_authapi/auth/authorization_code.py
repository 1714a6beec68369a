"""The authorization code grant's browser leg: PKCE, the consent URL, and the code exchange."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

import httpx

from airflow_provider_authapi.auth.client import ssl_verify
from airflow_provider_authapi.auth.config import CommonConfig, OAuth2Config
from airflow_provider_authapi.auth.derived import from_callback
from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.auth.grants import OAuth2Grant, TokenEndpoint
from airflow_provider_authapi.auth.retry import RetryPolicy
from airflow_provider_authapi.auth.tokens import Token


def new_pkce_verifier() -> str:
    """A random PKCE code verifier (RFC 7636: 43 to 128 unreserved characters; this gives 86)."""
    return secrets.token_urlsafe(64)


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of `verifier`: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_url(cfg: OAuth2Config, *, state: str, code_verifier: str | None = None) -> str:
    """Where to send the user's browser to consent: client id, redirect URI, scope, state and PKCE."""
    if not cfg.authorization_url:
        raise ConfigError("authorization_url", "is required for the authorization code grant")
    if not cfg.redirect_uri:
        raise ConfigError("redirect_uri", "is required for the authorization code grant")
    params = {"response_type": "code", "client_id": cfg.client_id, "redirect_uri": cfg.redirect_uri, "state": state}
    if cfg.scopes:
        params["scope"] = cfg.scope
    for key in ("audience", "resource"):
        if getattr(cfg, key):
            params[key] = getattr(cfg, key)
    if code_verifier:
        params.update(code_challenge=pkce_challenge(code_verifier), code_challenge_method="S256")
    url = httpx.URL(cfg.authorization_url)
    return str(url.copy_merge_params(params))


def exchange_code(
    cfg: OAuth2Config,
    code: str,
    *,
    code_verifier: str | None = None,
    common: CommonConfig | None = None,
    retry: RetryPolicy | None = None,
    callback: Mapping[str, Any] | None = None,
) -> Token:
    """Trade an authorization code for an access and a refresh token (the callback's last step). `callback`: the
    callback's query parameters, whose values the connection keeps (`consent_values`: Zoho's `accounts-server`
    then names the token URL); a discovery request follows when the connection has one (`derived.py`)."""
    common = common or CommonConfig()
    grant = OAuth2Grant(cfg, allowed_origins=common.allowed_origins)
    endpoint = TokenEndpoint(grant, verify=ssl_verify(common.tls), timeout=common.timeout, retry=retry,
                             proxy=common.proxy)  # fmt: skip
    consented = from_callback(cfg.derived, callback or {}) if cfg.derived.consent_values else None
    return endpoint.exchange_code(code, code_verifier, consented)
