"""Microsoft Entra ID client credentials with a certificate, and a Microsoft Graph `/v1.0/users` that checks tokens.

As documented by Microsoft ("Microsoft identity platform application authentication certificate credentials",
"OAuth 2.0 client credentials flow", Graph "List users" and paging), on one local host:

- `POST /{tenant}/oauth2/v2.0/token` (real host `login.microsoftonline.com`): `grant_type=client_credentials`,
  `client_id`, `scope=https://graph.microsoft.com/.default` and a client assertion
  (`client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, `client_assertion=<JWT>`)
  signed RS256 with the key of the certificate registered on the app, its `x5t#S256` header the certificate's
  SHA-256 thumbprint (required and matching), `iss` = `sub` = the client id, `aud` the token URL of the tenant.
  An unknown tenant answers 400 (`AADSTS90002`), a scope without `/.default` `invalid_scope` (`AADSTS1002012`),
  a client secret or a bad assertion `invalid_client` (the app has only its certificate).
  Answer: `{token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599, access_token}`.
- `GET /v1.0/users?$select=...&$top=N` (real host `graph.microsoft.com`): `{"@odata.context", "value": [...],
  "@odata.nextLink"}`, the next link absolute with a `$skiptoken`, while users remain; `$top` 1 to 999 (default
  100). A missing or dead token: 401 `InvalidAuthenticationToken`.

The app's key pair and certificate are made at start (`key`, `certificate`); none is committed.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import urlencode

from tests.emulators.base import Request, Response
from tests.emulators.jwt_oauth2 import JwtOAuth2Server, certificate_pem, new_key
from tests.emulators.tokens import oauth_error

GRAPH_DEFAULT = "https://graph.microsoft.com/.default"
TOKEN_ROUTE = r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token"
USERS_ROUTE = r"/v1.0/users"
USER_FIELDS = ("id", "displayName", "mail", "userPrincipalName", "jobTitle", "accountEnabled")
DEFAULT_TOP, MAX_TOP = 100, 999


def _graph_error(status: int, code: str, message: str) -> Response:
    return Response.json({"error": {"code": code, "message": message}}, status=status)


class EntraEmulator(JwtOAuth2Server):
    token_paths = (TOKEN_ROUTE,)

    def __init__(
        self,
        tenant_id: str = "7c2f8e4a-1b3d-4e5f-9a6b-0c1d2e3f4a5b",
        client_id: str = "0f1e2d3c-4b5a-6978-8a9b-acbdcedfe0f1",
        *,
        users: int = 25,
        **kwargs: Any,
    ) -> None:
        super().__init__(client_id=client_id, client_secret="", scopes=(GRAPH_DEFAULT,), access_lifetime=3599, **kwargs)
        self.tenant_id = tenant_id
        self.key = new_key("RS256")
        self.certificate = certificate_pem(self.key, "airflow-graph-reader")
        self.register_client_key(self.key, self.certificate)
        self.users = [
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"user-{i}")),
                "displayName": f"User {i:02d}",
                "mail": f"user{i:02d}@acme.example",
                "userPrincipalName": f"user{i:02d}@acme.onmicrosoft.com",
                "jobTitle": ("Engineer", "Analyst", "Manager")[i % 3],
                "accountEnabled": i % 7 != 0,
            }
            for i in range(1, users + 1)
        ]

    def setup_routes(self) -> None:
        self.route("POST", TOKEN_ROUTE, self.tenant_token)
        self.route("GET", USERS_ROUTE, self.list_users)

    @property
    def token_url(self) -> str:
        return f"{self.url}/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def pages(self) -> int:
        return self.count("GET", USERS_ROUTE)

    def tenant_token(self, request: Request) -> Response:
        assert request.match is not None
        if request.match["tenant"] != self.tenant_id:
            tenant = request.match["tenant"]
            return oauth_error("invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
        scope = request.form().get("scope", "")
        if request.form().get("grant_type") == "client_credentials" and (
            len(scope.split()) != 1 or not scope.endswith("/.default")
        ):
            return oauth_error(
                "invalid_scope",
                f"AADSTS1002012: The provided value for scope {scope} is not valid. Client credential flows must "
                "have a scope value with /.default suffixed to the resource identifier (application ID URI).",
            )
        return self.token(request)

    def _tokens(self, subject: str, scope: str, *, refresh: bool) -> Response:
        access = self.access.issue(subject, scope=scope)
        body = {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": access}
        return Response.json(body, headers={"Cache-Control": "no-store"})

    def list_users(self, request: Request) -> Response:
        token = request.bearer()
        if not token:
            return _graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        grant = self.access.check(token)
        if grant is None or grant.scope != GRAPH_DEFAULT:
            return _graph_error(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
        try:
            top = int(request.query.get("$top", DEFAULT_TOP))
            offset = int(base64.urlsafe_b64decode(request.query.get("$skiptoken", "MA==")).decode())
        except ValueError:
            return _graph_error(400, "BadRequest", "Invalid $top or $skiptoken.")
        if not 1 <= top <= MAX_TOP:
            return _graph_error(400, "Request_UnsupportedQuery", f"Invalid page size specified: '{top}'.")
        select = [name for name in request.query.get("$select", "").split(",") if name] or list(USER_FIELDS)
        unknown = sorted(set(select) - set(USER_FIELDS))
        if unknown:
            return _graph_error(400, "Request_BadRequest", f"Could not find a property named '{unknown[0]}'.")
        page = [{name: user[name] for name in select} for user in self.users[offset : offset + top]]
        body: dict[str, Any] = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users({','.join(select)})",
            "value": page,
        }
        if offset + top < len(self.users):
            skiptoken = base64.urlsafe_b64encode(str(offset + top).encode()).decode()
            query: dict[str, Any] = {"$top": top, "$skiptoken": skiptoken}
            if "$select" in request.query:
                query["$select"] = ",".join(select)
            body["@odata.nextLink"] = f"{self.url}{USERS_ROUTE}?{urlencode(query)}"
        return Response.json(body)

    def describe(self) -> dict[str, Any]:
        return {
            "system": "Microsoft Entra ID (Graph)",
            "url": self.url,
            "credentials": {"tenant": self.tenant_id, "client id (login)": self.client_id},
            "connection": {
                "conn_type": "authapi_oauth2",
                "host": self.url,
                "login": self.client_id,
                "extra": {
                    "profile": "entra_id",
                    "tenant_id": self.tenant_id,
                    "login_url": f"{self.url}/{{tenant}}/oauth2/v2.0/token",
                    "assertion_private_key": self.key.pem,
                    "assertion_cert_pem": self.certificate,
                },
            },
        }
