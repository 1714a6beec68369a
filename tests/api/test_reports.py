"""Report jobs in the core (`api/reports.py`) against the SP-API Reports emulator, through a real connection's client
(Login with Amazon, the token in `x-amz-access-token`): create, poll until DONE, the document's presigned URL on
another origin downloaded with no credential, gzip'd TSV decoded; sync and async; FATAL and CANCELLED, the timeout,
a missing id, and the presigned URL kept out of every error and log line."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from airflow_provider_authapi.api.decoders import CsvDecoder, GzipDecoder
from airflow_provider_authapi.api.output import JsonLinesWriter, RawFileWriter
from airflow_provider_authapi.api.reports import CreatedReport, ReportJob, ReportRun, url_secrets
from airflow_provider_authapi.auth import build_auth, build_token_manager
from airflow_provider_authapi.auth.client import build_async_client, build_client
from airflow_provider_authapi.auth.config import config_secrets
from airflow_provider_authapi.auth.errors import (
    ApiHTTPError,
    ConfigError,
    CredentialOriginError,
    ReportJobError,
    ReportTimeoutError,
)
from airflow_provider_authapi.auth.retry import RetryPolicy
from airflow_provider_authapi.auth.tokens import MemoryTokenStore
from airflow_provider_authapi.connections import auth_config_from_connection
from tests.emulators.amazon_sp import (
    DOCUMENTS,
    LISTINGS,
    MARKETPLACE,
    REPORTS,
    AmazonSpEmulator,
    listing,
    listings_tsv,
)

TSV = {"format": "csv", "delimiter": "\t"}
FAST = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02)
CREDENTIAL_HEADERS = {"authorization", "x-amz-access-token", "cookie", "x-emulator-extra"}


def job(**overrides: Any) -> ReportJob:
    spec: dict[str, Any] = {
        "endpoint": REPORTS,
        "json": {"reportType": LISTINGS, "marketplaceIds": [MARKETPLACE]},
        "id_path": "reportId",
        "poll_endpoint": REPORTS + "/{reportId}",
        "status_path": "processingStatus",
        "done": ["DONE"],
        "failed": ["FATAL", "CANCELLED"],
        "poll_interval": 0.01,
        "timeout": 10,
        "document_endpoint": DOCUMENTS + "/{reportDocumentId}",
        "url_path": "url",
        "compression_path": "compressionAlgorithm",
    }
    return ReportJob.of({**spec, **overrides})


@pytest.fixture(scope="module")
def _server() -> Iterator[AmazonSpEmulator]:
    with AmazonSpEmulator(rows=120) as emulator:
        yield emulator


@pytest.fixture
def sp(_server: AmazonSpEmulator) -> AmazonSpEmulator:
    """The module's emulator, back to its defaults: 120 rows, DONE on the 3rd poll, gzip'd."""
    _server.rows, _server.polls_to_done, _server.outcome, _server.compress = 120, 3, "DONE", True
    _server.refusals.clear()
    _server.bucket.seen.clear()
    _server.bucket.queries.clear()
    _server.bucket.refusals.clear()
    return _server


class Connection:
    """The emulator's connection as the provider reads it (the hook's parts, without Airflow)."""

    def __init__(self, sp: AmazonSpEmulator, **extra: Any) -> None:
        fields = sp.airflow_connection()
        self.config = auth_config_from_connection(
            SimpleNamespace(
                conn_id="amazon_sp",
                conn_type=fields["conn_type"],
                host=fields["host"],
                login=fields["login"],
                password=fields["password"],
                extra=json.dumps({**fields["extra"], **extra}),
            )
        )
        self.auth = build_auth(self.config, build_token_manager(self.config, MemoryTokenStore()))
        self.secrets = config_secrets(self.config)

    def client(self) -> httpx.Client:
        return build_client(self.config, self.auth)

    def aclient(self) -> httpx.AsyncClient:
        return build_async_client(self.config, self.auth)

    def run(self, report: ReportJob, decoder: Any = TSV, **kwargs: Any) -> ReportRun:
        return ReportRun(report, decoder, retry=FAST, secrets=self.secrets, **kwargs)


def sync_run(conn: Connection, report: ReportJob, decoder: Any = TSV, **kwargs: Any) -> Any:
    with conn.client() as client:
        return conn.run(report, decoder, **kwargs).run(client)


def async_run(conn: Connection, report: ReportJob, decoder: Any = TSV, **kwargs: Any) -> Any:
    async def main() -> Any:
        async with conn.aclient() as client:
            return await conn.run(report, decoder, **kwargs).arun(client)

    return asyncio.run(main())


RUNNERS = pytest.mark.parametrize("runner", [sync_run, async_run], ids=["sync", "async"])


def assert_nothing_reached_the_bucket_but_the_url(sp: AmazonSpEmulator) -> None:
    assert sp.bucket.seen, "the download never reached the presigned origin"
    for headers in sp.bucket.seen:
        assert not CREDENTIAL_HEADERS & set(headers), sorted(headers)
    assert sp.bucket.refusals == []


# -- the happy path -------------------------------------------------------------------------------------------------


@RUNNERS
@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "plain"])
def test_create_poll_download_and_decode(sp, runner, compress):
    sp.compress = compress  # GZIP named by the document (compressionAlgorithm), or nothing: stored as is
    records = runner(Connection(sp), job())
    assert records == [listing(n) for n in range(1, 121)]
    report_id = next(reversed(sp.reports))
    assert sp.reports[report_id]["_polls"] == 3 and sp.reports[report_id]["processingStatus"] == "DONE"
    assert sp.created[-1] == {"reportType": LISTINGS, "marketplaceIds": [MARKETPLACE]}
    assert sp.refusals == [] and sp.bucket.served >= 1
    assert_nothing_reached_the_bucket_but_the_url(sp)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    """Every log line of httpx and of the provider, whatever logging config an earlier test loaded (Airflow's
    turns off loggers that exist when it is applied)."""
    for name in ("httpx", "airflow_provider_authapi", "airflow_provider_authapi.api.reports"):
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "disabled", False)
        monkeypatch.setattr(logger, "propagate", True)
        caplog.set_level(logging.DEBUG, logger=name)
    caplog.set_level(logging.DEBUG)
    return caplog


def test_the_steps_apart_as_the_operator_and_its_trigger_run_them(sp, tmp_path, logs):
    """Created in a worker (sync), the job as plain data to the triggerer, polled and downloaded there (async)."""
    conn = Connection(sp)
    with conn.client() as client:
        created = conn.run(job()).create(client)
    handed = json.loads(json.dumps({"report": job().to_spec(), "created": created.to_dict()}))
    assert set(handed["created"]) == {"report_id", "poll", "deadline"}
    assert handed["created"]["poll"]["url"] == f"{REPORTS}/{created.report_id}"
    assert ReportJob.of(handed["report"]) == job()

    path = tmp_path / "listings.jsonl"

    async def triggerer() -> ReportRun:
        run = conn.run(handed["report"])
        async with conn.aclient() as client:
            ready = await run.aready(client, CreatedReport.from_dict(handed["created"]))
            with JsonLinesWriter(path) as out:

                async def write(records: list[Any]) -> None:
                    out.write_page(records)

                assert await run.adownload(client, ready, write) is None
        return run

    run = asyncio.run(triggerer())
    assert (run.report_id, run.polls, run.records) == (created.report_id, 3, 120)
    assert [json.loads(line) for line in path.read_text().splitlines()] == [listing(n) for n in range(1, 121)]
    assert f"Report {created.report_id}: downloading from {sp.bucket.url} (no credential sent)" in logs.text
    assert "IN_QUEUE; next poll in" in logs.text and f"Report {created.report_id}: DONE after 3 polls" in logs.text
    assert_nothing_reached_the_bucket_but_the_url(sp)


def test_the_decoders_compression_follows_the_document_and_raw_keeps_the_bytes(sp, tmp_path):
    conn = Connection(sp)
    assert sync_run(conn, job(), {**TSV, "compression": "gzip"})[0] == listing(1)  # GZIP: gzip, as given
    assert sync_run(conn, job(), GzipDecoder(CsvDecoder(delimiter="\t")))[0] == listing(1)
    sp.compress = False  # no compressionAlgorithm: the decoder's own compression stays
    assert sync_run(conn, job(), CsvDecoder(delimiter="\t"))[-1] == listing(120)

    sp.compress = True
    with conn.client() as client, RawFileWriter(tmp_path / "report.tsv.gz") as out:
        summary = conn.run(job(), "raw").run(client, out)
    assert gzip.decompress((tmp_path / "report.tsv.gz").read_bytes()) == listings_tsv(120)
    assert summary["bytes"] == (tmp_path / "report.tsv.gz").stat().st_size and "url" not in json.dumps(summary)

    sp.compress = True
    with pytest.raises(ConfigError) as caught:
        sync_run(conn, job(compressions={"ZSTD": None}))
    assert caught.value.field == "report.compressions" and "'GZIP'" in str(caught.value)


# -- statuses that end the run -------------------------------------------------------------------------------------


@RUNNERS
@pytest.mark.parametrize("outcome", ["FATAL", "CANCELLED"])
def test_a_failed_status_fails_with_the_status_and_an_excerpt(sp, runner, outcome):
    sp.outcome, sp.polls_to_done = outcome, 2
    conn = Connection(sp)
    with pytest.raises(ReportJobError) as caught:
        runner(conn, job())
    error = caught.value
    assert (error.field, error.status, error.report_id) == ("report.failed", outcome, next(reversed(sp.reports)))
    message = str(error)
    assert message.startswith(f"report {error.report_id} ended {outcome} (GET {REPORTS}/{error.report_id}")
    assert "failed: FATAL, CANCELLED" in message and f'"processingStatus": "{outcome}"' in message
    assert not any(secret in message for secret in conn.secrets)
    assert sp.bucket.seen == []  # nothing downloaded


def test_a_report_cancelled_by_request_fails_the_same(sp):
    sp.polls_to_done = 5
    conn = Connection(sp)
    with conn.client() as client:
        run = conn.run(job())
        created = run.create(client)
        assert client.delete(f"{REPORTS}/{created.report_id}").status_code == 200  # cancelReport, while IN_QUEUE
        with pytest.raises(ReportJobError) as caught:
            run.ready(client, created)
    assert caught.value.status == "CANCELLED" and run.polls == 1


@RUNNERS
def test_a_report_not_ready_in_time_fails_naming_timeout(sp, runner):
    sp.polls_to_done = 10_000
    clock = {"now": 1_000_000.0}  # a clock the sleeps move: 5 s of polling, at once

    def sleep(seconds: float) -> None:
        clock["now"] += seconds

    async def asleep(seconds: float) -> None:
        clock["now"] += seconds

    with pytest.raises(ReportTimeoutError) as caught:
        runner(Connection(sp), job(poll_interval=2, timeout=5), clock=lambda: clock["now"], sleep=sleep, asleep=asleep)
    error = caught.value
    assert error.field == "report.timeout" and error.status == "IN_PROGRESS"
    assert "not ready within report.timeout (5 s after it was created)" in str(error)
    assert "after 4 polls" in str(error)  # at 0, 2 and 4 s, then once more at the deadline (5 s)


# -- what the answers lack ----------------------------------------------------------------------------------------


@RUNNERS
def test_a_missing_id_names_id_path_and_the_keys_there_are(sp, runner):
    with pytest.raises(ConfigError) as caught:
        runner(Connection(sp), job(id_path="id", poll_endpoint=REPORTS + "/{id}"))
    assert caught.value.field == "report.id_path"
    assert "the create answer has no value at 'id' (its keys: reportId)" in str(caught.value)


def test_missing_placeholders_status_and_url_name_their_fields(sp):
    conn = Connection(sp)
    cases = {
        "report.poll_endpoint": job(poll_endpoint=REPORTS + "/{report.id}"),
        "report.status_path": job(status_path="status"),
        "report.document_endpoint": job(document_endpoint=DOCUMENTS + "/{documentId}"),
        "report.url_path": job(url_path="downloadUrl"),
    }
    for field, report in cases.items():
        with pytest.raises(ConfigError) as caught:
            sync_run(conn, report)
        assert caught.value.field == field, (field, str(caught.value))
    assert "its keys: reportDocumentId, url, compressionAlgorithm" in str(caught.value)  # the keys, no value


def test_a_job_is_checked_when_it_is_made():
    refused = {
        "report": {"endpoint": REPORTS, "poll": "/x"},  # an unknown key
        "report.status_path": {"endpoint": REPORTS, "poll_endpoint": "/x", "id_path": "id"},
        "report.failed": {**job().to_spec(), "failed": ["DONE"]},
        "report.poll_interval": {**job().to_spec(), "poll_interval": 0},
        "report.timeout": {**job().to_spec(), "timeout": True},
        "report.id_path": {**job().to_spec(), "id_path": "a[b"},
        "report.poll_endpoint": {**job().to_spec(), "poll_endpoint": "/reports/{a[b}"},
        "report.compressions": {**job().to_spec(), "compressions": {"GZIP": "brotli"}},
        "report.done": {**job().to_spec(), "done": "DONE"},
    }
    for field, spec in refused.items():
        with pytest.raises(ConfigError) as caught:
            ReportJob.of(spec)
        assert caught.value.field == field, (field, str(caught.value))
    assert ReportJob.of(job().to_spec()) == job()
    assert job(done=[True, 2]).done == ("true", "2")  # statuses compared as text


# -- the presigned URL is a credential ----------------------------------------------------------------------------


@RUNNERS
def test_the_presigned_url_is_never_in_an_error_or_a_log_line(sp, runner, logs, monkeypatch):
    """The bucket refuses the URL (a signature that does not match, echoed in S3's XML error): the error names
    the request by its path alone, and neither it nor any log line holds the URL, its query or its signature."""
    urls: list[str] = []
    presign = sp.bucket.presign

    def bad_signature(key: str, expires: int = 300) -> str:
        url = presign(key, expires)[:-8] + "00000000"
        urls.append(url)
        return url

    monkeypatch.setattr(sp.bucket, "presign", bad_signature)
    with pytest.raises(ApiHTTPError) as caught:
        runner(Connection(sp), job())
    assert caught.value.status_code == 403 and sp.bucket.refusals == ["signature does not match"]
    message = str(caught.value)
    assert message.startswith("GET /tortuga-prod-na/NinetyDays/") and "SignatureDoesNotMatch" in message
    (url,) = urls
    query = httpx.URL(url).query.decode()
    signature = httpx.URL(url).params["X-Amz-Signature"]
    for text in (message, logs.text):
        assert url not in text and query not in text and signature not in text
    assert f"downloading from {sp.bucket.url} (no credential sent)" in logs.text
    assert f"GET {sp.bucket.url}/... (path and query not logged)" in logs.text  # httpx's own line
    assert set(url_secrets(url)) >= {url, query, signature}


def test_no_credential_of_any_kind_reaches_the_presigned_origin(sp):
    """Extra headers and query parameters of the connection, the token header: all for the API's origin only. Sent
    with credentials instead, the download is refused before it leaves (the bucket's origin is not trusted); and
    the bucket refuses a second credential as S3 does."""
    conn = Connection(sp, extra_headers={"X-Emulator-Extra": "extra-header-secret"}, extra_query_params={"k": "v1"})
    assert sync_run(conn, job())[0] == listing(1)
    assert_nothing_reached_the_bucket_but_the_url(sp)
    assert sp.bucket.queries and not any("k=v1" in query for query in sp.bucket.queries)

    sp.bucket.seen.clear()
    with pytest.raises(CredentialOriginError) as caught:
        sync_run(conn, job(authenticate_download=True))
    assert caught.value.origin == sp.bucket.url and sp.bucket.seen == []
    assert "X-Amz-Signature" not in str(caught.value)

    document = httpx.get(f"{sp.url}{DOCUMENTS}/{next(iter(sp.documents))}",
                         headers={"x-amz-access-token": sp.access.issue("probe")}).json()  # fmt: skip
    answer = httpx.get(document["url"], headers={"x-amz-access-token": "Atza|stolen"})
    assert answer.status_code == 400 and "<Code>InvalidArgument</Code>" in answer.text
    assert httpx.get(document["url"]).status_code == 200
    assert httpx.get(document["url"].partition("?")[0]).status_code == 403  # not presigned


def test_the_emulator_speaks_lwa_and_sp_api():
    """Login with Amazon wants the client in the form; the API the token in x-amz-access-token."""
    with AmazonSpEmulator() as sp:
        speaks_lwa_and_sp_api(sp)


def speaks_lwa_and_sp_api(sp: AmazonSpEmulator) -> None:
    token_form = {"grant_type": "refresh_token", "refresh_token": sp.refresh_token}
    basic = httpx.post(f"{sp.url}/auth/o2/token", data=token_form, auth=(sp.client_id, sp.client_secret))
    assert basic.status_code == 401 and basic.json()["error"] == "invalid_client"
    good = httpx.post(
        f"{sp.url}/auth/o2/token", data={**token_form, "client_id": sp.client_id, "client_secret": sp.client_secret}
    )
    token = good.json()["access_token"]
    assert token.startswith("Atza|") and good.json()["refresh_token"] == sp.refresh_token
    bearer = httpx.get(f"{sp.url}{REPORTS}?reportTypes={LISTINGS}", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 403 and bearer.json()["errors"][0]["code"] == "Unauthorized"
    listed = httpx.get(f"{sp.url}{REPORTS}?reportTypes={LISTINGS}", headers={"x-amz-access-token": token})
    assert listed.status_code == 200 and "reports" in listed.json()
    bad = httpx.post(f"{sp.url}{REPORTS}", json={"reportType": LISTINGS}, headers={"x-amz-access-token": token})
    assert bad.status_code == 400 and "marketplaceIds" in bad.json()["errors"][0]["message"]
    sp.advance(3601)
    expired = httpx.get(f"{sp.url}{REPORTS}?reportTypes={LISTINGS}", headers={"x-amz-access-token": token})
    assert expired.json()["errors"][0]["details"] == "The access token you provided has expired."
