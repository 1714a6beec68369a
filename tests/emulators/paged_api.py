"""A local API with one endpoint per pagination style, flaky and rate-limited endpoints, and a job to poll.

    with PagedApiEmulator(total=25, token="t0k3n") as api:       # token: require `Bearer t0k3n`
        httpx.get(api.url + "/offset", params={"offset": 0, "limit": 10})

Records are `{"id": i, "name": "item-i"}` for i in 1..total (plus `pad`, `record_bytes` long, if set).

- GET /json-link?page=&per_page=       {"results": [...], "next": absolute URL | null}  (`elsewhere=1`: next on
                                        another host)
- GET /header-link?page=&per_page=     [...] with `Link: <...>; rel="next"`
- GET /offset?offset=&limit=           {"items": [...], "total": n}
- GET /page-number?page=&size=         {"data": [...], "page": p, "total_pages": n}
- GET /cursor?cursor=&limit=           {"records": [...], "next_cursor": opaque | null}
- GET /v3/company/<realm>/query?query=select * from Customer STARTPOSITION s MAXRESULTS m
                                        QuickBooks-style {"QueryResponse": {"Customer": [...], ...}}
- GET /flaky/<key>?fail=2              503 `fail` times per key, then {"key", "attempts"}
- GET /rate-limited/<key>?after=1      429 with `Retry-After: after` once per key, then {"key", "waited"}
- GET /status/<code>                   that status; the body echoes the Authorization header (a leak to mask)
- GET /jobs/<job>?done_after=2         {"status": "running"} until the n-th poll, then {"status": "done", ...}
- GET /changes?updated_since=&updated_until=&offset=&limit=   {"items": [...], "total": n}: records with
                                        `updated_at` (record i at 2026-01-01T00:00:00Z + i minutes, or `updated[i]`)
                                        after `updated_since` and not after `updated_until` (ISO 8601); each
                                        request's query is kept in `asked`. `fail_at` as for /offset
- GET /changes/<id>                    that record (a child request of a parent/child fan-out)

`/offset` also takes `fail_at=<offset>&fail_status=<code>`: that page answers the status. QuickBooks queries
also answer `select count(*) from X` with `{"QueryResponse": {"totalCount": n}}`.

Options: `latency` (seconds before each answer: a WAN round trip), `rate_limit=(n, window)` (at most n requests
per fixed window of `window` seconds, told in `X-RateLimit-Limit/-Remaining/-Reset`; beyond it 429 with
`Retry-After`, counted in `refused`). `max_in_flight` records the most requests served at once.
"""

from __future__ import annotations

import base64
import math
import re
import time
from collections import Counter
from datetime import datetime
from typing import Any

from tests.emulators.base import Emulator, Handler, Request, Response

