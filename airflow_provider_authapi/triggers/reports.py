"""`AuthApiReportTrigger`: a created report job polled until ready, then its document downloaded and decoded, in the
triggerer on `httpx.AsyncClient` (no worker slot while the report is being made).

It carries the job as plain data (`ReportJob.to_spec()`), the created job (`CreatedReport.to_dict()`: its id, the
status request, the deadline) and the connection id, never a token, a secret or the download URL: the triggerer
builds its own `AuthApiHook`, and reads the URL from the API when the report is ready.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_authapi.api.output import JsonLinesWriter, RawFileWriter
from airflow_provider_authapi.api.reports import CreatedReport, ReportRun
from airflow_provider_authapi.api.streamed import is_raw
from airflow_provider_authapi.auth.config import config_secrets
from airflow_provider_authapi.auth.retry import RetryPolicy
from airflow_provider_authapi.compat import serve_trigger_threads_on_this_loop
from airflow_provider_authapi.hooks.authapi import ApiCall, AuthApiTaskError
from airflow_provider_authapi.triggers.authapi import (
    MAX_EVENT_BYTES,
    MIN_SECONDS_AFTER_DEFERRAL,
    EventPayload,
    _explained,
    _opened_in_thread,
    redacted,
)


class AuthApiReportTrigger(BaseTrigger):
    """Poll a created report job until it is ready (`asyncio.sleep` between polls), then download its document.

    Fires one event: `{"status": "success", "result": ..., "report_id", "polls", "records"}` (the result: the
    records, or with `output_path` `{"path", "records", "report_id"}`, or for `decoder="raw"` `{"path", "bytes",
    "sha256", "report_id"}`), or `{"status": "error", "error": <type>, "message": <secret-free text>}`.

    :param report: `ReportJob.to_spec()`.
    :param created: `CreatedReport.to_dict()`, from the create request the worker sent.
    :param decoder: a `decoder_for` spec (plain data), or `"raw"`.
    :param retry: `RetryPolicy.to_spec()`, for every request of the job.
    :param output_path: a URL the records are written to as JSON Lines (for `"raw"`, the bytes).
    :param output_conn_id: the connection of `output_path`'s object store.
    :param not_before: hold the event until this time (epoch seconds; see `triggers.authapi.resume_not_before`).
    """

    def __init__(
        self,
        *,
        authapi_conn_id: str,
        report: dict[str, Any],
        created: dict[str, Any],
        decoder: str | dict[str, Any],
        retry: dict[str, Any] | None = None,
        output_path: str | None = None,
        output_conn_id: str | None = None,
        not_before: float | None = None,
    ) -> None:
        super().__init__()
        self.authapi_conn_id = authapi_conn_id
        self.report = report
        self.created = created
        self.decoder = decoder
        self.retry = retry
        self.output_path = output_path
        self.output_conn_id = output_conn_id
        self.not_before = not_before

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "authapi_conn_id": self.authapi_conn_id,
                "report": self.report,
                "created": self.created,
                "decoder": self.decoder,
                "retry": self.retry,
                "output_path": self.output_path,
                "output_conn_id": self.output_conn_id,
                "not_before": self.not_before,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        serve_trigger_threads_on_this_loop()  # Airflow 3.1: the Task SDK calls of our threads (see compat)
        run: ReportRun | None = None
        try:
            hook = await ApiCall(self.authapi_conn_id).ahook()
            secrets = config_secrets(hook.config)
            run = ReportRun(self.report, self.decoder, retry=RetryPolicy.of(self.retry), secrets=secrets,
                            logger=self.log)  # fmt: skip
            async with hook.get_async_client() as client:
                ready = await run.aready(client, CreatedReport.from_dict(self.created))
                if is_raw(self.decoder):
                    result = await self._download(run, client, ready)
                elif self.output_path is not None:
                    result = await self._write(run, client, ready)
                else:
                    result = await run.adownload(client, ready)
            payload = {"status": "success", "result": result, "report_id": run.report_id, "polls": run.polls,
                       "records": run.records}  # fmt: skip
            if (size := len(json.dumps(result, default=str))) > MAX_EVENT_BYTES:
                raise AuthApiTaskError(
                    f"report {run.report_id} has {run.records:,} records, {size:,} bytes as JSON, more than the "
                    f"{MAX_EVENT_BYTES:,} a trigger event carries (it is stored in the metadata DB): give the task an "
                    "output_path to stream the records to"
                )
        except Exception as exc:  # reported to the task, which raises it there
            payload = {"status": "error", "error": type(exc).__name__, "message": redacted(_explained(exc))}
            if run is not None and run.report_id is not None:
                payload["report_id"] = run.report_id
        await self._hold()
        yield TriggerEvent(EventPayload(payload))

    async def _write(self, run: ReportRun, client: Any, ready: Any) -> dict[str, Any]:
        from airflow.sdk import ObjectStoragePath

        path = ObjectStoragePath(self.output_path, conn_id=self.output_conn_id)
        async with _opened_in_thread(JsonLinesWriter(path)) as writer:
            await run.adownload(client, ready, lambda records: asyncio.to_thread(writer.write_page, records))
        return {"path": str(path), "records": writer.records, "report_id": run.report_id}

    async def _download(self, run: ReportRun, client: Any, ready: Any) -> dict[str, Any]:
        from airflow.sdk import ObjectStoragePath

        if self.output_path is None:
            raise AuthApiTaskError("decoder='raw' writes the document's bytes to output_path, and the task gave none")
        out = RawFileWriter(ObjectStoragePath(self.output_path, conn_id=self.output_conn_id))
        async with _opened_in_thread(out):
            await run.adownload(client, ready, lambda data: asyncio.to_thread(out.write, data))
        return {**out.summary(), "report_id": run.report_id}

    def hold_seconds(self, now: float) -> float:
        """How long to hold a ready event at `now`: until `not_before`, never more than the minimum itself."""
        if self.not_before is None:
            return 0.0
        return max(0.0, min(self.not_before - now, MIN_SECONDS_AFTER_DEFERRAL))

    async def _hold(self) -> None:
        if wait := self.hold_seconds(time.time()):
            self.log.info("Event ready; holding it %.1f s, until %.0f s after the deferral", wait,
                          MIN_SECONDS_AFTER_DEFERRAL)  # fmt: skip
            await asyncio.sleep(wait)
