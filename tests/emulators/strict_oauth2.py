"""An OAuth 2.0 server as strict as Auth0 or Okta about rotating refresh tokens, with counters for load tests.

Every token descends from one original grant (a consent, `issue_refresh_token`, or a client credentials
request): its chain. A refresh token presented a second time is a reuse (RFC 9700 section 4.14.2): the server
revokes the whole chain, so every refresh token and access token of that grant stops working.

    with StrictOAuth2Server(access_lifetime=60) as server:
        initial = server.issue_refresh_token()
        ...                                   # Airflow tasks call server.url + "/api/whoami", "/api/items"
        assert server.reuses == 0
        assert stored == server.live_refresh_token()

Given an `assertion_key` (a public key), it also takes the JWT bearer grant (RFC 7523) with no client
authentication: an RS256 `assertion` whose signature verifies, `aud` is the token URL, `exp` lies ahead, and `jti`
was never presented before; a second presentation of a `jti` is refused and counted in `jti_reuses`.

Counters: `token_requests_by_grant`, `reuses`, `jti_reuses`, `invalid_grants`, `api_calls` (per route),
`api_refused` (401s), and `token_events` (time, grant type, a short hash of the presented refresh token, outcome)
for each token request. `GET /api/items?offset=&limit=&total=&delay=&task=` pages through `total` records and
answers each page after `delay` seconds (at most 30), so one paginated task can span minutes. Record `i` (from 1)
is `{"id": i}`, or with a `task` label `{"id": item_id(task, i)}`: a string found nowhere else (not in the URL,
which carries only the label), so a test can look for records in logs. `items_max_in_flight[task]` is the most
requests of one `task` label the server was answering at once (`items_in_flight`: now).
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from itertools import count
from typing import Any

import jwt

from tests.emulators.base import Request, Response
from tests.emulators.oauth2_server import OAuth2Server
from tests.emulators.tokens import bearer_challenge

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_PAGE_DELAY = 30.0
LISTEN_BACKLOG = 1024


def item_id(task: str, number: int) -> str:
    """Record `number`'s id in the pages of `task` (a label): unique to both, and unlike anything in a request."""
    return "item-" + hashlib.sha256(f"{task}#{number}".encode()).hexdigest()[:16]


def short_hash(token: str | None) -> str | None:
    """A token's first 10 hex digits of SHA-256: enough to tell tokens apart in a report, useless to replay."""
    return hashlib.sha256(token.encode()).hexdigest()[:10] if token else None


@dataclass(frozen=True)
class TokenEvent:
    """One token request as the server saw it."""

    at: float
    grant_type: str
    presented: str | None  # short hash of the refresh token presented, if any
    outcome: str  # ok, reuse, revoked, invalid_grant, invalid_client, ...
    issued: str | None  # short hash of the refresh token issued, if any
    chain: int | None


@dataclass(frozen=True)
class ApiCall:
    at: float
    route: str
    status: int