_QB_COUNT = re.compile(r"select\s+count\(\*\)\s+from\s+(\w+)", re.IGNORECASE)
_QB_QUERY = re.compile(
    r"select\s+\*\s+from\s+(\w+)(?P<where>.*?)(?:\s+STARTPOSITION\s+(?P<start>\d+))?(?:\s+MAXRESULTS\s+(?P<max>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)


class PagedApiEmulator(Emulator):
    def __init__(
        self,
        total: int = 25,
        *,
        token: str | None = None,
        realm_id: str = "9130",
        record_bytes: int = 0,
        latency: float = 0.0,
        rate_limit: tuple[int, float] | None = None,
        **kwargs: Any,
    ) -> None:
        self.total = total
        self.latency = latency
        self.rate_limit = rate_limit
        self.refused = 0
        self.in_flight = self.max_in_flight = 0
        self._window_start, self._window_count = time.monotonic(), 0
        self.token = token
        self.realm_id = realm_id
        self.pad = "x" * record_bytes
        self.hits: Counter[str] = Counter()
        self.first_429_at: dict[str, float] = {}
        self.updated: dict[int, str] = {}  # /changes: record id -> its updated_at, where not the default
        self.asked: list[dict[str, str]] = []  # /changes: each request's query
        super().__init__(**kwargs)

    # -- helpers -----------------------------------------------------------------------------------------------

    def records(self, start: int, count: int) -> list[dict[str, Any]]:
        """Records start+1 .. start+count (0-based `start`), clipped to `total`."""
        stop = min(self.total, start + max(count, 0))
        if self.pad:
            return [{"id": i, "name": f"item-{i}", "pad": self.pad} for i in range(start + 1, stop + 1)]
        return [{"id": i, "name": f"item-{i}"} for i in range(start + 1, stop + 1)]

    def _hit(self, key: str) -> int:
        with self.lock:
            self.hits[key] += 1
            return self.hits[key]

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        super().route(method, pattern, self._guarded(handler))

    def _guarded(self, handler: Handler) -> Handler:
        def guarded(request: Request) -> Response:
            if self.token is not None and request.bearer() != self.token:
                return Response.json({"error": "unauthorized"}, status=401)
            with self.lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                if self.latency:
                    time.sleep(self.latency)
                budget = self._budget()
                if budget is not None and budget[0] < 0:
                    return Response.json({"error": "rate_limited"}, 429, {"Retry-After": str(budget[1])})
                response = handler(request)
                if budget is not None:
                    limit = self.rate_limit[0] if self.rate_limit else 0
                    response.headers.update(
                        {
                            "X-RateLimit-Limit": str(limit),
                            "X-RateLimit-Remaining": str(budget[0]),
                            "X-RateLimit-Reset": str(budget[1]),
                        }
                    )
                return response
            finally:
                with self.lock:
                    self.in_flight -= 1

        return guarded

    def _budget(self) -> tuple[int, int] | None:
        """(requests left in this window, after this one; whole seconds until it resets), or None."""
        if self.rate_limit is None:
            return None
        limit, window = self.rate_limit
        with self.lock:
            now = time.monotonic()
            if now - self._window_start >= window:
                self._window_start, self._window_count = now, 0
            self._window_count += 1
            left = limit - self._window_count
            if left < 0:
                self.refused += 1
            return left, max(1, math.ceil(window - (now - self._window_start)))

    # -- routes ------------------------------------------------------------------------------------------------

    def setup_routes(self) -> None:
        self.route("GET", "/json-link", self.json_link)
        self.route("GET", "/header-link", self.header_link)
        self.route("GET", "/offset", self.offset)
        self.route("GET", "/page-number", self.page_number)
        self.route("GET", "/cursor", self.cursor)
        self.route("GET", r"/v3/company/(?P<realm>[^/]+)/query", self.quickbooks_query)
        for method in ("GET", "POST"):
            self.route(method, r"/flaky/(?P<key>\w+)", self.flaky)
            self.route(method, r"/rate-limited/(?P<key>\w+)", self.rate_limited)
        self.route("GET", r"/status/(?P<code>\d{3})", self.status)
        self.route("GET", r"/jobs/(?P<job>\w+)", self.job)
        self.route("GET", "/changes", self.changes)
        self.route("GET", r"/changes/(?P<id>\d+)", self.change)

    def json_link(self, request: Request) -> Response:
        page, per_page = int(request.query.get("page", 1)), int(request.query.get("per_page", 10))
        records = self.records((page - 1) * per_page, per_page)
        more = page * per_page < self.total
        origin = "http://elsewhere.invalid" if request.query.get("elsewhere") else self.url
        extra = "&elsewhere=1" if request.query.get("elsewhere") else ""
        next_url = f"{origin}/json-link?page={page + 1}&per_page={per_page}{extra}" if more else None
        return Response.json({"results": records, "next": next_url})

    def header_link(self, request: Request) -> Response:
        page, per_page = int(request.query.get("page", 1)), int(request.query.get("per_page", 10))
        records = self.records((page - 1) * per_page, per_page)
        links = [f'<{self.url}/header-link?page=1&per_page={per_page}>; rel="first"']
        if page * per_page < self.total:
            links.append(f'<{self.url}/header-link?page={page + 1}&per_page={per_page}>; rel="next"')
        return Response.json(records, headers={"Link": ", ".join(links)})

    def offset(self, request: Request) -> Response:
        offset, limit = int(request.query.get("offset", 0)), int(request.query.get("limit", 10))
        if request.query.get("fail_at") == str(offset):
            return Response.json({"error": "conflict"}, status=int(request.query.get("fail_status", "409")))
        return Response.json({"items": self.records(offset, limit), "total": self.total})

    def page_number(self, request: Request) -> Response:
        page, size = int(request.query.get("page", 1)), int(request.query.get("size", 10))
        pages = -(-self.total // size)
        return Response.json({"data": self.records((page - 1) * size, size), "page": page, "total_pages": pages})

    def cursor(self, request: Request) -> Response:
        raw, limit = request.query.get("cursor"), int(request.query.get("limit", 10))
        offset = int(base64.urlsafe_b64decode(raw).decode().removeprefix("o:")) if raw else 0
        records = self.records(offset, limit)
        after = offset + len(records)
        cursor = base64.urlsafe_b64encode(f"o:{after}".encode()).decode() if after < self.total else None
        return Response.json({"records": records, "next_cursor": cursor})

    def quickbooks_query(self, request: Request) -> Response:
        assert request.match is not None
        if request.match["realm"] != self.realm_id:
            return Response.json({"Fault": {"Error": [{"Message": "unknown realm"}], "type": "AUTHENTICATION"}}, 403)
        counting = _QB_COUNT.match(request.query.get("query", ""))
        if counting:
            return Response.json({"QueryResponse": {"totalCount": self.total}, "time": "2026-01-01T00:00:00.000-08:00"})
        match = _QB_QUERY.match(request.query.get("query", ""))
        if not match:
            fault = {"Error": [{"Message": "Error parsing query", "code": "4000"}], "type": "ValidationFault"}
            return Response.json({"Fault": fault}, status=400)
        entity = match.group(1).capitalize()
        start, maximum = int(match["start"] or 1), int(match["max"] or 100)
        customers = [
            {"Id": str(r["id"]), "DisplayName": f"Customer {r['id']}"} for r in self.records(start - 1, maximum)
        ]
        response: dict[str, Any] = {}
        if customers:
            response = {entity: customers, "startPosition": start, "maxResults": len(customers)}
        return Response.json({"QueryResponse": response, "time": "2026-01-01T00:00:00.000-08:00"})

    def flaky(self, request: Request) -> Response:
        assert request.match is not None
        key = request.match["key"]
        attempt = self._hit(f"flaky:{key}")
        time.sleep(float(request.query.get("delay", 0)))  # a slow answer, e.g. to spend a retry budget
        if attempt <= int(request.query.get("fail", 2)):
            return Response.json({"error": "unavailable", "attempt": attempt}, status=503)
        return Response.json({"key": key, "attempts": attempt})

    def rate_limited(self, request: Request) -> Response:
        assert request.match is not None
        key = request.match["key"]
        attempt = self._hit(f"rate:{key}")
        if attempt == 1:
            self.first_429_at[key] = time.monotonic()
            after = request.query.get("after", "1")
            return Response.json({"error": "rate_limited"}, status=429, headers={"Retry-After": after})
        waited = time.monotonic() - self.first_429_at[key]
        return Response.json({"key": key, "attempts": attempt, "waited": round(waited, 3)})

    def status(self, request: Request) -> Response:
        assert request.match is not None
        code = int(request.match["code"])
        echo = request.header("authorization") or ""
        return Response.json({"error": f"status {code}", "you_sent": echo}, status=code)

    def job(self, request: Request) -> Response:
        assert request.match is not None
        job = request.match["job"]
        poll = self._hit(f"job:{job}")
        if poll < int(request.query.get("done_after", 2)):
            return Response.json({"job": job, "status": "running", "poll": poll})
        return Response.json({"job": job, "status": "done", "poll": poll, "result": {"rows": 42}})

    def changed(self, i: int) -> dict[str, Any]:
        default = f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00Z"
        return {"id": i, "name": f"item-{i}", "updated_at": self.updated.get(i, default)}

    def changes(self, request: Request) -> Response:
        with self.lock:
            self.asked.append(dict(request.query))
        offset, instant = int(request.query.get("offset", 0)), datetime.fromisoformat
        if request.query.get("fail_at") == str(offset):
            return Response.json({"error": "conflict"}, status=409)
        since, until = (
            instant(request.query[k]) if k in request.query else None for k in ("updated_since", "updated_until")
        )
        rows = [
            r
            for r in map(self.changed, range(1, self.total + 1))
            if (since is None or instant(r["updated_at"]) > since)
            and (until is None or instant(r["updated_at"]) <= until)
        ]
        limit = int(request.query.get("limit", 10))
        return Response.json({"items": rows[offset : offset + limit], "total": len(rows)})

    def change(self, request: Request) -> Response:
        assert request.match is not None
        i = int(request.match["id"])
        return Response.json(self.changed(i)) if 1 <= i <= self.total else Response.json({"error": "no such id"}, 404)


if __name__ == "__main__":
    import sys

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    emulator = PagedApiEmulator(total=250, port=port)
    print(f"paged API emulator on http://127.0.0.1:{port}")
    emulator.serve_forever()
