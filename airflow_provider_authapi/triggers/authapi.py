"""`AuthApiTrigger`: the operator's and the sensor's requests, run in the triggerer on `httpx.AsyncClient`.

It carries only an `ApiCall`'s dict form (connection id, method, URL, params, body, headers, paginator and
filter specs, retry policy), never a token or secret: the triggerer builds its own `AuthApiHook`, with the
same auth and the same Variable-backed token store as the workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_authapi.api import Fetcher, JsonLinesWriter
from airflow_provider_authapi.api.output import RawFileWriter
from airflow_provider_authapi.api.streamed import is_raw
from airflow_provider_authapi.compat import serve_trigger_threads_on_this_loop
from airflow_provider_authapi.hooks.authapi import ApiCall, AuthApiTaskError

MAX_EVENT_BYTES = 1024 * 1024  # a result larger than this (as JSON) needs output_path: events live in the metadata DB
# An Airflow race (apache/airflow#66374, #67287, #71580, #72716): when a trigger fires within seconds of its task's
# deferral, the scheduler can re-queue the task before it has processed the executor's "success" of the deferral
# exit, then take that stale event for the resumed try and fail it ("finished with state success, but the task
# instance's state attribute is queued" or "running": the running case is unguarded in Airflow 3.3.2, and is the
# one we saw). The trigger holds its event until this long after the deferral, which
# leaves the scheduler time to process the stale event first: a quick deferred call resumes up to this much later,
# holding no worker slot meanwhile. Measured with 71 tasks at once on 2 cores (LocalExecutor): the scheduler took
# 0.2 to 10.7 s from a deferral to that event, and 3 of 24 quick deferrals failed without the hold.
MIN_SECONDS_AFTER_DEFERRAL = 15.0


def resume_not_before() -> float | None:
    """The earliest time (epoch seconds) a trigger deferred now may fire: now + `MIN_SECONDS_AFTER_DEFERRAL`.

    None under `dag.test()` / `airflow dags test`, which run the trigger in the task's own process, with no executor
    and so no race: nothing is held there."""
    return None if _in_process_test() else time.time() + MIN_SECONDS_AFTER_DEFERRAL


def _in_process_test() -> bool:
    """Whether the task runs in-process under `dag.test()` (its supervisor comms are the in-process ones)."""
    try:
        from airflow.sdk.execution_time import task_runner
        from airflow.sdk.execution_time.supervisor import InProcessSupervisorComms
    except ImportError:
        return False
    return isinstance(getattr(task_runner, "SUPERVISOR_COMMS", None), InProcessSupervisorComms)


class EventPayload(dict):
    """The trigger event's payload; its repr (which the triggerer logs at info) names the result's size, never its
    records."""

    def __repr__(self) -> str:
        shown = {key: value for key, value in self.items() if key != "result"}
        if "result" in self:
            shown["result"] = f"<{_describe(self['result'])}>"
        return repr(shown)


def _describe(result: Any) -> str:
    size = len(json.dumps(result, default=str))
    what = f"{len(result):,} records" if isinstance(result, list) else type(result).__name__
    return f"{what}, {size:,} bytes as JSON"


def redacted(text: str) -> str:
    """`text` with every secret registered with Airflow's masker (connection secrets, tokens) as `***`.

    Our own errors are already secret-free; this covers a third-party exception quoting a URL or a header.
    """
    from airflow_provider_authapi.compat import redact

    return str(redact(text))


def _explained(exc: Exception) -> str:
    """`exc`'s message, with why under `[core] multi_team` a connection a task could read is not found here."""
    from airflow_provider_authapi.compat import multi_team

    if type(exc).__name__ == "AirflowNotFoundException" and multi_team():
        return (
            f"{exc}. With [core] multi_team on, the triggerer reads global connections and Variables only (Airflow "
            "3.3), not a team's: run the task with deferrable=False, or give it a connection of no team"
        )
    return str(exc)


