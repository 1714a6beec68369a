"""QuickBooks Online: authorization code with a consent page, Basic client auth, rotating refresh tokens, realm id.

As documented by Intuit (developer.intuit.com, "OAuth 2.0" and "Query operations"), on one local host:

- `GET /connect/oauth2` (real host `appcenter.intuit.com`): checks `client_id`, `response_type=code`, a scope
  including `com.intuit.quickbooks.accounting`, a registered `redirect_uri` and `state`; PKCE S256 when a
  `code_challenge` comes. Serves a consent page whose Approve / Deny buttons post to `/connect/oauth2/decision`:
  Approve redirects with `code`, `state` and `realmId` (the company id), Deny with `error=access_denied`.
- `POST /oauth2/v1/tokens/bearer` (real host `oauth.platform.intuit.com`): client auth only by HTTP Basic, form
  body, grants `authorization_code` (single-use code, same redirect_uri) and `refresh_token` ->
  `{access_token, token_type: bearer, expires_in: 3600, refresh_token, x_refresh_token_expires_in: 8726400}`.
  Every refresh returns a new refresh token and kills the old one (`invalid_grant`, counted in `invalid_grants`).
- `GET /v3/company/{realmId}/query?query=select * from Customer STARTPOSITION s MAXRESULTS n&minorversion=75`
  (also `POST` with the query as an `application/text` body), with a Bearer token of that company:
  `{"QueryResponse": {"Customer": [...], "startPosition": s, "maxResults": <returned>}, "time": ...}`, the entity
  key left out when nothing comes back. STARTPOSITION is 1-based, MAXRESULTS defaults to 100 and may not exceed
  1000. As QBO does for name-list entities, inactive customers are left out unless the WHERE clause names
  `Active` (e.g. `where Active in (true, false)`). A bad query answers 400 with a `ValidationFault`; a missing or
  dead token 401 with QBO's lowercase `fault` body. Without `Accept: application/json` the answer is XML.

- `GET /v3/company/{realmId}/companyinfo/{realmId}` -> `{"CompanyInfo": {...}, "time": ...}`, same token rules.

Each query call is recorded in `queries` (query text, minorversion, Accept header) for tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from html import escape
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape as xml_escape

from tests.emulators.base import Request, Response
from tests.emulators.tokens import TokenApi, TokenRegistry, oauth_error, pkce_s256

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
KNOWN_SCOPES = {ACCOUNTING_SCOPE, "com.intuit.quickbooks.payment", "openid", "profile", "email", "phone", "address"}
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
AUTHORIZE_PATH = "/connect/oauth2"
# Entities the query API knows; only Customer is seeded, the others answer an empty QueryResponse.
ENTITIES = {"Customer", "Invoice", "Vendor", "Item", "Account", "Bill", "Payment", "Employee", "CompanyInfo"}
MAX_RESULTS = 1000
COMPANY_NAME = "Sandbox Company_US_1"
DEFAULT_MAX_RESULTS = 100

_NAMES = [
    ("Amy", "Lauterbach", "Amy's Bird Sanctuary"),
    ("Bill", "Lucchini", "Bill's Windsurf Shop"),
    ("Cool", "Cars", "Cool Cars"),
    ("Diego", "Rodriguez", "Diego Rodriguez"),
    ("Dukes", "Basketball", "Dukes Basketball Camp"),
    ("Dylan", "Sollfrank", "Dylan Sollfrank"),
    ("Peter", "Dukes", "Freeman Sporting Goods"),
    ("Geeta", "Kalapatapu", "Geeta Kalapatapu"),
    ("Jeff", "Chin", "Jeff's Jalopies"),
    ("John", "Melton", "John Melton"),
    ("Kate", "Whelan", "Kate Whelan"),
    ("Mark", "Cho", "Mark Cho"),
    ("Nick", "Paulsen", "Paulsen Medical Supplies"),
    ("Pye", "Ramey", "Pye's Cakes"),
    ("Rago", "Travel", "Rago Travel Agency"),
    ("Red", "Rock", "Red Rock Diner"),
    ("Rondonuwu", "Fruit", "Rondonuwu Fruit and Vegi"),
    ("Shara", "Barnett", "Shara Barnett"),
    ("Sonnenschein", "Family", "Sonnenschein Family Store"),
    ("Sushi", "Yamamoto", "Sushi by Katsuyuki"),
    ("Travis", "Waldron", "Travis Waldron"),
    ("Video", "Games", "Video Games by Dan"),
    ("Wedding", "Planning", "Wedding Planning by Whitney"),
]

_QUERY = re.compile(
    r"""^\s*select\s+(?P<fields>\*|count\(\*\)|[\w.]+(?:\s*,\s*[\w.]+)*)\s+from\s+(?P<entity>\w+)
    (?:\s+where\s+(?P<where>.+?))?
    (?:\s+orderby\s+(?P<orderby>[\w.]+(?:\s+(?:asc|desc))?))?
    (?:\s+startposition\s+(?P<start>\d+))?
    (?:\s+maxresults\s+(?P<max>\d+))?\s*$""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)
