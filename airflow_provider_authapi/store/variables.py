"""The token store on Airflow Variables: one token Variable per connection, plus its refresh queue's tickets.

Inside a task, the triggerer or the DAG processor the Variables are read and written through the Task SDK
(Airflow 3 tasks may not touch the database), which reaches the execution API over HTTP: slow under load, so
the coordination on top makes no assumption on the store's latency. It is `auth.tokens.RefreshQueue` (the
bakery, which lists keys) where the Task SDK lists Variable keys (Airflow 3.3), else `auth.tokens.LeaseQueue`
(one Variable), in every process of the deployment alike, so tasks and servers always take turns the same way.
In server and CLI processes the metadata ORM is used. Both paths skip the secrets cache and other secrets
backends: a token read must be fresh, or a rotated refresh token could be lost.
"""

from __future__ import annotations

import hashlib
import threading
from functools import cache
from typing import Any

from airflow_provider_authapi.auth.budget import SharedBudget
from airflow_provider_authapi.auth.config import BudgetConfig
from airflow_provider_authapi.auth.errors import TokenStoreError
from airflow_provider_authapi.auth.tokens import LEASE_DELAY, TICKET_TTL, LeaseQueue, Registers, SharedTokenStore
from airflow_provider_authapi.compat import CLI_NAME
from airflow_provider_authapi.store.sealing import AirflowFernetSealer

TOKEN_VARIABLE_PREFIX = "authapi_cache_"  # no word Airflow's masker hides: see store/sealing.py
LEGACY_TOKEN_VARIABLE_PREFIX = "authapi_token_"  # version 1 records, read until the next save migrates them
QUEUE_VARIABLE_PREFIX = "authapi_refresh_queue:"  # ':' is no character of a conn_id: no name can collide
BUDGET_VARIABLE_PREFIX = "authapi_budget:"  # a connection's API budget: its ledger and its queue (no secret)
TEAM_SEPARATOR = "@"  # `<conn_id>@<team>`: a team's own record (multi-team); '@' is in no conn_id nor team name


class _Unset:  # VariableTokenStore(team=None) means global; left out, the process decides (`record_team`)
    pass


_UNSET = _Unset()


def record_name(conn_id: str, team: str | None = None) -> str:
    """Whose record: `conn_id`, or `conn_id@team` for a team's own record of it under `[core] multi_team`."""
    return f"{conn_id}{TEAM_SEPARATOR}{team}" if team else conn_id


def conn_id_of(name: str) -> str:
    """The connection id of a record name (`record_name`'s inverse, the team dropped)."""
    return name.partition(TEAM_SEPARATOR)[0]


def token_variable_name(conn_id: str, team: str | None = None) -> str:
    """The variable holding `conn_id`'s token record (its secrets sealed, so the UI may show it as it is); a team's
    own record under `[core] multi_team` is `authapi_cache_<conn_id>@<team>`."""
    return f"{TOKEN_VARIABLE_PREFIX}{record_name(conn_id, team)}"


def legacy_token_variable_name(conn_id: str) -> str:
    """Where a version 1 record of `conn_id` lives (its name contains `token`: the UI masks its whole value)."""
    return f"{LEGACY_TOKEN_VARIABLE_PREFIX}{conn_id}"


def queue_variable_prefix(conn_id: str, team: str | None = None) -> str:
    """The prefix of the variables holding `conn_id`'s refresh-queue tickets (no secret in them); a team's own
    (`[core] multi_team`) are `authapi_refresh_queue:<conn_id>@<team>:`, which no other connection's prefix starts.

    A ticket's name adds about 35 characters; a very long name is shortened with a digest ('~' is no
    character of a conn_id either) so the name stays within a Variable key's 250.
    """
    name = record_name(conn_id, team)
    if len(name) > 150:
        name = f"{name[:100]}~{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    return f"{QUEUE_VARIABLE_PREFIX}{name}:"


