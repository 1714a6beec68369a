"""A vendor's odd login that no built-in grant speaks, and an API that wants each request signed.

`OddLoginServer`: `POST /session` with an XML body `<login><user>..</user><pin>..</pin></login>` answers 201 with
the session ticket in the `X-Session-Ticket` header and `<session><lifetime>s</lifetime><renewal>..</renewal>
</session>` as XML; `POST /session/renew` with the renewal in `X-Renewal` rotates it (a used renewal is dead).
`GET /api/whoami` takes the ticket as `Authorization: Bearer`. `/api/signed` (any method) takes no ticket but an
HMAC-SHA256 signature instead: `X-Key-Id` and `X-Signature`, the hex HMAC of `METHOD\\npath\\nsha256(body)` with
the key of that id; with `signed_needs_ticket`, a live ticket too. `fail_next(n, status)` makes the next n logins
fail. As the `custom_grant` system (`python -m tests.emulators custom_grant`, `bash scripts/demo.sh custom_grant`)
it wants the ticket and the signature on `/api/signed`, and its connection names the example's classes
(`dags_examples/odd_login_auth.py`).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from xml.etree import ElementTree

from tests.emulators.base import Request, Response
from tests.emulators.oauth2_server import _FailPlan
from tests.emulators.tokens import TokenApi, TokenRegistry, bearer_challenge


def xml(text: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, text.encode(), {"Content-Type": "application/xml", **(headers or {})})


# The example's classes (dags_examples/odd_login_auth.py), by the dotted paths its connection gives.
GRANT_CLASS = "dags_examples.odd_login_auth.OddLoginGrant"
SIGNER_CLASS = "dags_examples.odd_login_auth.HmacSigner"


class OddLoginServer(TokenApi):
    login_path, renew_path = "/session", "/session/renew"
    token_paths = (login_path, renew_path)

    def __init__(
        self,
        user: str = "odd-user",
        pin: str = "pin-0123456789-secret",
        *,
        lifetime: float = 600,
        signing_keys: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.user, self.pin = user, pin
        self.signing_keys = signing_keys if signing_keys is not None else {"key-1": "signing-secret-0123456789abcdef"}
        super().__init__(**kwargs)
        self.tickets = TokenRegistry(self.clock, lifetime, prefix="tkt")
        self.renewals = TokenRegistry(self.clock, 30 * 86400, prefix="rnw", rotating=True)
        self.failures = _FailPlan()
        self.signed: list[tuple[str, str]] = []  # (method, path) of each request whose signature held
        self.signed_needs_ticket = False

    @classmethod
    def standalone(cls, **kwargs: Any) -> OddLoginServer:
        """The demo's server: `/api/signed` wants the ticket and the signature, as the example sends them."""
        server = cls(**kwargs)
        server.signed_needs_ticket = True
        return server

    def describe(self) -> dict[str, Any]:
        key_id, secret = next(iter(self.signing_keys.items()))
        return {
            "system": "A vendor's odd login (a grant and a signer of your own)",
            "url": self.url,
            "credentials": {"user (login)": self.user, "PIN (password)": self.pin, f"signing key {key_id}": secret},
            "connection": {
                "conn_type": "authapi_token",
                "host": self.url,
                "login": self.user,
                "password": self.pin,
                "extra": {
                    "grant_class": GRANT_CLASS,
                    "auth_class": SIGNER_CLASS,
                    "signing_key_id": key_id,
                    "signing_secret": secret,
                    "test_endpoint": "/api/whoami",
                },
            },
        }

    def setup_routes(self) -> None:
        self.route("POST", self.login_path, self.login)
        self.route("POST", self.renew_path, self.renew)
        self.route("GET", r"/api/whoami", self.whoami)
        for method in ("GET", "POST"):
            self.route(method, r"/api/signed", self.signed_call)

    def fail_next(self, count: int, status: int = 503) -> None:
        self.failures.remaining, self.failures.status = count, status

    @property
    def logins(self) -> int:
        return self.count("POST", self.login_path)

    @property
    def renews(self) -> int:
        return self.count("POST", self.renew_path)

    def login(self, request: Request) -> Response:
        failure = self.failures.take()
        if failure is not None:
            return failure
        if "xml" not in (request.header("content-type") or ""):
            return xml("<error>send XML</error>", 415)
        try:
            root = ElementTree.fromstring(request.body)
        except ElementTree.ParseError:
            return xml("<error>malformed XML</error>", 400)
        if (root.findtext("user"), root.findtext("pin")) != (self.user, self.pin):
            return xml("<error>unknown user or wrong PIN</error>", 401)
        return self._session(self.user)

    def renew(self, request: Request) -> Response:
        grant = self.renewals.redeem(request.header("x-renewal"))
        if grant is None:
            return xml("<error>renewal expired or already used</error>", 401)
        return self._session(grant.subject)

    def whoami(self, request: Request) -> Response:
        grant = self.tickets.check(request.bearer())
        if grant is None:
            return bearer_challenge("invalid_token")
        return Response.json({"subject": grant.subject})

    def signed_call(self, request: Request) -> Response:
        key = self.signing_keys.get(request.header("x-key-id") or "")
        target = request.path
        if self.signed_needs_ticket and self.tickets.check(request.bearer()) is None:
            return bearer_challenge("invalid_token")
        if key is None:
            return Response.json({"error": "unknown key id"}, status=401)
        message = f"{request.method}\n{target}\n{hashlib.sha256(request.body).hexdigest()}".encode()
        expected = hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.header("x-signature") or ""):
            return Response.json({"error": "bad signature"}, status=401)
        with self.lock:
            self.signed.append((request.method, target))
        return Response.json({"signed": True, "method": request.method})

    def _session(self, subject: str) -> Response:
        ticket, renewal = self.tickets.issue(subject), self.renewals.issue(subject)
        body = f"<session><lifetime>{int(self.tickets.lifetime)}</lifetime><renewal>{renewal}</renewal></session>"
        return xml(body, 201, {"X-Session-Ticket": ticket})
