"""The authorization code consent and the token cache of every token-caching connection, shared by the API
server plugin (Admin > API tokens) and the `airflow authapi` CLI.

A connection caches tokens when its scheme obtains them (`caches_tokens`: the hook builds a token manager), whatever
its type is called; `token_statuses()` lists them, `refresh_token()` and `clear_token()` act on one.

`begin()` makes a random `state` and a PKCE verifier and gives the URL to send the user to; `complete()` trades
the returned code for tokens and saves them in the connection's token store, where the hook reads them.
Pending consents live in Variables (`ConsentStates`) so that any API server worker can finish one; each is
single-use (the row delete is the atomic claim), bound to one connection and one user, and expires.

Runs in server and CLI processes only (metadata DB via the ORM), never inside tasks.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from airflow_provider_authapi.auth import authorization_url, exchange_code, new_pkce_verifier
from airflow_provider_authapi.auth.config import OAuth2Config
from airflow_provider_authapi.auth.errors import AuthApiError, TokenEndpointError
from airflow_provider_authapi.auth.tokens import REALM_ID, Token
from airflow_provider_authapi.store import VariableTokenStore

CONSENT_TTL_SECONDS = 600.0
# The name contains "secret", so Airflow's UI and logs redact the value (it holds the PKCE verifier).
PENDING_PREFIX = "authapi_consent_secret_"
USED_PREFIX = "authapi_consent_used_"


class ConsentError(AuthApiError):
    """A consent could not start or finish; `kind` says why (for the error page), the message is safe to show."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


@dataclass(frozen=True)
class PendingConsent:
    """One started consent: which connection, which user, where the code comes back, the PKCE verifier."""

    state: str
    conn_id: str
    redirect_uri: str
    code_verifier: str | None
    expires_at: float
    user: str | None = None

    def __repr__(self) -> str:
        return f"PendingConsent(conn_id={self.conn_id!r}, user={self.user!r}, expires_at={self.expires_at})"


# -- connections ----------------------------------------------------------------------------------------------------


def get_connection(conn_id: str) -> Any:
    """A connection from the secrets backends, environment variables and the metadata DB (server/CLI side)."""
    from airflow.models.connection import Connection

    return Connection.get_connection_from_secrets(conn_id)


def provider_connections() -> dict[str, str]:
    """`{conn_id: conn_type}` of every connection of this provider's types in the metadata DB and in
    `AIRFLOW_CONN_*` variables (other secrets backends cannot be listed)."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_provider_authapi.connections import CONNECTION_TYPES

    types = set(CONNECTION_TYPES)
    with create_session() as session:
        rows = session.execute(
            select(Connection.conn_id, Connection.conn_type).where(Connection.conn_type.in_(types))
        ).all()
    found = {str(conn_id): str(conn_type) for conn_id, conn_type in rows}
    for name, value in os.environ.items():
        if name.startswith("AIRFLOW_CONN_") and (conn_type := _env_conn_type(value)) in types:
            found[name.removeprefix("AIRFLOW_CONN_").lower()] = conn_type
    return dict(sorted(found.items()))


def _env_conn_type(value: str) -> str | None:
    value = value.strip()
    if value.startswith("{"):
        try:
            return str(json.loads(value).get("conn_type", "")).replace("-", "_")
        except ValueError:
            return None
    return value.partition(":")[0].replace("-", "_")


def hook_for(conn_id: str) -> Any:
    """An `AuthApiHook` on `conn_id`, with its connection read server-side."""
    from airflow_provider_authapi.hooks.authapi import AuthApiHook

    return AuthApiHook(conn_id, connection=get_connection(conn_id))


def oauth2_scheme(hook: Any) -> OAuth2Config:
    scheme = hook.config.scheme
    if not isinstance(scheme, OAuth2Config):
        raise ConsentError("config", f"connection {hook.authapi_conn_id!r} is not an OAuth 2.0 connection")
    return scheme


def needs_consent(hook: Any) -> bool:
    """True for connections whose tokens come from a user's consent (the authorization code grant)."""
    scheme = hook.config.scheme
    return isinstance(scheme, OAuth2Config) and scheme.grant_type == "authorization_code"


# -- the token cache of every connection whose scheme obtains tokens ------------------------------------------------


