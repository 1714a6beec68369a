"""Zoho CRM in two data centres, as Zoho documents its multi-DC OAuth (zoho.com/accounts/protocol/oauth/multi-dc)
and the CRM REST API v8 (zoho.com/crm/developer/docs/api/v8).

Each data centre (`ZohoDataCentre`) is one HTTPS port (one self-signed certificate for both, `ca_cert_pem`) with two
origins, as accounts.zoho.eu and www.zohoapis.eu are two hosts: its accounts server `https://127.0.0.1:<port>`
(`accounts_url`) and its API domain `https://localhost:<port>` (`api_url`). Each answers only on its own origin:
an API call to the accounts server, or a token request to the API domain, is a 404.

- `GET /oauth/v2/auth` (the US data centre only, accounts.zoho.com, where every consent starts): checks
  `client_id`, `response_type=code`, a registered `redirect_uri`, `state` and a `ZohoCRM.` scope; serves a consent
  page whose Accept / Reject post to `/oauth/v2/auth/decision`. Accept redirects with `code`, `state`, `location`
  and `accounts-server` of the data centre the user's account lives in (`user_dc`, "eu" by default); Reject with
  `error=access_denied`. A code is good only at its data centre's token endpoint.
- `POST /oauth/v2/token` (each accounts server): the client's id and secret in the form (Zoho takes no Basic
  header), `authorization_code` (single use, the same `redirect_uri`) -> `{access_token, refresh_token, api_domain,
  token_type: "Bearer", expires_in: 3600}`; `refresh_token` -> the same without a refresh token (Zoho's do not
  rotate). A code or refresh token of another data centre is `invalid_code`.
- `POST /oauth/v2/token/revoke`: `token` revoked, `{"status": "success"}`.
- `GET /crm/v8/Leads?fields=Last_Name,Company,Email&page=&per_page=` (each API domain) with `Authorization:
  Zoho-oauthtoken <token>` of that data centre -> `{"data": [...], "info": {"per_page", "count", "page",
  "more_records"}}` (at most 200 a page); without `fields` 400 `REQUIRED_PARAM_MISSING`; a missing, dead or other
  data centre's token 401 `INVALID_TOKEN`.

Each data centre holds its own leads, so a run that reads the wrong one shows.
"""

from __future__ import annotations

import re
import tempfile
from html import escape
from typing import Any
from urllib.parse import urlencode

from tests.emulators.base import Request, Response, self_signed_cert
from tests.emulators.tokens import Clock, TokenApi, TokenRegistry, oauth_error

CLIENT_ID, CLIENT_SECRET = "1000.ZOHOEMULATORCLIENT", "zoho-client-secret-0123456789abcdef"
REDIRECT_URI = "http://localhost:8080/oauth-consent/callback"
SCOPE = "ZohoCRM.modules.READ"
TOKEN_PATH, AUTH_PATH, REVOKE_PATH = "/oauth/v2/token", "/oauth/v2/auth", "/oauth/v2/token/revoke"
LEADS_PATH = "/crm/v8/Leads"
MAX_PER_PAGE = 200
LEADS = {"us": 12, "eu": 457}  # leads of each data centre's org


def _cert() -> tuple[str, str]:
    return self_signed_cert(tempfile.mkdtemp(prefix="zoho-cert-"))


