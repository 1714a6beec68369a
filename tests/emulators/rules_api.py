"""The paged API plus endpoints whose answers a test scripts, for `response_actions` rules (api/rules.py).

    with RulesApi(token="t0k3n") as api:
        url = api.script("limited", (200, {"error": "rate limited"}, {}), (200, {"items": []}, {}))
        httpx.get(api.url + url)                 # the key's answers in turn, the last one repeated

- GET|POST /scripted/<key>   the key's script of (status, body, headers), one answer per call; bytes go as
                             text/plain, anything else as JSON; a JSON body's `you_sent` is replaced by the
                             request's Authorization header (a leak for error messages to scrub)
- GET /expiring/<key>        the first token presented for the key is called expired in a 200 body,
                             `{"error": {"code": "TOKEN_EXPIRED"}}` (the API's own view: the token server still
                             takes it); any other token gets `{"items": [...]}`. `tokens_seen[key]` lists them
"""

from __future__ import annotations

from typing import Any

from tests.emulators.base import Request, Response
from tests.emulators.paged_api import PagedApiEmulator

Answer = tuple[int, Any, dict[str, str]]


class RulesApi(PagedApiEmulator):
    def __init__(self, **kwargs: Any) -> None:
        self.scripts: dict[str, list[Answer]] = {}
        self.tokens_seen: dict[str, list[str | None]] = {}
        super().__init__(**kwargs)

    def setup_routes(self) -> None:
        super().setup_routes()
        for method in ("GET", "POST"):
            self.route(method, r"/scripted/(?P<key>\w+)", self.scripted)
        self.route("GET", r"/expiring/(?P<key>\w+)", self.expiring)

    def script(self, key: str, *answers: Answer) -> str:
        """Set `key`'s answers; returns its path."""
        with self.lock:
            self.scripts[key] = list(answers)
        return f"/scripted/{key}"

    def reset(self) -> None:
        with self.lock:
            self.scripts.clear()
            self.hits.clear()
            self.tokens_seen.clear()

    def hits_of(self, key: str) -> int:
        return self.hits[f"scripted:{key}"]

    def scripted(self, request: Request) -> Response:
        assert request.match is not None
        key = request.match["key"]
        answers = self.scripts[key]
        status, body, headers = answers[min(self._hit(f"scripted:{key}"), len(answers)) - 1]
        if isinstance(body, bytes):
            return Response(status, body, {"Content-Type": "text/plain", **headers})
        if isinstance(body, dict) and "you_sent" in body:
            body = {**body, "you_sent": request.header("authorization") or ""}
        return Response.json(body, status, headers)

    def expiring(self, request: Request) -> Response:
        assert request.match is not None
        with self.lock:
            seen = self.tokens_seen.setdefault(request.match["key"], [])
            seen.append(request.bearer())
            first = seen[0]
        if request.bearer() == first:
            return Response.json({"error": {"code": "TOKEN_EXPIRED", "message": "the access token has expired"}})
        return Response.json({"items": self.records(0, 3)})
