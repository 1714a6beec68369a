"""Every Airflow name or feature that moved, appeared or changed between Airflow 3.1, 3.2 and 3.3: the one place.

Other modules import moved names from here only; a feature a version lacks is a flag here, and the user of that
version gets `NeedsNewerAirflow` naming the version it needs (never an ImportError or a KeyError).

| what                                       | 3.1                         | 3.2                    | 3.3    |
|--------------------------------------------|-----------------------------|------------------------|--------|
| `conf` for tasks and DAG files             | airflow.configuration       | airflow.sdk.configuration       |
| `BaseHook`; `mask_secret`, `redact`        | airflow.sdk; airflow.sdk.log (3.0: no BaseHook, no redact)    |
| provider info `conn-fields` and `cli`      | ignored: hook widgets and   | read                            |
|                                            | the `airflow-authapi` script|                                 |
| masked `format: password` form input       | plain text box (UI before 3.3 has no masked input) | masked |
| task context `asset_state_store` (AIP-103) | no: marks in a Variable                              | yes    |
| Variable key listing from tasks (Task SDK) | no                                                   | yes    |
| plugin `external_views`, `get_user(request, oauth, bearer)`: 3.1+ (3.0 has neither)               |
| `[core] multi_team`: a task knows its team | no multi-team               | no (`AIRFLOW_CTX_TEAM_NAME`    | yes    |
|                                            |                             | is 3.3's)                      |        |

Why our own module and not `apache-airflow-providers-common-compat` (checked in the versions installed beside
Airflow 3.1.8, 3.2.2 and 3.3.2: common-compat 1.16.0, 1.18.0, 1.23.0):
- most of what moved for us is not in it: the asset state store, Task SDK Variable key listing, the provider `cli`
  and `conn-fields` keys, the token page's security helpers. We would need this module anyway.
- its own API moves with its releases: `mask_secret` is in its `sdk` from 1.23 only, absent from the 1.16/1.18
  that Airflow 3.1.8/3.2.2 images ship; relying on it would mean pinning a common-compat newer than a managed
  Airflow's, which those images fix themselves.
- the names it does cover (`conf`, `BaseHook`, version flags) are a few lines here, without a lazy-import layer
  whose fallbacks go to Airflow 2 paths this provider never supports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow import __version__ as AIRFLOW_VERSION_TEXT
from packaging.version import Version

from airflow_provider_authapi.auth.errors import AuthApiError

AIRFLOW_VERSION: tuple[int, ...] = Version(AIRFLOW_VERSION_TEXT).release
AIRFLOW_V_3_1_PLUS = AIRFLOW_VERSION >= (3, 1)
AIRFLOW_V_3_2_PLUS = AIRFLOW_VERSION >= (3, 2)
AIRFLOW_V_3_3_PLUS = AIRFLOW_VERSION >= (3, 3)
LOWEST_SUPPORTED = "3.1"

if not AIRFLOW_V_3_1_PLUS:  # pragma: no cover - pyproject's floor stops the install; this is for forced ones
    raise RuntimeError(
        f"airflow-provider-authapi needs Airflow {LOWEST_SUPPORTED} or later; this is Airflow {AIRFLOW_VERSION_TEXT}"
    )

# What a version reads or offers (named for the feature, so a caller says what it needs, not which version).
READS_CONN_FIELDS = AIRFLOW_V_3_2_PLUS  # provider info `conn-fields`; before: the hook's wtforms widgets
READS_PROVIDER_CLI = AIRFLOW_V_3_2_PLUS  # provider info `cli`; before: the `airflow-authapi` console script
HAS_ASSET_STATE_STORE = AIRFLOW_V_3_3_PLUS  # context["asset_state_store"]
TASKS_LIST_VARIABLES = AIRFLOW_V_3_3_PLUS  # Task SDK GetVariableKeys
CLI_NAME = "airflow authapi" if READS_PROVIDER_CLI else "airflow-authapi"  # how this version's users run our CLI
TASKS_KNOW_THEIR_TEAM = AIRFLOW_V_3_3_PLUS  # AIRFLOW_CTX_TEAM_NAME in a team's task (multi-team is 3.2's preview)
TEAM_ENV = "AIRFLOW_CTX_TEAM_NAME"  # set by the task runner before execute(), from the DAG run's team

# Moved names (`import airflow` above has imported the Task SDK already: these cost nothing more).
from airflow.sdk import BaseHook  # noqa: E402  3.1+ (3.0: airflow.hooks.base)
from airflow.sdk.log import mask_secret, redact  # noqa: E402  3.1+ (3.0: no redact)

if AIRFLOW_V_3_2_PLUS:
    from airflow.sdk.configuration import conf
else:
    from airflow.configuration import conf


class NeedsNewerAirflow(AuthApiError):
    """A feature this Airflow version does not have; the message names the version that has it."""

    def __init__(self, feature: str, version: str, instead: str = "") -> None:
        self.feature, self.version = feature, version
        message = f"{feature} needs Airflow {version} or later; this is Airflow {AIRFLOW_VERSION_TEXT}"
        super().__init__(f"{message}. {instead}" if instead else message)


def asset_state_store(context: Mapping[str, Any]) -> Any | None:
    """The task context's asset state store (Airflow 3.3, AIP-103), None on versions without it."""
    return context.get("asset_state_store")


