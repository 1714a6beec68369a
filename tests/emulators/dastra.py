"""Dastra API: OAuth 2.0 client credentials with the key pair in a Basic header, tokens that die in 5 minutes.

As documented at https://doc.dastra.eu/en/api-references/authentification:

- `POST /connect/token` (real host `account.dastra.eu`) with `Authorization: Basic base64(public:private)` and
  the form `grant_type=client_credentials&scope=api1` -> `{access_token, expires_in, token_type, scope}`.
- API calls (real host `api.dastra.eu`) carry `Authorization: Bearer <token>`, or `X-API-Key: <private key>`.

The token really lives `real_lifetime` seconds (300) while the response declares `declared_lifetime` (3600):
a client must cap the declared lifetime (the `dastra` profile's `max_lifetime`). Unauthenticated or
expired calls get 401 with a `WWW-Authenticate: Bearer` challenge (IdentityServer + ASP.NET JwtBearer).

- `GET /v1/workspaces`  -> `{"items": [...], "total": n}`
"""

from __future__ import annotations

from typing import Any

from tests.emulators.base import Request, Response
from tests.emulators.tokens import TokenApi, TokenRegistry, bearer_refusal, oauth_error


class DastraEmulator(TokenApi):
    token_paths = ("/connect/token",)

    def __init__(
        self,
        public_key: str = "dastra-public-key",
        private_key: str = "dastra-private-key-0123456789",
        *,
        declared_lifetime: int = 3600,
        real_lifetime: float = 300,
        workspaces: int = 3,
        **kwargs: Any,
    ) -> None:
        self.public_key, self.private_key = public_key, private_key
        self.declared_lifetime = declared_lifetime
        self.workspaces = [
            {"id": i, "label": f"Workspace {i}", "organizationId": 1, "isDefault": i == 1}
            for i in range(1, workspaces + 1)
        ]
        super().__init__(**kwargs)
        self.tokens = TokenRegistry(self.clock, real_lifetime, prefix="dastra_at")

    def setup_routes(self) -> None:
        self.route("POST", "/connect/token", self.token)
        self.route("GET", "/v1/workspaces", self.list_workspaces)

    def token(self, request: Request) -> Response:
        if request.basic_auth() != (self.public_key, self.private_key):
            return oauth_error("invalid_client")
        form = request.form()
        if form.get("grant_type") != "client_credentials":
            return oauth_error("unsupported_grant_type")
        scope = form.get("scope") or "api1"
        if set(scope.split()) - {"api1"}:
            return oauth_error("invalid_scope")
        access = self.tokens.issue(self.public_key, scope=scope)
        return Response.json(
            {"access_token": access, "expires_in": self.declared_lifetime, "token_type": "Bearer", "scope": scope},
            headers={"Cache-Control": "no-store"},
        )

    def _authorized(self, request: Request) -> Response | None:
        if request.header("x-api-key") == self.private_key:
            return None
        return bearer_refusal(request, self.tokens.check)

    def list_workspaces(self, request: Request) -> Response:
        denied = self._authorized(request)
        if denied:
            return denied
        return Response.json({"items": self.workspaces, "total": len(self.workspaces)})

    def describe(self) -> dict[str, Any]:
        return {
            "system": "Dastra",
            "url": self.url,
            "credentials": {"public key (login)": self.public_key, "private key (password)": self.private_key},
            "connection": {
                "conn_type": "authapi_oauth2",
                "host": self.url,
                "login": self.public_key,
                "password": self.private_key,
                "extra": {"profile": "dastra", "login_url": "/connect/token"},
            },
        }
