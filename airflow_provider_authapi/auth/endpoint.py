"""Sending token requests: one `TokenEndpoint` per config, sync and async, with bounded tenacity retries."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from airflow_provider_authapi.auth.errors import TokenTransportError, TransientTokenEndpointError
from airflow_provider_authapi.auth.grants import Grant, OAuth2Grant, TokenRequest, _safe_url
from airflow_provider_authapi.auth.retry import is_tls_verification_error, is_transient_transport_error
from airflow_provider_authapi.auth.token import Token

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenRetry:
    """Bounds of the retries of one token request: attempts, total time, backoff (with full jitter)."""

    attempts: int = 5
    max_total: float = 60.0
    initial_wait: float = 0.5
    max_wait: float = 10.0
    max_retry_after: float = 60.0

    def wait(self, state: RetryCallState) -> float:
        """Exponential backoff with jitter, but never shorter than the server's `Retry-After`."""
        backoff = min(self.max_wait, self.initial_wait * 2 ** (state.attempt_number - 1))
        wait = random.uniform(backoff / 2, backoff)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientTokenEndpointError) and exc.retry_after is not None:
            wait = max(wait, min(exc.retry_after, self.max_retry_after))
        return wait

    def _kwargs(self) -> dict[str, Any]:
        return {
            "retry": retry_if_exception(_is_transient),
            "wait": self.wait,
            "stop": stop_after_attempt(self.attempts) | stop_after_delay(self.max_total),
            "before_sleep": _log_retry,
            "reraise": True,
        }


class TokenEndpoint:
    """Sends a grant's token requests and parses the answers; counts the requests it made."""

    def __init__(
        self,
        grant: Grant,
        *,
        verify: Any = True,
        timeout: float = 30.0,
        retry: TokenRetry | None = None,
    ) -> None:
        self.grant = grant
        self.verify = verify
        self.timeout = timeout
        self.retry = retry or TokenRetry()
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

    def _send(self, request: TokenRequest, previous: Token | None) -> Token:
        with httpx.Client(verify=self.verify, timeout=self.timeout) as client:
            for attempt in Retrying(**self.retry._kwargs()):
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
            async for attempt in AsyncRetrying(**self.retry._kwargs()):
                with attempt:
                    self.requests += 1
                    try:
                        response = await client.send(request.build())
                    except httpx.HTTPError as exc:
                        raise _transport_error(request, exc) from exc
                    return self.grant.parse(response, request, previous)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover


def _transport_error(request: TokenRequest, exc: httpx.HTTPError) -> TokenTransportError:
    url = _safe_url(request.url)
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


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0
    log.warning("Token request attempt %d failed (%s); retrying in %.1f s", state.attempt_number, exc, wait)
