"""Aspire External API: a JSON login with client id and secret, a JWT that lives 24 hours, a rotating refresh token.

As documented at https://guide.youraspire.com/apidocs/authentication-1:

- `POST /Authorization` with JSON `{"ClientId": ..., "Secret": ...}` -> `{"Token": <JWT>, "RefreshToken": ...}`.
  No expiry field: the token is a JWT whose `exp` says when it dies (24 hours on, rolling).
- `POST /Authorization/RefreshToken` with JSON `{"RefreshToken": ...}` -> a new Token and RefreshToken; the
  refresh token used is dead afterwards.
- Data endpoints with `Authorization: Bearer <JWT>` and OData-style paging, answering a JSON array:
  `GET /Properties?$top=N&$skip=M`, `GET /Contacts?$top=N&$skip=M`. A missing or dead token gets 401 with a
  `WWW-Authenticate: Bearer` challenge.

The login itself is the shared `LoginServer`'s; `logins` and `refreshes` count the two endpoints apart.
"""

from __future__ import annotations

from typing import Any

from tests.emulators.base import Request, Response
from tests.emulators.oauth2_server import LoginServer
from tests.emulators.tokens import bearer_refusal

DAY = 24 * 3600
MAX_TOP = 500


class AspireEmulator(LoginServer):
    login_path, refresh_path = "/Authorization", "/Authorization/RefreshToken"
    token_paths = (login_path, refresh_path)
    refused_login = "Invalid ClientId or Secret."
    refused_refresh = "Invalid or expired refresh token."
    issuer = "aspire"
    refresh_lifetime = 30 * DAY

    def __init__(
        self,
        client_id: str = "aspire-client-1",
        secret: str = "aspire-secret-0123456789",
        *,
        properties: int = 57,
        token_lifetime: float = DAY,
        **kwargs: Any,
    ) -> None:
        super().__init__(client_id, secret, lifetime=token_lifetime, **kwargs)
        branches = ("North", "South", "East")
        self.properties = [
            {
                "PropertyID": i,
                "PropertyName": f"Property {i}",
                "BranchName": branches[i % 3],
                "PropertyStatusName": "Active" if i % 5 else "Inactive",
                "Acres": round(0.5 + i * 0.25, 2),
            }
            for i in range(1, properties + 1)
        ]
        self.contacts = [{"ContactID": i, "FirstName": f"Contact{i}", "PropertyID": i} for i in range(1, 11)]

    def setup_routes(self) -> None:
        self.login_routes()
        self.route("GET", "/Properties", lambda request: self.page(request, self.properties))
        self.route("GET", "/Contacts", lambda request: self.page(request, self.contacts))

    def page(self, request: Request, rows: list[dict[str, Any]]) -> Response:
        refused = bearer_refusal(request, self.jwts.check)
        if refused:
            return refused
        try:
            top = int(request.query.get("$top", MAX_TOP))
            skip = int(request.query.get("$skip", 0))
        except ValueError:
            return Response.json({"Message": "$top and $skip must be integers."}, status=400)
        if not 0 < top <= MAX_TOP or skip < 0:
            return Response.json({"Message": f"$top must be 1..{MAX_TOP} and $skip >= 0."}, status=400)
        return Response.json(rows[skip : skip + top])

    def describe(self) -> dict[str, Any]:
        return {
            "system": "Aspire External API",
            "url": self.url,
            "credentials": {"ClientId (login)": self.client_id, "Secret (password)": self.secret},
            "connection": {
                "conn_type": "authapi_token",
                "host": self.url,
                "login": self.client_id,
                "password": self.secret,
                "extra": {"profile": "aspire"},
            },
        }
