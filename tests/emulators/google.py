"""Google APIs with a service account: the JWT bearer grant at `token_uri`, the Sheets API checking its tokens.

As documented by Google ("Using OAuth 2.0 for Server to Server Applications", Sheets API v4
`spreadsheets.values.get`), on one local host:

- `POST /token` (the key file's `token_uri`, real `https://oauth2.googleapis.com/token`):
  `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`, the JWT signed RS256 with the
  service account's private key, `kid` its `private_key_id`, `iss` its `client_email`, `aud` the `token_uri`,
  `exp` at most 1 h ahead, and the scopes in the `scope` claim (required: without it Google issues no access
  token). Anything else: 400 `invalid_grant` (`invalid_scope` for an unknown scope).
  Answer: `{access_token: "ya29...", expires_in: 3599, token_type: "Bearer"}`, no refresh token.
- `GET /v4/spreadsheets/{id}/values/{range}` (real host `sheets.googleapis.com`): the rows of an A1 range
  (`Orders`, `Orders!A1:D`, `Orders!A2:B10`) as `{range, majorDimension: "ROWS", values}`, values formatted as
  strings unless `valueRenderOption=UNFORMATTED_VALUE`. A missing or dead token: 401 `UNAUTHENTICATED`; a token
  without a Sheets or Drive scope: 403 `PERMISSION_DENIED` (insufficient scopes); a spreadsheet not shared
  with the service account: 403; an unknown spreadsheet 404, an unknown sheet 400.

The service account's key is made at start (`key`, `private_key_id`); none is committed.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any
from urllib.parse import unquote

import jwt

from tests.emulators.base import Request, Response
from tests.emulators.jwt_oauth2 import JwtOAuth2Server, Signer, new_key
from tests.emulators.tokens import TokenRegistry

SHEETS_READONLY = "https://www.googleapis.com/auth/spreadsheets.readonly"
SHEETS = "https://www.googleapis.com/auth/spreadsheets"
DRIVE_READONLY = "https://www.googleapis.com/auth/drive.readonly"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
READS_SHEETS = {SHEETS_READONLY, SHEETS, DRIVE_READONLY, "https://www.googleapis.com/auth/drive"}
SPREADSHEET_ID = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"
VALUES_ROUTE = r"/v4/spreadsheets/(?P<id>[^/]+)/values/(?P<range>[^/]+)"
A1_RANGE = re.compile(r"(?P<sheet>[^!]+)(?:!(?P<c1>[A-Z]+)(?P<r1>\d*)(?::(?P<c2>[A-Z]+)(?P<r2>\d*))?)?")
STATUSES = ("placed", "shipped", "delivered", "returned")


def _google_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response.json({"error": {"code": status, "message": message, "status": code}}, status, headers)


def _column(letters: str) -> int:
    """`A` -> 0, `D` -> 3, `AA` -> 26."""
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number - 1


class GoogleEmulator(JwtOAuth2Server):
    token_paths = ("/token",)

    def __init__(
        self,
        client_email: str = "airflow-reader@authapi-demo.iam.gserviceaccount.com",
        *,
        orders: int = 40,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            client_id="118234567890123456789",
            client_secret="",
            scopes=(SHEETS_READONLY, SHEETS, DRIVE_READONLY, CLOUD_PLATFORM),
            access_lifetime=3599,
            **kwargs,
        )
        self.client_email = client_email
        self.access = TokenRegistry(self.clock, 3599, prefix="ya29")
        self.key = new_key("RS256")
        self.private_key_id = secrets.token_hex(20)
        self.register_issuer(client_email, self.key)
        header = ["Order", "Customer", "Status", "Amount"]
        rows = [[f"SO-{i:04d}", f"Customer {i % 7}", STATUSES[i % 4], round(i * 12.5, 2)] for i in range(1, orders + 1)]
        self.sheets: dict[str, dict[str, list[list[Any]]]] = {SPREADSHEET_ID: {"Orders": [header, *rows]}}
        self.shared_with = {SPREADSHEET_ID: {client_email}}

    def setup_routes(self) -> None:
        self.route("POST", "/token", self.token)
        self.route("GET", VALUES_ROUTE, self.values)

    def service_account_json(self) -> str:
        """The key file Google hands out for the service account (IAM > Service accounts > Keys > JSON)."""
        return json.dumps(
            {
                "type": "service_account",
                "project_id": "authapi-demo",
                "private_key_id": self.private_key_id,
                "private_key": self.key.pem,
                "client_email": self.client_email,
                "client_id": self.client_id,
                "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                "token_uri": self.token_url,
                "universe_domain": "googleapis.com",
            }
        )

    # -- checks Google makes beyond the generic ones -------------------------------------------------------------

    def verify(self, assertion: str | None, signers: dict[str, Signer]) -> dict[str, Any] | None:
        try:
            kid = jwt.get_unverified_header(assertion or "").get("kid")
        except jwt.PyJWTError:
            return self._refuse("not a JWT")
        if kid != self.private_key_id:
            return self._refuse("Invalid JWT Signature: kid is not the private_key_id of a key of this account")
        return super().verify(assertion, signers)

    def _claims_problem(self, claims: dict[str, Any], signer: Signer) -> str | None:
        problem = super()._claims_problem(claims, signer)
        if problem is None and not claims.get("scope"):
            return "Invalid OAuth scope or ID token audience provided: the assertion has no scope claim"
        return problem

    def _tokens(self, subject: str, scope: str, *, refresh: bool) -> Response:
        body = {"access_token": self.access.issue(subject, scope=scope), "expires_in": 3599, "token_type": "Bearer"}
        return Response.json(body, headers={"Cache-Control": "no-store"})

    # -- the Sheets API ------------------------------------------------------------------------------------------

    def values(self, request: Request) -> Response:
        assert request.match is not None
        grant = self.access.check(request.bearer())
        if grant is None:
            challenge = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
            return _google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.", challenge)
        if not set(grant.scope.split()) & READS_SHEETS:
            return _google_error(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.")
        spreadsheet = self.sheets.get(request.match["id"])
        if spreadsheet is None:
            return _google_error(404, "NOT_FOUND", "Requested entity was not found.")
        if grant.subject not in self.shared_with[request.match["id"]]:
            return _google_error(403, "PERMISSION_DENIED", "The caller does not have permission")
        text = unquote(request.match["range"])
        found = A1_RANGE.fullmatch(text)
        if not found or found["sheet"] not in spreadsheet:
            return _google_error(400, "INVALID_ARGUMENT", f"Unable to parse range: {text}")
        rows = spreadsheet[found["sheet"]]
        first_row = int(found["r1"] or 1) - 1
        last_row = len(rows)
        if found["r2"]:
            last_row = int(found["r2"])
        elif found["r1"] and not found["c2"]:  # one cell, e.g. Orders!D2
            last_row = int(found["r1"])
        first_column = _column(found["c1"]) if found["c1"] else 0
        last_column = _column(found["c2"] or found["c1"]) + 1 if found["c1"] else None
        unformatted = request.query.get("valueRenderOption") == "UNFORMATTED_VALUE"
        values = [
            [cell if unformatted else self._formatted(cell) for cell in row[first_column:last_column]]
            for row in rows[first_row:last_row]
        ]
        return Response.json({"range": text, "majorDimension": "ROWS", "values": values})

    @staticmethod
    def _formatted(cell: Any) -> str:
        return f"{cell:.2f}" if isinstance(cell, float) else str(cell)

    def describe(self) -> dict[str, Any]:
        return {
            "system": "Google APIs (service account)",
            "url": self.url,
            "credentials": {"service account": self.client_email, "spreadsheet": SPREADSHEET_ID},
            "connection": {
                "conn_type": "authapi_oauth2",
                "host": self.url,
                "extra": {
                    "profile": "google_service_account",
                    "scopes": SHEETS_READONLY,
                    "service_account_json": self.service_account_json(),
                },
            },
        }
