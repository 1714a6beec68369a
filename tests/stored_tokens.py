"""What a connection's token Variable holds, read and aged straight through the metadata DB (tests only)."""

from __future__ import annotations

import json
from typing import Any

import pendulum


def stored_record(conn_id: str) -> dict[str, Any] | None:
    """The whole stored record (token, fingerprint, ...) of `conn_id`, or None."""
    from airflow_provider_authapi.store import MetadataVariables, token_variable_name

    raw = MetadataVariables().get(token_variable_name(conn_id))
    return json.loads(raw) if raw else None


def stored_token(conn_id: str) -> dict[str, Any] | None:
    """The stored token of `conn_id` as a dict (`access_token`, `refresh_token`, `expires_at`, ...), or None."""
    record = stored_record(conn_id)
    return record["token"] if record else None


def expire_stored_token(conn_id: str) -> dict[str, Any]:
    """Make the stored token stale, as if its lifetime had passed; return it as it was."""
    from airflow_provider_authapi.store import MetadataVariables, token_variable_name

    record = stored_record(conn_id)
    assert record is not None, f"no stored token for {conn_id!r}"
    before = dict(record["token"])
    record["token"]["expires_at"] = pendulum.now("UTC").subtract(seconds=5).isoformat()
    MetadataVariables().set(token_variable_name(conn_id), json.dumps(record))
    return before
