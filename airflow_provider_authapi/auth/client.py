"""The authenticated httpx client: one `httpx.Auth` per scheme, the factories that build them from an
`AuthConfig`, the rule of where credentials may go (`OriginBoundAuth`), and the client's own settings (base URL,
timeout, TLS) and classes (`Client`, `AsyncClient`).

The schemes follow httpx's `_auth.py` generator style and work for `httpx.Client` and `httpx.AsyncClient` alike.

Every credential a connection adds to a request (its scheme's header, query parameter or cookie, the carried
session cookies, the signature header, the extra headers and query parameters, whatever the user's own
`httpx.Auth` adds) is added by the auth built here, and only to a request whose origin the connection trusts
(`CommonConfig.origins`, plus a token's `instance_url`); any other is refused before a byte is sent. A request
with the `NO_CREDENTIALS` extension gets none of them.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import ssl
import tempfile
import time
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import httpx
import jwt

from airflow_provider_authapi.auth.budget import SharedBudget
from airflow_provider_authapi.auth.config import (
    DEFAULT_LEEWAY,
    TOKEN_SCHEMES,
    ApiKeyConfig,
    AuthConfig,
    BasicAuthConfig,
    BearerAuthConfig,
    CommonConfig,
    CustomGrantConfig,
    OAuth1Config,
    OAuth2Config,
    ProxyConfig,
    SignatureConfig,
    TLSConfig,
    TokenLoginConfig,
    TokenPlacement,
    config_secrets,
    oauthlib_oauth1,
    origin,
)
from airflow_provider_authapi.auth.derived import refuse_unresolved
from airflow_provider_authapi.auth.dpop import DPoPProver, dpop_challenge, nonce_of, resource_nonce_asked
from airflow_provider_authapi.auth.errors import (
    AuthApiError,
    ConfigError,
    CredentialOriginError,
    UnauthorizedError,
    response_excerpt,
    safe_url,
    scrub,
    transport_error,
)
from airflow_provider_authapi.auth.grants import (
    SESSION_COOKIES,
    CustomGrantEndpoint,
    TokenEndpoint,
    basic_header,
    grant_for,
)
from airflow_provider_authapi.auth.retry import RetryPolicy
from airflow_provider_authapi.auth.tokens import INSTANCE_URL, Token, TokenManager, TokenStore
from airflow_provider_authapi.auth.transport import proxy_refusal, transport_kwargs

# -- The httpx.Auth schemes -----------------------------------------------------------------------------------------

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


class DigestAuth(httpx.DigestAuth):
    """HTTP Digest (RFC 7616): httpx's, which answers the server's challenge with the algorithm it names (MD5,
    SHA-256, their `-sess` forms), after the request decorators (extra query parameters, signature)."""

    def __init__(self, config: BasicAuthConfig, also: Sequence[RequestDecorator] = ()) -> None:
        super().__init__(config.username, config.password)
        self.also = MultiAuth(also)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.also.apply(request)
        yield from super().auth_flow(request)


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


FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class OAuth1Auth(RequestDecorator):
    """OAuth 1.0a (RFC 5849, `OAuth1Config`): every request signed by oauthlib with a fresh nonce and timestamp,
    after the request decorators `also` (extra headers and query parameters: the signature covers them).

    The base string holds the method, the URL, its query parameters and a form-encoded body's; any other body
    (JSON) is left out, with no `oauth_body_hash`, as NetSuite reads it. A 401 raises `UnauthorizedError` naming
    what to check, its excerpt scrubbed: a new signature with the same credentials would not help."""

    def __init__(self, config: OAuth1Config, also: Sequence[RequestDecorator] = ()) -> None:
        oauth1 = oauthlib_oauth1()
        self._client = oauth1.Client(
            config.consumer_key,
            client_secret=config.consumer_secret,
            resource_owner_key=config.token_id,
            resource_owner_secret=config.token_secret,
            signature_method=config.signature_method,
            signature_type=oauth1.SIGNATURE_TYPE_AUTH_HEADER,
            realm=config.realm or None,
        )
        self._config = config
        self._secrets = tuple(config_secrets(config))
        self.also = MultiAuth(also)

    def __repr__(self) -> str:
        config = self._config
        return f"OAuth1Auth(consumer_key={config.consumer_key!r}, realm={config.realm!r}, {config.signature_method})"

    def apply(self, request: httpx.Request) -> None:
        self.also.apply(request)
        what = f"{request.method} {safe_url(request.url)}"
        # The query and a form body re-encoded from their decoded pairs: oauthlib's decoding refuses (quoting them,
        # secrets included) characters that httpx or a caller leave as they are; the base string is the same.
        query = urlencode(request.url.params.multi_items(), quote_via=quote)
        uri = str(request.url.copy_with(query=None, fragment=None)) + (f"?{query}" if query else "")
        body: str | None = None
        media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media == FORM_CONTENT_TYPE and request.method not in ("GET", "HEAD"):
            try:
                content = request.content
            except httpx.RequestNotRead:
                raise AuthApiError(f"{what}: a streamed form body cannot be signed with OAuth 1.0a: send it whole "
                                   "(data=...)") from None  # fmt: skip
            pairs = parse_qsl(content.decode("utf-8", "replace"), keep_blank_values=True)
            body = urlencode(pairs, quote_via=quote) or None  # a string: oauthlib would keep one of a repeated name
        headers = {"Content-Type": FORM_CONTENT_TYPE} if body else {}
        try:
            _, signed, _ = self._client.sign(uri, request.method, body, headers)
        except ValueError:  # its message may quote the request's parameters
            raise AuthApiError(f"{what}: could not be signed with OAuth 1.0a (an undecodable query or body)") from None
        request.headers["Authorization"] = signed["Authorization"]

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.apply(request)
        response = yield request
        if response.status_code == httpx.codes.UNAUTHORIZED:
            response.read()
            raise self._unauthorized(response)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        self.apply(request)
        response = yield request
        if response.status_code == httpx.codes.UNAUTHORIZED:
            await response.aread()
            raise self._unauthorized(response)

    def _unauthorized(self, response: httpx.Response) -> UnauthorizedError:
        config, request = self._config, response.request
        realm = f"realm {config.realm!r}" if config.realm else "no realm"
        return UnauthorizedError(
            f"{request.method} {safe_url(request.url)} answered 401 to its OAuth 1.0a signature "
            f"({config.signature_method}, {realm}): check the consumer key and secret, the token ID and secret, the "
            f"realm (NetSuite: the account ID) and this machine's clock: {response_excerpt(response, self._secrets)}",
            response,
        )


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


class ExtraHeaders(RequestDecorator):
    """Headers every request carries (the connection's `extra_headers`), unless the request sets the same name
    itself; a name whose value is still httpx's own default (`Accept: */*`, its `User-Agent`) counts as unset."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = dict(headers)

    def apply(self, request: httpx.Request) -> None:
        defaults = _httpx_default_headers()
        for name, value in self.headers.items():
            if name not in request.headers or request.headers[name] == defaults.get(name):
                request.headers[name] = value


@functools.cache
def _httpx_default_headers() -> httpx.Headers:
    with httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(204)), trust_env=False) as client:
        return httpx.Headers(client.headers)


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
        if token.extra.get(SESSION_COOKIES):  # a session login's other cookies (SAP's ROUTEID)
            set_cookies(request, token.extra[SESSION_COOKIES])
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