class StrictOAuth2Server(OAuth2Server):
    """`OAuth2Server` plus refresh-token reuse detection with chain revocation, and load-test counters."""

    def __init__(self, *, access_lifetime: float = 60, assertion_key: Any = None, **kwargs: Any) -> None:
        super().__init__(access_lifetime=access_lifetime, **kwargs)
        self.assertion_key = assertion_key  # public key of the JWT bearer grant's assertions (None: no such grant)
        self._jtis: set[str] = set()
        self._chains = threading.Lock()
        self._chain_of: dict[str, int] = {}  # every access and refresh token issued -> its chain
        self._redeemed: set[str] = set()  # refresh tokens presented once already
        self._revoked: set[int] = set()
        self._chain_ids = count(1)
        self._request = threading.local()  # the chain the current token request continues (None: a new one)
        self.reuses = 0
        self.jti_reuses = 0
        self.token_requests_by_grant: Counter[str] = Counter()
        self.token_events: list[TokenEvent] = []
        self.api_calls: Counter[str] = Counter()
        self.api_refused = 0
        self.api_log: list[ApiCall] = []
        self.items_in_flight: Counter[str] = Counter()  # /api/items requests being answered now, by `task`
        self.items_max_in_flight: Counter[str] = Counter()  # the most at once, by `task`

    # -- server ----------------------------------------------------------------------------------------------

    def start(self) -> StrictOAuth2Server:
        super().start()
        # socketserver listens with a backlog of 5; hundreds of tasks connecting at once would see SYNs dropped
        # and 1 s retransmits. Linux lets a listening socket's backlog be raised by calling listen() again.
        assert self._server is not None
        self._server.socket.listen(LISTEN_BACKLOG)
        report = self._server.handle_error

        def handle_error(request: Any, client_address: Any) -> None:
            # A task killed mid-request (a run marked failed) closes its socket: not the server's error.
            if not isinstance(sys.exc_info()[1], ConnectionError):
                report(request, client_address)

        self._server.handle_error = handle_error  # type: ignore[method-assign]
        return self

    def setup_routes(self) -> None:
        super().setup_routes()
        self.route("GET", r"/api/items", self.items)

    # -- test controls -------------------------------------------------------------------------------------------

    def issue_refresh_token(self, scope: str = "read", **data: Any) -> str:
        """A refresh token as if a user had just consented: the start of a new chain."""
        token = super().issue_refresh_token(scope, **data)
        with self._chains:
            self._chain_of[token] = next(self._chain_ids)
        return token

    def live_refresh_tokens(self) -> list[str]:
        """Refresh tokens the server would accept now: issued, never presented, unexpired, chain not revoked."""
        live = self.refresh.live()
        with self._chains:
            return [t for t in live if t not in self._redeemed and self._chain_of.get(t) not in self._revoked]

    def live_refresh_token(self) -> str | None:
        """The one live refresh token (None if there is none); more than one means two chains are alive."""
        live = self.live_refresh_tokens()
        assert len(live) <= 1, f"{len(live)} live refresh tokens: more than one grant chain is alive"
        return live[0] if live else None

    def issued_access_token(self, token: str) -> bool:
        """True if this server issued `token` as an access token (live or not)."""
        with self._chains:
            return token in self._chain_of and token.startswith(self.access.prefix)

    def issued_access_tokens(self) -> list[str]:
        """Every access token this server issued (to look for in logs)."""
        with self._chains:
            return [token for token in self._chain_of if token.startswith(self.access.prefix)]

    @property
    def revoked_chains(self) -> int:
        with self._chains:
            return len(self._revoked)

    def api_window(self) -> tuple[float, float] | None:
        """Times of the first and the last API call that carried a token (accepted or refused)."""
        with self.lock:
            times = [call.at for call in self.api_log]
        return (min(times), max(times)) if times else None

    def summary(self) -> dict[str, Any]:
        with self.lock:
            outcomes = Counter(event.outcome for event in self.token_events)
            return {
                "token_requests": sum(self.token_requests_by_grant.values()),
                "token_requests_by_grant": dict(self.token_requests_by_grant),
                "token_outcomes": dict(outcomes),
                "reuses": self.reuses,
                "jti_reuses": self.jti_reuses,
                "invalid_grants": self.invalid_grants,
                "revoked_chains": len(self._revoked),
                "api_calls": dict(self.api_calls),
                "api_refused": self.api_refused,
            }

    # -- token endpoint ------------------------------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        form = request.form()
        grant_type = form.get("grant_type") or "?"
        presented = form.get("refresh_token") if grant_type == "refresh_token" else None
        self._request.chain, self._request.outcome, self._request.issued = None, None, None
        if grant_type == "refresh_token":
            response = self._refresh_grant(request, form)
        elif grant_type == JWT_BEARER and self.assertion_key is not None:
            response = self._jwt_grant(request, form)
        else:
            response = super().token(request)
        self._record(grant_type, presented, response)
        return response

    def _refresh_grant(self, request: Request, form: dict[str, str]) -> Response:
        refused = self.refusal(request, form)
        if refused is not None:
            return refused
        scope = form.get("scope", "")
        presented = form.get("refresh_token") or ""
        with self._chains:  # check, redeem and mark in one step: two concurrent presentations cannot both win
            chain = self._chain_of.get(presented)
            if presented in self._redeemed:
                self.reuses += 1
                if chain is not None:
                    self._revoked.add(chain)
                outcome, grant = "reuse", None
            elif chain is None or chain in self._revoked:
                outcome, grant = ("unknown" if chain is None else "revoked"), None
            else:
                grant = self.refresh.redeem(presented)
                outcome = "ok" if grant is not None else "expired"
                if grant is not None:
                    self._redeemed.add(presented)
        self._request.outcome, self._request.chain = outcome, chain
        if grant is None:
            return self._invalid_grant(f"refresh token {outcome}")
        return self._tokens(grant.subject, scope or grant.scope, refresh=True)

    def _jwt_grant(self, request: Request, form: dict[str, str]) -> Response:
        refused = self.refusal(request, form)
        if refused is not None:
            return refused
        try:
            claims = jwt.decode(
                form.get("assertion") or "",
                self.assertion_key,
                algorithms=["RS256"],
                audience=f"{self.url}/token",
                options={"require": ["iss", "sub", "aud", "exp", "jti"]},
            )
        except jwt.PyJWTError as exc:
            self._request.outcome = "bad_assertion"
            return self._invalid_grant(f"assertion refused: {type(exc).__name__}")
        with self._chains:  # check and mark in one step: two concurrent presentations cannot both win
            reused = str(claims["jti"]) in self._jtis
            self._jtis.add(str(claims["jti"]))
            self.jti_reuses += reused
        if reused:
            self._request.outcome = "jti_reuse"
            return self._invalid_grant("jti replayed: this assertion was used before")
        return self._tokens(str(claims["sub"]), form.get("scope", ""), refresh=False)

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        no_client_auth = request.basic_auth() is None and "client_id" not in form
        if form.get("grant_type") == JWT_BEARER and no_client_auth:
            return True  # client authentication is optional for the JWT bearer grant (RFC 7523 section 3.1)
        return super()._client_ok(request, form)

    def _tokens(self, subject: str, scope: str, *, refresh: bool) -> Response:
        response = super()._tokens(subject, scope, refresh=refresh)
        body = json.loads(response.body)
        with self._chains:
            chain = self._request.chain or next(self._chain_ids)
            self._request.chain = chain
            for key in ("access_token", "refresh_token"):
                if body.get(key):
                    self._chain_of[body[key]] = chain
        self._request.issued = body.get("refresh_token")
        return response

    def _record(self, grant_type: str, presented: str | None, response: Response) -> None:
        if response.status == 200:
            outcome = "ok"
        else:
            outcome = self._request.outcome if self._request.outcome not in (None, "ok") else None
            if outcome is None:
                try:
                    outcome = json.loads(response.body).get("error", f"http_{response.status}")
                except (ValueError, AttributeError):
                    outcome = f"http_{response.status}"
        issued = self._request.issued if response.status == 200 else None
        chain = self._request.chain
        event = TokenEvent(time.time(), grant_type, short_hash(presented), outcome, short_hash(issued), chain)
        with self.lock:
            self.token_requests_by_grant[grant_type] += 1
            self.token_events.append(event)

    # -- API -------------------------------------------------------------------------------------------------------

    def _access_ok(self, request: Request) -> bool:
        token = request.bearer() or request.query.get("access_token")
        if self.access.check(token) is None:
            return False
        with self._chains:
            return self._chain_of.get(token or "") not in self._revoked

    def _api(self, route: str, request: Request) -> Response | None:
        """None when the call carries a live token; else the 401 to send. Counts and logs the call either way."""
        accepted = self._access_ok(request)
        with self.lock:
            self.api_calls[route] += 1
            self.api_log.append(ApiCall(time.time(), route, 200 if accepted else 401))
            if not accepted:
                self.api_refused += 1
        return None if accepted else bearer_challenge("invalid_token")

    def whoami(self, request: Request) -> Response:
        refusal = self._api("whoami", request)
        if refusal is not None:
            return refusal
        return Response.json({"subject": self.client_id})

    def items(self, request: Request) -> Response:
        """Offset paging over `total` records `{"id": i}` (with `task`: `item_id(task, i)`); each page answered after
        `delay` seconds, counted in `items_in_flight[task]` meanwhile."""
        refusal = self._api("items", request)
        if refusal is not None:
            return refusal
        q = request.query
        offset, limit, total = int(q.get("offset", 0)), int(q.get("limit", 10)), int(q.get("total", 25))
        task = q.get("task") or ""
        with self.lock:
            self.items_in_flight[task] += 1
            self.items_max_in_flight[task] = max(self.items_max_in_flight[task], self.items_in_flight[task])
        try:
            time.sleep(min(float(q.get("delay", 0)), MAX_PAGE_DELAY))
        finally:
            with self.lock:
                self.items_in_flight[task] -= 1
        numbers = range(offset + 1, min(total, offset + limit) + 1)
        records = [{"id": item_id(task, i) if task else i} for i in numbers]
        return Response.json({"items": records, "total": total})
