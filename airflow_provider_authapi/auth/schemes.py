"""Every scheme as an `httpx.Auth`, usable by `httpx.Client` and `httpx.AsyncClient` alike.

Static schemes (Basic, Bearer, API key, signature header) only decorate a request. `TokenAuth` asks a
`TokenManager` for the token, and on a 401 forces one refresh and replays the request once.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncGenerator, Generator, Sequence

import httpx
import jwt

from airflow_provider_authapi.auth.config import (
    ApiKeyConfig,
    BasicAuthConfig,
    BearerAuthConfig,
    SignatureConfig,
    TokenPlacement,
)
from airflow_provider_authapi.auth.errors import UnauthorizedError
from airflow_provider_authapi.auth.grants import basic_header
from airflow_provider_authapi.auth.manager import TokenManager
from airflow_provider_authapi.auth.redact import response_excerpt
from airflow_provider_authapi.auth.token import Token

SIGNATURE_LIFETIME = 300

log = logging.getLogger(__name__)


class RequestDecorator(httpx.Auth):
    """A scheme that needs no response: it sets a header or query parameter on every request."""

    def apply(self, request: httpx.Request) -> None:
        raise NotImplementedError

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.apply(request)
        yield request


class BasicAuth(RequestDecorator):
    """`Authorization: Basic base64(user:password)`."""

    def __init__(self, config: BasicAuthConfig) -> None:
        self._header = basic_header(config.username, config.password)

    def apply(self, request: httpx.Request) -> None:
        request.headers.update(self._header)


class BearerAuth(RequestDecorator):
    """A static token: `<header>: <prefix> <token>`."""

    def __init__(self, config: BearerAuthConfig) -> None:
        self._placement = TokenPlacement("header", config.header_name, config.prefix)
        self._token = config.token

    def apply(self, request: httpx.Request) -> None:
        place_token(request, self._token, self._placement)


class ApiKeyAuth(RequestDecorator):
    """An API key in a header or a query parameter, with an optional prefix (`Api-Key <key>`)."""

    def __init__(self, config: ApiKeyConfig) -> None:
        self._value = f"{config.prefix} {config.key}" if config.prefix else config.key
        self._config = config

    def apply(self, request: httpx.Request) -> None:
        if self._config.location == "query":
            request.url = request.url.copy_set_param(self._config.name, self._value)
        else:
            request.headers[self._config.name] = self._value


class SignatureAuth(RequestDecorator):
    """A fresh HS256 JWT per request in a header (Appsmith's "signature header"), signed with a shared secret.

    Claims: `iat`, `exp` (5 minutes on), a random `jti`, and `iss` when configured.
    """

    def __init__(self, config: SignatureConfig) -> None:
        self._config = config

    def apply(self, request: httpx.Request) -> None:
        now = int(time.time())
        claims: dict[str, object] = {"iat": now, "exp": now + SIGNATURE_LIFETIME, "jti": secrets.token_hex(16)}
        if self._config.issuer:
            claims["iss"] = self._config.issuer
        request.headers[self._config.header] = jwt.encode(claims, self._config.secret, algorithm="HS256")


class ExtraQueryParams(RequestDecorator):
    """Query parameters every request carries, unless the request sets the same name itself.

    Applied per request rather than as `httpx.Client(params=...)`, which would drop a query string already in
    the endpoint URL (`/v1/items?page=2`).
    """

    def __init__(self, params: dict[str, str]) -> None:
        self.params = dict(params)

    def apply(self, request: httpx.Request) -> None:
        missing = {k: v for k, v in self.params.items() if k not in request.url.params}
        if missing:
            request.url = request.url.copy_merge_params(missing)


class MultiAuth(RequestDecorator):
    """Several request decorators applied in order (e.g. an API key plus a signature header)."""

    def __init__(self, parts: Sequence[RequestDecorator]) -> None:
        self.parts = list(parts)

    def apply(self, request: httpx.Request) -> None:
        for part in self.parts:
            part.apply(request)


class TokenAuth(httpx.Auth):
    """A token from a `TokenManager`; a 401 forces one refresh and one replay, a second 401 raises."""

    def __init__(
        self,
        manager: TokenManager,
        placement: TokenPlacement | None = None,
        also: Sequence[RequestDecorator] = (),
    ) -> None:
        self.manager = manager
        self.placement = placement or TokenPlacement()
        self.also = MultiAuth(also)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.manager.get_token()
        response = yield self._prepared(request, token)
        if response.status_code == httpx.codes.UNAUTHORIZED:
            response.read()
            token = self.manager.get_token(force_refresh=True, stale=token)
            response = yield self._prepared(request, token)
            if response.status_code == httpx.codes.UNAUTHORIZED:
                response.read()
                raise self._unauthorized(response, token)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.manager.aget_token()
        response = yield self._prepared(request, token)
        if response.status_code == httpx.codes.UNAUTHORIZED:
            await response.aread()
            token = await self.manager.aget_token(force_refresh=True, stale=token)
            response = yield self._prepared(request, token)
            if response.status_code == httpx.codes.UNAUTHORIZED:
                await response.aread()
                raise self._unauthorized(response, token)

    def _prepared(self, request: httpx.Request, token: Token) -> httpx.Request:
        self.also.apply(request)
        place_token(request, token.access_token, self.placement)
        return request

    def _unauthorized(self, response: httpx.Response, token: Token) -> UnauthorizedError:
        url = response.request.url.copy_with(query=None)
        excerpt = response_excerpt(response, (token.access_token, token.refresh_token))
        log.warning(
            "%s %s refused a freshly obtained token (401): check how the connection sends it (%s)",
            response.request.method,
            url,
            self.placement.describe(),
        )
        return UnauthorizedError(
            f"{response.request.method} {url} answered 401 even with a freshly obtained token, sent as "
            f"{self.placement.describe()}: {excerpt}",
            response,
        )


def place_token(request: httpx.Request, token: str, placement: TokenPlacement) -> None:
    """Put `token` where `placement` says: a header with a prefix, or a query parameter."""
    if placement.location == "query":
        request.url = request.url.copy_set_param(placement.query_param, token)
    else:
        request.headers[placement.header_name] = f"{placement.prefix} {token}" if placement.prefix else token
