"""Salesforce: the OAuth 2.0 JWT bearer flow at the login host, the REST API at the org's own host.

As documented by Salesforce ("OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration", "Query" in the REST
API Developer Guide), on two local hosts:

- `POST /services/oauth2/token` (the login host, real `login.salesforce.com`, sandboxes `test.salesforce.com`):
  `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`, the JWT signed RS256 with the key of
  the certificate uploaded to the connected app; `iss` the app's consumer key, `sub` a user who may use the app,
  `aud` the login host itself (`https://login.salesforce.com`, not the token URL), `exp` at most 3 minutes ahead.
  Anything else: 400 `invalid_grant`. The answer has no `expires_in` and no refresh token:
  `{access_token, scope, instance_url, id, token_type, issued_at}`; the session lives the org's session timeout
  (2 h by default), and `instance_url` names the org's host, where every API call goes.
- `GET /services/data/v60.0/query?q=SELECT ... FROM Account` (the instance host only, `SalesforceInstance`):
  `{totalSize, done, records: [{attributes: {type, url}, ...fields}], nextRecordsUrl}`, `nextRecordsUrl`
  (relative, `/services/data/v60.0/query/01g...-200`) while records remain; the batch size comes from
  `Sforce-Query-Options: batchSize=N` (200 to 2000, default 2000). A bad query answers 400
  `[{"message", "errorCode": "MALFORMED_QUERY" | "INVALID_TYPE" | "INVALID_FIELD"}]`, a dead or missing session
  401 `[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]`.
- `GET /services/data/v60.0/limits`: a cheap call for a connection test.

The connected app's key pair and certificate are made at start (`key`, `certificate`); none is committed.
"""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

from tests.emulators.base import Emulator, Request, Response
from tests.emulators.jwt_oauth2 import JWT_BEARER, JwtOAuth2Server, certificate_pem, new_key
from tests.emulators.tokens import TokenRegistry, oauth_error

LOGIN_HOST = "https://login.salesforce.com"
TOKEN_PATH = "/services/oauth2/token"
API_VERSION = "v60.0"
ORG_ID, USER_ID = "00D5g00000ACME1", "0055g00000USER1"
INDUSTRIES = ("Technology", "Banking", "Retail", "Energy", "Healthcare")
SOQL = re.compile(r"\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)\s*(?:ORDER\s+BY\s+(?P<order>\w+)\s*)?", re.I)
BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.I)
DEFAULT_BATCH, MIN_BATCH, MAX_BATCH = 2000, 200, 2000
DATA = rf"/services/data/{re.escape(API_VERSION)}"
QUERY_ROUTE, MORE_ROUTE = rf"{DATA}/query", rf"{DATA}/query/(?P<locator>01g\w+)-(?P<offset>\d+)"


def _api_error(status: int, code: str, message: str) -> Response:
    return Response.json([{"message": message, "errorCode": code}], status=status)


