"""NetSuite: SuiteTalk REST web services with token-based authentication (TBA, OAuth 1.0a).

As documented by Oracle NetSuite ("Token-based Authentication and REST Web Services", "The Authorization Header
for REST Web Services", "Collection Paging", "Executing SuiteQL Queries Through REST Web Services"), on one local
host (real: `https://<account id, lower case, _ as ->.suitetalk.api.netsuite.com`):

- No token endpoint: an integration record's consumer key and secret and a user's token ID and secret (64 hex
  characters each) sign every request: `Authorization: OAuth realm="<account id>", oauth_consumer_key="...",
  oauth_token="<token id>", oauth_signature_method="HMAC-SHA256", oauth_timestamp="...", oauth_nonce="...",
  oauth_version="1.0", oauth_signature="..."`. The emulator verifies it as NetSuite does, with oauthlib's own
  server-side functions: the base string of the method, this host's URL, the query and a form-encoded body's
  parameters and the `oauth_` ones (the realm and the signature left out), HMAC-SHA256 keyed by
  `<consumer secret>&<token secret>`. Refused with 401 and NetSuite's body (`o:errorCode` `INVALID_LOGIN_ATTEMPT`,
  "Invalid login attempt."): a realm other than the account ID (upper case, `_SB1` for a sandbox), HMAC-SHA1
  (refused since 2023.1) or any other method, an unknown consumer key or token, a timestamp more than 5 minutes off
  the server's clock (movable: `advance`), a nonce used before with the same consumer key and token, a signature
  that does not match. Why each was refused is kept in `refusals`; the `oauth_` parameters of each accepted
  request in `accepted` (no secret among them).
- `GET /services/rest/record/v1/customer?limit=&offset=`: `{"links": [...], "count", "hasMore", "items": [{"links",
  "id"}], "offset", "totalResults"}`: the ids only, `limit` 1 to 1000 (default 1000), `offset` from 0; anything
  else 400 `INVALID_PARAMETER`. `GET /services/rest/record/v1/customer/{id}`: the record.
- `POST /services/rest/query/v1/suiteql?limit=&offset=` with `Prefer: transient` and a JSON body `{"q": "SELECT
  ... FROM customer ..."}` (the body is not signed): the customers as SuiteQL rows (lower-case column names), the
  same page shape. Only `FROM customer` is known here.
- `GET|POST /app/site/hosting/restlet.nl?script=&deploy=` (a RESTlet; real host `<account>.restlets.api...`):
  echoes the query, the form or JSON body it got, after the same signature check.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlencode

from oauthlib.oauth1.rfc5849 import signature, utils

from tests.emulators.base import Request, Response
from tests.emulators.tokens import TokenApi

CUSTOMERS_ROUTE = r"/services/rest/record/v1/customer"
CUSTOMER_ROUTE = r"/services/rest/record/v1/customer/(?P<id>\d+)"
SUITEQL_ROUTE = r"/services/rest/query/v1/suiteql"
RESTLET_ROUTE = r"/app/site/hosting/restlet.nl"
TIMESTAMP_WINDOW = 300  # seconds an oauth_timestamp may lie off the server's clock
DEFAULT_LIMIT, MAX_LIMIT = 1000, 1000
INVALID_LOGIN = "Invalid login attempt."
AUDIT_TRAIL = (
    " For more details, see the Login Audit Trail in the NetSuite UI at Setup > Users/Roles > User Management > "
    "View Login Audit Trail."
)
FORM = "application/x-www-form-urlencoded"
SUITEQL_FROM = re.compile(r"\bfrom\s+customer\b", re.IGNORECASE)


def hex64(label: str) -> str:
    """A fixed 64-hex-character credential, as NetSuite issues them."""
    return hashlib.sha256(f"netsuite emulator {label}".encode()).hexdigest()


def netsuite_error(status: int, title: str, detail: str, code: str, headers: dict[str, str] | None = None) -> Response:
    """NetSuite's REST error body (RFC 9457 style, `o:errorDetails`)."""
    body = {
        "type": f"https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.{status - 399}",
        "title": title,
        "status": status,
        "o:errorDetails": [{"detail": detail, "o:errorCode": code}],
    }
    return Response.json(body, status=status, headers={"Content-Type": "application/vnd.oracle.resource+json; "
                                                       "type=error", **(headers or {})})  # fmt: skip


