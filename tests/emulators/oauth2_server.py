"""A strict generic OAuth 2.0 server, a JSON-login server and an API that checks their tokens.

`OAuth2Server` checks client authentication (Basic header or body, as configured), every grant
(client_credentials, password, authorization_code with PKCE S256, refresh_token), scopes and audience, and
rotates refresh tokens: a redeemed refresh token is dead, replaying it gives `invalid_grant`. `POST /revoke` is
RFC 7009: client authentication as for tokens, `token` (either kind, `token_type_hint` only a hint) revoked, 200
also for an unknown token; `revoked` lists the kind of each live token it revoked.
`LoginServer` is the non-OAuth style: `POST /login` with JSON credentials -> `{"Token": <JWT>, "RefreshToken"}`.
Both serve `GET /api/whoami`, accepting a live token in `Authorization: Bearer` or `?access_token=`.

`fail_next(n, status, retry_after)` makes the next n token requests fail (transient-error tests).
"""

from __future__ import annotations

import secrets
import threading
from typing import Any
from urllib.parse import urlencode

from tests.emulators.base import Request, Response
from tests.emulators.tokens import (
    JwtIssuer,
    TokenApi,
    TokenRegistry,
    bearer_challenge,
    form_or_json,
    oauth_error,
    pkce_s256,
)


class _FailPlan:
    """The next `n` token requests answer `status` (with `Retry-After` when given)."""

    def __init__(self) -> None:
        self.remaining, self.status, self.retry_after, self.lock = 0, 503, None, threading.Lock()

    def take(self) -> Response | None:
        with self.lock:
            if self.remaining <= 0:
                return None
            self.remaining -= 1
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        if self.status == 429:
            return Response.json({"error": "slow_down"}, status=429, headers=headers)
        return Response(self.status, b"<html>upstream unavailable</html>", {"Content-Type": "text/html", **headers})


