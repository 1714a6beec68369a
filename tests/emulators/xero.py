"""Xero: one consent, one token, several organisations, as Xero documents its OAuth 2.0 and accounting API
(developer.xero.com: "OAuth 2.0 auth flow", "Tenants", "Accounting API: Contacts").

On one local host (the real ones: login.xero.com, identity.xero.com, api.xero.com):

- `GET /identity/connect/authorize`: checks `client_id`, `response_type=code`, a registered `redirect_uri`,
  `state` and `offline_access` among the scopes; serves a page that lists the organisations to connect, whose
  Allow access / Cancel post to `/identity/connect/authorize/decision`: Allow redirects with `code` and `state`
  (the callback says nothing of the organisations), Cancel with `error=access_denied`.
- `POST /connect/token`: client auth only by HTTP Basic, `authorization_code` (single use, the same redirect_uri,
  PKCE S256 when a challenge came) and `refresh_token` -> `{access_token, expires_in: 1800, token_type: "Bearer",
  refresh_token, scope}`; every refresh rotates the refresh token (the old one is `invalid_grant`).
- `POST /connect/revocation`: RFC 7009 with Basic client auth.
- `GET /connections` (Bearer): the organisations the token's consent connected, `[{"id", "authEventId",
  "tenantId", "tenantType": "ORGANISATION", "tenantName", "createdDateUtc", "updatedDateUtc"}]`.
- `GET /api.xro/2.0/Contacts?page=&pageSize=` and `GET /api.xro/2.0/Organisation` (Bearer): every call must carry
  `Xero-Tenant-Id` of an organisation the token may reach, else 403 `AuthenticationUnsuccessful`; a dead token is
  401. Contacts come in pages (at most 1000, 100 by default) with `pagination: {page, pageSize, pageCount,
  itemCount}`. `api_calls` records each call's path and tenant id.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from html import escape
from typing import Any
from urllib.parse import urlencode

from tests.emulators.base import Request, Response
from tests.emulators.tokens import TokenApi, TokenRegistry, oauth_error, pkce_s256

CLIENT_ID, CLIENT_SECRET = "XEROEMULATORCLIENT0123", "xero-client-secret-0123456789abcdef"
REDIRECT_URI = "http://localhost:8080/oauth-consent/callback"
SCOPES = "offline_access accounting.contacts.read accounting.settings.read"
AUTHORIZE_PATH, TOKEN_PATH, REVOKE_PATH = "/identity/connect/authorize", "/connect/token", "/connect/revocation"
API = "/api.xro/2.0"
ORGANISATIONS = {"Demo Company (UK)": 230, "Demo Company (AU)": 57, "Acme Ltd": 3}  # name -> contacts
MAX_PAGE_SIZE = 1000


class XeroEmulator(TokenApi):
    token_paths = (TOKEN_PATH,)

    def __init__(self, *, organisations: dict[str, int] | None = None, redirect_uris: tuple[str, ...] = (),
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.redirect_uris = redirect_uris or (REDIRECT_URI,)
        self.access = TokenRegistry(self.clock, 1800, prefix="xat")
        self.refresh = TokenRegistry(self.clock, 60 * 86400, prefix="xrt", rotating=True)
        self.codes = TokenRegistry(self.clock, 300, prefix="xcode", rotating=True)
        self.consents = TokenRegistry(self.clock, 600, prefix="xconsent", rotating=True)
        self.tenants = [
            {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"connection/{name}")),
             "tenantId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"tenant/{name}")), "tenantType": "ORGANISATION",
             "tenantName": name, "count": count}
            for name, count in (organisations or ORGANISATIONS).items()
        ]  # fmt: skip
        self.api_calls: list[tuple[str, str | None]] = []  # (path, Xero-Tenant-Id)
        self.refreshes = self.invalid_grants = 0

    def setup_routes(self) -> None:
        self.route("GET", re.escape(AUTHORIZE_PATH), self.consent_page)
        self.route("POST", re.escape(AUTHORIZE_PATH) + "/decision", self.decision)
        self.route("POST", re.escape(TOKEN_PATH), self.token)
        self.route("POST", re.escape(REVOKE_PATH), self.revoke)
        self.route("GET", r"/connections", self.connections)
        self.route("GET", re.escape(API) + r"/Contacts", self.contacts)
        self.route("GET", re.escape(API) + r"/Organisation", self.organisation)

    def tenant(self, name: str) -> dict[str, Any]:
        return next(t for t in self.tenants if t["tenantName"] == name)

    def contact(self, tenant: dict[str, Any], n: int) -> dict[str, Any]:
        return {
            "ContactID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant['tenantId']}/contact/{n}")),
            "Name": f"Contact {n} of {tenant['tenantName']}",
            "ContactStatus": "ACTIVE" if n % 9 else "ARCHIVED",
            "EmailAddress": f"contact{n}@example.com",
        }

    # -- consent and tokens ----------------------------------------------------------------------------------------

    def consent_page(self, request: Request) -> Response:
        q = request.query
        if q.get("client_id") != CLIENT_ID or q.get("redirect_uri") not in self.redirect_uris:
            return Response.html("<h1>unauthorized_client</h1>", 400)
        if not q.get("state") or q.get("response_type") != "code":
            return _redirect(q["redirect_uri"], error="invalid_request", state=q.get("state", ""))
        if "offline_access" not in q.get("scope", "").split():
            return _redirect(q["redirect_uri"], error="invalid_scope", state=q["state"])
        consent = self.consents.issue(CLIENT_ID, scope=q["scope"], redirect_uri=q["redirect_uri"], state=q["state"],
                                      challenge=q.get("code_challenge"))  # fmt: skip
        names = "".join(f"<li>{escape(t['tenantName'])}</li>" for t in self.tenants)
        return Response.html(
            "<!doctype html><html><head><title>Xero | Authorise app</title></head><body>"
            f"<h1>Connect to these organisations?</h1><ul>{names}</ul>"
            f"<form method='post' action='{AUTHORIZE_PATH}/decision'>"
            f"<input type='hidden' name='consent' value='{escape(consent)}'>"
            "<button type='submit' name='decision' value='allow'>Allow access</button> "
            "<button type='submit' name='decision' value='cancel'>Cancel</button></form></body></html>"
        )

    def decision(self, request: Request) -> Response:
        form = request.form()
        consent = self.consents.redeem(form.get("consent"))
        if consent is None:
            return Response.html("<h1>This request expired</h1>", 400)
        redirect_uri, state = consent.data["redirect_uri"], consent.data["state"]
        if form.get("decision") != "allow":
            return _redirect(redirect_uri, error="access_denied", state=state)
        tenants = [t["tenantId"] for t in self.tenants]
        code = self.codes.issue(CLIENT_ID, scope=consent.scope, redirect_uri=redirect_uri, tenants=tenants,
                                challenge=consent.data["challenge"])  # fmt: skip
        return _redirect(redirect_uri, code=code, state=state)

    def token(self, request: Request) -> Response:
        if request.basic_auth() != (CLIENT_ID, CLIENT_SECRET):
            return oauth_error("invalid_client", status=400)
        form = request.form()
        if form.get("grant_type") == "authorization_code":
            issued = self.codes.redeem(form.get("code"))
            if issued is None or issued.data["redirect_uri"] != form.get("redirect_uri"):
                return self._invalid_grant()
            challenge = issued.data.get("challenge")
            if challenge and pkce_s256(form.get("code_verifier", "")) != challenge:
                return self._invalid_grant()
            return self._tokens(issued.scope, issued.data["tenants"])
        if form.get("grant_type") == "refresh_token":
            issued = self.refresh.redeem(form.get("refresh_token"))
            if issued is None:
                return self._invalid_grant()
            with self.lock:
                self.refreshes += 1
            return self._tokens(issued.scope, issued.data["tenants"])
        return oauth_error("unsupported_grant_type")

    def _tokens(self, scope: str, tenants: list[str]) -> Response:
        body = {
            "access_token": self.access.issue(CLIENT_ID, scope=scope, tenants=tenants),
            "expires_in": int(self.access.lifetime),
            "token_type": "Bearer",
            "refresh_token": self.refresh.issue(CLIENT_ID, scope=scope, tenants=tenants),
            "scope": scope,
        }
        return Response.json(body)

    def _invalid_grant(self) -> Response:
        with self.lock:
            self.invalid_grants += 1
        return oauth_error("invalid_grant")

    def revoke(self, request: Request) -> Response:
        if request.basic_auth() != (CLIENT_ID, CLIENT_SECRET):
            return oauth_error("invalid_client", status=400)
        token = request.form().get("token", "")
        self.refresh.revoke(token) or self.access.revoke(token)
        return Response(200, b"")

    def seed_consent(self) -> str:
        """A refresh token as if the user had connected every organisation (a run without a browser)."""
        return self.refresh.issue(CLIENT_ID, scope=SCOPES, tenants=[t["tenantId"] for t in self.tenants])

    # -- the API ---------------------------------------------------------------------------------------------------

    def connections(self, request: Request) -> Response:
        grant = self.access.check(request.bearer())
        if grant is None:
            return _problem(401, "Unauthorized", "TokenExpired")
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        listed = [
            {"id": t["id"], "authEventId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"auth/{t['id']}")),
             "tenantId": t["tenantId"], "tenantType": t["tenantType"], "tenantName": t["tenantName"],
             "createdDateUtc": now, "updatedDateUtc": now}
            for t in self.tenants if t["tenantId"] in grant.data["tenants"]
        ]  # fmt: skip
        return Response.json(listed)

    def _tenant_of(self, request: Request) -> dict[str, Any] | Response:
        """The organisation a call names in `Xero-Tenant-Id`, or Xero's refusal."""
        tenant_id = request.header("xero-tenant-id")
        with self.lock:
            self.api_calls.append((request.path, tenant_id))
        grant = self.access.check(request.bearer())
        if grant is None:
            return _problem(401, "Unauthorized", "TokenExpired")
        if not tenant_id or tenant_id not in grant.data["tenants"]:
            return _problem(403, "Forbidden", "AuthenticationUnsuccessful")
        return next(t for t in self.tenants if t["tenantId"] == tenant_id)

    def contacts(self, request: Request) -> Response:
        tenant = self._tenant_of(request)
        if isinstance(tenant, Response):
            return tenant
        page = max(1, int(request.query.get("page", 1)))
        size = min(int(request.query.get("pageSize", 100)), MAX_PAGE_SIZE)
        total = tenant["count"]
        numbers = range((page - 1) * size + 1, min(total, page * size) + 1)
        body = {
            "Id": str(uuid.uuid4()),
            "Status": "OK",
            "ProviderName": "Airflow",
            "DateTimeUTC": "/Date(1767225600000)/",
            "pagination": {"page": page, "pageSize": size, "pageCount": -(-total // size), "itemCount": total},
            "Contacts": [self.contact(tenant, n) for n in numbers],
        }
        return Response.json(body)

    def organisation(self, request: Request) -> Response:
        tenant = self._tenant_of(request)
        if isinstance(tenant, Response):
            return tenant
        organisation = {"OrganisationID": tenant["tenantId"], "Name": tenant["tenantName"], "BaseCurrency": "GBP"}
        return Response.json({"Id": str(uuid.uuid4()), "Status": "OK", "Organisations": [organisation]})

    # -- description -------------------------------------------------------------------------------------------

    @classmethod
    def standalone(cls, **kwargs: Any) -> XeroEmulator:
        """A run outside pytest: a consent to every organisation is seeded (a refresh token)."""
        emulator = cls(**kwargs)
        emulator.seeded_refresh_token = emulator.seed_consent()
        return emulator

    seeded_refresh_token: str | None = None

    def connection(self, *, seeded_refresh_token: str | None = None) -> dict[str, Any]:
        """The `authapi_xero` connection, its URLs this emulator's; with a seeded refresh token if given."""
        extra: dict[str, Any] = {
            "consent_url": self.url + AUTHORIZE_PATH,
            "login_url": self.url + TOKEN_PATH,
            "revocation_url": self.url + REVOKE_PATH,
            "discovery_url": self.url + "/connections",
            "redirect_uri": self.redirect_uris[0],
        }
        if seeded_refresh_token:
            extra["refresh_token"] = seeded_refresh_token
        return {"conn_type": "authapi_xero", "host": self.url + API, "login": CLIENT_ID, "password": CLIENT_SECRET,
                "extra": extra}  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return {
            "system": "Xero",
            "url": self.url,
            "credentials": {
                "client id (login)": CLIENT_ID,
                "client secret (password)": CLIENT_SECRET,
                "organisations": {t["tenantName"]: t["tenantId"] for t in self.tenants},
            },
            "connection": self.connection(seeded_refresh_token=self.seeded_refresh_token),
        }


def _problem(status: int, title: str, detail: str) -> Response:
    """Xero's refusal of an API call: an RFC 7807 style body."""
    body = {"Type": None, "Title": title, "Status": status, "Detail": detail, "Instance": str(uuid.uuid4())}
    return Response.json(body, status, {"WWW-Authenticate": "Bearer"} if status == 401 else None)


def _redirect(redirect_uri: str, **params: str) -> Response:
    separator = "&" if "?" in redirect_uri else "?"
    return Response.redirect(f"{redirect_uri}{separator}{urlencode(params)}")
