"""`AuthApiReportOperator`: a report job as one task: create the report, poll until it is ready, download its
document (usually a presigned URL on another origin, gzip) and decode it, to a JSON Lines file or XCom."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from airflow.sdk import BaseOperator, ObjectStoragePath

from airflow_provider_authapi.api.decoders import DecoderSpec
from airflow_provider_authapi.api.output import JsonLinesWriter, RawFileWriter
from airflow_provider_authapi.api.reports import ReportJob, ReportRun, refuse_deferred_decoder
from airflow_provider_authapi.api.streamed import DECODER, is_raw
from airflow_provider_authapi.auth.config import config_secrets
from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.auth.retry import RetryPolicy
from airflow_provider_authapi.compat import conf
from airflow_provider_authapi.hooks.authapi import AuthApiHook, event_result, format_endpoint
from airflow_provider_authapi.operators.assets import add_to_outlet_events, load_summary


class AuthApiReportOperator(BaseOperator):
    """Create a report through an `authapi_*` connection, wait until it is ready, then download and decode it.

    The create request is sent in the worker. With `deferrable=True` the polls and the download run in the
    triggerer (`AuthApiReportTrigger`), `asyncio.sleep` between polls: a report that takes an hour holds no worker
    slot. Without it the worker polls, sleeping between polls. Either way the download goes out with no credential
    of any kind (the presigned URL is the credential, and storage refuses a second one), and that URL is never
    logged (only its origin), nor put in an error, the trigger's event or XCom.

    :param authapi_conn_id: the connection (any `authapi_*` type) of the API that makes the report.
    :param report: a `ReportJob` or its dict: the create request (`endpoint`, `method`, `json`, `query_params`,
        `headers`), `id_path`, `poll_endpoint` (`{path}` placeholders from the create answer), `status_path` with
        `done` and `failed` statuses, `poll_interval` and `timeout` (seconds), the optional `document_endpoint`
        (placeholders from the ready answer), `url_path`, `compression_path` and `compressions`. Templated (Jinja's
        `{{ }}` leaves the single braces of placeholders alone). See `api/reports.py`.
    :param decoder: the document's format: a `decoder_for` spec (`"csv"`, `{"format": "csv", "delimiter": "\\t"}`,
        `"jsonl+gzip"`; a compression the document answer names through `compression_path` wins), or `"raw"` (the
        bytes unchanged to `output_path`, `{"path", "bytes", "sha256", "report_id"}` returned).
    :param output_path: an `ObjectStoragePath` or URL: the records go there as JSON Lines, streamed, and XCom gets
        `{"path", "records", "report_id"}`. Without it the records go to XCom (deferred: at most 1 MiB of them, the
        size of a trigger event). Templated.
    :param output_conn_id: connection for the object store of `output_path` when given as a string.
    :param request_retry: a `RetryPolicy`, its dict form, or a number of attempts (default 5), for every request
        of the job: the create (a POST: 429 retried, 5xx not), each poll, the document and the download.
    :param deferrable: poll and download in the triggerer; default `[operators] default_deferrable`.
    """

    template_fields: Sequence[str] = ("report", "output_path")
    template_fields_renderers = {"report": "json"}
    ui_color = "#e8f5e9"

    def __init__(
        self,
        *,
        report: ReportJob | dict[str, Any],
        decoder: DecoderSpec,
        authapi_conn_id: str = "authapi_default",
        output_path: str | ObjectStoragePath | None = None,
        output_conn_id: str | None = None,
        request_retry: RetryPolicy | dict[str, Any] | int | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.authapi_conn_id = authapi_conn_id
        self.report = ReportJob.of(report).to_spec()  # checked when the DAG is parsed; plain data to template
        self.decoder = decoder
        self.output_path = output_path
        self.output_conn_id = output_conn_id
        self.request_retry = RetryPolicy.of(request_retry)
        self.deferrable = deferrable
        ReportRun(self.report, decoder)  # a decoder that cannot be built fails here, naming `decoder`
        if is_raw(decoder) and output_path is None:
            raise ConfigError(DECODER, f"{self.task_id}: decoder='raw' writes the document's bytes to output_path")
        if deferrable:
            refuse_deferred_decoder(decoder)

    def _output(self) -> ObjectStoragePath | None:
        if self.output_path is None or isinstance(self.output_path, ObjectStoragePath):
            return self.output_path
        return ObjectStoragePath(self.output_path, conn_id=self.output_conn_id)

    def execute(self, context: Any) -> Any:
        hook = AuthApiHook(self.authapi_conn_id)
        job = ReportJob.of(self.report)  # rendered
        job = replace(job, endpoint=format_endpoint(job.endpoint, hook.endpoint_vars()))
        run = ReportRun(job, self.decoder, retry=self.request_retry, secrets=config_secrets(hook.config),
                        logger=self.log)  # fmt: skip
        output = self._output()
        with hook.get_client() as client:
            created = run.create(client)
            if not self.deferrable:
                return self._finish(context, self._wait_and_download(run, client, created, output), output)
        from airflow_provider_authapi.triggers.authapi import resume_not_before
        from airflow_provider_authapi.triggers.reports import AuthApiReportTrigger

        self.defer(
            trigger=AuthApiReportTrigger(
                authapi_conn_id=self.authapi_conn_id,
                report=job.to_spec(),
                created=created.to_dict(),
                decoder=self.decoder,
                retry=self.request_retry.to_spec(),
                output_path=str(output) if output is not None else None,
                output_conn_id=getattr(output, "conn_id", None) if output is not None else None,
                not_before=resume_not_before(),
            ),
            method_name="execute_complete",
        )

    def _wait_and_download(self, run: ReportRun, client: Any, created: Any, output: ObjectStoragePath | None) -> Any:
        ready = run.ready(client, created)
        if is_raw(self.decoder):
            with RawFileWriter(output) as out:
                result = {**run.download(client, ready, out), "report_id": run.report_id}
            self.log.info("Wrote %d bytes to %s (sha256 %s)", result["bytes"], result["path"], result["sha256"])
        elif output is None:
            result = run.download(client, ready)
        else:
            with JsonLinesWriter(output) as writer:
                result = {**run.download(client, ready, writer), "report_id": run.report_id}
            self.log.info("Wrote %d records to %s", result["records"], result["path"])
        self.log.info("Report %s: %d polls, %d records", run.report_id, run.polls, run.records)
        return result

    def _finish(self, context: Any, result: Any, output: ObjectStoragePath | None) -> Any:
        """Put the record count (and path) in the event of each `Asset` outlet."""
        if self.outlets:
            extra = dict(result) if is_raw(self.decoder) else load_summary(result, to_file=output is not None)
            add_to_outlet_events(self.outlets, context, extra)
        return result

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """Resume after the trigger: return its result, or fail with its error."""
        result = event_result(event)
        self.log.info("Report %s: %d polls, %d records", event.get("report_id"), event.get("polls", 0),
                      event.get("records", 0))  # fmt: skip
        return self._finish(context, result, self._output())