def caches_tokens(hook: Any) -> bool:
    """True when the connection's scheme obtains tokens (and so caches them), whatever its type is called."""
    return hook.token_manager is not None


def token_state(status: dict[str, Any]) -> str:
    """One word for a status: error, none, other-credentials (a token of changed credentials), expired, valid."""
    if status.get("error"):
        return "error"
    if not status.get("stored"):
        return "none"
    if not status.get("current_credentials", True):
        return "other-credentials"
    return "expired" if status.get("expired") else "valid"


def token_status(hook: Any) -> dict[str, Any]:
    """The stored token's state (never a secret), or the configuration or store error."""
    conn_type = getattr(hook.connection, "conn_type", None)
    try:
        status = VariableTokenStore(hook.authapi_conn_id, hook.config.fingerprint()).status()
        status["consent"] = needs_consent(hook)
    except AuthApiError as exc:
        status = {"conn_id": hook.authapi_conn_id, "stored": False, "error": str(exc)}
    status["conn_type"] = conn_type
    status["state"] = token_state(status)
    return status


def token_statuses() -> list[dict[str, Any]]:
    """The status of every token-caching connection; a connection that cannot be read is listed with its error."""
    statuses = []
    for conn_id, conn_type in provider_connections().items():
        try:
            hook = hook_for(conn_id)
            if not caches_tokens(hook):
                continue
            statuses.append(token_status(hook))
        except Exception as exc:  # a broken connection: say why, never let one row break the list
            error = str(exc) if isinstance(exc, AuthApiError) else f"{type(exc).__name__}: {exc}"
            statuses.append({"conn_id": conn_id, "conn_type": conn_type, "stored": False, "error": error})
            statuses[-1]["state"] = "error"
    return statuses


def token_hook(conn_id: str) -> Any:
    """The hook of a token-caching connection; `ConsentError` for an unknown one or one of a static scheme."""
    try:
        hook = hook_for(conn_id)
        cached = caches_tokens(hook)
    except AuthApiError:
        raise
    except Exception as exc:  # AirflowNotFoundException and the like: name the connection, not a traceback
        raise ConsentError("config", f"connection {conn_id!r} cannot be used: {type(exc).__name__}: {exc}") from None
    if not cached:
        conn_type = getattr(hook.connection, "conn_type", None)
        raise ConsentError("static", f"connection {conn_id!r} ({conn_type}) obtains no tokens: nothing is cached")
    return hook


def refresh_token(conn_id: str) -> dict[str, Any]:
    """Obtain a new token now (refresh token, or the connection's grant or login) into the cache; its status."""
    hook = token_hook(conn_id)
    hook.get_token(force_refresh=True)
    return token_status(hook)


def clear_token(conn_id: str) -> bool:
    """Delete a connection's cached token and refresh lease; True when a token was stored.

    Works for a connection that no longer exists or cannot be read, as long as something is stored for it.
    """
    from airflow_provider_authapi.hooks.authapi import reset_token_managers

    store = VariableTokenStore(conn_id, fingerprint="")
    stored = store.read_record() is not None
    if not stored:
        token_hook(conn_id)  # nothing stored: an unknown or static connection id is a mistake worth an error
    store.clear()
    reset_token_managers()
    return stored


# -- the two legs ---------------------------------------------------------------------------------------------------


def begin(hook: Any, *, redirect_uri: str | None = None, user: str | None = None) -> tuple[str, PendingConsent]:
    """Start a consent: (authorization URL to open, the pending consent to keep until the callback).

    `redirect_uri` is used when the connection names none (the plugin passes its own callback URL).
    """
    cfg = oauth2_scheme(hook)
    redirect = cfg.redirect_uri or redirect_uri
    if not cfg.authorization_url:
        raise ConsentError("config", f"connection {hook.authapi_conn_id!r} has no authorization_url")
    if not redirect:
        raise ConsentError("config", f"connection {hook.authapi_conn_id!r} has no redirect_uri")
    pending = PendingConsent(
        state=secrets.token_urlsafe(32),
        conn_id=hook.authapi_conn_id,
        redirect_uri=redirect,
        code_verifier=new_pkce_verifier(),  # PKCE always: servers that do not know it ignore it
        expires_at=time.time() + CONSENT_TTL_SECONDS,
        user=user,
    )
    url = authorization_url(
        replace(cfg, redirect_uri=redirect), state=pending.state, code_verifier=pending.code_verifier
    )
    return url, pending


