"""The token model: what a token endpoint handed out, with an absolute expiry."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import jwt
import pendulum
from pendulum import DateTime

DEFAULT_LEEWAY = 60.0

# QuickBooks' company id: its consent callback sends `realmId`, saved with the token under this key.
REALM_ID = "realm_id"
# Keys of `Token.extra` that are no secret: shown with the token's state and usable as `{name}` in endpoints.
PUBLIC_EXTRA_KEYS = (REALM_ID,)


def jwt_expiry(token: str) -> DateTime | None:
    """Return the `exp` claim of `token` if it is a JWT (read without verifying), else None."""
    if token.count(".") != 2:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        return pendulum.from_timestamp(exp)
    return None


@dataclass(frozen=True)
class Token:
    """An access token and what came with it. Secrets never appear in `repr()`."""

    access_token: str = field(repr=False)
    token_type: str = "Bearer"
    expires_at: DateTime | None = None
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None
    obtained_at: DateTime = field(default_factory=lambda: pendulum.now("UTC"))
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_lifetime(
        cls,
        access_token: str,
        *,
        expires_in: float | None = None,
        default_lifetime: float | None = None,
        max_lifetime: float | None = None,
        now: DateTime | None = None,
        **kwargs: Any,
    ) -> Token:
        """Build a token whose expiry comes from `expires_in`, else the JWT `exp`, else the default.

        `max_lifetime` caps whichever applies: the shorter of declared and configured lifetimes wins.
        """
        now = now or pendulum.now("UTC")
        if expires_in is not None:
            expires_at: DateTime | None = now.add(seconds=float(expires_in))
        else:
            expires_at = jwt_expiry(access_token)
            if expires_at is None and default_lifetime is not None:
                expires_at = now.add(seconds=float(default_lifetime))
        if max_lifetime is not None:
            cap = now.add(seconds=float(max_lifetime))
            expires_at = cap if expires_at is None or cap < expires_at else expires_at
        return cls(access_token=access_token, expires_at=expires_at, obtained_at=now, **kwargs)

    def is_expired(self, leeway: float = DEFAULT_LEEWAY, now: DateTime | None = None) -> bool:
        """True when the token expires within `leeway` seconds (a token with no expiry never does)."""
        if self.expires_at is None:
            return False
        if now is None:  # the per-request path: plain epoch seconds, no pendulum arithmetic
            return self.expires_at.timestamp() - leeway <= time.time()
        return self.expires_at.subtract(seconds=leeway) <= now

    def with_refresh_token_kept(self, previous: Token | None) -> Token:
        """Keep the previous refresh token when a refresh response did not rotate it."""
        if self.refresh_token or previous is None or not previous.refresh_token:
            return self
        return replace(self, refresh_token=previous.refresh_token)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, for a token store."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
            "obtained_at": self.obtained_at.isoformat(),
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Token:
        """Inverse of `to_dict`."""
        expires_at = data.get("expires_at")
        return cls(
            access_token=data["access_token"],
            token_type=data.get("token_type") or "Bearer",
            expires_at=pendulum.parse(expires_at) if expires_at else None,  # type: ignore[arg-type]
            refresh_token=data.get("refresh_token"),
            scope=data.get("scope"),
            obtained_at=pendulum.parse(data["obtained_at"]),  # type: ignore[arg-type]
            extra=dict(data.get("extra") or {}),
        )