class AuthApiTrigger(BaseTrigger):
    """Fetch (all pages of) a request, or with `poke_interval` poll it until `response_check` passes.

    Fires one event: `{"status": "success", "result": ..., "pages": n, "records": n}` or
    `{"status": "error", "error": <type>, "message": <secret-free text>}`.

    `authapi_conn_id`, `request`, `pagination`, `response_filter`, `response_check`, `max_pages`, `retry`,
    `ok_statuses`, `allow_empty_pages`, `concurrency`, `max_requests_per_second`, `response_actions`, `decoder` and
    `children` (`api/children.py`, as plain data) are the fields of `ApiCall.to_dict()`: the operator and the
    sensor pass `**call.to_dict()`. `response_actions`
    is the mapping form (`{"404": "empty"}`) or a list of rule dicts, a predicate by import path (`api/rules.py`).
    `decoder` is a `decoder_for` spec (each answer streamed with `aiter_bytes` and decoded record by record) or
    `"raw"` (the bytes to `output_path`, the result `{"path", "bytes", "sha256"}`).

    :param output_path: a URL the records are written to as JSON Lines (the result is then `{"path", "records"}`).
    :param output_conn_id: the connection of `output_path`'s object store.
    :param poke_interval: poll until `response_check` passes, waiting this many seconds between pokes (sensor).
    :param not_before: hold the event until this time (epoch seconds; see `MIN_SECONDS_AFTER_DEFERRAL`), at most
        `MIN_SECONDS_AFTER_DEFERRAL` from when the event is ready, whatever the clocks of worker and triggerer say.
    """

    def __init__(
        self,
        *,
        authapi_conn_id: str,
        request: dict[str, Any],
        pagination: dict[str, Any] | None = None,
        response_filter: dict[str, str] | None = None,
        response_check: str | None = None,
        max_pages: int | None = None,
        retry: dict[str, Any] | None = None,
        output_path: str | None = None,
        output_conn_id: str | None = None,
        poke_interval: float | None = None,
        ok_statuses: list[int] | None = None,
        allow_empty_pages: bool = False,
        concurrency: int = 1,
        max_requests_per_second: float | None = None,
        response_actions: dict[str, str] | list[dict[str, Any]] | None = None,
        decoder: str | dict[str, Any] | None = None,
        children: dict[str, Any] | None = None,
        not_before: float | None = None,
    ) -> None:
        super().__init__()
        # kept as given: the callables it names are imported in `run()`, where a failure becomes an error event
        self.call: dict[str, Any] = {
            "authapi_conn_id": authapi_conn_id,
            "request": request,
            "pagination": pagination,
            "response_filter": response_filter,
            "response_check": response_check,
            "max_pages": max_pages,
            "retry": retry,
            "ok_statuses": ok_statuses,
            "allow_empty_pages": allow_empty_pages,
            "concurrency": concurrency,
            "max_requests_per_second": max_requests_per_second,
            "response_actions": response_actions,
            "decoder": decoder,
        }
        if children is not None:  # only when given: a trigger without it still loads in an older triggerer
            self.call["children"] = children
        self.output_path = output_path
        self.output_conn_id = output_conn_id
        self.poke_interval = poke_interval
        self.not_before = not_before

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **self.call,
                "output_path": self.output_path,
                "output_conn_id": self.output_conn_id,
                "poke_interval": self.poke_interval,
                "not_before": self.not_before,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        serve_trigger_threads_on_this_loop()  # Airflow 3.1: the Task SDK calls of our threads (see compat)
        try:
            call = ApiCall.from_dict(self.call)
            hook = await call.ahook()
            fetcher = call.fetcher(hook, self.log)
            async with hook.get_async_client() as client:
                if self.poke_interval is not None:
                    payload = {"result": await self._poll(fetcher, client)}
                elif is_raw(self.call.get("decoder")):
                    payload = {"result": await self._download(fetcher, client)}
                elif self.output_path is not None:
                    payload = {"result": await self._write(fetcher, client)}
                else:
                    payload = {"result": await fetcher.arun(client)}
            payload.update(status="success", pages=fetcher.pages, records=fetcher.records)
            if (size := len(json.dumps(payload["result"], default=str))) > MAX_EVENT_BYTES:
                raise AuthApiTaskError(
                    f"the result is {size:,} bytes as JSON, more than the {MAX_EVENT_BYTES:,} a trigger event carries "
                    "(it is stored in the metadata DB): give the task an output_path to stream the records to"
                )
        except Exception as exc:  # reported to the task, which raises it there
            payload = {"status": "error", "error": type(exc).__name__, "message": redacted(_explained(exc))}
        await self._hold()
        yield TriggerEvent(EventPayload(payload))

    def hold_seconds(self, now: float) -> float:
        """How long to hold a ready event at `now`: until `not_before`, never more than the minimum itself."""
        if self.not_before is None:
            return 0.0
        return max(0.0, min(self.not_before - now, MIN_SECONDS_AFTER_DEFERRAL))

    async def _hold(self) -> None:
        """Wait until `not_before` (success and error events alike: either resumes the task)."""
        if wait := self.hold_seconds(time.time()):
            self.log.info("Event ready; holding it %.1f s, until %.0f s after the deferral", wait,
                          MIN_SECONDS_AFTER_DEFERRAL)  # fmt: skip
            await asyncio.sleep(wait)

    async def _poll(self, fetcher: Fetcher, client: Any) -> Any:
        assert self.poke_interval is not None
        while True:
            done, value = await fetcher.apoke(client)
            if done:
                return value
            self.log.info("Not done yet; next poke in %.0f s", self.poke_interval)
            await asyncio.sleep(self.poke_interval)

    async def _write(self, fetcher: Fetcher, client: Any) -> dict[str, Any]:
        from airflow.sdk import ObjectStoragePath

        path = ObjectStoragePath(self.output_path, conn_id=self.output_conn_id)
        async with _opened_in_thread(JsonLinesWriter(path)) as writer:
            await fetcher.arun(client, lambda records: asyncio.to_thread(writer.write_page, records))
        return {"path": str(path), "records": writer.records}

    async def _download(self, fetcher: Fetcher, client: Any) -> dict[str, Any]:
        """`decoder="raw"`: the answer's bytes to `output_path`, written in a thread a piece at a time."""
        from airflow.sdk import ObjectStoragePath

        if self.output_path is None:
            raise AuthApiTaskError("decoder='raw' writes the answer's bytes to output_path, and the task gave none")
        out = RawFileWriter(ObjectStoragePath(self.output_path, conn_id=self.output_conn_id))
        async with _opened_in_thread(out):
            await fetcher.adownload(client, lambda data: asyncio.to_thread(out.write, data))
        return out.summary()


@contextlib.asynccontextmanager
async def _opened_in_thread(writer: Any) -> AsyncIterator[Any]:
    """An output writer opened and closed in a thread (object storage blocks), as `with writer:` would: a failure
    inside reaches its `__exit__` (which removes the partial file) and is raised again."""
    await asyncio.to_thread(writer.__enter__)
    try:
        yield writer
    except BaseException as exc:
        await asyncio.to_thread(writer.__exit__, type(exc), exc, exc.__traceback__)
        raise
    await asyncio.to_thread(writer.__exit__, None, None, None)
