"""HubSpot CRM search: POST-body pagination with an `after` cursor, a 10,000-result cap per query, 5 requests/s.

As documented at https://developers.hubspot.com/docs/api/crm/search:

- Auth: a private app's access token, `Authorization: Bearer pat-...`; without it, 401 with
  `{"status": "error", "category": "INVALID_AUTHENTICATION", ...}`.
- `POST /crm/v3/objects/contacts/search` with a JSON body: `filterGroups` (filters `propertyName`, `operator`
  among EQ, GT, GTE, LT, LTE; `value` a string), `sorts` (`propertyName`, `direction`), `properties`, `limit`
  (at most 200; default 10) and `after` (the cursor: a string offset into the query's results). The answer:
  `{"total": n, "results": [{"id": "17", "properties": {...}, "createdAt", "updatedAt", "archived"}],
  "paging": {"next": {"after": "200"}}}`, `paging` left out on the last page.
- At most 10,000 results per query: a page past them answers 400 `VALIDATION_ERROR`, whatever `total` says; the
  way out is to sort by `hs_object_id` and start again with `hs_object_id GT <the last id>`.
- The search endpoints allow 5 requests per second per token (429 `RATE_LIMIT`, policy `SECONDLY`) and, unlike the
  rest of the API, send no `X-HubSpot-RateLimit-*` headers.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from tests.emulators.base import Request, Response
from tests.emulators.tokens import TokenApi

OPERATORS = {
    "EQ": lambda a, b: a == b,
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
}


def _error(status: int, category: str, message: str, **more: Any) -> Response:
    body = {"status": "error", "message": message, "correlationId": "0f0e0d0c", "category": category, **more}
    return Response.json(body, status=status)


class HubSpotEmulator(TokenApi):
    def __init__(
        self,
        token: str = "pat-na1-0123abcd-emulator-private-app-token",
        *,
        contacts: int = 10_500,
        result_cap: int = 10_000,
        max_limit: int = 200,
        requests_per_second: int = 5,
        **kwargs: Any,
    ) -> None:
        self.token = token
        self.result_cap, self.max_limit, self.requests_per_second = result_cap, max_limit, requests_per_second
        # Ids as HubSpot gives them: strings, increasing but not contiguous (deleted records leave gaps).
        self.contacts = [self.contact(n) for n in range(1, contacts + 1)]
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()
        self.rate_limited = 0  # 429s answered
        self.over_cap = 0  # 400s for a page past the result cap
        super().__init__(**kwargs)

    @staticmethod
    def contact(n: int) -> dict[str, Any]:
        object_id = str(100 + 3 * n)
        created = f"2026-01-{1 + n % 28:02d}T08:00:00.000Z"
        return {
            "id": object_id,
            "properties": {
                "hs_object_id": object_id,
                "email": f"contact{n}@example.com",
                "firstname": f"First{n}",
                "createdate": created,
            },
            "createdAt": created,
            "updatedAt": created,
            "archived": False,
        }

    def setup_routes(self) -> None:
        self.route("POST", "/crm/v3/objects/contacts/search", self.search)

    def _over_rate(self) -> bool:
        """The search endpoints' 5 requests per second, over a sliding second."""
        now = time.monotonic()
        with self._lock:
            while self._calls and self._calls[0] <= now - 1.0:
                self._calls.popleft()
            if len(self._calls) >= self.requests_per_second:
                self.rate_limited += 1
                return True
            self._calls.append(now)
            return False

    def search(self, request: Request) -> Response:
        if request.bearer() != self.token:
            return _error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
        if self._over_rate():
            return _error(429, "RATE_LIMIT", "You have reached your secondly limit.", policyName="SECONDLY")
        try:
            body = request.json() or {}
            limit = int(body.get("limit", 10))
            after = int(body.get("after") or 0)
            matching = [c for c in self.contacts if self._matches(c, body.get("filterGroups") or [])]
            matching = self._sorted(matching, body.get("sorts") or [])
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return _error(400, "VALIDATION_ERROR", f"Invalid search request: {exc}")
        if not 1 <= limit <= self.max_limit:
            return _error(400, "VALIDATION_ERROR", f"limit must be between 1 and {self.max_limit}")
        if after + limit > self.result_cap and after < len(matching):
            self.over_cap += 1
            return _error(400, "VALIDATION_ERROR", f"The maximum number of results per query is {self.result_cap}.")
        page = matching[after : after + limit]
        wanted = body.get("properties")
        if wanted:
            page = [{**c, "properties": {k: v for k, v in c["properties"].items() if k in wanted}} for c in page]
        answer: dict[str, Any] = {"total": len(matching), "results": page}
        if after + limit < len(matching):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        return Response.json(answer)

    @staticmethod
    def _value(contact: dict[str, Any], name: str) -> Any:
        value = contact["properties"].get(name, contact.get(name))
        return int(value) if name == "hs_object_id" and value is not None else value

    def _matches(self, contact: dict[str, Any], groups: list[dict[str, Any]]) -> bool:
        """Groups are ORed, the filters of a group ANDed (HubSpot's rule)."""
        if not groups:
            return True
        for group in groups:
            results = []
            for f in group["filters"]:
                value = f["value"]
                expected = int(value) if f["propertyName"] == "hs_object_id" else value
                results.append(OPERATORS[f["operator"]](self._value(contact, f["propertyName"]), expected))
            if all(results):
                return True
        return False

    def _sorted(self, contacts: list[dict[str, Any]], sorts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for sort in reversed(sorts):
            reverse = sort.get("direction", "ASCENDING") == "DESCENDING"
            contacts = sorted(contacts, key=lambda c, s=sort: self._value(c, s["propertyName"]), reverse=reverse)
        return contacts

    def describe(self) -> dict[str, Any]:
        return {
            "system": "HubSpot",
            "url": self.url,
            "credentials": {"private app access token (password)": self.token},
            "connection": {"conn_type": "authapi_bearer", "host": self.url, "password": self.token},
        }
