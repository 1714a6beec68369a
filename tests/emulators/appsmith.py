"""An API behind Appsmith's "Authenticated API" datasource options: custom headers and query params, an API key
in a query parameter with a prefix, and the signature header.

Appsmith lets a datasource send `X-APPSMITH-SIGNATURE`: a JWT signed HS256 with a shared secret of at least
32 characters, fresh on every request, which the receiving API verifies. This emulator is such an API:

- `GET /api/v1/orders?page=N&page_size=M` -> `{"data": [...], "page": N, "total_pages": P, "total": T}`

Every request must carry the header `X-Tenant: <tenant>`, the query params `region=<region>` and
`api_key=<prefix> <key>`, and a valid signature: HS256 with the shared secret, unexpired, issued no later than
now (a minute of clock skew allowed), and a `jti` not seen before (no replay). Anything else is refused with
401 (credentials, signature) or 400 (missing header or param), with a JSON `error` naming what is wrong;
`rejections` counts the refusals by reason.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import jwt

from tests.emulators.base import Request, Response
from tests.emulators.tokens import TokenApi

SIGNATURE_HEADER = "X-APPSMITH-SIGNATURE"
CLOCK_SKEW = 60


class AppsmithEmulator(TokenApi):
    def __init__(
        self,
        api_key: str = "ak_live_0123456789abcdef",
        signature_secret: str = "appsmith-signature-secret-0123456789abcdef",
        *,
        key_param: str = "api_key",
        key_prefix: str = "Api-Key",
        tenant: str = "acme",
        region: str = "eu",
        orders: int = 47,
        **kwargs: Any,
    ) -> None:
        self.api_key, self.signature_secret = api_key, signature_secret
        self.key_param, self.key_prefix, self.tenant, self.region = key_param, key_prefix, tenant, region
        statuses = ("paid", "shipped", "refunded")
        self.orders = [
            {"id": i, "customer": f"customer-{i % 9}", "status": statuses[i % 3], "amount": round(10 + i * 2.5, 2)}
            for i in range(1, orders + 1)
        ]
        self.rejections: Counter[str] = Counter()
        self.signatures_seen: set[str] = set()
        self._jti_lock = threading.Lock()
        super().__init__(**kwargs)

    def setup_routes(self) -> None:
        self.route("GET", "/api/v1/orders", self.list_orders)

    def list_orders(self, request: Request) -> Response:
        refused = self.check(request)
        if refused:
            return refused
        page = int(request.query.get("page", 1))
        size = min(int(request.query.get("page_size", 20)), 100)
        total_pages = max(1, -(-len(self.orders) // size))
        chunk = self.orders[(page - 1) * size : page * size]
        return Response.json({"data": chunk, "page": page, "total_pages": total_pages, "total": len(self.orders)})

    # -- what every request must carry -----------------------------------------------------------------------------

    def check(self, request: Request) -> Response | None:
        """A refusal for a request missing any of the datasource's settings, else None."""
        if request.query.get(self.key_param) != f"{self.key_prefix} {self.api_key}":
            return self._refuse(401, "api_key", f"missing or wrong API key in query param {self.key_param!r}")
        problem = self._signature_problem(request.header(SIGNATURE_HEADER))
        if problem:
            return self._refuse(401, "signature", f"{SIGNATURE_HEADER}: {problem}")
        if request.header("x-tenant") != self.tenant:
            return self._refuse(400, "header", "header X-Tenant is required")
        if request.query.get("region") != self.region:
            return self._refuse(400, "query", "query param region is required")
        return None

    def _signature_problem(self, token: str | None) -> str | None:
        if not token:
            return "missing"
        try:
            claims = jwt.decode(
                token,
                self.signature_secret,
                algorithms=["HS256"],
                options={"require": ["iat", "exp", "jti"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidSignatureError:
            return "bad signature"
        except jwt.PyJWTError as exc:
            return f"malformed ({type(exc).__name__})"
        now = self.clock.now()
        if claims["exp"] <= now:
            return "expired"
        if claims["iat"] > now + CLOCK_SKEW:
            return "issued in the future"
        with self._jti_lock:
            if claims["jti"] in self.signatures_seen:
                return "replayed"
            self.signatures_seen.add(claims["jti"])
        return None

    def _refuse(self, status: int, reason: str, message: str) -> Response:
        with self.lock:
            self.rejections[reason] += 1
        return Response.json({"error": message}, status=status)

    def describe(self) -> dict[str, Any]:
        return {
            "system": "Appsmith-style authenticated API",
            "url": self.url,
            "credentials": {"api key": self.api_key, "signature secret": self.signature_secret},
            "connection": {
                "conn_type": "authapi_apikey",
                "host": self.url,
                "password": self.api_key,
                "extra": {
                    "key_name": self.key_param,
                    "key_location": "query",
                    "key_prefix": self.key_prefix,
                    "extra_headers": {"X-Tenant": self.tenant},
                    "extra_query_params": {"region": self.region},
                    "signature_header": SIGNATURE_HEADER,
                    "signature_secret": self.signature_secret,
                    "test_endpoint": "/api/v1/orders?page_size=1",
                },
            },
        }