class DPoPTokenAuth(TokenAuth):
    """`TokenAuth` for DPoP-bound tokens (RFC 9449): every request sent, a replay included, carries the token as
    `Authorization: DPoP <token>` and a fresh proof of the key for that request's method and URL and that token
    (`ath`), with the nonce the request's origin gave last (`nonces`, kept from every answer's `DPoP-Nonce`). A
    401 asking for a nonce (`WWW-Authenticate: DPoP error="use_dpop_nonce"`) is sent once more with it, before
    any other 401 renews the token as `TokenAuth` does."""

    def __init__(
        self,
        manager: TokenManager,
        prover: DPoPProver,
        placement: TokenPlacement | None = None,
        also: Sequence[RequestDecorator] = (),
    ) -> None:
        super().__init__(manager, placement, also)
        self.prover = prover
        self.nonces: dict[str, str] = {}  # origin -> the nonce its resource server gave last

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.manager.get_token()
        response = yield self._prepared(request, token)
        if self._nonce_asked(response):
            response.read()
            response = yield self._prepared(request, token)
        if response.status_code == httpx.codes.UNAUTHORIZED:
            response.read()
            token = self.manager.get_token(force_refresh=True, stale=token)
            response = yield self._prepared(request, token)
            if self._nonce_asked(response):
                response.read()
                response = yield self._prepared(request, token)
            if response.status_code == httpx.codes.UNAUTHORIZED:
                response.read()
                raise self._unauthorized(response, token)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.manager.aget_token()
        response = yield self._prepared(request, token)
        if self._nonce_asked(response):
            await response.aread()
            response = yield self._prepared(request, token)
        if response.status_code == httpx.codes.UNAUTHORIZED:
            await response.aread()
            token = await self.manager.aget_token(force_refresh=True, stale=token)
            response = yield self._prepared(request, token)
            if self._nonce_asked(response):
                await response.aread()
                response = yield self._prepared(request, token)
            if response.status_code == httpx.codes.UNAUTHORIZED:
                await response.aread()
                raise self._unauthorized(response, token)

    def _prepared(self, request: httpx.Request, token: Token) -> httpx.Request:
        request = super()._prepared(request, token)
        nonce = self.nonces.get(origin(request.url))
        request.headers.update(self.prover.header(request.method, request.url, access_token=token.access_token,
                                                  nonce=nonce))  # fmt: skip
        return request

    def _nonce_asked(self, response: httpx.Response) -> bool:
        """Keep the answer's `DPoP-Nonce`; True when the answer asks for the request again with it."""
        nonce = nonce_of(response)
        if nonce is not None:
            self.nonces[origin(response.request.url)] = nonce
        return resource_nonce_asked(response)

    def _unauthorized(self, response: httpx.Response, token: Token) -> UnauthorizedError:
        error = super()._unauthorized(response, token)
        said = dpop_challenge(response)
        if said:
            said = scrub(said, (token.access_token, token.refresh_token))[:300]
            error.args = (f"{error.args[0]} (WWW-Authenticate: DPoP error {said})",)
        return error