def record_team(conn_id: str) -> str | None:
    """The team whose record of `conn_id` this process reads and writes under `[core] multi_team`, else None.

    A team's task keeps its own record of every connection it uses (`<conn_id>@<team>`, a Variable of its team
    that no other team's task can read): in multi-team mode a Variable's key is unique across teams, a task reads
    only its team's and global ones, and the one it creates is its team's. The API server and the CLI (the token
    page, `token refresh`, consent) act on the record of the connection's own team: a team's connection is only
    that team's tasks' to read. The triggerer reads and writes global Variables only (Airflow 3.3), so a trigger
    uses the global record, as a task of no team does.
    """
    from airflow_provider_authapi.compat import in_task_process, multi_team, running_team

    if not multi_team():
        return None
    if in_task_process():
        return running_team()
    if isinstance(variables_for_this_process(), TaskSdkVariables):  # the triggerer: global Variables only
        return None
    return _connection_team(conn_id)


def _connection_team(conn_id: str) -> str | None:
    """The team of the connection `conn_id` in the metadata DB (None: global, or defined elsewhere)."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(select(Connection.team_name).where(Connection.conn_id == conn_id))


@cache
def task_sdk_lists_keys() -> bool:
    """Whether this Airflow's Task SDK can list Variable keys (`GetVariableKeys`, from Airflow 3.3)."""
    try:
        from airflow.sdk.execution_time.comms import GetVariableKeys  # noqa: F401
    except ImportError:
        return False
    return True


class TaskSdkVariables:
    """Variables through the supervisor of a task or trigger (the execution API), never the cache."""

    def __init__(self, comms: Any) -> None:
        self._comms = comms
        self.lists_keys = task_sdk_lists_keys()

    def get(self, key: str) -> str | None:
        from airflow.sdk.execution_time.comms import ErrorResponse, GetVariable, VariableResult

        msg = self._comms.send(GetVariable(key=key))
        if isinstance(msg, VariableResult):
            return msg.value
        if isinstance(msg, ErrorResponse) and "NOT_FOUND" in str(msg.error).upper():
            return None
        raise TokenStoreError(f"reading variable {key!r} failed: {_describe(msg)}")

    def set(self, key: str, value: str) -> None:
        from airflow.sdk.execution_time.comms import ErrorResponse, PutVariable

        msg = self._comms.send(PutVariable(key=key, value=value, description=_description(key)))
        if isinstance(msg, ErrorResponse):
            raise TokenStoreError(f"writing variable {key!r} failed: {_describe(msg)}")

    def delete(self, key: str) -> None:
        from airflow.sdk.execution_time.comms import DeleteVariable, ErrorResponse

        msg = self._comms.send(DeleteVariable(key=key))
        if isinstance(msg, ErrorResponse) and "NOT_FOUND" not in str(msg.error).upper():
            raise TokenStoreError(f"deleting variable {key!r} failed: {_describe(msg)}")

    def keys(self, prefix: str) -> list[str]:
        if not self.lists_keys:
            raise TokenStoreError("this Airflow's Task SDK cannot list Variable keys (Airflow 3.3 can)")
        from airflow.sdk.execution_time.comms import GetVariableKeys, VariableKeysResult

        msg = self._comms.send(GetVariableKeys(prefix=prefix, limit=10_000))
        if isinstance(msg, VariableKeysResult):
            return list(msg.keys)
        raise TokenStoreError(f"listing variables {prefix!r}* failed: {_describe(msg)}")


class MetadataVariables:
    """Variables straight from the metadata DB: for the API server, the CLI and scripts, never for tasks.

    With `team` (`[core] multi_team`), a Variable written is that team's, as a team's task would have written it.
    """

    lists_keys = True

    def __init__(self, team: str | None = None) -> None:
        self.team = team

    def get(self, key: str) -> str | None:
        from airflow.models.variable import Variable
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            row = session.scalar(select(Variable).where(Variable.key == key))
            return None if row is None else row.val

    def set(self, key: str, value: str) -> None:
        from airflow.models.variable import Variable

        Variable.set(key, value, description=_description(key), **self._team())

    def delete(self, key: str) -> None:
        from airflow.models.variable import Variable

        Variable.delete(key, **self._team())

    def _team(self) -> dict[str, str]:
        return {"team_name": self.team} if self.team else {}  # Airflow 3.1's Variable has no team_name

    def keys(self, prefix: str) -> list[str]:
        from airflow.models.variable import Variable
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            return list(session.scalars(select(Variable.key).where(Variable.key.startswith(prefix, autoescape=True))))


