"""Report jobs in one run: create a report, poll it until it is ready, then download and decode its document.

    job = ReportJob(
        endpoint="/reports/2021-06-30/reports",                      # the create request
        json={"reportType": "GET_FLAT_FILE_OPEN_LISTINGS_DATA", "marketplaceIds": ["ATVPDKIKX0DER"]},
        id_path="reportId",                                           # the job's id in the create answer
        poll_endpoint="/reports/2021-06-30/reports/{reportId}",      # `{path}`: a value of the create answer
        status_path="processingStatus", done=["DONE"], failed=["FATAL", "CANCELLED"],
        document_endpoint="/reports/2021-06-30/documents/{reportDocumentId}",  # `{path}`: of the ready answer
        url_path="url", compression_path="compressionAlgorithm",     # GZIP -> the decoder's gzip
    )
    run = ReportRun(job, {"format": "csv", "delimiter": "\\t"}, secrets=config_secrets(config))
    records = run.run(client)                  # sync: create, poll (sleeping between polls), download, decode
    records = await run.arun(async_client)     # the same on an httpx.AsyncClient

Modelled on Airbyte's `AsyncRetriever` (a creation, a polling and a download requester, a status map). Each JSON
request is a `Fetcher` under the retry policy; `{path}` placeholders are filled with `children.fill` (the path
language). A status in `done` goes on to the download, one in `failed` raises `ReportJobError` with the status and a
secret-free excerpt, any other is polled again `poll_interval` later, until `timeout` after the create
(`ReportTimeoutError`). The steps run apart too (`create`, `ready`, `download`): the operator creates in a worker
and hands `CreatedReport.to_dict()` and `ReportJob.to_spec()` to its trigger, which polls and downloads.

The client is the API's authenticated one, and the download goes out on it as a request with no credential of any
kind (`RequestSpec(authenticate=False)`: the origin rule lets it go to any origin; a presigned URL's storage refuses
a second credential). That URL is a credential itself: it is never logged (its origin is), and never put in an
error, a result or a spec; its query values are scrubbed from every excerpt, and httpx's log line of the download
shows its origin alone (`errors.urls_logged_as_origin`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from airflow_provider_authapi.api.children import fill, placeholders
from airflow_provider_authapi.api.decoders import COMPRESSIONS, Decoder, DecoderSpec, GzipDecoder, ZipDecoder
from airflow_provider_authapi.api.fetch import Fetcher
from airflow_provider_authapi.api.pagination import RequestSpec
from airflow_provider_authapi.api.streamed import DECODER, RAW, check_streamed, is_raw
from airflow_provider_authapi.auth.config import origin
from airflow_provider_authapi.auth.errors import (
    EXCERPT_CHARS,
    SENSITIVE_NAME,
    ConfigError,
    ReportJobError,
    ReportTimeoutError,
    redact_text,
    scrub,
    urls_logged_as_origin,
)
from airflow_provider_authapi.auth.json_path import MISSING, find_path, parse_path
from airflow_provider_authapi.auth.retry import API_RETRY, RetryPolicy

log = logging.getLogger(__name__)

FIELD = "report"  # the argument every refusal here names: `report.id_path`, `report.timeout`, ...
MASKED = "***"


def _field(name: str) -> str:
    return f"{FIELD}.{name}"


@dataclass
class ReportJob:
    """How to create one report, know when it is ready, and find its download.

    :param endpoint: the create request's path (or absolute URL on the connection's origins); `method`,
        `json`, `query_params` and `headers` are the rest of that request.
    :param id_path: where the create answer holds the job's id (logged, and in the result).
    :param poll_endpoint: the status request; `{path}` placeholders take values of the create answer
        (`/reports/{reportId}`), and so do those of `poll_query_params`.
    :param status_path: where a status answer holds the status; `done` values go on to the download, `failed` values
        fail the run, any other is polled again `poll_interval` seconds later, until `timeout` seconds after the
        create.
    :param document_endpoint: a request for the document of a ready job (`{path}` placeholders from the ready status
        answer); without it, the status answer holds the download URL itself.
    :param url_path: where that answer holds the download URL.
    :param compression_path: where that answer names the document's compression, mapped by `compressions` (`GZIP`
        -> `gzip`) onto the decoder's; the value missing leaves the decoder's own.
    :param authenticate_download: send the download with the connection's credentials (a download endpoint of the
        API's own); by default it carries none, as a presigned URL must.
    """

    endpoint: str
    poll_endpoint: str
    id_path: str
    status_path: str
    method: str = "POST"
    json: Any = None
    query_params: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    poll_query_params: dict[str, Any] | None = None
    done: Collection[Any] = ("DONE",)
    failed: Collection[Any] = ("FATAL", "CANCELLED")
    poll_interval: float = 30.0
    timeout: float = 3600.0
    document_endpoint: str | None = None
    url_path: str = "url"
    compression_path: str | None = None
    compressions: dict[str, str | None] = field(default_factory=lambda: {"GZIP": "gzip", "ZIP": "zip"})
    authenticate_download: bool = False

    def __post_init__(self) -> None:
        self.method = str(self.method).upper()
        self.done, self.failed = _values(self.done, "done"), _values(self.failed, "failed")
        for name in ("poll_interval", "timeout"):  # a templated value arrives as text
            if isinstance(value := getattr(self, name), str):
                with contextlib.suppress(ValueError):
                    setattr(self, name, float(value))
        self.validate()

    @classmethod
    def of(cls, spec: ReportJob | Mapping[str, Any]) -> ReportJob:
        """`spec` as a `ReportJob`: itself, or its dict (`to_spec()`, or as written in a DAG)."""
        if isinstance(spec, ReportJob):
            return spec
        if not isinstance(spec, Mapping):
            raise ConfigError(FIELD, f"give ReportJob(...) or its dict, not {type(spec).__name__}")
        known = set(cls.__dataclass_fields__)
        if unknown := sorted(set(spec) - known):
            raise ConfigError(FIELD, f"unknown key(s) {unknown}; known: {', '.join(sorted(known))}")
        if missing := [name for name in ("endpoint", "poll_endpoint", "id_path", "status_path") if name not in spec]:
            raise ConfigError(_field(missing[0]), f"a report job needs {', '.join(missing)}")
        return cls(**spec)

    def validate(self) -> None:
        for name in ("endpoint", "poll_endpoint"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError(_field(name), "must be a path or URL")
        for name in ("id_path", "status_path", "url_path", "compression_path"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ConfigError(_field(name), f"must be a path into the answer, not {type(value).__name__}")
            if value is not None and not _template(value):
                parse_path(value, _field(name))
        for name in ("poll_endpoint", "poll_query_params", "document_endpoint"):
            for path in placeholders(getattr(self, name)):
                parse_path(path, _field(name))
        if not self.done:
            raise ConfigError(_field("done"), "needs at least one status that means the report is ready")
        if both := sorted(set(self.done) & set(self.failed)):
            raise ConfigError(_field("failed"), f"{both} are in done as well")
        for name in ("poll_interval", "timeout"):
            value = getattr(self, name)
            if _template(value):
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(_field(name), f"must be a number of seconds above 0, not {value!r}")
        if not isinstance(self.compressions, Mapping):
            raise ConfigError(_field("compressions"), "maps an answer's compression name to gzip, zip or none")
        for name, compression in self.compressions.items():
            if compression not in (None, "none", *COMPRESSIONS):
                raise ConfigError(
                    _field("compressions"),
                    f"{name!r} maps to {compression!r}; choose one of {', '.join(COMPRESSIONS)} or none",
                )

    def to_spec(self) -> dict[str, Any]:
        """Plain data, for the triggerer (and the operator's templated `report`)."""
        spec = {name: getattr(self, name) for name in self.__dataclass_fields__}
        spec.update(done=list(self.done), failed=list(self.failed), compressions=dict(self.compressions))
        return spec

    def create_request(self) -> RequestSpec:
        return RequestSpec(
            self.method, self.endpoint, params=dict(self.query_params or {}), json=self.json, headers=self.headers or {}
        )


def _template(value: Any) -> bool:
    """Whether `value` is a Jinja template an operator renders before the job runs (checked then)."""
    return isinstance(value, str) and "{{" in value and "}}" in value


def _values(values: Any, name: str) -> tuple[str, ...]:
    """Statuses as text (`2` and `"2"`, `True` and `"true"` alike: answers differ in how they type them)."""
    if isinstance(values, str) or not isinstance(values, Collection):
        raise ConfigError(_field(name), f"a list of statuses, not {values!r}")
    return tuple(_status_text(value) for value in values)


def _status_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@dataclass
class CreatedReport:
    """A created job: its id, the status request (placeholders filled) and when it must be ready (epoch seconds)."""

    report_id: str
    poll: RequestSpec
    deadline: float

    def to_dict(self) -> dict[str, Any]:
        return {"report_id": self.report_id, "poll": self.poll.to_dict(), "deadline": self.deadline}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CreatedReport:
        return cls(str(data["report_id"]), RequestSpec.from_dict(dict(data["poll"])), float(data["deadline"]))


class ReportRun:
    """One report job's run: `create`, `ready` (poll until done), `download`; `run` does all three. The async
    twins (`acreate`, `aready`, `adownload`, `arun`) take an `httpx.AsyncClient`.

    `decoder` is a `decoder_for` spec, a `Decoder`, or `"raw"` (the document's bytes unchanged). `secrets` (the
    connection's) are scrubbed from every message, as are the download URL's query values. `polls`, `records` and
    `bytes` count what the run did."""

    def __init__(
        self,
        job: ReportJob | Mapping[str, Any],
        decoder: DecoderSpec,
        *,
        retry: RetryPolicy | None = None,
        secrets: Collection[str] = (),
        logger: logging.Logger | Any = log,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Any] = time.sleep,
        asleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.job = ReportJob.of(job)
        self.decoder = decoder
        self.streamed = check_streamed(decoder)  # a spec that cannot be built fails here, naming `decoder`
        self.retry = retry or API_RETRY
        self.secrets = tuple(secrets)
        self.log = logger
        self.clock, self.sleep, self.asleep = clock, sleep, asleep
        self.report_id: str | None = None
        self._status = ""  # the last status read
        self.polls = self.records = self.bytes = 0

    # -- the steps, sync ----------------------------------------------------------------------------------------

    def create(self, client: httpx.Client) -> CreatedReport:
        """Send the create request; the job's id and its status request, filled from the answer."""
        return self._created(self._json(self.job.create_request()).run(client))

    def ready(self, client: httpx.Client, created: CreatedReport) -> Any:
        """Poll until the status is done (the ready answer), failed (`ReportJobError`) or late
        (`ReportTimeoutError`)."""
        while True:
            answer = self._json(created.poll).run(client)
            if self._is_done(answer, created):
                return answer
            self.sleep(self._wait(created))

    def download(self, client: httpx.Client, answer: Any, out: Any = None) -> Any:
        """The document of a ready job: its records (a list), or with `out` (a `JsonLinesWriter`; a `RawFileWriter`
        for `"raw"`) written there, and the writer's summary returned."""
        document = self._json(self._document_request(answer)).run(client) if self.job.document_endpoint else answer
        fetcher = self._download_fetcher(document, raw_out=out is not None)
        with urls_logged_as_origin():
            if is_raw(self.decoder):
                summary = fetcher.download(client, out)
                self.bytes = summary["bytes"]
                return summary
            result = fetcher.run(client, out)
        self.records = fetcher.records
        return result

    def run(self, client: httpx.Client, out: Any = None) -> Any:
        """Create, poll, download: `download`'s result."""
        created = self.create(client)
        return self.download(client, self.ready(client, created), out)

    # -- the steps, async ---------------------------------------------------------------------------------------

    async def acreate(self, client: httpx.AsyncClient) -> CreatedReport:
        return self._created(await self._json(self.job.create_request()).arun(client))

    async def aready(self, client: httpx.AsyncClient, created: CreatedReport) -> Any:
        while True:
            answer = await self._json(created.poll).arun(client)
            if self._is_done(answer, created):
                return answer
            await self.asleep(self._wait(created))

    async def adownload(
        self, client: httpx.AsyncClient, answer: Any, write: Callable[[Any], Awaitable[Any]] | None = None
    ) -> Any:
        """Async `download`: `write` (async) gets batches of records, or for `"raw"` the bytes in pieces (then
        required); the records come back as a list without it, else None (for `"raw"`, how many bytes)."""
        if self.job.document_endpoint:
            document = await self._json(self._document_request(answer)).arun(client)
        else:
            document = answer
        fetcher = self._download_fetcher(document, raw_out=write is not None)
        with urls_logged_as_origin():
            if is_raw(self.decoder):
                assert write is not None  # refused by _download_fetcher
                self.bytes = await fetcher.adownload(client, write)
                return self.bytes
            result = await fetcher.arun(client, write)
        self.records = fetcher.records
        return result

    async def arun(self, client: httpx.AsyncClient, write: Callable[[Any], Awaitable[Any]] | None = None) -> Any:
        created = await self.acreate(client)
        return await self.adownload(client, await self.aready(client, created), write)

    # -- shared by both ---------------------------------------------------------------------------------------

    def _json(self, request: RequestSpec) -> Fetcher:
        return Fetcher(request, retry=self.retry, secrets=self.secrets, logger=self.log)

    def _created(self, answer: Any) -> CreatedReport:
        report_id = self._value(answer, self.job.id_path, "id_path", "the create answer")
        self.report_id = str(report_id)
        poll = RequestSpec(
            "GET",
            self._filled(self.job.poll_endpoint, answer, "poll_endpoint", "the create answer", segment=True),
            params=self._filled(self.job.poll_query_params or {}, answer, "poll_query_params", "the create answer"),
        )
        self.log.info("Report %s created; its status: %s", self.report_id, poll.label)
        return CreatedReport(self.report_id, poll, self.clock() + self.job.timeout)

    def _is_done(self, answer: Any, created: CreatedReport) -> bool:
        self.polls += 1
        self.report_id = created.report_id
        status = _status_text(self._value(answer, self.job.status_path, "status_path", "the status answer"))
        if status in self.job.done:
            self.log.info("Report %s: %s after %d polls", created.report_id, status, self.polls)
            return True
        if status in self.job.failed:
            raise ReportJobError(
                f"report {created.report_id} ended {status} ({created.poll.label}, {FIELD}.status_path "
                f"{self.job.status_path!r}; failed: {', '.join(self.job.failed)}): {self._excerpt(answer)}",
                field=_field("failed"),
                status=status,
                report_id=created.report_id,
            )
        self._status = status
        return False

    def _wait(self, created: CreatedReport) -> float:
        """Seconds to the next poll: `poll_interval`, or what is left before the deadline; past it, the timeout."""
        left = created.deadline - self.clock()
        if left <= 0:
            raise ReportTimeoutError(
                f"report {created.report_id} is still {self._status} after {self.polls} polls of "
                f"{created.poll.label}: not ready within {FIELD}.timeout ({self.job.timeout:g} s after it was "
                "created); raise the timeout if the API takes longer",
                field=_field("timeout"),
                status=self._status,
                report_id=created.report_id,
            )
        wait = min(self.job.poll_interval, left)
        self.log.info("Report %s: %s; next poll in %.0f s", created.report_id, self._status, wait)
        return wait

    def _document_request(self, answer: Any) -> RequestSpec:
        assert self.job.document_endpoint is not None
        endpoint = self._filled(self.job.document_endpoint, answer, "document_endpoint", "the ready answer",
                                segment=True)  # fmt: skip
        return RequestSpec("GET", endpoint)

    def _download_fetcher(self, document: Any, *, raw_out: bool) -> Fetcher:
        where = "the document answer" if self.job.document_endpoint else "the ready answer"
        url = self._value(document, self.job.url_path, "url_path", where)
        if not isinstance(url, str) or not url.strip():
            raise ConfigError(_field("url_path"), f"{where} holds a {type(url).__name__} there, not a URL")
        if is_raw(self.decoder) and not raw_out:
            raise ConfigError(DECODER, "decoder='raw' writes the document's bytes to an output: give one")
        decoder = self._decoder_for(document, where)
        request = RequestSpec("GET", url.strip(), authenticate=self.job.authenticate_download)
        absolute = httpx.URL(url.strip()).is_absolute_url
        whence = origin(url.strip()) if absolute else "the API's origin"
        credential = "with the connection's credentials" if self.job.authenticate_download else "no credential sent"
        self.log.info("Report %s: downloading from %s (%s)", self.report_id, whence, credential)
        return Fetcher(
            request, decoder=decoder, retry=self.retry, secrets=[*self.secrets, *url_secrets(url)], logger=self.log
        )

    def _decoder_for(self, document: Any, where: str) -> Decoder | str:
        """The decoder, with the compression the answer names (`compression_path`, mapped by `compressions`)."""
        if self.streamed == RAW or self.job.compression_path is None:
            return self.streamed
        named = find_path(document, self.job.compression_path, missing=MISSING)
        if named is MISSING or named is None:
            return self.streamed
        mapped = {str(k).lower(): v for k, v in self.job.compressions.items()}
        if str(named).lower() not in mapped:
            raise ConfigError(
                _field("compressions"),
                f"{where} names the compression {named!r} ({self.job.compression_path}), which compressions does not "
                f"map (it maps {', '.join(map(repr, self.job.compressions)) or 'none'}); add it",
            )
        compression = mapped[str(named).lower()]
        assert isinstance(self.streamed, Decoder)
        inner = self.streamed.inner if isinstance(self.streamed, GzipDecoder | ZipDecoder) else self.streamed
        if compression == "gzip":
            return self.streamed if isinstance(self.streamed, GzipDecoder) else GzipDecoder(inner)
        if compression == "zip":
            return self.streamed if isinstance(self.streamed, ZipDecoder) else ZipDecoder(inner)
        return inner

    def _value(self, answer: Any, path: str, name: str, where: str) -> Any:
        value = find_path(answer, path, missing=MISSING)
        if value is MISSING or value is None:
            raise ConfigError(_field(name), f"{where} has no value at {path!r} ({_keys(answer)})")
        return value

    def _filled(self, value: Any, answer: Any, name: str, where: str, *, segment: bool = False) -> Any:
        """`value` with its `{path}` placeholders filled from `answer` (`children.fill`), a missing one naming
        this job's field."""
        for path in placeholders(value):
            found = find_path(answer, path, missing=MISSING)
            if found is MISSING or found is None:
                raise ConfigError(_field(name), f"{{{path}}}: {where} has no value there ({_keys(answer)})")
        return fill(value, answer, name, segment=segment)

    def _excerpt(self, answer: Any) -> str:
        """The answer as short, secret-free text: a download URL in it masked, credential-looking fields too."""
        shown = answer
        if isinstance(answer, dict) and find_path(answer, self.job.url_path, missing=MISSING) is not MISSING:
            shown = _masked(answer, self.job.url_path)
        text = " ".join(json.dumps(shown, default=str, ensure_ascii=False).split())
        return redact_text(scrub(text, self.secrets))[:EXCERPT_CHARS]


def _keys(answer: Any) -> str:
    if isinstance(answer, Mapping):
        return f"its keys: {', '.join(map(str, list(answer)[:12])) or 'none'}"
    return f"the answer is {type(answer).__name__}, not a JSON object"


def _masked(answer: dict[str, Any], path: str) -> dict[str, Any]:
    """A copy of `answer` with the value at `path` (a top-level or nested key) replaced by `***`."""
    parts = parse_path(path, _field("url_path"))
    if not parts or not all(isinstance(part, str) for part in parts):
        return {key: MASKED for key in answer}  # a path through lists: show no values at all
    copy: dict[str, Any] = dict(answer)
    node = copy
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            return copy
        node[part] = node = dict(child)
    node[parts[-1]] = MASKED
    return copy


def url_secrets(url: str) -> list[str]:
    """What of a download URL must never show: the URL, its query, and its credential-looking or long query values
    (`X-Amz-Signature`, `X-Amz-Credential`, `X-Amz-Security-Token`, `sig`, `Signature`...)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return [url]
    found = [url, parsed.query.decode("ascii", "replace")]
    for name, value in parsed.params.multi_items():
        if SENSITIVE_NAME.search(name) or "credential" in name.lower() or len(value) >= 20:
            found.append(value)
    return [value for value in found if value]


def refuse_deferred_decoder(decoder: DecoderSpec) -> None:
    """A deferred report job sends its decoder to the triggerer as plain data: a `Decoder` instance is refused."""
    if isinstance(decoder, Decoder):
        raise ConfigError(
            DECODER,
            f"deferrable=True sends the decoder to the triggerer as plain data: give its spec ('csv+gzip', "
            f"{{'format': 'csv', 'delimiter': '\\t'}}), not {decoder!r}",
        )


__all__ = ["CreatedReport", "ReportJob", "ReportRun", "refuse_deferred_decoder", "url_secrets"]