def serve_trigger_threads_on_this_loop() -> None:
    """Let threads of this triggerer send Task SDK calls safely; call it on the triggerer's event loop.

    A trigger runs blocking work (reading the connection, the token store) in threads. Airflow 3.2 and later send
    a thread's call on the triggerer's own event loop. Airflow 3.1's `TriggerCommsDecoder.send` runs it through
    asgiref's `async_to_sync`, on a new loop in another thread, where the main loop's `asyncio.Lock` excludes
    nothing: two threads' frames interleave and the trigger runner dies ("Response read out of order"), failing
    every deferred task of the triggerer. On 3.1 this makes `send` from any other thread run on this loop, as 3.2
    does. Idempotent; a no-op from 3.2 on.
    """
    if AIRFLOW_V_3_2_PLUS:
        return
    import asyncio
    import threading

    from airflow.jobs import triggerer_job_runner

    decoder = triggerer_job_runner.TriggerCommsDecoder
    loop, loop_thread = asyncio.get_running_loop(), threading.get_ident()
    original = getattr(decoder, "_authapi_original_send", decoder.send)

    def send(self: Any, msg: Any) -> Any:
        if threading.get_ident() != loop_thread and not loop.is_closed():
            return asyncio.run_coroutine_threadsafe(self.asend(msg), loop).result()
        return original(self, msg)

    decoder._authapi_original_send = original  # type: ignore[attr-defined]
    decoder.send = send  # type: ignore[method-assign]


def airflow_user_from_request() -> tuple[Any, Any]:
    """The API server's `(bearer_scheme, get_user)`, as its REST routes resolve the signed-in user (3.1+)."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    return bearer_scheme, get_user


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "CLI_NAME",
    "HAS_ASSET_STATE_STORE",
    "LOWEST_SUPPORTED",
    "READS_CONN_FIELDS",
    "READS_PROVIDER_CLI",
    "TASKS_LIST_VARIABLES",
    "BaseHook",
    "NeedsNewerAirflow",
    "airflow_user_from_request",
    "asset_state_store",
    "conf",
    "mask_secret",
    "redact",
    "serve_trigger_threads_on_this_loop",
]


def multi_team() -> bool:
    """Whether `[core] multi_team` is on (a preview from Airflow 3.2: Variables and connections per team)."""
    return AIRFLOW_V_3_2_PLUS and conf.getboolean("core", "multi_team", fallback=False)


def running_team() -> str | None:
    """The team of the task this process runs, under `[core] multi_team`; None without multi-team, outside a task
    (the triggerer, servers, the CLI) and in a task of no team.

    Airflow 3.3 tells a task its team (`AIRFLOW_CTX_TEAM_NAME`, from the DAG run's bundle). Airflow 3.2 does not, yet
    a Variable a task creates there belongs to the task's team and a task's write takes another team's Variable
    over: no team's token record could be told from another's, so a task there gets `NeedsNewerAirflow`.
    """
    if not multi_team() or not in_task_process():
        return None
    if not TASKS_KNOW_THEIR_TEAM:
        raise NeedsNewerAirflow(
            "The shared token cache with [core] multi_team on",
            "3.3",
            "Before 3.3 a task cannot tell its team, so one team's token record could not be kept from another's. "
            "Turn [core] multi_team off, or upgrade.",
        )
    import os

    return os.environ.get(TEAM_ENV) or None


def in_task_process() -> bool:
    """Whether this process runs a task under the Task SDK's supervisor (not the triggerer's trigger runner)."""
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:  # pragma: no cover - the Task SDK ships with Airflow 3
        return False
    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    return comms is not None and type(comms).__name__ != "TriggerCommsDecoder"