class ChainedAuth(httpx.Auth):
    """Two auth flows, one after the other: `then` (an `httpx.Auth` of the user's own, `CommonConfig.auth`) runs
    on every request `first` (the connection's own credentials) yields, a 401 replay included, so that a
    signature covers the request as it is sent. The last answer of `then`'s flow is `first`'s answer."""

    def __init__(self, first: httpx.Auth, then: httpx.Auth) -> None:
        self.first, self.then = first, then

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self.first.sync_auth_flow(request)
        try:
            request = next(flow)
            while True:
                response = yield from self._then(request)
                request = flow.send(response)
        except StopIteration:
            return
        finally:
            flow.close()

    def _then(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, httpx.Response]:
        flow = self.then.sync_auth_flow(request)
        try:
            request = next(flow)
            while True:
                response = yield request
                request = flow.send(response)
        except StopIteration:
            return response
        finally:
            flow.close()

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self.first.async_auth_flow(request)
        try:
            request = await flow.__anext__()
            while True:
                inner = self.then.async_auth_flow(request)
                try:
                    sent = await inner.__anext__()
                    while True:
                        response = yield sent
                        sent = await inner.asend(response)
                except StopAsyncIteration:
                    pass
                finally:
                    await inner.aclose()
                request = await flow.asend(response)
        except StopAsyncIteration:
            return
        finally:
            await flow.aclose()


