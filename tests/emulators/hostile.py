"""A broken or hostile API: pages that lie about their type, errors dressed as 200s, links that go round in
circles, a body that trickles, a decompression bomb. Each route is one case of the hostile-input battery.

- GET /html-as-json           `application/json` that is an HTML error page
- GET /undecodable            `application/json` whose bytes are not UTF-8
- GET /html                   a `text/html` page
- GET /error-200              200 `{"error": "quota exceeded ..."}`, echoing the Authorization header
- GET /wrong-key              200 `{"data": [...]}` (the caller filters `items`)
- GET /same-next              a next link to itself
- GET /cursor-stuck           the same cursor on every page
- GET /cursor-forever         a new cursor on every page, for ever
- GET /trickle?n=40           a JSON body of n bytes, `delay` seconds per byte (default 0.25)
- GET /trickle-headers        the status line and headers a byte every `delay` seconds (default 0.25)
- GET /bomb?mib=8             a gzip body that inflates to `mib` MiB of JSON
- POST /token/<kind>          a token endpoint answering 200 with `ISSUED` as a JSON array (`array`), a bare
                              JSON string (`string`), plain text (`plain`), a form-encoded body (`form`,
                              `form-text`), `expires_in` of "abc" (`abc`) or 1e12 (`forever`), a JSON object of
                              200,000 keys and no token (`keys`), a trickling body (`trickle`) or trickling
                              headers (`trickle-headers`); or 400 echoing the Authorization header (`echo`)
"""

from __future__ import annotations

import gzip
import json
from typing import Any

from tests.emulators.base import Emulator, Request, Response


class HostileApi(Emulator):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def setup_routes(self) -> None:
        self.route("GET", r"/html-as-json", lambda r: Response(200, b"<html><body>Bad gateway</body></html>", _JSON))
        self.route("GET", r"/undecodable", lambda r: Response(200, b'{"items": ["caf\xe9 \xc3\x28"]}', _JSON))
        self.route("GET", r"/html", lambda r: Response.html("<html><body>Please log in</body></html>"))
        self.route("GET", r"/error-200", self.error_200)
        self.route("GET", r"/wrong-key", lambda r: Response.json({"data": [1, 2], "total": 2}))
        self.route("GET", r"/same-next", self.same_next)
        self.route("GET", r"/cursor-stuck", lambda r: Response.json({"records": [1], "next_cursor": "abc"}))
        self.route("GET", r"/cursor-forever", self.cursor_forever)
        self.route("GET", r"/trickle", self.trickle)
        self.route("GET", r"/trickle-headers", self.trickle_headers)
        self.route("GET", r"/bomb", self.bomb)
        self.route("POST", r"/token/(?P<kind>[\w-]+)", self.token)

    def error_200(self, request: Request) -> Response:
        return Response.json({"error": f"quota exceeded for {request.header('authorization')}"})

    def same_next(self, request: Request) -> Response:
        return Response.json({"results": [1], "next": f"{self.url}/same-next?page=2"})

    def cursor_forever(self, request: Request) -> Response:
        return Response.json({"records": [1], "next_cursor": str(int(request.query.get("cursor") or 0) + 1)})

    def trickle(self, request: Request) -> Response:
        size = int(request.query.get("n", "40"))
        body = json.dumps({"items": ["x" * max(0, size - 14)]}).encode()
        return Response(200, body, _JSON, seconds_per_byte=float(request.query.get("delay", "0.25")))

    def trickle_headers(self, request: Request) -> Response:
        delay = float(request.query.get("delay", "0.25"))
        return Response(200, json.dumps({"items": [1]}).encode(), _JSON, header_seconds_per_byte=delay)

    def bomb(self, request: Request) -> Response:
        inflated = b'{"items": "' + b"0" * (int(request.query.get("mib", "8")) * 2**20) + b'"}'
        return Response(200, gzip.compress(inflated, compresslevel=9), {**_JSON, "Content-Encoding": "gzip"})

    def token(self, request: Request) -> Response:
        assert request.match is not None
        kind, issued = request.match["kind"], ISSUED
        answers = {
            "array": lambda: Response.json([issued]),
            "string": lambda: Response.json(issued),
            "plain": lambda: Response(200, issued.encode(), _TEXT),
            "form": lambda: Response(200, f"access_token={issued}&token_type=bearer&expires_in=600".encode(), _FORM),
            "form-text": lambda: Response(200, f"access_token={issued}&scope=repo&token_type=bearer".encode(), _TEXT),
            "abc": lambda: Response.json({"access_token": issued, "expires_in": "abc"}),
            "forever": lambda: Response.json({"access_token": issued, "expires_in": 1e12}),
            "keys": lambda: Response.json({f"key{i}": i for i in range(200_000)}),
            "trickle": lambda: Response(
                200, json.dumps({"access_token": issued}).encode(), _JSON, seconds_per_byte=0.25
            ),
            "trickle-headers": lambda: Response(
                200, json.dumps({"access_token": issued}).encode(), _JSON, header_seconds_per_byte=0.25
            ),
            "echo": lambda: Response(400, f"bad request; you sent {request.header('authorization')}".encode(), _TEXT),
        }
        return answers[kind]()


ISSUED = "at-freshly-issued-token-9f8e7d6c5b4a"
_JSON = {"Content-Type": "application/json"}
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_TEXT = {"Content-Type": "text/plain"}
