"""What a connection's token Variable holds, read back and aged straight through the metadata DB (tests only)."""

from __future__ import annotations

import json
from typing import Any

import pendulum


def stored_record(conn_id: str) -> dict[str, Any] | None:
    """The stored record of `conn_id` unsealed (`fingerprint`, `token` as a dict), or None; damaged: an error."""
    from airflow_provider_authapi.store import VariableTokenStore

    record = VariableTokenStore(conn_id, fingerprint="").read_record()
    if record is None:
        return None
    assert record.token is not None, f"the token record of {conn_id!r} is damaged: {record.problem}"
    return {"key": record.key, "fingerprint": record.fingerprint, "token": record.token.to_dict()}


def stored_token(conn_id: str) -> dict[str, Any] | None:
    """The stored token of `conn_id` as a dict (`access_token`, `refresh_token`, `expires_at`, ...), or None."""
    record = stored_record(conn_id)
    return record["token"] if record else None


def expire_stored_token(conn_id: str) -> dict[str, Any]:
    """Make the stored token stale, as if its lifetime had passed (a hand edit of its plain `expires_at`)."""
    from airflow_provider_authapi.store import MetadataVariables, token_variable_name

    before = stored_token(conn_id)
    assert before is not None, f"no stored token for {conn_id!r}"
    raw = json.loads(MetadataVariables().get(token_variable_name(conn_id)))
    raw["expires_at"] = pendulum.now("UTC").subtract(seconds=5).isoformat()
    MetadataVariables().set(token_variable_name(conn_id), json.dumps(raw))
    return before