def place_token(request: httpx.Request, token: str, placement: TokenPlacement) -> None:
    """Put `token` where `placement` says: a header with a prefix, a query parameter or a cookie. Surrounding
    whitespace (a token endpoint's trailing newline) is left out; a line break inside makes the request unsendable
    (`errors.unsendable`), never a header that quotes it."""
    token = token.strip()
    if placement.location == "query":
        request.url = request.url.copy_set_param(placement.query_param, token)
    elif placement.location == "cookie":
        set_cookies(request, {placement.cookie_name: token})
    else:
        request.headers[placement.header_name] = f"{placement.prefix} {token}" if placement.prefix else token


def set_cookies(request: httpx.Request, cookies: dict[str, str]) -> None:
    """Set `cookies` in the request's `Cookie` header, replacing any of the same name (the client's cookie jar may
    hold an older session's) and keeping the others."""
    kept = [
        pair.strip()
        for header in request.headers.get_list("cookie")
        for pair in header.split(";")
        if pair.strip() and pair.split("=", 1)[0].strip() not in cookies
    ]
    request.headers["Cookie"] = "; ".join([*kept, *(f"{name}={value}" for name, value in cookies.items())])


# -- Where credentials may go --------------------------------------------------------------------------------------

AUTHENTICATE = "authapi.authenticate"
# A request extension: `client.get(url, extensions=NO_CREDENTIALS)` sends no credential of any kind (a presigned
# download URL from an answer); the hook's `request(..., authenticate=False)` and `ApiCall(authenticate=False)`.
NO_CREDENTIALS = MappingProxyType({AUTHENTICATE: False})
_ATTACHED = "authapi.attached"  # a request extension: what the auth attached, and for which origin


def authenticated(request: httpx.Request) -> bool:
    """Whether `request` is to carry the connection's credentials (it does unless it says `NO_CREDENTIALS`)."""
    return request.extensions.get(AUTHENTICATE) is not False


def credentials_guarded(request: httpx.Request) -> bool:
    """Whether an `OriginBoundAuth` ruled on `request`: it carries credentials only where they may go, so a next
    link elsewhere needs no refusal of its own (the next request is ruled on too)."""
    return not authenticated(request) or _ATTACHED in request.extensions


@dataclass(frozen=True)
class Attached:
    """The header and query parameter names an auth flow set on a request for `origin`: what a redirect to another
    origin must not carry (httpx itself drops only `Authorization` and the `Cookie` header)."""

    origin: str
    headers: frozenset[str]
    params: frozenset[str]

    @classmethod
    def diff(cls, request: httpx.Request, before: tuple[list[tuple[str, str]], list[tuple[str, str]]]) -> Attached:
        headers, params = before
        return cls(
            origin(request.url),
            frozenset(name for name, value in request.headers.multi_items() if (name, value) not in headers),
            frozenset(name for name, value in request.url.params.multi_items() if (name, value) not in params),
        )


def _snapshot(request: httpx.Request) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    return list(request.headers.multi_items()), list(request.url.params.multi_items())