def variables_for_this_process(team: str | None = None) -> Registers:
    """Task SDK variables inside a task or trigger, metadata DB variables (written as `team`'s) elsewhere."""
    try:
        from airflow.sdk.execution_time import task_runner

        comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    except ImportError:  # pragma: no cover - Task SDK always ships with Airflow 3
        comms = None
    return TaskSdkVariables(comms) if comms is not None else MetadataVariables(team)


class _ProcessVariables:
    """Variables chosen on each use, not at construction: a hook built at parse time may be used in a task.

    `lists_keys` follows the Task SDK in every process, servers included: all take turns the same way.
    """

    def __init__(self, team: str | None = None) -> None:
        self.lists_keys = task_sdk_lists_keys()
        self.team = team

    def get(self, key: str) -> str | None:
        return variables_for_this_process(self.team).get(key)

    def set(self, key: str, value: str) -> None:
        variables_for_this_process(self.team).set(key, value)

    def delete(self, key: str) -> None:
        variables_for_this_process(self.team).delete(key)

    def keys(self, prefix: str) -> list[str]:
        return variables_for_this_process(self.team).keys(prefix)


class VariableTokenStore(SharedTokenStore):
    """One connection's token in the Variable `authapi_cache_<conn_id>`, its refresh queue beside it; under
    `[core] multi_team`, a team's own in `authapi_cache_<conn_id>@<team>` (`team`: by default `record_team`)."""

    def __init__(
        self,
        conn_id: str,
        fingerprint: str,
        *,
        variables: Registers | None = None,
        ticket_ttl: float = TICKET_TTL,
        team: str | _Unset | None = _UNSET,
    ) -> None:
        team = record_team(conn_id) if isinstance(team, _Unset) else team
        super().__init__(
            variables or _ProcessVariables(team),
            name=conn_id,
            fingerprint=fingerprint,
            token_key=token_variable_name(conn_id, team),
            queue_prefix=queue_variable_prefix(conn_id, team),
            ticket_ttl=ticket_ttl,
            sealer=AirflowFernetSealer(),
            legacy_key=None if team else legacy_token_variable_name(conn_id),  # version 1 knew no teams
        )
        self.conn_id, self.team = conn_id, team
        self.clear_command = f"{CLI_NAME} token clear"
        if isinstance(self.queue, LeaseQueue):
            self.queue.delay = lease_delay()
        if self.claims is not None:
            self.claims.delay = lease_delay()


def budget_variable_prefix(conn_id: str, team: str | None = None) -> str:
    """The prefix of `conn_id`'s API budget Variables: `<prefix>ledger` and its queue's tickets."""
    return f"{BUDGET_VARIABLE_PREFIX}{record_name(conn_id, team)}:"


_BUDGETS: dict[tuple[str, str | None, BudgetConfig], SharedBudget] = {}
_BUDGETS_LOCK = threading.Lock()


def shared_budget(conn_id: str, config: BudgetConfig) -> SharedBudget:
    """This process's `SharedBudget` of `conn_id` (one per connection, team and budget, shared by its clients), on
    the Variables every task, worker and the triggerer read. Under multi-team a team's tasks share their team's."""
    team = record_team(conn_id)
    key = (conn_id, team, config)
    with _BUDGETS_LOCK:
        budget = _BUDGETS.get(key)
        if budget is None:
            budget = SharedBudget(_ProcessVariables(team), budget_variable_prefix(conn_id, team), config, name=conn_id)
            if isinstance(budget.queue, LeaseQueue):
                budget.queue.delay = lease_delay()
            _BUDGETS[key] = budget
    return budget


@cache
def lease_delay() -> float:
    """The lease's D: `[authapi] lease_delay` (seconds), one value for the whole deployment as Fischer needs."""
    from airflow.configuration import conf

    return conf.getfloat("authapi", "lease_delay", fallback=LEASE_DELAY)


def _description(key: str) -> str:
    if key.startswith(QUEUE_VARIABLE_PREFIX):
        return "authapi refresh queue ticket (no secret)"
    if key.startswith(BUDGET_VARIABLE_PREFIX):
        return "authapi API budget of the deployment (no secret)"
    return "authapi token cache"


def _describe(msg: Any) -> str:
    error = getattr(msg, "error", None)
    return str(error) if error is not None else type(msg).__name__
