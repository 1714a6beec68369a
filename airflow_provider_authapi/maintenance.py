"""Token upkeep shared by `airflow authapi token clear|refresh`, the token page and the keep-warm DAG.

`clear_and_revoke(conn_id)` revokes the stored refresh token, then the access token, at the connection's
`revocation_url` (RFC 7009), then deletes the stored copy whatever the server said.

`keep_warm(...)` refreshes the stored token of each connection whose refresh token dies within a given time
(QuickBooks' dies after 100 idle days), so that a rarely used connection never needs a new consent. It refreshes
through the connection's `TokenManager`, the path every task takes: the refresh queue protects the rotation.

`keep_warm` runs in CLI and server processes and inside tasks (connections and Variables through the Task SDK);
`clear_and_revoke` in CLI and server processes only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Literal

import pendulum

from airflow_provider_authapi.auth.client import ssl_verify
from airflow_provider_authapi.auth.config import OAuth2Config
from airflow_provider_authapi.auth.errors import AuthApiError, scrub
from airflow_provider_authapi.auth.grants import OAuth2Grant, Revocation, TokenEndpoint
from airflow_provider_authapi.auth.tokens import REFRESH_EXPIRES_AT, Token
from airflow_provider_authapi.compat import CLI_NAME, TASKS_LIST_VARIABLES, NeedsNewerAirflow
from airflow_provider_authapi.plugins.pages import when as _when
from airflow_provider_authapi.store import VariableTokenStore
from airflow_provider_authapi.store.variables import (
    LEGACY_TOKEN_VARIABLE_PREFIX,
    TOKEN_VARIABLE_PREFIX,
    conn_id_of,
    variables_for_this_process,
)

log = logging.getLogger(__name__)

# -- revocation, then clear -----------------------------------------------------------------------------------------

# Why no revocation request was sent: the code travels in the token page's redirect, the text is shown.
NOT_REVOKED = {
    "no_url": "the connection has no revocation_url",
    "not_oauth2": "only OAuth 2.0 connections revoke tokens",
    "unreadable": "the connection cannot be read",
    "damaged": "the stored record was damaged, so no token could be read from it",
}


@dataclass(frozen=True)
class Cleared:
    """What `clear_and_revoke` did: whether a token was stored, what the revocation endpoint said of each token."""

    conn_id: str
    stored: bool
    revocations: tuple[Revocation, ...] = ()
    not_revoked: str = ""  # a key of NOT_REVOKED when no revocation request was sent

    @property
    def confirmed(self) -> bool:
        """The server confirmed the revocation of every token sent to it."""
        return bool(self.revocations) and all(revocation.confirmed for revocation in self.revocations)

    @property
    def refused(self) -> bool:
        """A revocation was sent and not confirmed: the API may still accept that token until it expires."""
        return any(not revocation.confirmed for revocation in self.revocations)

    def lines(self) -> list[str]:
        """What happened, one line each: each token's revocation (or why none was sent), then the clear."""
        if not self.stored:
            return [f"Connection {self.conn_id!r} had no stored token; nothing to clear."]
        lines = [str(revocation) for revocation in self.revocations]
        if self.not_revoked:
            lines.append(f"not revoked: {NOT_REVOKED[self.not_revoked]}")
        if self.refused:
            lines.append(
                f"Cleared the stored token of connection {self.conn_id!r} anyway: the API may accept the tokens it "
                "did not revoke until they expire."
            )
        else:
            lines.append(f"Cleared the stored token of connection {self.conn_id!r}.")
        return lines


def clear_and_revoke(conn_id: str) -> Cleared:
    """Revoke the stored tokens at the connection's `revocation_url`, then delete the stored copy (always).

    Raises like `consent.clear_token`: for an unknown or static connection with nothing stored.
    """
    from airflow_provider_authapi.consent import clear_token

    record = VariableTokenStore(conn_id, fingerprint="").read_record()
    revocations: tuple[Revocation, ...] = ()
    not_revoked = ""
    if record is not None and record.token is not None:
        revocations, not_revoked = _revoke(conn_id, record.token)
    elif record is not None:  # damaged: no token can be read back to revoke; clearing is the fix
        not_revoked = "damaged"
    stored = clear_token(conn_id)
    return Cleared(conn_id, stored, revocations if stored else (), not_revoked if stored else "")


