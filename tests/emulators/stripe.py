"""Stripe: list endpoints paged by `starting_after` (the last object's id) and `has_more`, filtered on `created`.

As documented at https://docs.stripe.com/api/pagination and https://docs.stripe.com/api/charges/list:

- Auth: the secret key, `Authorization: Bearer sk_test_...` (or as the Basic user name); without it, 401
  `{"error": {"type": "invalid_request_error", "message": "You did not provide an API key..."}}`.
- `GET /v1/charges?limit=&starting_after=&created[gte]=&created[lte]=`: `{"object": "list", "url": "/v1/charges",
  "has_more": bool, "data": [...]}`, newest first; `limit` 1 to 100 (default 10); `created[...]` in epoch seconds
  (a value that is not an integer: 400 `parameter_invalid_integer`); an unknown `starting_after`: 400
  `resource_missing`.
- Charges: `{"id": "ch_...", "object": "charge", "amount", "currency", "created" (epoch seconds), "status"}`.

`add_charge` creates one (a late arrival is a charge created with an earlier `created` than the newest).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.emulators.base import Request, Response
from tests.emulators.tokens import TokenApi

DAY = 86_400


def _error(status: int, message: str, code: str | None = None, param: str | None = None) -> Response:
    error = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return Response.json({"error": error}, status=status)


class StripeEmulator(TokenApi):
    def __init__(
        self,
        secret_key: str = "sk_test_51Emulator0123456789abcdefSecret",
        *,
        charges_per_day: int = 48,
        days: int = 3,
        ignore_created: bool = False,
        **kwargs: Any,
    ) -> None:
        """`days` of charges up to the start of today (UTC), `charges_per_day` each; `ignore_created`: an API that
        takes `created[...]` but does not filter on it."""
        self.secret_key, self.ignore_created = secret_key, ignore_created
        self._lock = threading.Lock()
        self.asked: list[dict[str, str]] = []  # each list request's query
        self.charges: list[dict[str, Any]] = []
        self.first_day = (int(time.time()) // DAY - days) * DAY
        for n in range(charges_per_day * days):
            self.add_charge(self.first_day + n * DAY // charges_per_day + 17)
        super().__init__(**kwargs)

    def add_charge(self, created: int, amount: int | None = None) -> dict[str, Any]:
        with self._lock:
            n = len(self.charges) + 1
            charge = {
                "id": f"ch_3Emu{n:06d}",
                "object": "charge",
                "amount": amount if amount is not None else 500 + 25 * (n % 40),
                "currency": "usd",
                "created": created,
                "status": "succeeded",
            }
            self.charges.append(charge)
        return charge

    def setup_routes(self) -> None:
        self.route("GET", "/v1/charges", self.list_charges)

    def _authorized(self, request: Request) -> bool:
        basic = request.basic_auth()
        return request.bearer() == self.secret_key or (basic is not None and basic[0] == self.secret_key)

    def list_charges(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(401, "You did not provide an API key. You need to provide it in the Authorization header.")
        query = request.query
        self.asked.append(dict(query))
        try:
            limit = int(query.get("limit", 10))
        except ValueError:
            return _error(400, "Invalid integer: limit", "parameter_invalid_integer", "limit")
        if not 1 <= limit <= 100:
            return _error(400, "This value must be between 1 and 100.", "parameter_invalid_integer", "limit")
        bounds = {}
        for op in ("gt", "gte", "lt", "lte"):
            raw = query.get(f"created[{op}]")
            if raw is not None:
                if not raw.lstrip("-").isdigit():
                    return _error(400, f"Invalid integer: {raw}", "parameter_invalid_integer", f"created[{op}]")
                bounds[op] = int(raw)
        with self._lock:
            newest_first = sorted(self.charges, key=lambda c: (c["created"], c["id"]), reverse=True)
        selected = [c for c in newest_first if self.ignore_created or _within(c["created"], bounds)]
        after = query.get("starting_after")
        if after is not None:
            ids = [c["id"] for c in selected]
            if after not in ids:
                return _error(400, f"No such charge: '{after}'", "resource_missing", "starting_after")
            selected = selected[ids.index(after) + 1 :]
        page = selected[:limit]
        return Response.json({"object": "list", "url": "/v1/charges", "has_more": len(selected) > limit, "data": page})

    def describe(self) -> dict[str, Any]:
        return {
            "system": "Stripe",
            "url": self.url,
            "credentials": {"secret key (password)": self.secret_key},
            "connection": {"conn_type": "authapi_bearer", "host": self.url, "password": self.secret_key},
        }


def _within(created: int, bounds: dict[str, int]) -> bool:
    return (
        ("gt" not in bounds or created > bounds["gt"])
        and ("gte" not in bounds or created >= bounds["gte"])
        and ("lt" not in bounds or created < bounds["lt"])
        and ("lte" not in bounds or created <= bounds["lte"])
    )