class ZohoDataCentre(TokenApi):
    """One data centre: its accounts server (token endpoint) and its API domain (the CRM), on one port."""

    token_paths = (TOKEN_PATH,)

    def __init__(
        self, location: str, *, tls: tuple[str, str], clock: Clock | None = None, redirect_uris: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(tls=tls, **kwargs)
        self.location, self.cert_path = location, tls[0]
        self.clock = clock or self.clock
        self.redirect_uris = redirect_uris or (REDIRECT_URI,)
        self.access = TokenRegistry(self.clock, 3600, prefix=f"1000.at{location}")
        self.refresh = TokenRegistry(self.clock, 10 * 365 * 86400, prefix=f"1000.rt{location}")
        self.codes = TokenRegistry(self.clock, 120, prefix=f"1000.code{location}", rotating=True)
        self.leads = [self.lead(n) for n in range(1, LEADS[location] + 1)]
        self.pages = 0
        self.refreshes = 0

    def setup_routes(self) -> None:
        self.route("POST", re.escape(TOKEN_PATH), self.token)
        self.route("POST", re.escape(REVOKE_PATH), self.revoke)
        self.route("GET", re.escape(LEADS_PATH), self.list_leads)

    @property
    def accounts_url(self) -> str:
        return self.url  # https://127.0.0.1:<port>

    @property
    def api_url(self) -> str:
        return self.url.replace("127.0.0.1", "localhost")

    def _on(self, request: Request, wanted: str) -> bool:
        """Whether the request came to the origin `wanted` (its Host header)."""
        return request.header("host") == wanted.split("://", 1)[1]

    def lead(self, n: int) -> dict[str, Any]:
        return {
            "id": f"{self.location}{4_000_000 + n}",
            "Last_Name": f"Lead {n} ({self.location.upper()})",
            "Company": f"Company {n % 17}",
            "Email": f"lead{n}@{self.location}.example",
        }

    # -- accounts server -----------------------------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        if not self._on(request, self.accounts_url):
            return Response.json({"error": "not_found"}, 404)
        form = request.form()
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return oauth_error("invalid_client")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            issued = self.codes.redeem(form.get("code"))
            if issued is None or issued.data["redirect_uri"] != form.get("redirect_uri"):
                return oauth_error("invalid_code")
            body = self._access(issued.scope)
            body["refresh_token"] = self.refresh.issue(CLIENT_ID, scope=issued.scope)
            return Response.json(body)
        if grant == "refresh_token":
            issued = self.refresh.check(form.get("refresh_token"))
            if issued is None:
                return oauth_error("invalid_code")
            with self.lock:
                self.refreshes += 1
            return Response.json(self._access(issued.scope))
        return oauth_error("unsupported_grant_type")

    def _access(self, scope: str) -> dict[str, Any]:
        token = self.access.issue(CLIENT_ID, scope=scope)
        return {"access_token": token, "api_domain": self.api_url, "token_type": "Bearer", "expires_in": 3600}

    def revoke(self, request: Request) -> Response:
        if not self._on(request, self.accounts_url):
            return Response.json({"error": "not_found"}, 404)
        token = request.form().get("token") or request.query.get("token") or ""
        self.refresh.revoke(token) or self.access.revoke(token)
        return Response.json({"status": "success"})

    def seed_consent(self) -> str:
        """A refresh token as if the user had consented in this data centre (a run without a browser)."""
        return self.refresh.issue(CLIENT_ID, scope=SCOPE)

    # -- API domain ------------------------------------------------------------------------------------------------

    def list_leads(self, request: Request) -> Response:
        if not self._on(request, self.api_url):
            return Response.json({"error": "not_found"}, 404)
        value = request.header("authorization") or ""
        token = value[len("Zoho-oauthtoken ") :] if value.startswith("Zoho-oauthtoken ") else None
        if self.access.check(token) is None:
            body = {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}
            return Response.json(body, 401)
        if not request.query.get("fields"):
            body = {"code": "REQUIRED_PARAM_MISSING", "details": {"param_name": "fields"},
                    "message": "One of the expected parameter is missing", "status": "error"}  # fmt: skip
            return Response.json(body, 400)
        fields = [name.strip() for name in request.query["fields"].split(",") if name.strip()]
        page = int(request.query.get("page", 1))
        per_page = min(int(request.query.get("per_page", MAX_PER_PAGE)), MAX_PER_PAGE)
        start = (page - 1) * per_page
        rows = [{"id": lead["id"], **{name: lead.get(name) for name in fields}}
                for lead in self.leads[start : start + per_page]]  # fmt: skip
        with self.lock:
            self.pages += 1
        more = start + per_page < len(self.leads)
        info = {"per_page": per_page, "count": len(rows), "page": page, "more_records": more}
        return Response.json({"data": rows, "info": info})


class ZohoEmulator(ZohoDataCentre):
    """The US data centre (where every consent starts, accounts.zoho.com) and, started and stopped with it, the EU
    one (`eu`). `user_dc` is where the consenting user's account lives."""

    def __init__(self, *, user_dc: str = "eu", redirect_uris: tuple[str, ...] = (), **kwargs: Any) -> None:
        tls = _cert()
        super().__init__("us", tls=tls, redirect_uris=redirect_uris, **kwargs)
        self.eu = ZohoDataCentre("eu", tls=tls, clock=self.clock, redirect_uris=self.redirect_uris)
        self.user_dc = user_dc
        self.consents = TokenRegistry(self.clock, 600, prefix="consent", rotating=True)

    def setup_routes(self) -> None:
        super().setup_routes()
        self.route("GET", re.escape(AUTH_PATH), self.consent_page)
        self.route("POST", re.escape(AUTH_PATH) + "/decision", self.decision)

    def start(self) -> ZohoEmulator:
        super().start()
        self.eu.start()
        return self

    def stop(self) -> None:
        self.eu.stop()
        super().stop()

    @property
    def centres(self) -> dict[str, ZohoDataCentre]:
        return {"us": self, "eu": self.eu}

    @property
    def token_requests(self) -> int:
        return self.count("POST", re.escape(TOKEN_PATH)) + self.eu.count("POST", re.escape(TOKEN_PATH))

    @property
    def ca_cert_pem(self) -> str:
        with open(self.cert_path) as handle:
            return handle.read()

    @property
    def origins(self) -> list[str]:
        """Both data centres' accounts servers and API domains."""
        return [origin for dc in self.centres.values() for origin in (dc.accounts_url, dc.api_url)]

    # -- the consent (accounts.zoho.com) -----------------------------------------------------------------------------

    def consent_page(self, request: Request) -> Response:
        q = request.query
        if q.get("client_id") != CLIENT_ID or q.get("redirect_uri") not in self.redirect_uris:
            return Response.html("<h1>Invalid Client</h1>", 400)
        if not q.get("state") or q.get("response_type") != "code" or not q.get("scope", "").startswith("ZohoCRM."):
            return _redirect(q["redirect_uri"], error="invalid_request", state=q.get("state", ""))
        offline = q.get("access_type") == "offline"
        consent = self.consents.issue(CLIENT_ID, scope=q["scope"], redirect_uri=q["redirect_uri"], state=q["state"],
                                      offline=offline)  # fmt: skip
        return Response.html(
            "<!doctype html><html><head><title>Zoho Accounts</title></head><body>"
            f"<h1>Allow access to your Zoho CRM ({escape(self.user_dc.upper())} data centre)?</h1>"
            f"<p>{escape(q['scope'])}</p><form method='post' action='{AUTH_PATH}/decision'>"
            f"<input type='hidden' name='consent' value='{escape(consent)}'>"
            "<button type='submit' name='decision' value='accept'>Accept</button> "
            "<button type='submit' name='decision' value='reject'>Reject</button></form></body></html>"
        )

    def decision(self, request: Request) -> Response:
        form = request.form()
        consent = self.consents.redeem(form.get("consent"))
        if consent is None:
            return Response.html("<h1>This request expired</h1>", 400)
        redirect_uri, state = consent.data["redirect_uri"], consent.data["state"]
        if form.get("decision") != "accept":
            return _redirect(redirect_uri, error="access_denied", state=state)
        home = self.centres[self.user_dc]
        code = home.codes.issue(CLIENT_ID, scope=consent.scope, redirect_uri=redirect_uri)
        return _redirect(redirect_uri, state=state, code=code, location=self.user_dc,
                         **{"accounts-server": home.accounts_url})  # fmt: skip

    # -- description -------------------------------------------------------------------------------------------

    @classmethod
    def standalone(cls, **kwargs: Any) -> ZohoEmulator:
        """A run outside pytest: a refresh token of the user's data centre is seeded, as if the user had consented
        there (the connection then names that data centre's token URL: no consent callback has)."""
        emulator = cls(**kwargs)
        emulator.seeded_refresh_token = emulator.centres[emulator.user_dc].seed_consent()
        return emulator

    seeded_refresh_token: str | None = None

    def connection(self, *, seeded_refresh_token: str | None = None) -> dict[str, Any]:
        """The `authapi_zoho` connection as a person types it; with a seeded refresh token of the user's data centre,
        whose token URL is then given (no consent has named it)."""
        extra: dict[str, Any] = {
            "consent_url": f"{self.accounts_url}{AUTH_PATH}?access_type=offline&prompt=consent",
            "redirect_uri": self.redirect_uris[0],
            "allowed_origins": " ".join(self.origins),
            "ca_cert_pem": self.ca_cert_pem,
        }
        if seeded_refresh_token:
            home = self.centres[self.user_dc]
            extra |= {"refresh_token": seeded_refresh_token, "login_url": home.accounts_url + TOKEN_PATH,
                      "revocation_url": home.accounts_url + REVOKE_PATH}  # fmt: skip
        return {"conn_type": "authapi_zoho", "login": CLIENT_ID, "password": CLIENT_SECRET, "extra": extra}

    def describe(self) -> dict[str, Any]:
        return {
            "system": "Zoho CRM (two data centres)",
            "url": self.url,
            "credentials": {
                "client id (login)": CLIENT_ID,
                "client secret (password)": CLIENT_SECRET,
                "data centres": {
                    name: {"accounts": dc.accounts_url, "api": dc.api_url} for name, dc in self.centres.items()
                },
                "the user's data centre": self.user_dc,
            },
            "connection": self.connection(seeded_refresh_token=self.seeded_refresh_token),
        }


def _redirect(redirect_uri: str, **params: str) -> Response:
    separator = "&" if "?" in redirect_uri else "?"
    return Response.redirect(f"{redirect_uri}{separator}{urlencode(params)}")
