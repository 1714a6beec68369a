"""Aspire External API: a JSON login with client id and secret, a JWT that lives 24 hours, a rotating refresh token.

As documented at https://guide.youraspire.com/apidocs/authentication-1:

- `POST /Authorization` with JSON `{"ClientId": ..., "Secret": ...}` -> `{"Token": <JWT>, "RefreshToken": ...}`.
  No expiry field: the token is a JWT whose `exp` says when it dies (24 hours on, rolling).
- `POST /Authorization/RefreshToken` with JSON `{"RefreshToken": ...}` -> a new Token and RefreshToken; the
  refresh token used is dead afterwards.
- Data endpoints with `Authorization: Bearer <JWT>` and OData-style paging, answering a JSON array:
  `GET /Properties?$top=N&$skip=M`, `GET /Contacts?$top=N&$skip=M`. A missing or dead token gets 401 with a
  `WWW-Authenticate: Bearer` challenge.

`logins` and `refreshes` count the two token endpoints apart.
"""

from __future__ import annotations

from typing import Any

from tests.emulators.base import Request, Response
from tests.emulators.tokens import JwtIssuer, TokenApi, TokenRegistry, bearer_refusal, form_or_json

DAY = 24 * 3600
MAX_TOP = 500


class AspireEmulator(TokenApi):
    token_paths = ("/Authorization", "/Authorization/RefreshToken")

    def __init__(
        self,
        client_id: str = "aspire-client-1",
        secret: str = "aspire-secret-0123456789",
        *,
        properties: int = 57,
        token_lifetime: float = DAY,
        **kwargs: Any,
    ) -> None:
        self.client_id, self.secret = client_id, secret
        super().__init__(**kwargs)
        self.jwts = JwtIssuer(self.clock, token_lifetime, issuer="aspire")
        self.refresh_tokens = TokenRegistry(self.clock, 30 * DAY, prefix="aspire_rt", rotating=True)
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
        self.route("POST", "/Authorization", self.authorize)
        self.route("POST", "/Authorization/RefreshToken", self.refresh)
        self.route("GET", "/Properties", lambda request: self.page(request, self.properties))
        self.route("GET", "/Contacts", lambda request: self.page(request, self.contacts))

    @property
    def logins(self) -> int:
        return self.count("POST", "/Authorization")

    @property
    def refreshes(self) -> int:
        return self.count("POST", "/Authorization/RefreshToken")

    def authorize(self, request: Request) -> Response:
        body = form_or_json(request)
        if (body.get("ClientId"), body.get("Secret")) != (self.client_id, self.secret):
            return Response.json({"Message": "Invalid ClientId or Secret."}, status=401)
        return self._tokens(self.client_id)

    def refresh(self, request: Request) -> Response:
        grant = self.refresh_tokens.redeem(form_or_json(request).get("RefreshToken"))
        if grant is None:
            return Response.json({"Message": "Invalid or expired refresh token."}, status=401)
        return self._tokens(grant.subject)

    def _tokens(self, subject: str) -> Response:
        return Response.json(
            {"Token": self.jwts.issue(subject, ClientId=subject), "RefreshToken": self.refresh_tokens.issue(subject)}
        )

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
