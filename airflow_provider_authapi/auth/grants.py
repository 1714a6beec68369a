"""Token requests: what to send to a token endpoint, sending it, and reading its answer.

One small class per kind of endpoint: `OAuth2Grant` (RFC 6749 grants and refresh), `GitHubAppGrant` (a GitHub
App's installation token, bought with the app's signed JWT) and `LoginGrant` (a JSON or form login that is not
OAuth, with its own refresh endpoint). All are plain data in, plain data out (`grant_for` picks one for a config);
`TokenEndpoint` (below) sends their requests, sync or async, under the token `RetryPolicy`. `CustomGrant` (last)
is the base class of a grant of the user's own, which sends its requests itself; `CustomGrantEndpoint` runs it
under the same policy.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol
from urllib.parse import parse_qsl

import httpx
import pendulum
from tenacity import AsyncRetrying, RetryCallState, Retrying

from airflow_provider_authapi import __version__
from airflow_provider_authapi.auth.assertions import (
    CLIENT_ASSERTION_AUTHS,
    JWT_BEARER_GRANT,
    AssertionSigner,
    client_assertion_form,
    client_signer,
    github_app_jwt,
    github_app_signer,
    grant_assertion_form,
    key_signer,
)
from airflow_provider_authapi.auth.config import (
    CommonConfig,
    CustomGrantConfig,
    OAuth2Config,
    ProxyConfig,
    TokenLoginConfig,
    config_secrets,
    origin,
)
from airflow_provider_authapi.auth.derived import (
    discovered,
    discovery_entries,
    entry_values,
    fill_url,
    from_answer,
    needs_discovery,
    values_of,
    with_values,
)
from airflow_provider_authapi.auth.dpop import TOKEN_TYPE, DPoPProver, nonce_of, token_nonce_asked
from airflow_provider_authapi.auth.errors import (
    SUMMARY_CHARS,
    AuthApiError,
    ConfigError,
    InvalidGrantError,
    ProxyAuthenticationError,
    TokenEndpointError,
    TokenTransportError,
    TransientTokenEndpointError,
    redact_text,
    request_secrets,
    response_excerpt,
    safe_url,
    scrub,
    unsendable,
)
from airflow_provider_authapi.auth.json_path import find_path, parse_path
from airflow_provider_authapi.auth.retry import (
    TOKEN_RETRY,
    RetryPolicy,
    asend_bounded,
    is_tls_verification_error,
    is_transient_status,
    is_transient_transport_error,
    retry_after,
    send_bounded,
)
from airflow_provider_authapi.auth.tokens import INSTANCE_URL, LAST_TIMESTAMP, REFRESH_EXPIRES_AT, Token
from airflow_provider_authapi.auth.transport import proxy_refusal, transport_kwargs

# Token-response keys that say how long the refresh token lives (QuickBooks; Keycloak; others), kept in
# `Token.extra[REFRESH_EXPIRES_AT]` as an absolute time (never a secret). 0 or less: no expiry given.
MAX_KEYS_SHOWN = 20  # of a token answer without the token: its key names, a few
REFRESH_LIFETIME_KEYS = ("x_refresh_token_expires_in", "refresh_token_expires_in", "refresh_expires_in")
# RFC 7009 token type hints, in the order a clear revokes them: the refresh token first, it outlives the other.
REVOCATION_HINTS = ("refresh_token", "access_token")


@dataclass(frozen=True)
class TokenRequest:
    """One POST to a token endpoint: a form or a JSON body, plus headers (client auth)."""

    url: str
    purpose: str  # "login", "refresh", "code exchange", "revocation" or "discovery": named in errors
    form: dict[str, str] | None = field(default=None, repr=False)
    json: dict[str, Any] | None = field(default=None, repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    # Form fields signed afresh for each attempt (JWT assertions: a retry never replays a `jti`).
    signed: tuple[Callable[[], dict[str, str]], ...] = field(default=(), repr=False)
    # Headers signed afresh for each attempt (a GitHub App's JWT as its bearer token).
    signed_headers: tuple[Callable[[], dict[str, str]], ...] = field(default=(), repr=False)
    method: str = "POST"  # GET: a discovery request (derived.py), sent with the new token

    def build(self) -> httpx.Request:
        form = self.form
        if self.signed:
            form = {**(form or {}), **{name: value for sign in self.signed for name, value in sign().items()}}
        signed_headers = {name: value for sign in self.signed_headers for name, value in sign().items()}
        return httpx.Request(
            self.method,
            self.url,
            data=form,
            json=self.json,
            headers={"Accept": "application/json", **self.headers, **signed_headers},
        )


class Grant(Protocol):
    """How to obtain a token for one config."""

    secrets: tuple[str, ...]

    def token_request(self, previous: Token | None) -> TokenRequest:
        """The request that renews `previous` (by its refresh token) or, without one, obtains a first token."""

    def can_start_over(self) -> bool:
        """True when a token can be had without a refresh token (so a dead refresh token is not fatal)."""

    def parse(self, response: httpx.Response, request: TokenRequest, previous: Token | None) -> Token:
        """The token in a successful response; raise a `TokenEndpointError` for anything else."""


def basic_header(username: str, password: str) -> dict[str, str]:
    """`Authorization: Basic base64(username:password)`."""
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {credentials}"}


class OAuth2Grant:
    """RFC 6749 token requests: client credentials, password, authorization code, refresh token, and the RFC 7523
    JWT bearer grant; the client authenticates by Basic header, body, or a signed client assertion.

    With DPoP (RFC 9449) each token request carries a proof signed afresh for each attempt, with the nonce the
    token endpoint gave last (`dpop_nonces`, per origin; `takes_nonce`); an answer must then be a DPoP token.

    Values learned after the consent (`config.derived`, `derived.py`) fill `{name}` in the token and revocation
    URLs from the token presented (or the consent callback's, for the code exchange); a value that makes a URL's
    origin must be https and within `allowed_origins` when the connection lists them. The token answer's values
    are kept with the new token; `discovery_request` asks for the discovery's with it."""

    def __init__(self, config: OAuth2Config, *, allowed_origins: tuple[str, ...] = ()) -> None:
        self.config = config
        self.derived = config.derived
        self.allowed_origins = tuple(allowed_origins)
        self.secrets = tuple(config_secrets(config))
        self.grant_signer = key_signer(config) if config.grant_type == "jwt_bearer" else None
        self.client_signer = client_signer(config) if config.client_auth in CLIENT_ASSERTION_AUTHS else None
        self.dpop = DPoPProver.from_pem(config.dpop_private_key, config.dpop_algorithm) if config.dpop else None
        self.dpop_nonces: dict[str, str] = {}  # origin of a token endpoint -> the nonce it gave last

    def can_start_over(self) -> bool:
        return self.config.grant_type in ("client_credentials", "password", "jwt_bearer")

    def token_request(self, previous: Token | None) -> TokenRequest:
        cfg = self.config
        refresh_token = previous.refresh_token if previous else None
        if refresh_token:
            url = self.url("login_url", cfg.token_url, previous)
            return self._request("refresh", {"grant_type": "refresh_token", "refresh_token": refresh_token}, url=url)
        if cfg.grant_type in ("client_credentials", "password", "jwt_bearer"):
            url = self.url("login_url", cfg.token_url, previous)
        if cfg.grant_type == "client_credentials":
            return self._request("login", {"grant_type": "client_credentials", **self._audience()}, url=url)
        if cfg.grant_type == "password":
            form = {"grant_type": "password", "username": cfg.username or "", "password": cfg.password or ""}
            return self._request("login", {**form, **self._audience()}, url=url)
        if cfg.grant_type == "jwt_bearer" and self.grant_signer is not None:
            form = {"grant_type": JWT_BEARER_GRANT, **self._audience()}
            signed = (partial(grant_assertion_form, cfg, self.grant_signer),)
            return self._request("login", form, url=url, with_scope=not cfg.assertion_scope_claim, signed=signed)
        raise InvalidGrantError(
            f"no refresh token for the {cfg.grant_type} grant: authorize the connection first "
            "(Admin > API authorizations in the Airflow UI, or `airflow authapi authorize <conn_id>`)",
            error="invalid_grant",
            url=safe_url(cfg.token_url),
        )

    def code_request(self, code: str, code_verifier: str | None, consented: Token | None = None) -> TokenRequest:
        """Exchange an authorization code (with its PKCE verifier) for tokens, at the token URL the consent
        callback's values (`consented`, `derived.from_callback`) fill."""
        form = {"grant_type": "authorization_code", "code": code}
        if self.config.redirect_uri:
            form["redirect_uri"] = self.config.redirect_uri
        if code_verifier:
            form["code_verifier"] = code_verifier
        url = self.url("login_url", self.config.token_url, consented)
        return self._request("code exchange", form, url=url, with_scope=False)

    def revocation_request(self, token_value: str, hint: str, token: Token | None = None) -> TokenRequest:
        """RFC 7009: revoke one token (`hint`: refresh_token or access_token) of `token`, whose values fill the
        revocation URL, the client authenticated as for its token requests."""
        if not self.config.revocation_url:
            raise ConfigError("revocation_url", "is required to revoke tokens")
        form = {"token": token_value, "token_type_hint": hint}
        url = self.url("revocation_url", self.config.revocation_url, token)
        return self._request("revocation", form, url=url, with_scope=False)

    def url(self, field_name: str, template: str, token: Token | None) -> str:
        """`template` with the values `token` carries (`derived.fill_url`, its origin checked); as it is for a
        connection that declares none."""
        if not self.derived:
            return template
        return fill_url(field_name, template, self.derived, values_of(token), self.allowed_origins)

    def discovery_request(self, token: Token, *, always: bool = False) -> TokenRequest | None:
        """The GET of the connection's discovery URL with `token` as bearer token, when `token` lacks the values it
        gives (`derived.needs_discovery`) or `always`; None otherwise."""
        if not self.derived.discovery_url or not (always or needs_discovery(self.derived, token)):
            return None
        url = self.url("discovery_url", self.derived.discovery_url, token)
        headers = {"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"}
        return TokenRequest(url, "discovery", headers=headers, method="GET")

    def parse(self, response: httpx.Response, request: TokenRequest, previous: Token | None) -> Token:
        body = _json_body(response, request, self.secrets)
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise _missing(response, request, "access_token")
        cfg, source = self.config, f"Token endpoint {safe_url(request.url)}"
        token = token_from_answer(body, cfg.default_lifetime, cfg.max_lifetime, previous, source)
        if self.derived.answer_values:
            token = from_answer(self.derived, body, token, source)
        if self.dpop is not None and token.token_type.lower() != TOKEN_TYPE.lower():
            raise TokenEndpointError(
                f"token endpoint {safe_url(request.url)} answered the {request.purpose} request with a "
                f"{token.token_type[:20]!r} token, not a DPoP one: the server did not bind it to the DPoP key. "
                "Require DPoP for this client at the server, or turn dpop off",
                status_code=response.status_code,
                url=safe_url(request.url),
            )
        return token

    def takes_nonce(self, response: httpx.Response) -> bool:
        """Keep the `DPoP-Nonce` an answer gives; True when the answer is `use_dpop_nonce`: send again with it."""
        if self.dpop is None:
            return False
        nonce = nonce_of(response)
        if nonce is not None:
            self.dpop_nonces[origin(response.request.url)] = nonce
        return token_nonce_asked(response)

    def _dpop_header(self, url: str) -> dict[str, str]:
        assert self.dpop is not None
        return self.dpop.header("POST", url, nonce=self.dpop_nonces.get(origin(url)))

    def _request(
        self,
        purpose: str,
        form: dict[str, str],
        *,
        url: str,
        with_scope: bool = True,
        signed: tuple[Callable[[], dict[str, str]], ...] = (),
    ) -> TokenRequest:
        cfg = self.config
        headers: dict[str, str] = {}
        if self.client_signer is not None:
            form["client_id"] = cfg.client_id
            signed = (*signed, partial(client_assertion_form, cfg, self.client_signer))
        elif cfg.client_auth == "basic" and cfg.client_secret:
            headers = basic_header(cfg.client_id, cfg.client_secret)
        elif cfg.grant_type != "jwt_bearer" or cfg.client_secret:  # the JWT bearer grant needs no client auth
            form["client_id"] = cfg.client_id
            if cfg.client_secret:
                form["client_secret"] = cfg.client_secret
        if with_scope and cfg.scopes:
            form["scope"] = cfg.scope
        form.update({k: str(v) for k, v in cfg.extra_token_params.items()})
        proofs = (partial(self._dpop_header, url),) if self.dpop and purpose != "revocation" else ()
        return TokenRequest(url, purpose, form=form, headers=headers, signed=signed, signed_headers=proofs)

    def _audience(self) -> dict[str, str]:
        cfg = self.config
        return {k: v for k, v in (("audience", cfg.audience), ("resource", cfg.resource)) if v}


GITHUB_JSON = "application/vnd.github+json"
GITHUB_API_VERSION = "2022-11-28"  # the REST API version the token request is written for
USER_AGENT = f"airflow-provider-authapi/{__version__}"  # GitHub refuses a request without one (403)


class GitHubAppGrant:
    """A GitHub App's installation access token: `POST /app/installations/{id}/access_tokens` with the app's JWT
    as bearer token (RS256, signed afresh for each attempt), optionally narrowed to some permissions and
    repositories by a JSON body. The `201` answer, `{token, expires_at, permissions, repository_selection}`, holds
    an absolute expiry (1 h) and no refresh token: each renewal signs a new JWT and buys a new token."""

    def __init__(self, config: OAuth2Config) -> None:
        self.config = config
        self.secrets = tuple(config_secrets(config))
        self.signer: AssertionSigner = github_app_signer(config)

    def can_start_over(self) -> bool:
        return True

    def token_request(self, previous: Token | None) -> TokenRequest:
        cfg = self.config
        body: dict[str, Any] = {}
        if cfg.installation_repositories:
            body["repositories"] = list(cfg.installation_repositories)
        if cfg.installation_permissions:
            body["permissions"] = dict(cfg.installation_permissions)
        headers = {"Accept": GITHUB_JSON, "X-GitHub-Api-Version": GITHUB_API_VERSION, "User-Agent": USER_AGENT}
        return TokenRequest(
            cfg.token_url, "login", json=body or None, headers=headers, signed_headers=(self._authorization,)
        )

    def _authorization(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {github_app_jwt(self.config, self.signer)}"}

    def parse(self, response: httpx.Response, request: TokenRequest, previous: Token | None) -> Token:
        if response.status_code in (401, 404):
            raise self._refusal(response, request)
        body = _json_body(response, request, self.secrets)
        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise _missing(response, request, "token")
        answer = {"access_token": token, "expires_at": body.get("expires_at")}
        cfg, source = self.config, f"Token endpoint {safe_url(request.url)}"
        return token_from_answer(answer, cfg.default_lifetime, cfg.max_lifetime, None, source)

    def _refusal(self, response: httpx.Response, request: TokenRequest) -> TokenEndpointError:
        """GitHub's 401 (the JWT: app ID, key, clock) or 404 (the installation), with what to check."""
        url, status = safe_url(request.url), response.status_code
        secrets = (*self.secrets, *request_secrets(response))
        said = _github_message(response, secrets) or f"body: {response_excerpt(response, secrets)}"
        if status == 401:
            check = ("check the App ID or client ID (login), that assertion_private_key is a current private key of "
                     "that app, and this machine's clock")  # fmt: skip
        else:
            check = "check installation_id: the app must be installed there (the installation's settings URL ends "
            check += "with it)"
        return TokenEndpointError(
            f"token endpoint {url} answered {status} to the {request.purpose} request ({said}): {check}",
            status_code=status,
            url=url,
        )


def _github_message(response: httpx.Response, secrets: tuple[str, ...]) -> str | None:
    """GitHub's error `message` (`{"message": "Bad credentials", "documentation_url": ...}`), scrubbed."""
    try:
        body = response.json()
    except ValueError:
        return None
    message = body.get("message") if isinstance(body, dict) else None
    return repr(redact_text(scrub(str(message)[:200], secrets))) if message else None


def grant_for(config: OAuth2Config | TokenLoginConfig, *, allowed_origins: tuple[str, ...] = ()) -> Grant:
    """The grant that speaks to a config's token endpoint; `allowed_origins` bound where values learned after
    the consent may send its token requests (`OAuth2Grant`)."""
    if isinstance(config, TokenLoginConfig):
        return LoginGrant(config)
    if config.grant_type == "github_app":
        return GitHubAppGrant(config)
    return OAuth2Grant(config, allowed_origins=allowed_origins)


# `Token.extra` key of the cookies a session login carries besides its token (SAP's `ROUTEID`): not public.
SESSION_COOKIES = "session_cookies"


class LoginGrant:
    """A login that is not OAuth: POST credentials under configurable names, read the token by path.

    A session login reads it from a response header or cookie instead, and keeps the other cookies it is told
    to carry in `Token.extra[SESSION_COOKIES]` (a new login replaces them).
    """

    def __init__(self, config: TokenLoginConfig) -> None:
        self.config = config
        self.secrets = tuple(config_secrets(config))

    def can_start_over(self) -> bool:
        return True

    def token_request(self, previous: Token | None) -> TokenRequest:
        cfg = self.config
        if previous and previous.refresh_token and cfg.refresh_url:
            body = {**cfg.refresh_body, cfg.refresh_token_field: previous.refresh_token}
            return self._request(cfg.refresh_url, "refresh", body)
        body = {**cfg.extra_body, cfg.username_field: cfg.username, cfg.password_field: cfg.password}
        return self._request(cfg.token_url, "login", body)

    def parse(self, response: httpx.Response, request: TokenRequest, previous: Token | None) -> Token:
        cfg = self.config
        if request.purpose == "refresh" and response.status_code in (400, 401, 403):
            # No OAuth error codes here: a refused refresh means a dead refresh token, like `invalid_grant`.
            raise InvalidGrantError(
                f"refresh endpoint {safe_url(request.url)} refused the refresh token ({response.status_code}): "
                f"{response_excerpt(response, self.secrets)}",
                status_code=response.status_code,
                error="invalid_grant",
                url=safe_url(request.url),
            )
        if cfg.credential_source == "body":
            body = _json_body(response, request, self.secrets)
            access_token = _read(body, cfg, "token_path")
            if not isinstance(access_token, str) or not access_token:
                raise _missing(response, request, cfg.token_path)
        else:
            raise_for_token_response(response, request, self.secrets)
            body = _json_object_or_empty(response)
            access_token = _session_credential(response, request, cfg)
        refresh_token = _read(body, cfg, "refresh_token_path")
        now = pendulum.now("UTC")
        expires_in = _read(body, cfg, "expires_in_path")
        if _is_number(expires_in):
            expires_in = cfg.in_seconds(float(expires_in))
        expires_at = _timestamp(_read(body, cfg, "expires_at_path"))
        if expires_at is not None:
            expires_in = max(0.0, expires_at.diff(now).in_seconds()) if expires_at > now else 0.0
        token = Token.from_lifetime(
            access_token,
            expires_in=float(expires_in) if _is_number(expires_in) else None,
            default_lifetime=cfg.default_lifetime,
            max_lifetime=cfg.max_lifetime,
            now=now,
            refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
            extra=self._extra(response, request, previous, access_token),
        )
        return token.with_refresh_token_kept(previous)

    def _extra(self, response: httpx.Response, request: TokenRequest, previous: Token | None, token: str) -> dict:
        """The previous token's extra, with the carried cookies of this answer (never the token itself)."""
        extra = dict(previous.extra) if previous else {}
        if not self.config.carry_cookies:
            return extra
        found = response_cookies(response)
        carried = {name: found[name] for name in self.config.carry_cookies if found.get(name, "") not in ("", token)}
        if carried:
            extra[SESSION_COOKIES] = carried
        elif request.purpose == "login":
            extra.pop(SESSION_COOKIES, None)  # a new session: the old one's cookies are worth nothing
        return extra

    def _request(self, url: str, purpose: str, body: dict[str, Any]) -> TokenRequest:
        if self.config.request_format == "form":
            return TokenRequest(url, purpose, form={k: str(v) for k, v in body.items()})
        return TokenRequest(url, purpose, json=body)


def response_cookies(response: httpx.Response) -> dict[str, str]:
    """Name -> value of every `Set-Cookie` of a response; attributes (path, expiry, domain) are ignored."""
    cookies: dict[str, str] = {}
    for line in response.headers.get_list("set-cookie"):
        name, separator, value = line.split(";", 1)[0].partition("=")
        if separator and name.strip():
            cookies[name.strip()] = value.strip()
    return cookies


def _session_credential(response: httpx.Response, request: TokenRequest, cfg: TokenLoginConfig) -> str:
    """The token of a session login, from the response header or cookie `cfg.credential_name`."""
    if cfg.credential_source == "header":
        value, present = response.headers.get(cfg.credential_name), sorted(response.headers.keys())
    else:
        cookies = response_cookies(response)
        value, present = cookies.get(cfg.credential_name), sorted(cookies)
    if value:
        return value
    kind = cfg.credential_source
    raise TokenEndpointError(
        f"token endpoint {safe_url(request.url)} answered {response.status_code} to the {request.purpose} request "
        f"without the {kind} {cfg.credential_name!r} ({kind}s in the answer: {', '.join(present) or 'none'})",
        status_code=response.status_code,
        url=safe_url(request.url),
    )


def _json_object_or_empty(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object; {} for any other body (a session login need not answer JSON)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _read(body: dict[str, Any], cfg: TokenLoginConfig, path_field: str) -> Any:
    """The value at the response path `cfg.<path_field>`; None when that path is not configured."""
    path = getattr(cfg, path_field)
    return find_path(body, parse_path(path, field=path_field)) if path else None


def raise_for_token_response(response: httpx.Response, request: TokenRequest, secrets: tuple) -> None:
    """Turn an error answer of a token endpoint into the matching typed exception."""
    if response.is_success:
        return
    url = safe_url(request.url)
    secrets = (*secrets, *request_secrets(response))  # what the request carried, e.g. Basic credentials, encoded
    error, description = _oauth_error(response)
    detail = f"error={error!r}" + (f" ({redact_text(scrub(description, secrets))})" if description else "")
    if not error:
        detail = f"body: {response_excerpt(response, secrets)}"
    message = f"token endpoint {url} answered {response.status_code} to the {request.purpose} request; {detail}"
    kwargs = {"status_code": response.status_code, "error": error, "error_description": description, "url": url}
    if error == "invalid_grant":
        raise InvalidGrantError(message, **kwargs)
    if is_transient_status(response.status_code):
        raise TransientTokenEndpointError(message, retry_after=retry_after(response), **kwargs)
    raise TokenEndpointError(message, **kwargs)


def _json_body(response: httpx.Response, request: TokenRequest, secrets: tuple) -> dict[str, Any]:
    """The answer as a dict: a JSON object, or form-encoded fields (RFC 6749 servers that ignore `Accept`, such as
    GitHub's, answer `access_token=...&token_type=bearer`). Anything else is an error that describes the body
    without quoting it: a bare JSON string or array may be the token itself."""
    raise_for_token_response(response, request, secrets)
    content_type = response.headers.get("content-type", "").split(";")[0].strip()
    try:
        body: Any = response.json()
    except (ValueError, UnicodeDecodeError):
        body = _form(response) if "json" not in content_type else None
    if isinstance(body, dict):
        return body
    raise TokenEndpointError(
        f"token endpoint {safe_url(request.url)} answered {response.status_code} to the {request.purpose} request "
        f"with {_kind(body, response, content_type)}, not a JSON object{_prose(body, response, secrets)}",
        status_code=response.status_code,
        url=safe_url(request.url),
    )


def _form(response: httpx.Response) -> dict[str, str] | None:
    try:
        fields = dict(parse_qsl(response.text.strip(), keep_blank_values=True, strict_parsing=True))
    except (ValueError, UnicodeDecodeError):
        return None
    return fields if fields and all(name.replace("_", "").isalnum() for name in fields) else None


def _prose(body: Any, response: httpx.Response, secrets: tuple) -> str:
    """`: <excerpt>` of a body that reads as prose or markup (a sign-in page); nothing for one word, which may be
    the token itself sent as plain text."""
    if body is not None:
        return ""
    try:
        text = response.text.strip()
    except UnicodeDecodeError:
        return ""
    return f": {response_excerpt(response, secrets)}" if " " in text or "<" in text else ""


def _kind(body: Any, response: httpx.Response, content_type: str) -> str:
    """What a body is, its content left out."""
    if isinstance(body, list):
        return f"a JSON array of {len(body)} items"
    if isinstance(body, str):
        return f"a JSON string of {len(body)} characters"
    if body is not None:
        return f"a JSON {type(body).__name__}"
    return f"{content_type or 'a body without a content type'} of {len(response.content):,} bytes"


def _missing(response: httpx.Response, request: TokenRequest, path: str) -> TokenEndpointError:
    names = sorted(map(str, response.json()))
    keys = ", ".join(names[:MAX_KEYS_SHOWN]) + (
        f" and {len(names) - MAX_KEYS_SHOWN:,} more" if len(names) > MAX_KEYS_SHOWN else ""
    )
    keys = keys[:SUMMARY_CHARS] or "none"
    return TokenEndpointError(
        f"token endpoint {safe_url(request.url)} answered {response.status_code} to the {request.purpose} "
        f"request without a token at {path!r} (top-level keys: {keys})",
        status_code=response.status_code,
        url=safe_url(request.url),
    )


def _oauth_error(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return None, None
    description = body.get("error_description")
    return body["error"], str(description)[:200] if description else None


def token_from_answer(
    body: Mapping[str, Any],
    default_lifetime: float | None,
    max_lifetime: float | None,
    previous: Token | None,
    source: str,
) -> Token:
    """The token of an OAuth 2.0 token answer `body` (its `access_token` checked by the caller): the lifetime from
    `expires_in`, else from an absolute `expires_at` (epoch seconds or ISO 8601), the refresh token's from its
    `*_expires_in`, Salesforce's `instance_url`; a refresh answer that does not rotate keeps `previous`'s refresh
    token. `source` names the answer in a log line."""
    extra = dict(previous.extra) if previous else {}
    now = pendulum.now("UTC")
    for key in REFRESH_LIFETIME_KEYS:
        if _is_number(body.get(key)) and float(body[key]) > 0:
            extra[REFRESH_EXPIRES_AT] = now.add(seconds=float(body[key])).isoformat()
    if isinstance(body.get(INSTANCE_URL), str) and body[INSTANCE_URL].startswith(("https://", "http://")):
        extra[INSTANCE_URL] = body[INSTANCE_URL].rstrip("/")  # Salesforce: the org's API base URL
    token = Token.from_lifetime(
        body["access_token"],
        expires_in=_number_or_warn(body, "expires_in", source),
        expires_at=_expiry_or_warn(body, "expires_at", source),
        default_lifetime=default_lifetime,
        max_lifetime=max_lifetime,
        now=now,
        token_type=str(body.get("token_type") or "Bearer"),
        refresh_token=body.get("refresh_token") or None,
        scope=body.get("scope") or (previous.scope if previous else None),
        extra=extra,
    )
    return token.with_refresh_token_kept(previous)


def _number_or_warn(body: Mapping[str, Any], key: str, source: str) -> float | None:
    """`body[key]` as a number; a value that is not one is logged (never silently replaced) and gives None."""
    value = body.get(key)
    if value is None or _is_number(value):
        return float(value) if value is not None else None
    log.warning("%s: %s %s is not a number of seconds; using the default lifetime", source, key, repr(value)[:40])
    return None


def _expiry_or_warn(body: Mapping[str, Any], key: str, source: str) -> pendulum.DateTime | None:
    """`body[key]` as an absolute time (epoch seconds or ISO 8601); one that is neither is logged and gives None."""
    value = body.get(key)
    if value is None:
        return None
    expiry = _timestamp(value)
    if expiry is None:
        log.warning("%s: %s %s is not a time; using the default lifetime", source, key, repr(value)[:40])
    return expiry


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and value.replace(".", "", 1).isdigit()


def _timestamp(value: Any) -> pendulum.DateTime | None:
    """An absolute expiry given as epoch seconds or an ISO 8601 string."""
    if _is_number(value):
        return pendulum.from_timestamp(min(float(value), LAST_TIMESTAMP))
    if isinstance(value, str):
        try:
            parsed = pendulum.parse(value)
        except (ValueError, pendulum.parsing.exceptions.ParserError):
            return None
        return parsed if isinstance(parsed, pendulum.DateTime) else None
    return None


# -- Sending token requests -----------------------------------------------------------------------------------------

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Revocation:
    """What the revocation endpoint said of one token (RFC 7009): confirmed (a 200), or why not. No secret."""

    hint: str  # refresh_token or access_token
    confirmed: bool
    reason: str = ""  # why it is not confirmed: the endpoint's error, or why it could not be reached

    def __str__(self) -> str:
        what = self.hint.replace("_", " ")
        return f"{what}: revoked (the server confirmed)" if self.confirmed else f"{what}: not revoked: {self.reason}"


class TokenEndpoint:
    """Sends a grant's token requests and parses the answers; counts the requests it made. They go through the
    connection's `proxy`, as its API requests do (`transport.transport_kwargs`)."""

    def __init__(
        self,
        grant: Grant,
        *,
        verify: Any = True,
        timeout: float = CommonConfig.timeout,
        retry: RetryPolicy | None = None,
        proxy: ProxyConfig | None = None,
    ) -> None:
        self.grant = grant
        self.verify = verify
        self.timeout = timeout
        self.retry = retry or TOKEN_RETRY
        self.proxy = proxy
        self.requests = 0

    def _client_kwargs(self) -> dict[str, Any]:
        return {"timeout": self.timeout, **transport_kwargs(self.verify, self.proxy)}

    def fetch(self, previous: Token | None) -> Token:
        """A new token: renew `previous` by its refresh token, or obtain a first one."""
        request = self.grant.token_request(previous)
        return self._send(request, previous)

    async def afetch(self, previous: Token | None) -> Token:
        request = self.grant.token_request(previous)
        return await self._asend(request, previous)

    def exchange_code(self, code: str, code_verifier: str | None, consented: Mapping[str, str] | None = None) -> Token:
        """Authorization code -> tokens (OAuth 2.0 only). `consented`: the consent callback's values
        (`derived.from_callback`), which fill the token URL and are kept with the tokens; a discovery that fails
        fails the exchange (the user is there to see it)."""
        if not isinstance(self.grant, OAuth2Grant):
            raise TypeError("only an OAuth 2.0 grant exchanges authorization codes")
        seed = with_values(Token(access_token=""), consented) if consented else None
        return self._send(self.grant.code_request(code, code_verifier, seed), seed, strict=True)

    def discover_entries(self, token: Token) -> list[dict[str, str]]:
        """Every entry the discovery URL lists now for `token`, each as its values (`discovery_values`; Xero: one
        per organisation): what a DAG maps a task over. The request goes as the token requests do."""
        grant = self.grant
        if not isinstance(grant, OAuth2Grant) or not grant.derived.discovery_url:
            raise ConfigError("discovery_url", "is not set: the connection lists nothing after its consent")
        request = grant.discovery_request(token, always=True)
        assert request is not None
        with httpx.Client(**self._client_kwargs()) as client:
            for attempt in Retrying(**self._retry_kwargs()):
                with attempt:
                    body = self._discovery_answer(self._checked(client, request), request, token)
        return [entry_values(grant.derived, entry, required=False) for entry in
                discovery_entries(grant.derived, body, safe_url(request.url))]  # fmt: skip

    def revoke(self, token: Token) -> list[Revocation]:
        """RFC 7009: revoke `token`'s refresh token, then its access token (OAuth 2.0 with a `revocation_url`).

        One `Revocation` per token sent. A refusal or an unreachable endpoint (after the usual retries) is a
        `Revocation` that is not confirmed, never an exception; a missing `revocation_url` is a `ConfigError`.
        """
        if not isinstance(self.grant, OAuth2Grant):
            raise TypeError("only an OAuth 2.0 grant revokes tokens")
        secrets = (*self.grant.secrets, token.access_token, token.refresh_token)
        values = {"refresh_token": token.refresh_token, "access_token": token.access_token}
        revocations = []
        for hint in REVOCATION_HINTS:
            if not values[hint]:
                continue
            try:
                request = self.grant.revocation_request(values[hint], hint, token)
            except ConfigError as exc:
                if not self.grant.config.revocation_url:
                    raise
                revocations.append(Revocation(hint, False, str(exc)))  # its URL needs a value the token lacks
                continue
            try:
                self._send_revocation(request, secrets)
            except (TokenEndpointError, ProxyAuthenticationError) as exc:
                revocations.append(Revocation(hint, False, scrub(str(exc), secrets)))
            else:
                revocations.append(Revocation(hint, True))
        return revocations

    def _retry_kwargs(self) -> dict[str, Any]:
        return self.retry.tenacity_kwargs(retry_on=_is_transient, asked=_retry_after, before_sleep=_log_retry)

    def _send(self, request: TokenRequest, previous: Token | None, *, strict: bool = False) -> Token:
        with httpx.Client(**self._client_kwargs()) as client:
            for attempt in Retrying(**self._retry_kwargs()):
                with attempt:
                    self.requests += 1
                    response = self._checked(client, request)
                    if self._nonce_asked(response):  # DPoP: once more, the proof with the server's nonce
                        self.requests += 1
                        response = self._checked(client, request)
                    token = self.grant.parse(response, request, previous)
            return self._discover(client, token, strict)

    def _discover(self, client: httpx.Client, token: Token, strict: bool) -> Token:
        """`token` with the values of the connection's discovery request, when it lacks them (the first token)."""
        discovery = self._discovery_request(token)
        if discovery is None:
            return token
        try:
            for attempt in Retrying(**self._retry_kwargs()):
                with attempt:
                    body = self._discovery_answer(self._checked(client, discovery), discovery, token)
            return self._with_discovered(token, body, discovery)
        except AuthApiError as exc:
            return self._discovery_failed(token, exc, strict)

    def _discovery_request(self, token: Token) -> TokenRequest | None:
        return self.grant.discovery_request(token) if isinstance(self.grant, OAuth2Grant) else None

    def _discovery_answer(self, response: httpx.Response, request: TokenRequest, token: Token) -> Any:
        """The JSON body of a discovery answer; a typed error (transient for 429 and 5xx) for any other."""
        url, secrets = safe_url(request.url), (token.access_token, token.refresh_token, *self.grant.secrets)
        if response.is_success:
            try:
                return response.json()
            except ValueError:
                pass
        status = response.status_code
        said = f"answered {status}" if not response.is_success else f"answered {status} with no JSON"
        message = f"discovery {url} {said} to the new token: {response_excerpt(response, secrets)}"
        if status in (401, 403):
            message += " (check that the consent asked for the scopes this request needs)"
        if is_transient_status(status):
            raise TransientTokenEndpointError(message, retry_after=retry_after(response), status_code=status, url=url)
        raise TokenEndpointError(message, status_code=status, url=url)

    def _with_discovered(self, token: Token, body: Any, request: TokenRequest) -> Token:
        assert isinstance(self.grant, OAuth2Grant)
        values = discovered(self.grant.derived, body, safe_url(request.url))
        if any(value in (token.access_token, token.refresh_token) for value in values.values()):
            raise TokenEndpointError(f"discovery {safe_url(request.url)} gave the token itself as a value")
        return with_values(token, values)

    def _discovery_failed(self, token: Token, exc: AuthApiError, strict: bool) -> Token:
        """A failed discovery fails a consent; a renewal's new token is kept without its values (losing it could
        lose a rotated refresh token), and the discovery is tried again with the next renewal."""
        if strict or not token.refresh_token:
            raise exc
        log.warning("The discovery after the token of %s failed (%s); kept the token, tried again at its renewal",
                    safe_url(self.grant.derived.discovery_url), exc)  # type: ignore[attr-defined]  # fmt: skip
        return token

    def _nonce_asked(self, response: httpx.Response) -> bool:
        return isinstance(self.grant, OAuth2Grant) and self.grant.takes_nonce(response)

    def _send_revocation(self, request: TokenRequest, secrets: tuple[str | None, ...]) -> None:
        """Send a revocation request under the retry policy; a typed `TokenEndpointError` unless it answers 2xx."""
        with httpx.Client(**self._client_kwargs()) as client:
            for attempt in Retrying(**self._retry_kwargs()):
                with attempt:
                    response = self._checked(client, request)
                    raise_for_token_response(response, request, secrets)

    async def _asend(self, request: TokenRequest, previous: Token | None) -> Token:
        async with httpx.AsyncClient(**self._client_kwargs()) as client:
            async for attempt in AsyncRetrying(**self._retry_kwargs()):
                with attempt:
                    self.requests += 1
                    response = await self._achecked(client, request)
                    if self._nonce_asked(response):  # DPoP: once more, the proof with the server's nonce
                        self.requests += 1
                        response = await self._achecked(client, request)
                    token = self.grant.parse(response, request, previous)
            return await self._adiscover(client, token)

    async def _adiscover(self, client: httpx.AsyncClient, token: Token) -> Token:
        """The async `_discover` (renewals only: a consent is exchanged sync)."""
        discovery = self._discovery_request(token)
        if discovery is None:
            return token
        try:
            async for attempt in AsyncRetrying(**self._retry_kwargs()):
                with attempt:
                    body = self._discovery_answer(await self._achecked(client, discovery), discovery, token)
            return self._with_discovered(token, body, discovery)
        except AuthApiError as exc:
            return self._discovery_failed(token, exc, strict=False)

    async def _achecked(self, client: httpx.AsyncClient, request: TokenRequest) -> httpx.Response:
        """The async `_checked`."""
        built = request.build()
        try:
            response = await asend_bounded(client, built)
        except httpx.HTTPError as exc:
            raise self._transport_error(request, built, exc) from _cause(exc)
        if refusal := proxy_refusal(self.proxy, built, response):
            raise refusal
        return response

    def _checked(self, client: httpx.Client, request: TokenRequest) -> httpx.Response:
        """Send `request`: a transport error typed, a 407 of the connection's proxy a `ProxyAuthenticationError`."""
        built = request.build()
        try:
            response = send_bounded(client, built)
        except httpx.HTTPError as exc:
            raise self._transport_error(request, built, exc) from _cause(exc)
        if refusal := proxy_refusal(self.proxy, built, response):
            raise refusal
        return response

    def _transport_error(self, request: TokenRequest, built: httpx.Request, exc: httpx.HTTPError) -> Exception:
        return proxy_refusal(self.proxy, built, exc=exc) or _transport_error(request, exc)


def _cause(exc: httpx.HTTPError) -> httpx.HTTPError | None:
    """The exception to chain: none for one whose message quotes a header value (a secret, maybe)."""
    return None if isinstance(exc, httpx.LocalProtocolError) else exc


def _transport_error(request: TokenRequest, exc: httpx.HTTPError) -> TokenTransportError:
    url = safe_url(request.url)
    if isinstance(exc, httpx.LocalProtocolError):
        return TokenTransportError(unsendable(f"token request to {url}"), transient=False, url=url)
    if isinstance(exc, httpx.DecodingError):
        return TokenTransportError(f"token endpoint {url}: {exc}", transient=False, url=url)
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


# -- Grants of the user's own -----------------------------------------------------------------------------------

TokenAnswer = Token | Mapping[str, Any]


class CustomGrant:
    """Base class of a grant of your own, for a login the built-in grants do not speak (a vendor's session login,
    an XML exchange, a signed handshake). Implement `fetch`; everything else is the built-in machinery: the token
    manager (renewal ahead of expiry, the refresh queue), the shared token cache, the token page, the CLI and the
    masking of the token in logs. Select it with a connection's `grant_class` field (its dotted path, importable on
    the workers and the triggerer) or `AuthApiHook(conn_id, grant=VendorLogin)`::

        class VendorLogin(CustomGrant):
            def fetch(self, client, config):
                response = client.post("/session", content=f"<login user='{config['login']}'/>")
                response.raise_for_status()
                return {"access_token": response.headers["X-Session"], "expires_in": 900}

    `client` is an `httpx.Client` with the connection's TLS, proxy and timeout settings, its API base URL (so a
    relative URL works) and no credential; `config` the connection's settings, read-only: `host`, `login`,
    `password` and its extras (fields left empty are absent). Return a `Token` or a dict shaped like an OAuth 2.0
    token answer: `access_token` (required), `expires_in` (seconds) or `expires_at` (epoch seconds or ISO 8601),
    `refresh_token`, `token_type`, `scope`. Without an expiry, the connection's default lifetime applies (and its
    maximum lifetime caps any). A refusal raised as `httpx.HTTPStatusError` (`response.raise_for_status()`) reads
    like a built-in token endpoint's: 429, 5xx and transport errors are retried under the token retry policy,
    anything else fails with a `TokenEndpointError`; so does any other exception, its message scrubbed of the
    connection's secrets. A class is created once per process and connection, with no arguments.
    """

    def fetch(self, client: httpx.Client, config: Mapping[str, Any]) -> TokenAnswer:
        """A first token (a login). Required."""
        raise NotImplementedError

    def refresh(self, client: httpx.Client, config: Mapping[str, Any], token: Token) -> TokenAnswer | None:
        """Optional: renew `token` by its `refresh_token`; called instead of `fetch` when the token has one. Return
        None (or raise a 400, 401 or 403) when the refresh token is dead: a new `fetch` follows. A refresh token
        is presented by one process at a time (the refresh queue). Not implemented: every renewal is a `fetch`."""
        raise NotImplementedError

    async def afetch(self, client: httpx.AsyncClient, config: Mapping[str, Any]) -> TokenAnswer:
        """Optional: `fetch` on an `httpx.AsyncClient` (the triggerer). Not implemented: `fetch` runs in a thread."""
        raise NotImplementedError

    async def arefresh(self, client: httpx.AsyncClient, config: Mapping[str, Any], token: Token) -> TokenAnswer | None:
        """Optional: the async `refresh`. Not implemented: `refresh` runs in a thread."""
        raise NotImplementedError


def _implements(grant: CustomGrant, method: str) -> bool:
    """Whether `grant`'s class overrides `CustomGrant.<method>`."""
    return getattr(type(grant), method) is not getattr(CustomGrant, method)


def custom_grant(config: CustomGrantConfig) -> CustomGrant:
    """The config's grant instance: the one given, or its class created with no arguments."""
    if isinstance(config.grant, CustomGrant):
        return config.grant
    try:
        return config.grant()
    except Exception as exc:
        problem = f"{type(exc).__name__}: {str(exc)[:200]}"
        raise ConfigError("grant_class", f"{config.grant_class}() could not be created ({problem})") from None


class _CustomGrantPlan:
    """What `TokenManager` asks of a grant before it renews (`Grant`): whether the renewal presents a refresh token
    (a custom grant's does when it implements `refresh` and the token has one), and whether it can start over."""

    def __init__(self, config: CustomGrantConfig, grant: CustomGrant, secrets: tuple[str, ...]) -> None:
        self.config, self.secrets = config, secrets
        self.refreshes = _implements(grant, "refresh")

    def token_request(self, previous: Token | None) -> TokenRequest:
        refreshing = self.refreshes and previous is not None and bool(previous.refresh_token)
        return TokenRequest(self.config.grant_class, "refresh" if refreshing else "login")

    def can_start_over(self) -> bool:
        return True  # `fetch` needs no refresh token

    def parse(self, response: httpx.Response, request: TokenRequest, previous: Token | None) -> Token:
        raise TypeError("a custom grant reads its own answers")


class CustomGrantEndpoint(TokenEndpoint):
    """Runs a `CustomGrant` where `TokenEndpoint` sends a built-in grant's requests, with the same retry policy,
    TLS, proxy and count of requests (each one its client sends), and reads its answer into a `Token`."""

    def __init__(
        self,
        config: CustomGrantConfig,
        common: CommonConfig,
        *,
        verify: Any = True,
        retry: RetryPolicy | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.custom = custom_grant(config)
        self.config, self.settings, self.base_url = config, common.settings_view, common.base_url
        plan = _CustomGrantPlan(config, self.custom, tuple(secrets))
        super().__init__(plan, verify=verify, timeout=common.timeout, retry=retry, proxy=common.proxy)

    def fetch(self, previous: Token | None) -> Token:
        purpose = self.grant.token_request(previous).purpose
        hooks = {"request": [self._count], "response": [self._refused_by_proxy]}
        with httpx.Client(base_url=self.base_url, event_hooks=hooks, **self._client_kwargs()) as client:
            for attempt in Retrying(**self._retry_kwargs()):
                with attempt:
                    with self._reading(purpose):
                        if purpose == "refresh":
                            answer = self.custom.refresh(client, self.settings, previous)  # type: ignore[arg-type]
                        else:
                            answer = self.custom.fetch(client, self.settings)
                    return self._token(answer, previous, purpose)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def afetch(self, previous: Token | None) -> Token:
        purpose = self.grant.token_request(previous).purpose
        if not _implements(self.custom, "arefresh" if purpose == "refresh" else "afetch"):
            return await asyncio.to_thread(self.fetch, previous)
        hooks = {"request": [self._acount], "response": [self._arefused_by_proxy]}
        async with httpx.AsyncClient(base_url=self.base_url, event_hooks=hooks, **self._client_kwargs()) as client:
            async for attempt in AsyncRetrying(**self._retry_kwargs()):
                with attempt:
                    with self._reading(purpose):
                        if purpose == "refresh":
                            answer = await self.custom.arefresh(client, self.settings, previous)  # type: ignore[arg-type]
                        else:
                            answer = await self.custom.afetch(client, self.settings)
                    return self._token(answer, previous, purpose)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    # -- the client's event hooks ------------------------------------------------------------------------------

    def _count(self, request: httpx.Request) -> None:
        self.requests += 1

    async def _acount(self, request: httpx.Request) -> None:
        self.requests += 1

    def _refused_by_proxy(self, response: httpx.Response) -> None:
        if refusal := proxy_refusal(self.proxy, response.request, response):
            raise refusal

    async def _arefused_by_proxy(self, response: httpx.Response) -> None:
        self._refused_by_proxy(response)

    # -- reading what the grant did --------------------------------------------------------------------------

    @contextmanager
    def _reading(self, purpose: str) -> Iterator[None]:
        """The grant's exceptions as the built-in grants raise them (typed, retried when transient, scrubbed)."""
        try:
            yield
        except AuthApiError:
            raise
        except httpx.HTTPStatusError as exc:
            raise self._refusal(exc.response, purpose) from None
        except httpx.HTTPError as exc:
            raise self._unreachable(exc, purpose) from _cause(exc)
        except Exception as exc:
            said = scrub(str(exc), self.grant.secrets)
            what = f"custom grant {self.config.grant_class} failed to {_VERBS[purpose]}"
            raise TokenEndpointError(f"{what}: {type(exc).__name__}: {said}"[:2000]) from (
                exc if said == str(exc) else None  # the cause's message would show the secret
            )

    def _refusal(self, response: httpx.Response, purpose: str) -> TokenEndpointError:
        request = TokenRequest(str(response.request.url), purpose)
        secrets = self.grant.secrets
        if purpose == "refresh" and response.status_code in (400, 401, 403):
            url = safe_url(request.url)
            return InvalidGrantError(
                f"custom grant {self.config.grant_class}: {url} refused the refresh token ({response.status_code}): "
                f"{response_excerpt(response, (*secrets, *request_secrets(response)))}",
                status_code=response.status_code,
                error="invalid_grant",
                url=url,
            )
        try:
            raise_for_token_response(response, request, secrets)
        except TokenEndpointError as typed:
            return typed
        return TokenEndpointError(  # raise_for_status raised for an answer that is a success: not one of httpx's
            f"custom grant {self.config.grant_class}: {safe_url(request.url)} answered {response.status_code}",
            status_code=response.status_code,
        )

    def _unreachable(self, exc: httpx.HTTPError, purpose: str) -> Exception:
        try:
            sent: httpx.Request | None = exc.request
        except RuntimeError:  # an error raised without its request
            sent = None
        if sent is not None and (refusal := proxy_refusal(self.proxy, sent, exc=exc)):
            return refusal
        return _transport_error(TokenRequest(str(sent.url) if sent else self.config.grant_class, purpose), exc)

    def _token(self, answer: Any, previous: Token | None, purpose: str) -> Token:
        """The grant's answer as a `Token`; None from `refresh` means the refresh token is dead."""
        grant = self.config.grant_class
        method = "refresh" if purpose == "refresh" else "fetch"
        if answer is None and purpose == "refresh":
            raise InvalidGrantError(f"custom grant {grant}: refresh gave no token (a dead refresh token)",
                                    error="invalid_grant")  # fmt: skip
        if isinstance(answer, Token):
            token = answer.with_refresh_token_kept(previous) if purpose == "refresh" else answer
        elif isinstance(answer, Mapping):
            if not isinstance(answer.get("access_token"), str) or not answer["access_token"].strip():
                keys = ", ".join(sorted(map(str, answer))[:MAX_KEYS_SHOWN]) or "none"
                raise TokenEndpointError(f"custom grant {grant}: {method} returned no access_token (keys: {keys})")
            body = dict(answer)
            expires_at = _timestamp(body.get("expires_at")) if body.get("expires_in") is None else None
            if expires_at is not None:
                body["expires_in"] = expires_at.timestamp() - pendulum.now("UTC").timestamp()
            cfg = self.config
            kept = previous if purpose == "refresh" else None  # a login starts afresh: no extra, no refresh token
            token = token_from_answer(body, cfg.default_lifetime, cfg.max_lifetime, kept, f"Custom grant {grant}")
        else:
            raise TokenEndpointError(
                f"custom grant {grant}: {method} returned {type(answer).__name__}, not a Token or a dict with an "
                "access_token"
            )
        if not isinstance(token.access_token, str) or not token.access_token.strip():
            raise TokenEndpointError(f"custom grant {grant}: {method} returned a token without an access token")
        return token


_VERBS = {"login": "obtain a token", "refresh": "refresh the token"}
