"""Shared pieces of the real-system emulators: a movable clock, token registries, OAuth error bodies.

    class MyApi(TokenApi):
        token_paths = ("/connect/token",)     # counted by `token_requests`

Tokens expire on the emulator's own clock, which tests may move forward (`advance`) to simulate the
passing of a token's lifetime without waiting for it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from tests.emulators.base import Emulator, Request, Response


class Clock:
    """Wall-clock time plus an offset that tests can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Grant:
    """What a token stands for: its subject (client or user), scope and anything else the API needs."""

    subject: str
    expires_at: float
    scope: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class TokenRegistry:
    """Opaque tokens issued with a lifetime on `clock`; `check` accepts only live ones.

    `rotating=True` (refresh tokens) makes `redeem` single-use: the redeemed token is gone, so replaying
    it fails like a real server that rotates refresh tokens.
    """

    def __init__(self, clock: Clock, lifetime: float, *, prefix: str = "tok", rotating: bool = False) -> None:
        self.clock, self.lifetime, self.prefix, self.rotating = clock, lifetime, prefix, rotating
        self._grants: dict[str, Grant] = {}
        self._lock = threading.Lock()
        self.issued = 0

    def issue(self, subject: str, *, scope: str = "", lifetime: float | None = None, **data: Any) -> str:
        token = f"{self.prefix}_{secrets.token_urlsafe(24)}"
        expires_at = self.clock.now() + (self.lifetime if lifetime is None else lifetime)
        with self._lock:
            self._grants[token] = Grant(subject, expires_at, scope, data)
            self.issued += 1
        return token

    def check(self, token: str | None) -> Grant | None:
        """The grant of a live token, else None."""
        with self._lock:
            grant = self._grants.get(token or "")
        if grant is None or grant.expires_at <= self.clock.now():
            return None
        return grant

    def redeem(self, token: str | None) -> Grant | None:
        """Like `check`; a rotating registry also forgets the token (single use)."""
        with self._lock:
            grant = self._grants.pop(token or "", None) if self.rotating else self._grants.get(token or "")
        if grant is None or grant.expires_at <= self.clock.now():
            return None
        return grant

    def expires_at(self, token: str) -> float | None:
        """When an issued token expires (on `clock`), whether or not it is still live; None if never issued."""
        with self._lock:
            grant = self._grants.get(token)
        return None if grant is None else grant.expires_at

    def revoke(self, token: str) -> bool:
        """Forget one token (RFC 7009 revocation); True when it was live."""
        with self._lock:
            grant = self._grants.pop(token, None)
        return grant is not None and grant.expires_at > self.clock.now()

    def revoke_all(self) -> None:
        with self._lock:
            self._grants.clear()

    def live(self) -> list[str]:
        """Tokens that would be accepted now (tests: "the stored refresh token is the live one")."""
        now = self.clock.now()
        with self._lock:
            return [token for token, grant in self._grants.items() if grant.expires_at > now]


class JwtIssuer:
    """HS256 JWTs with `iat`/`nbf`/`exp` on `clock`, verified with the same secret."""

    def __init__(self, clock: Clock, lifetime: float, secret: str | None = None, issuer: str = "emulator") -> None:
        self.clock, self.lifetime, self.issuer = clock, lifetime, issuer
        self.secret = secret or secrets.token_urlsafe(32)
        self.revoked_before = 0.0

    def issue(self, subject: str, lifetime: float | None = None, **claims: Any) -> str:
        now = int(self.clock.now())
        payload = {
            "sub": subject,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + int(self.lifetime if lifetime is None else lifetime),
            "jti": secrets.token_hex(8),
            **claims,
        }
        return jwt.encode(payload, self.secret, algorithm="HS256")

    def check(self, token: str | None) -> dict[str, Any] | None:
        """The claims of a valid, unexpired token (on the emulator's clock), else None."""
        if not token:
            return None
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                issuer=self.issuer,
                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            return None
        now = self.clock.now()
        if claims["exp"] <= now or claims["iat"] < self.revoked_before:
            return None
        return claims

    def revoke_all(self) -> None:
        """Invalidate every token issued so far (e.g. a server restart with session loss)."""
        self.revoked_before = int(self.clock.now()) + 1


def pkce_s256(verifier: str) -> str:
    """The S256 code challenge of a PKCE verifier (RFC 7636), computed here independently of the provider."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def oauth_error(error: str, description: str | None = None, status: int = 400) -> Response:
    """An RFC 6749 section 5.2 error body."""
    body = {"error": error}
    if description:
        body["error_description"] = description
    return Response.json(body, status=status, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def bearer_challenge(error: str | None = None, description: str | None = None) -> Response:
    """401 with an RFC 6750 `WWW-Authenticate: Bearer` challenge and no body, as ASP.NET's JwtBearer sends."""
    challenge = "Bearer"
    if error:
        challenge += f' error="{error}"'
        if description:
            challenge += f', error_description="{description}"'
    return Response(401, b"", {"WWW-Authenticate": challenge})


def bearer_refusal(
    request: Request, is_live: Callable[[str], object], description: str = "The token is expired or invalid"
) -> Response | None:
    """None when the request carries a bearer token that `is_live` accepts, else the 401 challenge to send."""
    token = request.bearer()
    if token is None:
        return bearer_challenge()
    if not is_live(token):
        return bearer_challenge("invalid_token", description)
    return None


def form_or_json(request: Request) -> dict[str, Any]:
    """The request body as a dict whatever its content type (JSON object or form); {} when unreadable."""
    content_type = (request.header("content-type") or "").lower()
    try:
        if "json" in content_type:
            body = request.json()
            return body if isinstance(body, dict) else {}
        return request.form()
    except ValueError:
        return {}


class TokenApi(Emulator):
    """An emulator with a clock and token endpoints whose calls `token_requests` counts."""

    token_paths: tuple[str, ...] = ()

    def __init__(self, **kwargs: Any) -> None:
        self.clock = Clock()
        super().__init__(**kwargs)

    @property
    def token_requests(self) -> int:
        """Calls to any token endpoint (login, token, refresh), successful or not."""
        return sum(self.count("POST", path) for path in self.token_paths)

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward: tokens issued before may now be expired."""
        self.clock.advance(seconds)

    @classmethod
    def standalone(cls, **kwargs: Any) -> TokenApi:
        """An instance for a run outside pytest (`python -m tests.emulators`); override to create what the
        emulator needs on disk (a certificate) or to seed state (a consented refresh token)."""
        return cls(**kwargs)

    def describe(self) -> dict[str, Any]:
        """URL, credentials and the Airflow connection for this emulator (CLI, demo, tests)."""
        raise NotImplementedError

    def airflow_connection(self) -> dict[str, Any]:
        """This emulator as Airflow's JSON connection form (the value of an `AIRFLOW_CONN_*` variable)."""
        return self.describe()["connection"]