def _revoke(conn_id: str, token: Token) -> tuple[tuple[Revocation, ...], str]:
    from airflow_provider_authapi.consent import hook_for

    try:
        config = hook_for(conn_id).config
    except Exception:  # a connection that is gone or broken: its token is cleared all the same
        return (), "unreadable"
    scheme = config.scheme
    if not isinstance(scheme, OAuth2Config):
        return (), "not_oauth2"
    if not scheme.revocation_url:
        return (), "no_url"
    common = config.common
    endpoint = TokenEndpoint(
        OAuth2Grant(scheme, allowed_origins=common.allowed_origins),
        verify=ssl_verify(common.tls),
        timeout=common.timeout,
        proxy=common.proxy,
    )
    return tuple(endpoint.revoke(token)), ""


# -- keep-warm ------------------------------------------------------------------------------------------------------

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

Outcome = Literal["refreshed", "skipped", "failed"]


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `90m`, `45s`, `2w` as a timedelta; ValueError for anything else."""
    match = DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 30d, 12h, 90m, 45s or 2w")
    return timedelta(**{DURATION_UNITS[match.group(2)]: float(match.group(1))})


@dataclass(frozen=True)
class KeptWarm:
    """What `keep_warm` did for one connection. No secret: safe to print, log and push to XCom."""

    conn_id: str
    outcome: Outcome
    detail: str = ""  # the new refresh expiry, why it was skipped, or the error
    refresh_expires_at: str | None = None  # ISO 8601, UTC: after the refresh, or as found

    def __str__(self) -> str:
        return f"{self.conn_id}: {self.outcome}: {self.detail}" if self.detail else f"{self.conn_id}: {self.outcome}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _refuse_listing_in_an_old_task(variables: Any) -> None:
    """Tasks list Variables from Airflow 3.3 on; before, a task is told what to do instead."""
    from airflow_provider_authapi.store.variables import TaskSdkVariables

    if isinstance(variables, TaskSdkVariables) and not TASKS_LIST_VARIABLES:
        raise NeedsNewerAirflow(
            "Finding every connection with a stored token from a task (keep_warm without conn_ids)",
            "3.3",
            "Name the connections (the keep-warm DAG's conn_ids param, or keep_warm(conn_ids=[...])), or run "
            f"`{CLI_NAME} token refresh --all --expiring-within 30d` on a host with the metadata database.",
        )


def stored_conn_ids() -> list[str]:
    """The connection id of every stored token, read through this process's path to Variables."""
    variables = variables_for_this_process()
    _refuse_listing_in_an_old_task(variables)
    return sorted(
        {
            conn_id_of(key.removeprefix(prefix))  # a team's own record (multi-team) counts as its connection's
            for prefix in (TOKEN_VARIABLE_PREFIX, LEGACY_TOKEN_VARIABLE_PREFIX)
            for key in variables.keys(prefix)
        }
    )


def keep_warm(
    conn_ids: Iterable[str] | None = None,
    *,
    within: timedelta | None = None,
    conn_types: Iterable[str] | None = None,
) -> list[KeptWarm]:
    """Refresh each connection whose refresh token expires within `within` (or every one holding a refresh token
    when None); one `KeptWarm` per connection. Without `conn_ids`: every connection with a stored token.

    A connection whose refresh token's expiry is unknown (the API never said) is skipped when `within` is given.
    `conn_types` limits the run to connections of those types (e.g. `("authapi_oauth2",)`, which includes the
    system types built on it, such as `authapi_quickbooks_sandbox`).
    """
    types = tuple(conn_types) if conn_types is not None else None
    ids = list(conn_ids) if conn_ids is not None else stored_conn_ids()
    return [refresh_connection(conn_id, within=within, conn_types=types, listed=conn_ids is None) for conn_id in ids]