class OriginBoundAuth(httpx.Auth):
    """The one rule of where a connection's credentials go: `inner` (the scheme, extra headers and parameters,
    signature) runs only for a request whose origin is in `origins` (the base URL's and `allowed_origins`) or, with
    a token `manager`, the origin of the token's `instance_url` (Salesforce names the API base URL in the token
    answer). Any other request is refused with `CredentialOriginError` before it is sent; one with
    `NO_CREDENTIALS` is sent as it is. Each request sent is marked with what `inner` attached (`Attached`). With
    a shared `budget` (`auth/budget.py`), each request sent with the credentials waits for its send time first."""

    def __init__(
        self,
        inner: httpx.Auth,
        origins: Sequence[str],
        manager: TokenManager | None = None,
        budget: SharedBudget | None = None,
    ) -> None:
        self.inner = inner
        self.origins = tuple(origins)
        self.manager = manager
        self.budget = budget

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not authenticated(request):
            yield request
            return
        if not self._trusted(request, self.manager.get_token if self._needs_token(request) else None):
            raise self.refusal(request)
        before = _snapshot(request)
        flow = self.inner.sync_auth_flow(request)
        try:
            request = next(flow)
            while True:
                request.extensions[_ATTACHED] = Attached.diff(request, before)
                if self.budget is not None:
                    self.budget.acquire()
                response = yield request
                request = flow.send(response)
        except StopIteration:
            return
        finally:
            flow.close()

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if not authenticated(request):
            yield request
            return
        token = await self.manager.aget_token() if self._needs_token(request) else None
        if not self._trusted(request, (lambda: token) if token is not None else None):
            raise self.refusal(request)
        before = _snapshot(request)
        flow = self.inner.async_auth_flow(request)
        try:
            request = await flow.__anext__()
            while True:
                request.extensions[_ATTACHED] = Attached.diff(request, before)
                if self.budget is not None:
                    await self.budget.aacquire()
                response = yield request
                request = await flow.asend(response)
        except StopAsyncIteration:
            return
        finally:
            await flow.aclose()

    def _needs_token(self, request: httpx.Request) -> bool:
        """Whether only a token's `instance_url` could make `request`'s origin trusted."""
        return self.manager is not None and origin(request.url) not in self.origins

    def _trusted(self, request: httpx.Request, token: Callable[[], Token] | None) -> bool:
        wanted = origin(request.url)
        if wanted in self.origins:
            return True
        instance_url = token().extra.get(INSTANCE_URL) if token is not None else None
        return isinstance(instance_url, str) and bool(instance_url) and origin(instance_url) == wanted

    def refusal(self, request: httpx.Request) -> CredentialOriginError:
        what = f"{request.method} {safe_url(request.url)}"
        return CredentialOriginError(what, origin(request.url), self.origins)


def strip_foreign_credentials(request: httpx.Request) -> None:
    """Before each request a client sends, redirects included: a request `NO_CREDENTIALS` carries no cookie (the
    client's cookie jar holds the API's), and a redirect to another origin than the one its credentials were
    attached for loses them all (headers, query parameters, cookies), not only the `Authorization` httpx drops."""
    if not authenticated(request):
        request.headers.pop("cookie", None)
        return
    attached = request.extensions.get(_ATTACHED)
    if attached is None or origin(request.url) == attached.origin:
        return
    for name in {*attached.headers, "cookie"}:
        request.headers.pop(name, None)
    url = request.url
    for name in attached.params:
        url = url.copy_remove_param(name)
    request.url = url


async def _astrip_foreign_credentials(request: httpx.Request) -> None:
    strip_foreign_credentials(request)


# -- Built from a config --------------------------------------------------------------------------------------------


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
    scheme, common = config.scheme, config.common
    verify = ssl_verify(common.tls)
    initial_refresh_token = None
    if isinstance(scheme, CustomGrantConfig):
        secrets = tuple(config_secrets(config))
        endpoint: TokenEndpoint = CustomGrantEndpoint(scheme, common, verify=verify, retry=retry, secrets=secrets)
    elif isinstance(scheme, OAuth2Config | TokenLoginConfig):
        grant = grant_for(scheme, allowed_origins=common.allowed_origins)
        initial_refresh_token = scheme.refresh_token if isinstance(scheme, OAuth2Config) else None
        endpoint = TokenEndpoint(grant, verify=verify, timeout=common.timeout, retry=retry, proxy=common.proxy)
    else:
        return None
    if leeway is None:
        leeway = scheme.leeway if scheme.leeway is not None else DEFAULT_LEEWAY
    return TokenManager(endpoint, store, leeway=leeway, initial_refresh_token=initial_refresh_token)


def build_auth(
    config: AuthConfig, manager: TokenManager | None = None, budget: SharedBudget | None = None
) -> OriginBoundAuth:
    """The `httpx.Auth` of a config: its scheme, the extra headers and query parameters and the signature header,
    then the user's own `httpx.Auth` (`CommonConfig.auth`, `ChainedAuth`), all bound to the origins the config
    trusts (`OriginBoundAuth`), each request under `budget` when given."""
    if isinstance(config.scheme, TOKEN_SCHEMES):
        manager = manager or build_token_manager(config)
    inner = _scheme_auth(config, manager)
    own = custom_auth(config)
    if own is not None:
        inner = own if isinstance(inner, MultiAuth) and not inner.parts else ChainedAuth(inner, own)
    return OriginBoundAuth(inner, config.common.origins, manager, budget)


