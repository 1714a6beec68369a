"""Sending token requests: one `TokenEndpoint` per config, sync and async, retried by the shared `RetryPolicy`."""

from __future__ import annotations

import logging
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, Retrying

from airflow_provider_authapi.auth.config import CommonConfig
from airflow_provider_authapi.auth.errors import TokenTransportError, TransientTokenEndpointError
from airflow_provider_authapi.auth.grants import Grant, OAuth2Grant, TokenRequest
from airflow_provider_authapi.auth.redact import safe_url
from airflow_provider_authapi.auth.retry import (
    TOKEN_RETRY,
    RetryPolicy,
    is_tls_verification_error,
    is_transient_transport_error,
)
from airflow_provider_authapi.auth.token import Token

log = logging.getLogger(__name__)


class TokenEndpoint:
    """Sends a grant's token requests and parses the answers; counts the requests it made."""

    def __init__(
        self,
        grant: Grant,
        *,
        verify: Any = True,
        timeout: float = CommonConfig.timeout,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.grant = grant
        self.verify = verify
        self.timeout = timeout
        self.retry = retry or TOKEN_RETRY
        self.requests = 0

    def fetch(self, previous: Token | None) -> Token:
        """A new token: renew `previous` by its refresh token, or obtain a first one."""
        request = self.grant.token_request(previous)
        return self._send(request, previous)

    async def afetch(self, previous: Token | None) -> Token:
        request = self.grant.token_request(previous)
        return await self._asend(request, previous)

    def exchange_code(self, code: str, code_verifier: str | None) -> Token:
        """Authorization code -> tokens (OAuth 2.0 only)."""
        if not isinstance(self.grant, OAuth2Grant):
            raise TypeError("only an OAuth 2.0 grant exchanges authorization codes")
        return self._send(self.grant.code_request(code, code_verifier), None)

    def _retry_kwargs(self) -> dict[str, Any]:
        return self.retry.tenacity_kwargs(retry_on=_is_transient, asked=_retry_after, before_sleep=_log_retry)

    def _send(self, request: TokenRequest, previous: Token | None) -> Token:
        with httpx.Client(verify=self.verify, timeout=self.timeout) as client:
            for attempt in Retrying(**self._retry_kwargs()):
                with attempt:
                    self.requests += 1
                    try:
                        response = client.send(request.build())
                    except httpx.HTTPError as exc:
                        raise _transport_error(request, exc) from exc
                    return self.grant.parse(response, request, previous)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _asend(self, request: TokenRequest, previous: Token | None) -> Token:
        async with httpx.AsyncClient(verify=self.verify, timeout=self.timeout) as client:
            async for attempt in AsyncRetrying(**self._retry_kwargs()):
                with attempt:
                    self.requests += 1
                    try:
                        response = await client.send(request.build())
                    except httpx.HTTPError as exc:
                        raise _transport_error(request, exc) from exc
                    return self.grant.parse(response, request, previous)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover


def _transport_error(request: TokenRequest, exc: httpx.HTTPError) -> TokenTransportError:
    url = safe_url(request.url)
    if is_tls_verification_error(exc):
        message = (
            f"TLS verification of {url} failed ({exc}): give the server's CA certificate in the connection's "
            "ca_cert_pem field (self-signed servers), or set verify_tls to false"
        )
    else:
        message = f"token endpoint {url} unreachable: {type(exc).__name__}: {exc}"
    return TokenTransportError(message, transient=is_transient_transport_error(exc), url=url)


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TransientTokenEndpointError) or (isinstance(exc, TokenTransportError) and exc.transient)


def _retry_after(exc: BaseException | None) -> float | None:
    return exc.retry_after if isinstance(exc, TransientTokenEndpointError) else None


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0
    log.warning("Token request attempt %d failed (%s); retrying in %.1f s", state.attempt_number, exc, wait)