def refresh_connection(
    conn_id: str,
    *,
    within: timedelta | None = None,
    conn_types: tuple[str, ...] | None = None,
    listed: bool = False,
    any_token: bool = False,
) -> KeptWarm:
    """Refresh one connection's stored token through its `TokenManager` when its refresh token is due.

    `any_token` refreshes whatever is stored, or obtains a first token (the token page's Refresh); `listed` says
    the id came from the store's listing, so a connection that no longer exists is skipped rather than failed.
    """
    secrets: list[str | None] = []
    try:
        hook = _hook(conn_id)
        conn_type = getattr(hook.connection, "conn_type", None)
        if conn_types is not None and not _of_types(conn_type, conn_types):
            return KeptWarm(conn_id, "skipped", f"a {conn_type} connection")
        manager = hook.token_manager
        if manager is None:
            return KeptWarm(conn_id, "skipped", f"a {conn_type} connection obtains no tokens")
        if any_token and within is None:
            _drop_damaged(manager.store)
        token = manager.store.load()
        if token is not None:
            secrets += [token.access_token, token.refresh_token]
        why_not = None if any_token and within is None else _why_not(token, within)
        if why_not is not None:
            return KeptWarm(conn_id, "skipped", why_not, _refresh_expiry(token))
        fresh = manager.get_token(force_refresh=True, stale=token)
    except Exception as exc:
        if listed and type(exc).__name__ == "AirflowNotFoundException":
            return KeptWarm(conn_id, "skipped", "the connection no longer exists (its stored token stays)")
        detail = str(exc) if isinstance(exc, AuthApiError) else f"{type(exc).__name__}: {exc}"
        return KeptWarm(conn_id, "failed", scrub(detail, secrets))
    expiry = _refresh_expiry(fresh)
    if expiry:
        detail = f"refresh token valid until {_when(expiry)}"
    elif fresh.refresh_token:
        detail = "the API gave no refresh token expiry"
    else:
        detail = "no refresh token"
    return KeptWarm(conn_id, "refreshed", detail, expiry)


def _drop_damaged(store: Any) -> None:
    """An explicit refresh replaces a damaged record: nothing in it can be read back, so nothing is lost."""
    record = store.read_record()
    if record is not None and record.problem is not None:
        log.warning("Replacing the damaged token record of %s: %s", store.name, record.problem)
        store.clear()


def _why_not(token: Token | None, within: timedelta | None) -> str | None:
    """Why a stored token needs no keep-warm refresh now; None when it does."""
    if token is None:
        return "no token stored under the connection's current credentials"
    if not token.refresh_token:
        return "no refresh token: nothing to keep alive"
    if within is None:
        return None
    expiry = _refresh_expiry(token)
    if expiry is None:
        return "the API gave no refresh token expiry (refresh without --expiring-within to keep it alive anyway)"
    if pendulum.parse(expiry) > pendulum.now("UTC") + within:
        return f"refresh token valid until {_when(expiry)}, more than {_span(within)} away"
    return None


def _refresh_expiry(token: Token | None) -> str | None:
    value = token.extra.get(REFRESH_EXPIRES_AT) if token is not None and token.refresh_token else None
    return str(value) if value else None


def _of_types(conn_type: str | None, conn_types: tuple[str, ...]) -> bool:
    """Whether `conn_type` is one of `conn_types`, or a system type whose base type is (see connections.fields)."""
    from airflow_provider_authapi.connections import CONNECTION_TYPES

    known = CONNECTION_TYPES.get(conn_type or "")
    return conn_type in conn_types or (known is not None and known.scheme_type in conn_types)


def _hook(conn_id: str) -> Any:
    """The connection's hook: its connection through the Task SDK inside a task, server-side elsewhere."""
    from airflow_provider_authapi.store.variables import TaskSdkVariables

    if isinstance(variables_for_this_process(), TaskSdkVariables):
        from airflow_provider_authapi.hooks.authapi import AuthApiHook

        return AuthApiHook(conn_id)
    from airflow_provider_authapi.consent import hook_for

    return hook_for(conn_id)


def _span(within: timedelta) -> str:
    seconds = within.total_seconds()
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} seconds"
