"""Token store on Airflow Variables: one variable per connection, shared by every task on every worker.

Inside a task or the triggerer the variables are read and written through the Task SDK (tasks in Airflow 3 may
not touch the database); in server and CLI processes through the metadata ORM. Both paths skip the secrets
cache and other secrets backends: a token read must be fresh, or a rotated refresh token could be lost.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from airflow_provider_authapi.auth.errors import TokenStoreError
from airflow_provider_authapi.auth.token import Token

TOKEN_VARIABLE_PREFIX = "authapi_token_"
LEASE_VARIABLE_PREFIX = "authapi_token_lease_"
STORE_FORMAT_VERSION = 1


def token_variable_name(conn_id: str) -> str:
    """The variable holding `conn_id`'s token; its name contains `token`, so the UI masks its value."""
    return f"{TOKEN_VARIABLE_PREFIX}{conn_id}"


def lease_variable_name(conn_id: str) -> str:
    """The variable holding `conn_id`'s refresh lease."""
    return f"{LEASE_VARIABLE_PREFIX}{conn_id}"


class VariableAccess(Protocol):
    """The three operations the store needs from Airflow Variables."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, description: str | None = None) -> None: ...

    def delete(self, key: str) -> None: ...


class TaskSdkVariables:
    """Variables through the supervisor of a task or trigger (the execution API), never the cache."""

    def __init__(self, comms: Any) -> None:
        self._comms = comms

    def get(self, key: str) -> str | None:
        from airflow.sdk.execution_time.comms import ErrorResponse, GetVariable, VariableResult

        msg = self._comms.send(GetVariable(key=key))
        if isinstance(msg, VariableResult):
            return msg.value
        if isinstance(msg, ErrorResponse) and "NOT_FOUND" in str(msg.error).upper():
            return None
        raise TokenStoreError(f"reading variable {key!r} failed: {_describe(msg)}")

    def set(self, key: str, value: str, description: str | None = None) -> None:
        from airflow.sdk.execution_time.comms import ErrorResponse, PutVariable

        msg = self._comms.send(PutVariable(key=key, value=value, description=description))
        if isinstance(msg, ErrorResponse):
            raise TokenStoreError(f"writing variable {key!r} failed: {_describe(msg)}")

    def delete(self, key: str) -> None:
        from airflow.sdk.execution_time.comms import DeleteVariable, ErrorResponse

        msg = self._comms.send(DeleteVariable(key=key))
        if isinstance(msg, ErrorResponse) and "NOT_FOUND" not in str(msg.error).upper():
            raise TokenStoreError(f"deleting variable {key!r} failed: {_describe(msg)}")


class MetadataVariables:
    """Variables straight from the metadata DB: for the API server, the CLI and scripts, never for tasks."""

    def get(self, key: str) -> str | None:
        from airflow.models.variable import Variable
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            row = session.scalar(select(Variable).where(Variable.key == key))
            return None if row is None else row.val

    def set(self, key: str, value: str, description: str | None = None) -> None:
        from airflow.models.variable import Variable

        Variable.set(key, value, description=description)

    def delete(self, key: str) -> None:
        from airflow.models.variable import Variable

        Variable.delete(key)


def variables_for_this_process() -> VariableAccess:
    """Task SDK variables inside a task or trigger, metadata DB variables elsewhere."""
    try:
        from airflow.sdk.execution_time import task_runner

        comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    except ImportError:  # pragma: no cover - Task SDK always ships with Airflow 3
        comms = None
    return TaskSdkVariables(comms) if comms is not None else MetadataVariables()


class VariableTokenStore:
    """One connection's token in a Variable, with a lease Variable that serialises refreshes.

    The stored JSON records a fingerprint of the credentials; a token saved under other credentials reads as
    absent. The lease is Fischer's timed mutual exclusion: claim the free lease, wait `settle` seconds (longer
    than any claimant's read-to-write gap, which each claimant checks of itself), and own it only if the claim
    is still ours. Variables offer no compare-and-set, so this is the strongest lock they allow.
    """

    def __init__(
        self,
        conn_id: str,
        fingerprint: str,
        *,
        variables: VariableAccess | None = None,
        lease_ttl: float = 60.0,
        lease_wait: float = 120.0,
        settle: float = 0.5,
        poll: float = 0.2,
    ) -> None:
        self.conn_id = conn_id
        self.fingerprint = fingerprint
        self.key = token_variable_name(conn_id)
        self.lease_key = lease_variable_name(conn_id)
        self._variables = variables
        self.lease_ttl, self.lease_wait, self.settle, self.poll = lease_ttl, lease_wait, settle, poll

    def __repr__(self) -> str:
        return f"VariableTokenStore(conn_id={self.conn_id!r}, key={self.key!r})"

    @property
    def variables(self) -> VariableAccess:
        # Chosen on use, not at construction: a hook built at parse time may be used inside a task.
        return self._variables or variables_for_this_process()

    # -- tokens -------------------------------------------------------------------------------------------

    def read_record(self) -> dict[str, Any] | None:
        """The raw stored record (token included), or None; a corrupt record raises `TokenStoreError`."""
        raw = self.variables.get(self.key)
        if not raw:
            return None
        try:
            record = json.loads(raw)
            Token.from_dict(record["token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenStoreError(
                f"variable {self.key!r} does not hold a token record ({type(exc).__name__}); "
                f"clear it with `airflow authapi token clear {self.conn_id}`"
            ) from None
        return record

    def load(self) -> Token | None:
        record = self.read_record()
        if record is None or record.get("fingerprint") != self.fingerprint:
            return None
        return Token.from_dict(record["token"])

    def save(self, token: Token) -> None:
        record = {
            "version": STORE_FORMAT_VERSION,
            "conn_id": self.conn_id,
            "fingerprint": self.fingerprint,
            "saved_at": time.time(),
            "token": token.to_dict(),
        }
        try:
            self.variables.set(self.key, json.dumps(record), description=f"authapi token cache of {self.conn_id}")
        except TokenStoreError:
            raise
        except Exception as exc:
            raise TokenStoreError(
                f"could not save the token of connection {self.conn_id!r} to variable {self.key!r}: "
                f"{type(exc).__name__}"
            ) from None

    def clear(self) -> None:
        self.variables.delete(self.key)
        self.variables.delete(self.lease_key)

    def status(self) -> dict[str, Any]:
        """What may be shown of the stored token: no secret, only its state."""
        record = self.read_record()
        if record is None:
            return {"conn_id": self.conn_id, "stored": False}
        token = Token.from_dict(record["token"])
        return {
            "conn_id": self.conn_id,
            "stored": True,
            "current_credentials": record.get("fingerprint") == self.fingerprint,
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
            "expired": token.is_expired(leeway=0),
            "has_refresh_token": bool(token.refresh_token),
            "obtained_at": token.obtained_at.isoformat(),
            "scope": token.scope,
            "extra": {k: v for k, v in token.extra.items() if k in ("realm_id",)},
        }

    # -- lease ----------------------------------------------------------------------------------------------

    def _read_lease(self) -> dict[str, Any] | None:
        raw = self.variables.get(self.lease_key)
        if not raw:
            return None
        try:
            lease = json.loads(raw)
            return {"owner": str(lease["owner"]), "expires_at": float(lease["expires_at"])}
        except (ValueError, KeyError, TypeError):
            return None  # a mangled lease is a free lease

    def _try_claim(self, owner: str) -> bool:
        started = time.monotonic()
        current = self._read_lease()
        if current is not None and current["expires_at"] > time.time():
            return False
        claim = json.dumps({"owner": owner, "expires_at": time.time() + self.lease_ttl})
        self.variables.set(self.lease_key, claim, description=f"authapi refresh lease of {self.conn_id}")
        if time.monotonic() - started > self.settle:
            # Our read-to-write gap broke the algorithm's timing bound: withdraw and try again.
            self._release(owner)
            return False
        time.sleep(self.settle)
        current = self._read_lease()
        return current is not None and current["owner"] == owner

    def _release(self, owner: str) -> None:
        current = self._read_lease()
        if current is not None and current["owner"] == owner:
            self.variables.delete(self.lease_key)

    @contextmanager
    def lease(self) -> Iterator[None]:
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + self.lease_wait
        while not self._try_claim(owner):
            if time.monotonic() > deadline:
                raise TokenStoreError(
                    f"timed out after {self.lease_wait:.0f} s waiting for the refresh lease of connection "
                    f"{self.conn_id!r} (variable {self.lease_key!r}); another worker holds it"
                )
            time.sleep(self.poll * (0.5 + random.random()))
        try:
            yield
        finally:
            self._release(owner)


def _describe(msg: Any) -> str:
    error = getattr(msg, "error", None)
    return str(error) if error is not None else type(msg).__name__