_CONDITION = re.compile(
    r"^\s*(?P<field>[\w.]+)\s*(?:(?P<op>=|!=|<>)\s*(?P<value>'[^']*'|[\w.\-]+)|\s+in\s*\((?P<values>[^)]*)\))\s*$",
    re.IGNORECASE,
)


class QueryError(ValueError):
    """A query QBO would refuse: `message` and `detail` go into the ValidationFault body."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.message, self.detail = message, detail


@dataclass
class Query:
    entity: str
    conditions: list[tuple[str, set[str], bool]]  # (field, accepted values lower-cased, negated)
    start: int
    max_results: int


def parse_query(text: str) -> Query:
    """`select * from <Entity> [where ...] [orderby ...] [startposition s] [maxresults n]`, as QBO reads it."""
    found = _QUERY.match(text or "")
    if not found:
        raise QueryError("Error parsing query", f"QueryParserError: Encountered an unexpected token in {text!r}")
    entity = found["entity"]
    canonical = {name.lower(): name for name in ENTITIES}.get(entity.lower())
    if canonical is None:
        raise QueryError("Invalid query", f"QueryValidationError: Property {entity} not found for Entity")
    conditions = (
        [_condition(part) for part in re.split(r"\s+and\s+", found["where"], flags=re.IGNORECASE)]
        if found["where"]
        else []
    )
    start = int(found["start"] or 1)
    max_results = int(found["max"] or DEFAULT_MAX_RESULTS)
    if start < 1:
        raise QueryError("Invalid query", "QueryValidationError: STARTPOSITION must be 1 or more")
    if max_results > MAX_RESULTS:
        raise QueryError(
            "Invalid query",
            f"QueryValidationError: value {max_results} is too large. Max allowed value is: {MAX_RESULTS}",
        )
    return Query(canonical, conditions, start, max_results)


def _condition(text: str) -> tuple[str, set[str], bool]:
    found = _CONDITION.match(text)
    if not found:
        raise QueryError("Error parsing query", f"QueryParserError: Encountered an unexpected token in {text!r}")
    raw = [found["value"]] if found["value"] is not None else found["values"].split(",")
    values = {value.strip().strip("'").lower() for value in raw}
    return found["field"], values, found["op"] in ("!=", "<>")


def _matches(record: dict[str, Any], field: str, values: set[str], negated: bool) -> bool:
    value: Any = record
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    text = str(value).lower() if not isinstance(value, bool) else ("true" if value else "false")
    return (text in values) != negated


def seed_customers(count: int) -> list[dict[str, Any]]:
    """`count` sandbox-like customers; every seventh one is inactive."""
    created = datetime(2025, 11, 3, 9, 30, tzinfo=timezone(timedelta(hours=-8)))
    customers = []
    for index in range(count):
        given, family, company = _NAMES[index % len(_NAMES)]
        suffix = f" {index // len(_NAMES) + 1}" if index >= len(_NAMES) else ""
        stamp = (created + timedelta(days=index)).isoformat()
        customers.append(
            {
                "Id": str(index + 1),
                "SyncToken": "0",
                "DisplayName": f"{company}{suffix}",
                "CompanyName": company,
                "GivenName": given,
                "FamilyName": family,
                "PrimaryEmailAddr": {"Address": f"{given.lower()}@{family.lower()}.example.com"},
                "Balance": round((index * 137.25) % 1000, 2),
                "Active": index % 7 != 6,
                "Taxable": index % 2 == 0,
                "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
                "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp},
                "domain": "QBO",
                "sparse": False,
            }
        )
    return customers


class QuickBooksEmulator(TokenApi):
    token_paths = (TOKEN_PATH,)

    def __init__(
        self,
        client_id: str = "ABqbEmulatorClientId0123456789abcdefABCDEF",
        client_secret: str = "qb-emulator-client-secret-0123456789",
        *,
        realm_id: str = "9341452711012345",
        redirect_uris: tuple[str, ...] = (
            "http://localhost:8080/oauth-consent/callback",
            "http://127.0.0.1:8080/oauth-consent/callback",
        ),
        customers: int = 23,
        access_lifetime: float = 3600,
        refresh_lifetime: float = 8726400,
        **kwargs: Any,
    ) -> None:
        self.client_id, self.client_secret, self.realm_id = client_id, client_secret, realm_id
        self.redirect_uris = list(redirect_uris)
        self.customers = seed_customers(customers)
        super().__init__(**kwargs)
        self.access = TokenRegistry(self.clock, access_lifetime, prefix="qb_at")
        self.refresh = TokenRegistry(self.clock, refresh_lifetime, prefix="qb_rt", rotating=True)
        self.codes = TokenRegistry(self.clock, 300, prefix="qb_code", rotating=True)
        self.consents = TokenRegistry(self.clock, 600, prefix="qb_consent", rotating=True)
        self.invalid_grants = 0
        self.refreshes = 0
        self.queries: list[dict[str, Any]] = []
        self.seeded_refresh_token: str | None = None

    def setup_routes(self) -> None:
        self.route("GET", AUTHORIZE_PATH, self.consent_page)
        self.route("POST", AUTHORIZE_PATH + "/decision", self.decision)
        self.route("POST", TOKEN_PATH, self.token)
        self.route("GET", r"/v3/company/(\w+)/query", self.query)
        self.route("POST", r"/v3/company/(\w+)/query", self.query)
        self.route("GET", r"/v3/company/(\w+)/companyinfo/(\w+)", self.company_info)

    # -- test controls -------------------------------------------------------------------------------------------

    def register_redirect_uri(self, uri: str) -> None:
        """Add a redirect URI to the app's settings (Intuit: Keys & credentials > Redirect URIs)."""
        if uri not in self.redirect_uris:
            self.redirect_uris.append(uri)

    def seed_consent(self) -> str:
        """A refresh token as if the company's admin had consented in a browser (tests and the standalone run)."""
        self.seeded_refresh_token = self.refresh.issue(self.client_id, scope=ACCOUNTING_SCOPE, realm_id=self.realm_id)
        return self.seeded_refresh_token

    # -- authorization (consent) -----------------------------------------------------------------------------------

    def consent_page(self, request: Request) -> Response:
        q = request.query
        if q.get("client_id") != self.client_id:
            return _error_page("invalid_client", "The client_id is not that of a known app.")
        redirect_uri = q.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            return _error_page("invalid_request", "The redirect_uri is not one of the app's redirect URIs.")
        if not q.get("state"):
            return _error_page("invalid_request", "The state parameter is required.")
        if q.get("response_type") != "code":
            return _redirect(redirect_uri, error="unsupported_response_type", state=q["state"])
        scopes = set(q.get("scope", "").split())
        if ACCOUNTING_SCOPE not in scopes or scopes - KNOWN_SCOPES:
            return _redirect(redirect_uri, error="invalid_scope", state=q["state"])
        challenge = q.get("code_challenge")
        if challenge and q.get("code_challenge_method") != "S256":
            return _redirect(redirect_uri, error="invalid_request", state=q["state"])
        consent = self.consents.issue(
            self.client_id,
            scope=" ".join(sorted(scopes)),
            redirect_uri=redirect_uri,
            state=q["state"],
            challenge=challenge,
        )
        return Response.html(
            "<!doctype html><html><head><title>Intuit - Connect</title></head><body>"
            "<h1>Connect your QuickBooks company?</h1>"
            f"<p>An app wants access to <b>{escape(COMPANY_NAME)}</b> (company {escape(self.realm_id)}): "
            f"{escape(' '.join(sorted(scopes)))}.</p>"
            f"<form method='post' action='{AUTHORIZE_PATH}/decision'>"
            f"<input type='hidden' name='consent' value='{escape(consent)}'>"
            "<button type='submit' name='decision' value='approve'>Approve</button> "
            "<button type='submit' name='decision' value='deny'>Deny</button>"
            "</form></body></html>"
        )

    def decision(self, request: Request) -> Response:
        form = request.form()
        consent = self.consents.redeem(form.get("consent"))
        if consent is None:
            return _error_page("invalid_request", "This consent request is unknown, expired or already answered.")
        redirect_uri, state = consent.data["redirect_uri"], consent.data["state"]
        if form.get("decision") != "approve":
            return _redirect(redirect_uri, error="access_denied", state=state)
        code = self.codes.issue(
            self.client_id,
            scope=consent.scope,
            redirect_uri=redirect_uri,
            challenge=consent.data["challenge"],
            realm_id=self.realm_id,
        )
        return _redirect(redirect_uri, code=code, state=state, realmId=self.realm_id)

    # -- token endpoint --------------------------------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        if request.basic_auth() != (self.client_id, self.client_secret):
            return oauth_error("invalid_client", status=401)
        if "application/x-www-form-urlencoded" not in (request.header("content-type") or ""):
            return oauth_error("invalid_request", "the body must be application/x-www-form-urlencoded")
        form = request.form()
        grant = form.get("grant_type")
        if grant == "authorization_code":
            issued = self.codes.redeem(form.get("code"))
            if issued is None or issued.data["redirect_uri"] != form.get("redirect_uri"):
                return self._invalid_grant()
            challenge = issued.data.get("challenge")
            if challenge and pkce_s256(form.get("code_verifier", "")) != challenge:
                return self._invalid_grant()
            return self._tokens(issued.scope, issued.data["realm_id"])
        if grant == "refresh_token":
            issued = self.refresh.redeem(form.get("refresh_token"))
            if issued is None:
                return self._invalid_grant()
            with self.lock:
                self.refreshes += 1
            return self._tokens(issued.scope, issued.data["realm_id"])
        return oauth_error("unsupported_grant_type")

    def _tokens(self, scope: str, realm_id: str) -> Response:
        body = {
            "access_token": self.access.issue(self.client_id, scope=scope, realm_id=realm_id),
            "token_type": "bearer",
            "expires_in": int(self.access.lifetime),
            "refresh_token": self.refresh.issue(self.client_id, scope=scope, realm_id=realm_id),
            "x_refresh_token_expires_in": int(self.refresh.lifetime),
        }
        return Response.json(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _invalid_grant(self) -> Response:
        with self.lock:
            self.invalid_grants += 1
        return oauth_error("invalid_grant")

    # -- accounting API --------------------------------------------------------------------------------------------

    def query(self, request: Request) -> Response:
        assert request.match is not None
        realm_id = request.match.group(1)
        denied = self._denied(request, realm_id)
        if denied is not None:
            return denied
        text = request.query.get("query") if request.method == "GET" else request.body.decode()
        wants_json = "application/json" in (request.header("accept") or "")
        with self.lock:
            self.queries.append(
                {"query": text, "minorversion": request.query.get("minorversion"), "accept": request.header("accept")}
            )
        try:
            parsed = parse_query(text or "")
        except QueryError as exc:
            return _validation_fault(exc, wants_json)
        records = self._select(parsed)
        page = records[parsed.start - 1 : parsed.start - 1 + parsed.max_results]
        body: dict[str, Any] = {"startPosition": parsed.start, "maxResults": len(page)}
        if page:
            body = {parsed.entity: page, **body}
        if not wants_json:
            return _xml_query_response(parsed.entity, page, parsed.start)
        return Response.json({"QueryResponse": body, "time": _now()})

    def company_info(self, request: Request) -> Response:
        """`GET /v3/company/{realmId}/companyinfo/{realmId}`: the company's name and address."""
        assert request.match is not None
        realm_id, company_id = request.match.groups()
        denied = self._denied(request, realm_id)
        if denied is not None:
            return denied
        if company_id != realm_id:
            return _validation_fault(QueryError("Object Not Found", f"CompanyInfo {company_id} not found"), True)
        info = {
            "Id": realm_id,
            "CompanyName": COMPANY_NAME,
            "Country": "US",
            "CompanyAddr": {"Line1": "123 Sierra Way", "City": "San Pablo", "CountrySubDivisionCode": "CA"},
        }
        return Response.json({"CompanyInfo": info, "time": _now()})

    def _denied(self, request: Request, realm_id: str) -> Response | None:
        """401 without a live access token, 403 with a token of another company."""
        grant = self.access.check(request.bearer())
        if grant is None:
            return _auth_fault(
                401, "AuthenticationFailed", "003200", "3200", "Token expired or invalid", "AUTHENTICATION"
            )
        if grant.data["realm_id"] != realm_id:
            return _auth_fault(
                403,
                "ApplicationAuthorizationFailed",
                "003100",
                "3100",
                "Not authorized for this company",
                "AUTHORIZATION",
            )
        return None

    def _select(self, query: Query) -> list[dict[str, Any]]:
        if query.entity != "Customer":
            return []
        records = self.customers
        if not any(field.lower() == "active" for field, _, _ in query.conditions):
            records = [record for record in records if record["Active"]]  # QBO hides inactive names by default
        for field, values, negated in query.conditions:
            records = [record for record in records if _matches(record, field, values, negated)]
        return records

    # -- description -------------------------------------------------------------------------------------------

    @classmethod
    def standalone(cls, **kwargs: Any) -> QuickBooksEmulator:
        """A run outside pytest: a consented refresh token is seeded, so the connection works without a browser."""
        emulator = cls(**kwargs)
        emulator.seed_consent()
        return emulator

    def describe(self) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "profile": "quickbooks_sandbox",
            "consent_url": self.url + AUTHORIZE_PATH,
            "login_url": self.url + TOKEN_PATH,
            "redirect_uri": self.redirect_uris[0],
            "realm_id": self.realm_id,
        }
        if self.seeded_refresh_token:
            extra["refresh_token"] = self.seeded_refresh_token
        return {
            "system": "QuickBooks Online",
            "url": self.url,
            "credentials": {
                "client id (login)": self.client_id,
                "client secret (password)": self.client_secret,
                "realm id": self.realm_id,
                "redirect URIs": list(self.redirect_uris),
            },
            "connection": {
                "conn_type": "authapi_oauth2",
                "host": self.url,
                "login": self.client_id,
                "password": self.client_secret,
                "extra": extra,
            },
        }


