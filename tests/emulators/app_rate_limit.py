"""An API whose limit is per app, not per caller, as Xero's 60 calls a minute: every request with the app's token
counts in one sliding window of `period` seconds, and one beyond `limit` in it answers 429 with `Retry-After` (the
seconds until the oldest counted call leaves the window) and Xero's `X-Rate-Limit-Problem: minute`. Every answer
carries `X-MinLimit-Remaining` (Xero's name).

`GET /api/items?page=N` answers 10 records `{"id": "<page>-<n>"}` and `has_more` until page `pages` (default 4).

Counters: `accepted` (times of the calls served), `refused` (429s), `max_in_window` (the most calls served in
any window), `unauthenticated`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from tests.emulators.base import Emulator, Request, Response

TOKEN = "app-rate-limit-token-0123456789abcdef"


class AppRateLimitEmulator(Emulator):
    def __init__(self, *, limit: int = 60, period: float = 60.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limit, self.period = limit, period
        self.accepted: list[float] = []
        self.refused = self.unauthenticated = self.max_in_window = 0
        self._window: deque[float] = deque()
        self._counting = threading.Lock()

    def setup_routes(self) -> None:
        self.route("GET", r"/api/items", self.items)

    def items(self, request: Request) -> Response:
        if request.bearer() != TOKEN:
            with self._counting:
                self.unauthenticated += 1
            return Response.json({"Type": "Unauthorized"}, 401)
        now = time.monotonic()
        with self._counting:
            while self._window and now - self._window[0] >= self.period:
                self._window.popleft()
            if len(self._window) >= self.limit:
                self.refused += 1
                retry_after = max(1, round(self.period - (now - self._window[0])))
                headers = {"Retry-After": str(retry_after), "X-Rate-Limit-Problem": "minute",
                           "X-MinLimit-Remaining": "0"}  # fmt: skip
                return Response.json({"Title": "Too many requests"}, 429, headers)
            self._window.append(now)
            self.accepted.append(time.time())
            self.max_in_window = max(self.max_in_window, len(self._window))
            remaining = self.limit - len(self._window)
        page, pages = int(request.query.get("page", 1)), int(request.query.get("pages", 4))
        body = {"items": [{"id": f"{page}-{n}"} for n in range(1, 11)], "has_more": page < pages}
        return Response.json(body, headers={"X-MinLimit-Remaining": str(remaining)})

    def throughput(self) -> float:
        """Calls served per `period` between the first and the last one."""
        if len(self.accepted) < 2:
            return 0.0
        span = max(self.accepted) - min(self.accepted)
        return (len(self.accepted) - 1) / span * self.period if span else 0.0