def custom_auth(config: AuthConfig) -> httpx.Auth | None:
    """The user's own `httpx.Auth` of `config.common`: the instance given, or its class built with the
    connection's settings (read-only); None without one. A failing constructor is a `ConfigError` naming
    `auth_class`, its message scrubbed of the connection's secrets."""
    common = config.common
    if common.auth is None or isinstance(common.auth, httpx.Auth):
        return common.auth
    try:
        return common.auth(common.settings_view)
    except Exception as exc:
        problem = scrub(f"{type(exc).__name__}: {str(exc)[:200]}", config_secrets(config))
        raise ConfigError("auth_class", f"{common.auth_class}(config) could not be created ({problem})") from None


def _scheme_auth(config: AuthConfig, manager: TokenManager | None) -> httpx.Auth:
    scheme = config.scheme
    decorators: list[RequestDecorator] = [ExtraHeaders(config.common.headers)] if config.common.headers else []
    if isinstance(scheme, BasicAuthConfig) and scheme.http_scheme == "basic":
        decorators.append(BasicAuth(scheme))
    elif isinstance(scheme, BearerAuthConfig):
        decorators.append(BearerAuth(scheme))
    elif isinstance(scheme, ApiKeyConfig):
        decorators.append(ApiKeyAuth(scheme))
    if config.common.params:
        decorators.append(ExtraQueryParams(config.common.params))
    if config.common.signature is not None:
        decorators.append(SignatureAuth(config.common.signature))
    if isinstance(scheme, OAuth2Config) and scheme.dpop:
        assert manager is not None
        prover = DPoPProver.from_pem(scheme.dpop_private_key, scheme.dpop_algorithm)
        return DPoPTokenAuth(manager, prover, scheme.placement, also=decorators)
    if isinstance(scheme, TOKEN_SCHEMES):
        assert manager is not None
        return TokenAuth(manager, scheme.placement, also=decorators)
    if isinstance(scheme, BasicAuthConfig) and scheme.http_scheme == "digest":
        return DigestAuth(scheme, also=decorators)
    if isinstance(scheme, OAuth1Config):
        return OAuth1Auth(scheme, also=decorators)
    return decorators[0] if len(decorators) == 1 else MultiAuth(decorators)


# -- The client's settings ------------------------------------------------------------------------------------------


def client_kwargs(common: CommonConfig) -> dict[str, Any]:
    """Keyword arguments for `httpx.Client` / `httpx.AsyncClient`.

    The extra headers and query parameters are not among them: `build_auth` adds them to each request it lets
    through (see `OriginBoundAuth`, `ExtraHeaders`, `ExtraQueryParams`), so that they go only where the
    credentials may, and an endpoint's own query string survives. TLS and the proxy: `transport.transport_kwargs`.
    """
    return {
        "base_url": common.base_url,
        "timeout": common.timeout,
        **transport_kwargs(ssl_verify(common.tls), common.proxy),
    }