def _now() -> str:
    return datetime.now(timezone(timedelta(hours=-8))).isoformat(timespec="milliseconds")


def _redirect(redirect_uri: str, **params: str) -> Response:
    separator = "&" if "?" in redirect_uri else "?"
    return Response.redirect(f"{redirect_uri}{separator}{urlencode(params)}")


def _error_page(error: str, description: str) -> Response:
    """What Intuit shows when it cannot redirect back (unknown app or redirect URI): a page, status 400."""
    return Response(
        400,
        f"<!doctype html><html><body><h1>Something went wrong</h1><p id='error'>{escape(error)}</p>"
        f"<p>{escape(description)}</p></body></html>".encode(),
        {"Content-Type": "text/html; charset=utf-8"},
    )


def _auth_fault(status: int, name: str, long_code: str, code: str, detail: str, kind: str) -> Response:
    """QBO's authentication/authorization failure: a lowercase `fault` body and a Bearer challenge."""
    body = {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": f"message={name}; errorCode={long_code}; statusCode={status}",
                    "detail": detail,
                    "code": code,
                    "element": None,
                }
            ],
            "type": kind,
        },
        "time": int(datetime.now(timezone.utc).timestamp() * 1000),
    }
    headers = {"WWW-Authenticate": 'Bearer realm="Intuit", error="invalid_token"'} if status == 401 else {}
    return Response.json(body, status=status, headers=headers)