class SalesforceInstance(Emulator):
    """The org's host (`https://<MyDomain>.my.salesforce.com`): the REST API, for sessions the login host issued."""

    def __init__(self, login: SalesforceEmulator, **kwargs: Any) -> None:
        self.login = login
        self.locators: dict[str, tuple[list[dict[str, Any]], int]] = {}  # query locator -> (records, batch size)
        self._next_locator = itertools.count(1)
        super().__init__(**kwargs)

    def setup_routes(self) -> None:
        self.route("GET", QUERY_ROUTE, self.query)
        self.route("GET", MORE_ROUTE, self.more)
        self.route("GET", rf"{DATA}/limits", self.limits)

    @property
    def pages(self) -> int:
        """Query result pages served: first pages and `nextRecordsUrl` pages."""
        return self.count("GET", QUERY_ROUTE) + self.count("GET", MORE_ROUTE)

    def _session_refusal(self, request: Request) -> Response | None:
        if self.login.access.check(request.bearer()) is None:
            return _api_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return None

    def query(self, request: Request) -> Response:
        refused = self._session_refusal(request)
        if refused:
            return refused
        match = SOQL.fullmatch(request.query.get("q", ""))
        if not match:
            return _api_error(400, "MALFORMED_QUERY", "unexpected token: the query is not SELECT ... FROM ...")
        if match["object"].lower() != "account":
            return _api_error(400, "INVALID_TYPE", f"sObject type '{match['object']}' is not supported.")
        known = {name.lower(): name for name in self.login.accounts[0]}
        fields = [name.strip() for name in match["fields"].split(",")]
        unknown = [name for name in fields if name.lower() not in known]
        if unknown:
            return _api_error(400, "INVALID_FIELD", f"No such column '{unknown[0]}' on entity 'Account'.")
        batch = DEFAULT_BATCH
        if found := BATCH.search(request.header("sforce-query-options") or ""):
            batch = min(max(int(found[1]), MIN_BATCH), MAX_BATCH)
        rows = self.login.accounts
        if match["order"]:
            order = known.get(match["order"].lower())
            if order is None:
                return _api_error(400, "INVALID_FIELD", f"No such column '{match['order']}' on entity 'Account'.")
            rows = sorted(rows, key=lambda row: row[order])
        records = [self._record(row, [known[name.lower()] for name in fields]) for row in rows]
        locator = f"01gACME{next(self._next_locator):08d}"
        with self.lock:
            self.locators[locator] = (records, batch)
        return self._page(locator, 0)

    def more(self, request: Request) -> Response:
        refused = self._session_refusal(request)
        if refused:
            return refused
        assert request.match is not None
        if request.match["locator"] not in self.locators:
            return _api_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(request.match["locator"], int(request.match["offset"]))

    def limits(self, request: Request) -> Response:
        refused = self._session_refusal(request)
        if refused:
            return refused
        return Response.json({"DailyApiRequests": {"Max": 15000, "Remaining": 14990}})

    def _page(self, locator: str, offset: int) -> Response:
        records, batch = self.locators[locator]
        page = records[offset : offset + batch]
        done = offset + batch >= len(records)
        body: dict[str, Any] = {"totalSize": len(records), "done": done, "records": page}
        if not done:
            body["nextRecordsUrl"] = f"/services/data/{API_VERSION}/query/{locator}-{offset + batch}"
        return Response.json(body)

    @staticmethod
    def _record(row: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        url = f"/services/data/{API_VERSION}/sobjects/Account/{row['Id']}"
        return {"attributes": {"type": "Account", "url": url}, **{name: row[name] for name in fields}}


class SalesforceEmulator(JwtOAuth2Server):
    """The login host (a JWT bearer grant server) and, started and stopped with it, the org's `instance`."""

    token_paths = (TOKEN_PATH,)

    def __init__(
        self,
        consumer_key: str = "3MVG9AcmeConsumerKey.0123456789",
        user: str = "integration@acme.example",
        *,
        accounts: int = 450,
        session_timeout: float = 2 * 3600,
        login_host: str = LOGIN_HOST,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            client_id=consumer_key,
            client_secret="",
            assertion_audience=login_host,
            max_assertion_lifetime=180,
            access_lifetime=session_timeout,
            scopes=("api", "web", "refresh_token"),
            **kwargs,
        )
        self.consumer_key, self.user = consumer_key, user
        self.access = TokenRegistry(self.clock, session_timeout, prefix=f"{ORG_ID}!AQ")
        self.key = new_key("RS256")
        self.certificate = certificate_pem(self.key, "salesforce-connected-app")
        self.register_issuer(consumer_key, self.key, subjects=(user,))
        self.accounts = [
            {
                "Id": f"0015g{i:010d}",
                "Name": f"Account {i:03d}",
                "Industry": INDUSTRIES[i % len(INDUSTRIES)],
                "AnnualRevenue": i * 10000,
            }
            for i in range(1, accounts + 1)
        ]
        self.instance = SalesforceInstance(self)

    def setup_routes(self) -> None:
        self.route("POST", TOKEN_PATH, self.token)

    def start(self) -> SalesforceEmulator:
        self.instance.start()
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        self.instance.stop()

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    def token(self, request: Request) -> Response:
        if request.form().get("grant_type") != JWT_BEARER:
            return oauth_error("unsupported_grant_type", "grant type not supported")
        return super().token(request)

    def _tokens(self, subject: str, scope: str, *, refresh: bool) -> Response:
        """Salesforce's answer: no `expires_in`, no refresh token; the org's host in `instance_url`."""
        body = {
            "access_token": self.access.issue(subject, scope="api"),
            "scope": "api",
            "instance_url": self.instance.url,
            "id": f"{self.url}/id/{ORG_ID}/{USER_ID}",
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
        }
        return Response.json(body, headers={"Cache-Control": "no-store"})

    def describe(self) -> dict[str, Any]:
        return {
            "system": "Salesforce",
            "url": self.url,
            "instance_url": self.instance.url,
            "credentials": {
                "consumer key (login)": self.consumer_key,
                "user name (assertion_subject)": self.user,
                "connected app certificate": self.certificate,
            },
            "connection": {
                "conn_type": "authapi_oauth2",
                "login": self.consumer_key,
                "extra": {
                    "profile": "salesforce",
                    "login_url": self.token_url,
                    "assertion_subject": self.user,
                    "assertion_private_key": self.key.pem,
                },
            },
        }
