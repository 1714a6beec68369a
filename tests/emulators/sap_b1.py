"""SAP Business One Service Layer: a session login whose credential is a cookie, sessions that die when idle,
OData paging.

As documented in SAP's "Working with SAP Business One Service Layer":

- `POST /b1s/v1/Login` with JSON `{"CompanyDB", "UserName", "Password"}` -> `{"odata.metadata", "SessionId",
  "Version", "SessionTimeout"}` (minutes) and the cookies `B1SESSION=<SessionId>; HttpOnly` and `ROUTEID=.node1`
  (the load balancer's route). A wrong company, user or password gets 401 with an error body.
- Every other call carries both cookies: `Cookie: B1SESSION=...; ROUTEID=...`. A call without them, with an
  unknown session, the wrong route or a session idle for longer than SessionTimeout gets 401
  `{"error": {"code": 301, "message": {"lang": "en-us", "value": "Invalid session."}}}`. Each call restarts
  the idle time (on the emulator's clock, which tests move with `advance`).
- `GET /b1s/v1/Items` pages server-side: `Prefer: odata.maxpagesize=N` (default 20) records a page, `$skip`,
  `$top` (the most records in all) and `$select`; while records remain the body has
  `"odata.nextLink": "Items?$skip=20"`, relative to the service root `/b1s/v1/`, with the query's other options.
  `GET /b1s/v1/Items/$count` answers the number alone.
- `POST /b1s/v1/Logout` ends the session (204).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tests.emulators.base import Request, Response
from tests.emulators.tokens import TokenApi

ROOT = "/b1s/v1"
ROUTE = ".node1"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE = re.compile(r"odata\.maxpagesize=(\d+)")


def sap_error(code: int, value: str, status: int) -> Response:
    """Service Layer's error body: `{"error": {"code", "message": {"lang", "value"}}}`."""
    return Response.json({"error": {"code": code, "message": {"lang": "en-us", "value": value}}}, status=status)


def invalid_session() -> Response:
    return sap_error(301, "Invalid session.", 401)


@dataclass
class Session:
    user: str
    route: str
    last_used: float


class SapB1Emulator(TokenApi):
    token_paths = (f"{ROOT}/Login",)

    def __init__(
        self,
        company_db: str = "SBODEMOUS",
        user: str = "manager",
        password: str = "sap-b1-password-0123",
        *,
        items: int = 45,
        session_timeout: int = 30,
        **kwargs: Any,
    ) -> None:
        self.company_db, self.user, self.password = company_db, user, password
        self.session_timeout = session_timeout  # minutes
        self.sessions: dict[str, Session] = {}
        self.issued: list[str] = []  # every SessionId handed out (tests: none may leak)
        self.refused = 0  # calls answered "Invalid session."
        self.items = [
            {
                "ItemCode": f"A{i:05d}",
                "ItemName": f"Item {i}",
                "ItemType": "itItems",
                "QuantityOnStock": float(i % 7 * 10),
                "Valid": "tYes" if i % 4 else "tNo",
            }
            for i in range(1, items + 1)
        ]
        super().__init__(**kwargs)

    def setup_routes(self) -> None:
        self.route("POST", f"{ROOT}/Login", self.login)
        self.route("POST", f"{ROOT}/Logout", self.logout)
        self.route("GET", rf"{ROOT}/Items", self.list_items)
        self.route("GET", rf"{ROOT}/Items/\$count", self.count_items)

    @property
    def logins(self) -> int:
        return self.count("POST", f"{ROOT}/Login")

    @property
    def pages(self) -> int:
        return self.count("GET", f"{ROOT}/Items")

    # -- the session -----------------------------------------------------------------------------------------

    def login(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return sap_error(-1000, "Invalid JSON in the login request.", 400)
        if body.get("CompanyDB") != self.company_db:
            return sap_error(-304, f"Company database {body.get('CompanyDB')!r} not found.", 401)
        if (body.get("UserName"), body.get("Password")) != (self.user, self.password):
            return sap_error(-304, "Login failed: wrong user name or password.", 401)
        session_id = f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}-{secrets.token_hex(6)}"
        with self.lock:
            self.sessions[session_id] = Session(self.user, ROUTE, self.clock.now())
            self.issued.append(session_id)
        answer = {
            "odata.metadata": f"{ROOT}/$metadata#B1Sessions/@Element",
            "SessionId": session_id,
            "Version": "1000190",
            "SessionTimeout": self.session_timeout,
        }
        # Two Set-Cookie headers: the base server sends one line per dict key, and names differ only in case.
        cookies = {"Set-Cookie": f"B1SESSION={session_id}; HttpOnly", "set-cookie": f"ROUTEID={ROUTE}; path=/b1s"}
        return Response.json(answer, headers=cookies)

    def session(self, request: Request) -> str | None:
        """The live session the request's cookies name (its idle time restarted), else None."""
        cookies = dict(
            pair.strip().split("=", 1) for pair in (request.header("cookie") or "").split(";") if "=" in pair
        )
        session_id = cookies.get("B1SESSION")
        now = self.clock.now()
        with self.lock:
            session = self.sessions.get(session_id or "")
            if session is None or cookies.get("ROUTEID") != session.route:
                self.refused += 1
                return None
            if now - session.last_used > self.session_timeout * 60:
                del self.sessions[session_id or ""]
                self.refused += 1
                return None
            session.last_used = now
        return session_id

    def logout(self, request: Request) -> Response:
        session_id = self.session(request)
        if session_id is None:
            return invalid_session()
        with self.lock:
            self.sessions.pop(session_id, None)
        return Response(204)

    # -- data ------------------------------------------------------------------------------------------------

    def list_items(self, request: Request) -> Response:
        if self.session(request) is None:
            return invalid_session()
        try:
            skip = int(request.query.get("$skip", 0))
            top = int(request.query["$top"]) if "$top" in request.query else None
        except ValueError:
            return sap_error(-1000, "$skip and $top must be integers.", 400)
        if skip < 0 or (top is not None and top < 0):
            return sap_error(-1000, "$skip and $top must not be negative.", 400)
        found = MAX_PAGE.search(request.header("prefer") or "")
        page_size = int(found.group(1)) if found and int(found.group(1)) > 0 else DEFAULT_PAGE_SIZE
        wanted = self.items[skip:] if top is None else self.items[skip : skip + top]
        page = wanted[:page_size]
        selected = [f for f in request.query.get("$select", "").split(",") if f]
        body: dict[str, Any] = {
            "odata.metadata": f"{ROOT}/$metadata#Items",
            "value": [{k: row[k] for k in selected if k in row} if selected else row for row in page],
        }
        if len(wanted) > len(page):
            options = {k: v for k, v in request.query.items() if k not in ("$skip", "$top")}
            if top is not None:
                options["$top"] = str(top - len(page))
            options["$skip"] = str(skip + len(page))
            body["odata.nextLink"] = "Items?" + "&".join(f"{k}={quote(v, safe=',$')}" for k, v in options.items())
        return Response.json(body)

    def count_items(self, request: Request) -> Response:
        if self.session(request) is None:
            return invalid_session()
        return Response(200, str(len(self.items)), {"Content-Type": "text/plain"})

    def describe(self) -> dict[str, Any]:
        return {
            "system": "SAP Business One Service Layer",
            "url": self.url,
            "credentials": {"CompanyDB": self.company_db, "UserName (login)": self.user, "Password": self.password},
            "connection": {
                "conn_type": "authapi_token",
                "host": self.url,
                "login": self.user,
                "password": self.password,
                "extra": {"profile": "sap_b1", "extra_body": {"CompanyDB": self.company_db}},
            },
        }
