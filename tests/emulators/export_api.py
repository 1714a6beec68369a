"""The exports server behind a bearer token, with the faults a streamed export meets: a 503 before the body, a
body that stalls or trickles, an error body that echoes the credential, and an export in pages.

    with ExportApi(token="t") as api:   # every route of ExportsEmulator, plus:

- GET /flaky/export.csv?fail=N&key=K     503 (`Retry-After: 0`) for the first N calls of key K, then the CSV
- GET /stall/export.csv?after=B&seconds=S  the CSV's first B bytes, then nothing for S seconds, then the rest
- GET /slow/export.csv?interval=I&chunk=C  the CSV C bytes at a time, I seconds apart (slow, never idle long)
- GET /denied/export.csv                 403 whose JSON body echoes the Authorization header, padded to 1 MB
- GET /paged/export.jsonl?page=N&per_page=K  `RECORDS` page N (from 1) as JSON Lines, a `Link: rel="next"` while
                                         more remain, an empty page past the end
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from tests.emulators.base import Request, Response
from tests.emulators.exports import RECORDS, ExportsEmulator, csv_bytes, jsonl_bytes, pieces


class ExportApi(ExportsEmulator):
    def __init__(self, token: str | None = None, **kwargs: Any) -> None:
        self.token = token
        self.hits: Counter[str] = Counter()
        super().__init__(**kwargs)

    def setup_routes(self) -> None:
        super().setup_routes()
        self.route("GET", r"/flaky/export\.csv", self.flaky)
        self.route("GET", r"/stall/export\.csv", self.stall)
        self.route("GET", r"/slow/export\.csv", self.slow)
        self.route("GET", r"/denied/export\.csv", self.denied)
        self.route("GET", r"/paged/export\.jsonl", self.paged)

    def _handle(self, request: Request) -> Response:
        if self.token is not None and request.bearer() != self.token:
            return Response.json({"error": "invalid_token"}, status=401)
        return super()._handle(request)

    def flaky(self, request: Request) -> Response:
        key = request.query.get("key", "")
        with self.lock:
            self.hits[key] += 1
            hit = self.hits[key]
        if hit <= int(request.query.get("fail", 1)):
            return Response.json({"error": "busy"}, status=503, headers={"Retry-After": "0"})
        return Response(headers={"Content-Type": "text/csv"}, chunks=pieces(csv_bytes(), 997))

    def stall(self, request: Request) -> Response:
        after, seconds = int(request.query.get("after", 1000)), float(request.query.get("seconds", 5))

        def body() -> Iterator[bytes]:
            data = csv_bytes()
            yield data[:after]
            time.sleep(seconds)
            yield data[after:]

        return Response(headers={"Content-Type": "text/csv"}, chunks=body())

    def slow(self, request: Request) -> Response:
        interval, size = float(request.query.get("interval", 0.1)), int(request.query.get("chunk", 200))

        def body() -> Iterator[bytes]:
            for piece in pieces(csv_bytes(), size):
                yield piece
                time.sleep(interval)

        return Response(headers={"Content-Type": "text/csv"}, chunks=body())

    def denied(self, request: Request) -> Response:
        echo = {"error": "forbidden", "you_sent": request.header("authorization")}
        body = json.dumps({**echo, "padding": "x" * 2**20}).encode()
        headers = {"Content-Type": "application/json", "Connection": "close"}  # the client reads 64 KiB, then hangs up
        return Response(status=403, headers=headers, chunks=pieces(body, 8192))

    def paged(self, request: Request) -> Response:
        page, per_page = int(request.query.get("page", 1)), int(request.query.get("per_page", 15))
        records = RECORDS[(page - 1) * per_page : page * per_page]
        headers = {"Content-Type": "application/x-ndjson"}
        if page * per_page < len(RECORDS):
            headers["Link"] = f'<{self.url}/paged/export.jsonl?page={page + 1}&per_page={per_page}>; rel="next"'
        return Response(headers=headers, chunks=pieces(jsonl_bytes(records), 997))