def _validation_fault(exc: QueryError, wants_json: bool) -> Response:
    if wants_json:
        body = {
            "Fault": {
                "Error": [{"Message": exc.message, "Detail": exc.detail, "code": "4000"}],
                "type": "ValidationFault",
            },
            "time": _now(),
        }
        return Response.json(body, status=400)
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{_now()}">'
        f'<Fault type="ValidationFault"><Error code="4000"><Message>{xml_escape(exc.message)}</Message>'
        f"<Detail>{xml_escape(exc.detail)}</Detail></Error></Fault></IntuitResponse>"
    )
    return Response(400, xml.encode(), {"Content-Type": "application/xml"})


def _xml_query_response(entity: str, page: list[dict[str, Any]], start: int) -> Response:
    """QBO's default (no `Accept: application/json`) answer: XML, here with each record's Id and DisplayName."""
    items = "".join(
        f'<{entity} domain="QBO" sparse="false"><Id>{xml_escape(record["Id"])}</Id>'
        f"<DisplayName>{xml_escape(record.get('DisplayName', ''))}</DisplayName></{entity}>"
        for record in page
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{_now()}">'
        f'<QueryResponse startPosition="{start}" maxResults="{len(page)}">{items}</QueryResponse></IntuitResponse>'
    )
    return Response(200, xml.encode(), {"Content-Type": "application/xml"})