class NetSuiteEmulator(TokenApi):
    """One NetSuite account (`account_id`) with one integration record and one access token."""

    def __init__(
        self,
        account_id: str = "1234567_SB1",
        *,
        consumer_key: str | None = None,
        consumer_secret: str | None = None,
        token_id: str | None = None,
        token_secret: str | None = None,
        customers: int = 230,
        **kwargs: Any,
    ) -> None:
        self.account_id = account_id
        self.consumer_key = consumer_key or hex64("consumer key")
        self.consumer_secret = consumer_secret or hex64("consumer secret")
        self.token_id = token_id or hex64("token id")
        self.token_secret = token_secret or hex64("token secret")
        self._seen_lock = threading.Lock()
        self.nonces: set[tuple[str, str, str]] = set()  # (consumer key, token, nonce) used
        self.accepted: list[dict[str, str]] = []  # the oauth_ parameters of every request let through
        self.refusals: list[str] = []  # why each other was refused
        self.customers = [self.customer(n) for n in range(1, customers + 1)]
        super().__init__(**kwargs)

    @staticmethod
    def customer(n: int) -> dict[str, Any]:
        return {
            "id": str(100 + n * 3),  # internal ids: increasing, not contiguous
            "entityId": f"CUST{n:05d}",
            "companyName": f"Customer {n:03d} Ltd",
            "email": f"ap{n:03d}@customer{n:03d}.example",
            "isInactive": n % 17 == 0,
            "dateCreated": f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}T09:00:00Z",
            "subsidiary": {"id": str(1 + n % 3), "refName": f"Subsidiary {1 + n % 3}"},
        }

    def setup_routes(self) -> None:
        self.route("GET", CUSTOMERS_ROUTE, self.list_customers)
        self.route("GET", CUSTOMER_ROUTE, self.get_customer)
        self.route("POST", SUITEQL_ROUTE, self.suiteql)
        self.route("GET", RESTLET_ROUTE, self.restlet)
        self.route("POST", RESTLET_ROUTE, self.restlet)

    @property
    def pages(self) -> int:
        """Customer list pages served (refused requests included)."""
        return self.count("GET", CUSTOMERS_ROUTE)

    # -- token-based authentication ----------------------------------------------------------------------------

    def authenticate(self, request: Request) -> Response | None:
        """None when the request's OAuth 1.0a header is one NetSuite accepts; else its 401."""
        header = request.header("authorization") or ""
        try:
            given = dict(utils.parse_authorization_header(header))
        except ValueError:
            return self._refuse("no OAuth authorization header")
        oauth = {name: utils.unescape(value) for name, value in given.items()}
        if oauth.get("realm") != self.account_id:
            return self._refuse(f"realm {oauth.get('realm')!r}, not the account id")
        method = oauth.get("oauth_signature_method")
        if method != "HMAC-SHA256":
            return self._refuse(f"signature method {method!r}")  # HMAC-SHA1 included, since 2023.1
        if oauth.get("oauth_version", "1.0") != "1.0":
            return self._refuse(f"oauth_version {oauth.get('oauth_version')!r}")
        if oauth.get("oauth_consumer_key") != self.consumer_key:
            return self._refuse("unknown consumer key")
        if oauth.get("oauth_token") != self.token_id:
            return self._refuse("unknown token")
        stamp, nonce = oauth.get("oauth_timestamp", ""), oauth.get("oauth_nonce", "")
        now = self.clock.now()
        if not stamp.isdigit() or abs(int(stamp) - now) > TIMESTAMP_WINDOW:
            return self._refuse(f"timestamp {stamp!r}, now {now:.0f}")
        if not nonce:
            return self._refuse("no nonce")
        if not self._signature_matches(request, header, oauth.get("oauth_signature", "")):
            return self._refuse("signature does not match")
        key = (self.consumer_key, self.token_id, nonce)
        with self._seen_lock:
            if key in self.nonces:
                self.refusals.append(f"nonce {nonce!r} used before")
                return self._invalid_login()
            self.nonces.add(key)
            self.accepted.append({name: value for name, value in oauth.items() if name != "oauth_signature"})
        return None

    def _signature_matches(self, request: Request, header: str, given: str) -> bool:
        """oauthlib's server-side check: the parameters collected from the query, the header and a form body."""
        form = (request.header("content-type") or "").partition(";")[0].strip().lower() == FORM
        body = request.body.decode() if form and request.body else None
        params = signature.collect_parameters(uri_query=request.raw_query, body=body, headers={"Authorization": header})
        signed = SimpleNamespace(params=params, uri=f"{self.url}{request.path}", http_method=request.method,
                                 signature=given)  # fmt: skip
        return bool(given) and signature.verify_hmac_sha256(signed, self.consumer_secret, self.token_secret)

    def _refuse(self, why: str) -> Response:
        with self._seen_lock:
            self.refusals.append(why)
        return self._invalid_login()

    def _invalid_login(self) -> Response:
        return netsuite_error(401, "Unauthorized", INVALID_LOGIN + AUDIT_TRAIL, "INVALID_LOGIN_ATTEMPT",
                              {"WWW-Authenticate": f'OAuth realm="{self.account_id}"'})  # fmt: skip

    # -- REST web services --------------------------------------------------------------------------------------

    def _page(self, request: Request) -> tuple[int, int] | Response:
        try:
            limit = int(request.query.get("limit", DEFAULT_LIMIT))
            offset = int(request.query.get("offset", 0))
        except ValueError:
            limit = offset = -1
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            detail = f"Invalid query parameter: limit must be 1 to {MAX_LIMIT}, offset 0 or more."
            return netsuite_error(400, "Bad Request", detail, "INVALID_PARAMETER")
        return limit, offset

    def _listing(self, request: Request, rows: list[dict[str, Any]], limit: int, offset: int) -> Response:
        page = rows[offset : offset + limit]
        has_more = offset + limit < len(rows)

        def link(rel: str, at: int) -> dict[str, str]:
            query = urlencode({**request.query, "limit": limit, "offset": at})
            return {"rel": rel, "href": f"{self.url}{request.path}?{query}"}

        links = [link("self", offset)]
        if has_more:
            links += [link("next", offset + limit), link("last", (len(rows) - 1) // limit * limit)]
        if offset:
            links += [link("first", 0), link("prev", max(0, offset - limit))]
        body = {
            "links": links,
            "count": len(page),
            "hasMore": has_more,
            "items": page,
            "offset": offset,
            "totalResults": len(rows),
        }
        return Response.json(body, headers={"Content-Type": "application/vnd.oracle.resource+json; type=collection"})

    def list_customers(self, request: Request) -> Response:
        refused = self.authenticate(request)
        if refused:
            return refused
        paging = self._page(request)
        if isinstance(paging, Response):
            return paging
        items = [
            {"links": [{"rel": "self", "href": f"{self.url}{CUSTOMERS_ROUTE}/{c['id']}"}], "id": c["id"]}
            for c in self.customers
        ]
        return self._listing(request, items, *paging)

    def get_customer(self, request: Request) -> Response:
        refused = self.authenticate(request)
        if refused:
            return refused
        assert request.match is not None
        found = next((c for c in self.customers if c["id"] == request.match["id"]), None)
        if found is None:
            detail = f"The record instance does not exist. Provide a valid record instance ID: {request.match['id']}."
            return netsuite_error(404, "Record Not Found", detail, "NONEXISTENT_ID")
        self_link = {"rel": "self", "href": f"{self.url}{request.path}"}
        return Response.json({"links": [self_link], **found})

    def suiteql(self, request: Request) -> Response:
        refused = self.authenticate(request)
        if refused:
            return refused
        if (request.header("prefer") or "").strip().lower() != "transient":
            detail = "The request must contain the header 'Prefer: transient'."
            return netsuite_error(400, "Bad Request", detail, "INVALID_HEADER")
        try:
            query = request.json().get("q", "")
        except (ValueError, AttributeError):
            query = ""
        if not isinstance(query, str) or not SUITEQL_FROM.search(query):
            detail = "Invalid search query. Detailed unprocessed description follows. Unknown identifier."
            return netsuite_error(400, "Bad Request", detail, "INVALID_PARAMETER")
        paging = self._page(request)
        if isinstance(paging, Response):
            return paging
        rows = [
            {
                "links": [],
                "id": c["id"],
                "entityid": c["entityId"],
                "companyname": c["companyName"],
                "email": c["email"],
                "isinactive": "T" if c["isInactive"] else "F",
            }
            for c in self.customers
        ]
        return self._listing(request, rows, *paging)

    def restlet(self, request: Request) -> Response:
        refused = self.authenticate(request)
        if refused:
            return refused
        content_type = (request.header("content-type") or "").partition(";")[0].strip().lower()
        body: Any = None
        if content_type == FORM:
            body = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        elif request.body:
            body = json.loads(request.body)
        return Response.json({"query": request.query, "body": body, "signed": self.accepted[-1]})

    def describe(self) -> dict[str, Any]:
        return {
            "system": "NetSuite (token-based authentication)",
            "url": self.url,
            "credentials": {
                "account ID (realm)": self.account_id,
                "consumer key (login)": self.consumer_key,
                "consumer secret (password)": self.consumer_secret,
                "token ID": self.token_id,
                "token secret": self.token_secret,
            },
            "connection": {
                "conn_type": "authapi_oauth1",
                "host": self.url,
                "login": self.consumer_key,
                "password": self.consumer_secret,
                "extra": {
                    "profile": "netsuite",
                    "realm": self.account_id,
                    "token_id": self.token_id,
                    "token_secret": self.token_secret,
                },
            },
        }