def complete(
    hook: Any,
    pending: PendingConsent,
    code: str,
    *,
    realm_id: str | None = None,
    callback: dict[str, Any] | None = None,
) -> Token:
    """Trade the code for tokens and save them (with `realm_id`, when given) where the hook reads them.

    `callback` is the callback's query: the values the connection keeps of it (`consent_values`, Zoho's
    `accounts-server`) are saved with the tokens and may name the token URL (`auth/derived.py`); so are those of
    the token answer and of the connection's discovery request, sent with the new token."""
    from airflow_provider_authapi.hooks.authapi import reset_token_managers

    cfg = replace(oauth2_scheme(hook), redirect_uri=pending.redirect_uri)
    try:
        token = exchange_code(
            cfg, code, code_verifier=pending.code_verifier, common=hook.config.common, callback=callback
        )
    except TokenEndpointError as exc:
        if str(exc).startswith("discovery "):  # the code was exchanged; what the new token was to find failed
            raise ConsentError("exchange", f"the discovery request after the code exchange failed: {exc}") from None
        raise ConsentError("exchange", f"the token endpoint refused the authorization code: {exc}") from None
    except AuthApiError as exc:
        raise ConsentError("exchange", f"the consent could not be completed: {exc}") from None
    if realm_id:
        token = replace(token, extra={**token.extra, REALM_ID: realm_id})
    hook.store.save(token)
    reset_token_managers()
    return token


# -- pending consents in Variables ----------------------------------------------------------------------------------


def _state_key(prefix: str, state: str) -> str:
    # The state itself never appears in a Variable name: whoever can list Variables must not learn it.
    return prefix + hashlib.sha256(state.encode()).hexdigest()[:40]


class ConsentStates:
    """Pending consents kept in Variables, readable by every worker of the API server."""

    def __init__(self, ttl: float = CONSENT_TTL_SECONDS) -> None:
        self.ttl = ttl

    def put(self, pending: PendingConsent) -> None:
        from airflow.models.variable import Variable

        self.sweep()
        Variable.set(
            _state_key(PENDING_PREFIX, pending.state),
            json.dumps(asdict(pending)),
            description=f"authapi consent in progress for {pending.conn_id}",
        )

    def take(self, state: str | None, *, user: str | None = None) -> PendingConsent:
        """Claim a pending consent once; raise `ConsentError` for a missing, unknown, used or expired state."""
        from airflow.models.variable import Variable

        if not state:
            raise ConsentError("state", "the callback carries no state parameter")
        key = _state_key(PENDING_PREFIX, state)
        raw = _get(key)
        if raw is None or Variable.delete(key) != 1:  # the delete is the atomic, single-use claim
            if _get(_state_key(USED_PREFIX, state)) is not None:
                raise ConsentError("replayed", "this authorization response was already used; start again")
            raise ConsentError("state", "unknown or expired state; start the authorization again")
        Variable.set(_state_key(USED_PREFIX, state), json.dumps({"expires_at": time.time() + self.ttl}))
        pending = PendingConsent(**json.loads(raw))
        if pending.expires_at < time.time():
            raise ConsentError("expired", "this authorization request expired; start again")
        if user is not None and pending.user is not None and pending.user != user:
            raise ConsentError("state", "this authorization was started by another user")
        return pending

    def sweep(self) -> int:
        """Delete expired pending and used states; return how many."""
        from airflow.models.variable import Variable
        from airflow.utils.session import create_session
        from sqlalchemy import or_, select

        with create_session() as session:
            rows = session.execute(
                select(Variable).where(
                    or_(Variable.key.startswith(PENDING_PREFIX), Variable.key.startswith(USED_PREFIX))
                )
            ).scalars()
            keys = [row.key for row in rows if _expired(row.val)]
        for key in keys:
            Variable.delete(key)
        return len(keys)


def _get(key: str) -> str | None:
    from airflow_provider_authapi.store import MetadataVariables

    return MetadataVariables().get(key)


def _expired(raw: str | None) -> bool:
    try:
        return float(json.loads(raw or "{}")["expires_at"]) < time.time()
    except (ValueError, KeyError, TypeError):
        return True