class OAuth2Server(TokenApi):
    token_paths = ("/token",)
    api_path = "/api/whoami"

    def __init__(
        self,
        client_id: str = "client-id-1",
        client_secret: str = "client-secret-0123456789",
        *,
        client_auth: str = "basic",
        scopes: tuple[str, ...] = ("read", "write"),
        audience: str | None = None,
        users: dict[str, str] | None = None,
        access_lifetime: float = 3600,
        refresh_lifetime: float = 100 * 24 * 3600,
        issue_refresh_on_client_credentials: bool = False,
        **kwargs: Any,
    ) -> None:
        self.client_id, self.client_secret, self.client_auth = client_id, client_secret, client_auth
        self.scopes, self.audience = set(scopes), audience
        self.users = users if users is not None else {"alice": "alice-password-123"}
        self.issue_refresh_on_client_credentials = issue_refresh_on_client_credentials
        super().__init__(**kwargs)
        self.access = TokenRegistry(self.clock, access_lifetime, prefix="at")
        self.refresh = TokenRegistry(self.clock, refresh_lifetime, prefix="rt", rotating=True)
        self.codes = TokenRegistry(self.clock, 600, prefix="code", rotating=True)
        self.failures = _FailPlan()
        self.invalid_grants = 0
        self.last_token_form: dict[str, str] = {}
        self.revoked: list[str] = []  # token_type_hint of each token this server revoked (refresh_token, ...)

    def setup_routes(self) -> None:
        self.route("GET", r"/authorize", self.authorize)
        self.route("POST", r"/token", self.token)
        self.route("POST", r"/revoke", self.revoke)
        self.route("GET", r"/api/whoami", self.whoami)

    # -- test controls -------------------------------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 503, retry_after: float | None = None) -> None:
        self.failures.remaining, self.failures.status, self.failures.retry_after = count, status, retry_after

    def issue_refresh_token(self, scope: str = "read", **data: Any) -> str:
        """A refresh token as if a user had consented (tests that skip the browser)."""
        return self.refresh.issue(self.client_id, scope=scope, **data)

    # -- endpoints -------------------------------------------------------------------------------------------------

    def authorize(self, request: Request) -> Response:
        """Auto-approving consent: redirect back with a code bound to redirect URI, scope and PKCE challenge."""
        q = request.query
        if q.get("client_id") != self.client_id or q.get("response_type") != "code":
            return Response.json({"error": "invalid_request"}, status=400)
        if q.get("code_challenge") and q.get("code_challenge_method") != "S256":
            return Response.json({"error": "invalid_request", "error_description": "S256 only"}, status=400)
        code = self.codes.issue(
            self.client_id,
            scope=q.get("scope", ""),
            redirect_uri=q.get("redirect_uri"),
            challenge=q.get("code_challenge"),
        )
        return Response.redirect(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}")

    def token(self, request: Request) -> Response:
        form = request.form()
        refused = self.refusal(request, form)
        if refused is not None:
            return refused
        scope = form.get("scope", "")
        needs_audience = self.audience and form.get("grant_type") in ("client_credentials", "password")
        if needs_audience and form.get("audience") != self.audience:
            return oauth_error("invalid_request", "audience is required")
        grant = form.get("grant_type")
        if grant == "client_credentials":
            return self._tokens(self.client_id, scope, refresh=self.issue_refresh_on_client_credentials)
        if grant == "password":
            if self.users.get(form.get("username", "")) != form.get("password"):
                return self._invalid_grant("bad user credentials")
            return self._tokens(form["username"], scope, refresh=True)
        if grant == "authorization_code":
            issued = self.codes.redeem(form.get("code"))
            if issued is None or issued.data["redirect_uri"] != form.get("redirect_uri"):
                return self._invalid_grant("unknown, used or mismatched code")
            challenge = issued.data.get("challenge")
            if challenge and pkce_s256(form.get("code_verifier", "")) != challenge:
                return self._invalid_grant("PKCE verification failed")
            return self._tokens(self.client_id, issued.scope, refresh=True)
        if grant == "refresh_token":
            issued = self.refresh.redeem(form.get("refresh_token"))
            if issued is None:
                return self._invalid_grant("refresh token is invalid, expired or already used")
            return self._tokens(issued.subject, scope or issued.scope, refresh=True)
        return oauth_error("unsupported_grant_type")

    def revoke(self, request: Request) -> Response:
        """RFC 7009 section 2: the client authenticates; the token is revoked whatever its hint says; 200 even for
        an unknown or already dead token (section 2.2), and an empty body."""
        form = request.form()
        refused = self.refusal(request, form)
        if refused is not None:
            return refused
        if not form.get("token"):
            return oauth_error("invalid_request", "the token parameter is required")
        if form.get("token_type_hint") not in (None, "refresh_token", "access_token"):
            return oauth_error("unsupported_token_type", "unknown token_type_hint")
        for kind, registry in (("refresh_token", self.refresh), ("access_token", self.access)):
            if registry.revoke(form["token"]):
                with self.lock:
                    self.revoked.append(kind)
        return Response(200, b"", {"Cache-Control": "no-store"})

    def whoami(self, request: Request) -> Response:
        grant = self.access.check(request.bearer() or request.query.get("access_token"))
        if grant is None:
            return bearer_challenge("invalid_token")
        return Response.json({"subject": grant.subject, "scope": grant.scope})

    # -- helpers ---------------------------------------------------------------------------------------------------

    def refusal(self, request: Request, form: dict[str, str]) -> Response | None:
        """What any token request is refused for first: a planned failure, client auth, an unknown scope."""
        failure = self.failures.take()
        if failure is not None:
            return failure
        self.last_token_form = form
        if not self._client_ok(request, form):
            return oauth_error("invalid_client", "client authentication failed", status=401)
        scope = form.get("scope", "")
        if scope and not set(scope.split()) <= self.scopes:
            return oauth_error("invalid_scope", f"unknown scope in {scope!r}")
        return None

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        basic = request.basic_auth()
        if basic is not None:
            return self.client_auth in ("basic", "any") and basic == (self.client_id, self.client_secret)
        if self.client_auth not in ("body", "any", "public"):
            return False
        if self.client_auth == "public":
            return form.get("client_id") == self.client_id
        return (form.get("client_id"), form.get("client_secret")) == (self.client_id, self.client_secret)

    def _tokens(self, subject: str, scope: str, *, refresh: bool) -> Response:
        body: dict[str, Any] = {
            "access_token": self.access.issue(subject, scope=scope),
            "token_type": "bearer",
            "expires_in": int(self.access.lifetime),
            "scope": scope,
        }
        if refresh:
            body["refresh_token"] = self.refresh.issue(subject, scope=scope)
            body["x_refresh_token_expires_in"] = int(self.refresh.lifetime)
        return Response.json(body, headers={"Cache-Control": "no-store"})

    def _invalid_grant(self, why: str) -> Response:
        with self.lock:
            self.invalid_grants += 1
        return oauth_error("invalid_grant", why)