class Client(httpx.Client):
    """An `httpx.Client` for a connection: `strip_foreign_credentials` runs before every request it sends
    (redirects included), and a transport error is raised as a scrubbed `ApiTransportError` of the same httpx
    class (`errors.transport_error`), the connection's `secrets` and the request's credentials left out. A 407
    of the connection's proxy (`proxy_config`) is a `ProxyAuthenticationError`."""

    def __init__(self, *, secrets: Sequence[str] = (), proxy_config: ProxyConfig | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.secrets = tuple(secrets)
        self.proxy_config = proxy_config
        hooks = self.event_hooks
        self.event_hooks = {**hooks, "request": [*hooks.get("request", []), strip_foreign_credentials]}

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        try:
            response = super().send(request, **kwargs)
        except httpx.TransportError as exc:
            if refusal := proxy_refusal(self.proxy_config, request, exc=exc):
                raise refusal from None
            typed = transport_error(exc, request, self.secrets)
            if typed.scrubbed:  # type: ignore[attr-defined]
                raise typed from None
            raise typed from exc.__cause__
        if refusal := proxy_refusal(self.proxy_config, request, response):
            response.close()
            raise refusal
        return response


class AsyncClient(httpx.AsyncClient):
    """The async `Client`."""

    def __init__(self, *, secrets: Sequence[str] = (), proxy_config: ProxyConfig | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.secrets = tuple(secrets)
        self.proxy_config = proxy_config
        hooks = self.event_hooks
        self.event_hooks = {**hooks, "request": [*hooks.get("request", []), _astrip_foreign_credentials]}

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        try:
            response = await super().send(request, **kwargs)
        except httpx.TransportError as exc:
            if refusal := proxy_refusal(self.proxy_config, request, exc=exc):
                raise refusal from None
            typed = transport_error(exc, request, self.secrets)
            if typed.scrubbed:  # type: ignore[attr-defined]
                raise typed from None
            raise typed from exc.__cause__
        if refusal := proxy_refusal(self.proxy_config, request, response):
            await response.aclose()
            raise refusal
        return response


def build_client(config: AuthConfig, auth: httpx.Auth | None = None, **httpx_kwargs: Any) -> Client:
    """A `Client` for `config`: its `client_kwargs`, `auth` (default: `build_auth(config)`), then `httpx_kwargs`.
    A config whose base URL or extra headers still hold a value learned after the consent is refused: resolve it
    from the token first (`derived.resolve`; `AuthApiHook.get_client` does)."""
    if config.derived:
        refuse_unresolved(config)
    settings = {**client_kwargs(config.common), "auth": auth or build_auth(config), **httpx_kwargs}
    return Client(secrets=config_secrets(config), proxy_config=config.common.proxy, **settings)


def build_async_client(config: AuthConfig, auth: httpx.Auth | None = None, **httpx_kwargs: Any) -> AsyncClient:
    """The async `build_client`."""
    if config.derived:
        refuse_unresolved(config)
    settings = {**client_kwargs(config.common), "auth": auth or build_auth(config), **httpx_kwargs}
    return AsyncClient(secrets=config_secrets(config), proxy_config=config.common.proxy, **settings)


def ssl_verify(tls: TLSConfig) -> ssl.SSLContext | bool:
    """`False` when verification is off, else an SSLContext trusting the system CAs plus `ca_pem`."""
    if not tls.verify and not tls.client_cert_pem:
        return False
    return _context(tls.verify, tls.ca_pem, tls.client_cert_pem, tls.client_key_pem)


@functools.lru_cache(maxsize=32)
def _context(verify: bool, ca_pem: str | None, cert_pem: str | None, key_pem: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if ca_pem:
        try:
            context.load_verify_locations(cadata=ca_pem)
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError("ca_cert_pem", f"is not a PEM certificate the TLS library accepts ({exc})") from None
    if cert_pem:
        _load_client_cert(context, cert_pem, key_pem)
    return context


def _load_client_cert(context: ssl.SSLContext, cert_pem: str, key_pem: str | None) -> None:
    """`load_cert_chain` reads files only: write the PEMs to a private temporary folder, load, delete."""
    with tempfile.TemporaryDirectory(prefix="authapi-tls-") as folder:
        os.chmod(folder, 0o700)
        cert_file = os.path.join(folder, "cert.pem")
        key_file = os.path.join(folder, "key.pem") if key_pem else None
        with open(cert_file, "w") as handle:
            handle.write(cert_pem)
        if key_file:
            with open(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
                handle.write(key_pem or "")
        try:
            context.load_cert_chain(cert_file, key_file)
        except (ssl.SSLError, ValueError) as exc:
            field = "client_private_key_pem" if "key" in str(exc).lower() else "client_cert_pem"
            problem = f"could not be loaded as a PEM client certificate and key ({exc.args[-1]})"
            raise ConfigError(field, problem) from None
