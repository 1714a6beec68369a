"""A server that answers every path and keeps every request it saw, and `leaks`, which lists the credentials they
carried: two of them on 127.0.0.1 are two origins (tests/core/test_origin.py, tests/airflow/test_origin.py)."""

from __future__ import annotations

import base64

from tests.emulators.base import Emulator, Request, Response

BEARER = "bearer-secret-0123456789"
KEY = "apikey-secret-0123456789"
PASSWORD = "basic-password-0123456789"
CLIENT_SECRET = "client-secret-0123456789"
ISSUED = "issued-access-token-0123456789"
SESSION = "session-cookie-0123456789"
ROUTE = "route-cookie-0123456789"
JAR = "jar-cookie-0123456789"
HEADER_SECRET = "extra-header-secret-0123456789"
PARAM_SECRET = "extra-param-secret-0123456789"
SIGNATURE_SECRET = "signature-secret-" + "x" * 32
SECRETS = (BEARER, KEY, PASSWORD, CLIENT_SECRET, ISSUED, SESSION, ROUTE, JAR, HEADER_SECRET, PARAM_SECRET)
CREDENTIAL_HEADERS = {"authorization", "x-api-key", "x-signature", "x-secret-header", "cookie"}
CREDENTIAL_PARAMS = {"api_key", "secret_param", "access_token"}


class Recorder(Emulator):
    """Answers every path and keeps every request. `/token` and `/login` issue a token and a session; `/page` and
    `/page2` are two pages linked by `next`; `/redirect` sets a cookie and sends the client to `redirect_to`."""

    def __init__(self) -> None:
        self.seen: list[Request] = []
        self.redirect_to = ""
        self.next_page = ""
        self.instance_url = ""
        self.digest = False
        super().__init__()

    def setup_routes(self) -> None:
        for method in ("GET", "POST"):
            self.route(method, r"/.*", self.answer)

    def answer(self, request: Request) -> Response:
        with self.lock:
            self.seen.append(request)
        if request.path == "/token":
            extra = {"instance_url": self.instance_url} if self.instance_url else {}
            return Response.json({"access_token": ISSUED, "token_type": "Bearer", "expires_in": 3600, **extra})
        if request.path == "/login":
            cookies = {"Set-Cookie": f"B1SESSION={SESSION}; HttpOnly", "set-cookie": f"ROUTEID={ROUTE}"}
            return Response.json({"ok": True}, headers=cookies)
        if request.path == "/redirect":
            return Response(302, b"", {"Location": self.redirect_to, "Set-Cookie": f"jar={JAR}"})
        if request.path == "/page":
            return Response.json({"items": [1], "next": self.next_page})
        if request.path == "/page2":
            return Response.json({"items": [2], "next": None})
        if self.digest and not request.header("authorization"):
            challenge = 'Digest realm="r", qop="auth", algorithm=MD5, nonce="n0nce", opaque="o"'
            return Response.json({"error": "who are you"}, 401, {"WWW-Authenticate": challenge})
        return Response.json({"ok": True, "path": request.path})

    def reset(self) -> None:
        with self.lock:
            self.seen.clear()
        self.redirect_to = self.next_page = self.instance_url = ""
        self.digest = False


def leaks(requests: list[Request]) -> list[str]:
    """Every credential the requests carried: credential header or parameter names, and secret values anywhere."""
    found = []
    for request in requests:
        found += [f"header {name}" for name in request.headers if name in CREDENTIAL_HEADERS]
        found += [f"param {name}" for name in request.query if name in CREDENTIAL_PARAMS]
        text = " ".join([request.path, *request.headers.values(), *request.query.values()])
        decoded = " ".join(basic_decoded(value) for value in request.headers.values())
        found += [f"value {secret[:12]}" for secret in SECRETS if secret in text or secret in decoded]
    return found


def basic_decoded(value: str) -> str:
    if not value.lower().startswith("basic "):
        return ""
    return base64.b64decode(value[6:]).decode(errors="replace")