class BenchOAuth2Server(OAuth2Server):
    """Client credentials with Basic auth and a long token life: the benchmark's server."""


class LoginServer(TokenApi):
    """Aspire-style JSON login: `{"ClientId", "Secret"}` -> `{"Token": <JWT>, "RefreshToken"}`; no `expires_in`.

    The refresh endpoint takes `{"RefreshToken"}` and rotates it. Subclasses (the Aspire emulator) rename the
    endpoints, the refusal messages and the issuer, and add their data routes in `setup_routes`.
    """

    login_path, refresh_path = "/login", "/login/refresh"
    token_paths = (login_path, refresh_path)
    refused_login = "Invalid credentials"
    refused_refresh = "Invalid refresh token"
    issuer = "emulator"
    refresh_lifetime = 7 * 24 * 3600

    def __init__(
        self,
        client_id: str = "login-client",
        secret: str = "login-secret-0123456789",
        *,
        lifetime: float = 24 * 3600,
        nested: bool = False,
        **kwargs: Any,
    ) -> None:
        self.client_id, self.secret, self.nested = client_id, secret, nested
        super().__init__(**kwargs)
        self.jwts = JwtIssuer(self.clock, lifetime, issuer=self.issuer)
        self.refresh = TokenRegistry(self.clock, self.refresh_lifetime, prefix="rt", rotating=True)
        self.failures = _FailPlan()

    def setup_routes(self) -> None:
        self.login_routes()
        self.route("GET", r"/api/whoami", self.whoami)
        self.route("GET", r"/broken-login", lambda _: Response.html("<h1>maintenance</h1>"))

    def login_routes(self) -> None:
        self.route("POST", self.login_path, self.login)
        self.route("POST", self.refresh_path, self.refresh_login)

    @property
    def logins(self) -> int:
        return self.count("POST", self.login_path)

    @property
    def refreshes(self) -> int:
        return self.count("POST", self.refresh_path)

    def login(self, request: Request) -> Response:
        failure = self.failures.take()
        if failure is not None:
            return failure
        body = form_or_json(request)
        if (body.get("ClientId"), body.get("Secret")) != (self.client_id, self.secret):
            return Response.json({"Message": self.refused_login}, status=401)
        return self._tokens(self.client_id)

    def refresh_login(self, request: Request) -> Response:
        grant = self.refresh.redeem(form_or_json(request).get("RefreshToken"))
        if grant is None:
            return Response.json({"Message": self.refused_refresh}, status=401)
        return self._tokens(grant.subject)

    def whoami(self, request: Request) -> Response:
        claims = self.jwts.check(request.bearer())
        if claims is None:
            return bearer_challenge("invalid_token")
        return Response.json({"subject": claims["sub"]})

    def _tokens(self, subject: str) -> Response:
        tokens = {"Token": self.jwts.issue(subject, ClientId=subject), "RefreshToken": self.refresh.issue(subject)}
        return Response.json({"Data": tokens} if self.nested else tokens)


def random_state() -> str:
    return secrets.token_urlsafe(16)
