"""Streamed answers in the core: `retry.send_streamed` and `Fetcher(decoder=...)` against a real export server
(sync and async httpx): the status retried before the body is read, a body without the whole-answer deadline or
size limit but with an idle bound, error bodies read capped and scrubbed, pagination that reads no body, raw
bytes to a file, and what a streamed call refuses."""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_authapi.api.fetch import Fetcher
from airflow_provider_authapi.api.output import JsonLinesWriter, RawFileWriter
from airflow_provider_authapi.api.pagination import RequestSpec
from airflow_provider_authapi.api.streamed import check_streamed
from airflow_provider_authapi.auth import retry
from airflow_provider_authapi.auth.errors import ApiHTTPError, ApiResponseError, ApiTransportError, ConfigError
from airflow_provider_authapi.auth.retry import ERROR_BODY_BYTES, DeadlineExceeded, RetryPolicy, send_bounded
from tests.emulators.export_api import ExportApi
from tests.emulators.exports import RECORDS, csv_bytes, gzip_bytes, xml_record

TOKEN = "streamed-export-token-6f1c2a9e"
FAST = RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.05)


@pytest.fixture(scope="module")
def api() -> Iterator[ExportApi]:
    with ExportApi(token=TOKEN) as emulator:
        yield emulator


def client_for(api: ExportApi, timeout: float = 10.0) -> httpx.Client:
    return httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=timeout)


def aclient_for(api: ExportApi, timeout: float = 10.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=api.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=timeout)


def fetcher(path: str, decoder: Any, **kwargs: Any) -> Fetcher:
    params = kwargs.pop("params", {})
    return Fetcher(RequestSpec("GET", path, params=params), decoder=decoder, retry=kwargs.pop("retry", FAST), **kwargs)


def run(path: str, decoder: Any, api: ExportApi, *, timeout: float = 10.0, **kwargs: Any) -> Any:
    with client_for(api, timeout) as client:
        return fetcher(path, decoder, **kwargs).run(client)


def arun(path: str, decoder: Any, api: ExportApi, *, timeout: float = 10.0, **kwargs: Any) -> Any:
    async def main() -> Any:
        async with aclient_for(api, timeout) as client:
            return await fetcher(path, decoder, **kwargs).arun(client)

    return asyncio.run(main())


RUNNERS = pytest.mark.parametrize("runner", [run, arun], ids=["sync", "async"])


# -- The status first, under the retry policy -----------------------------------------------------------------------


@RUNNERS
def test_a_503_is_retried_then_the_csv_streams(api: ExportApi, runner: Any) -> None:
    key = f"retry-{runner.__name__}"
    assert runner("/flaky/export.csv", "csv", api, params={"fail": 2, "key": key}) == RECORDS
    assert api.hits[key] == 3  # two 503s, then the export


@RUNNERS
def test_every_format_streams_to_records(api: ExportApi, runner: Any) -> None:
    assert runner("/export.csv.gz", {"format": "csv", "compression": "gzip"}, api) == RECORDS
    assert runner("/export.jsonl", "jsonl", api) == RECORDS
    assert runner("/export.xml", {"format": "xml", "record_tag": "item"}, api) == [xml_record(r) for r in RECORDS]
    assert runner("/export.zip", "csv+zip", api) == RECORDS


def test_a_streamed_answer_is_open_until_read_and_an_error_is_read_capped(api: ExportApi) -> None:
    with client_for(api) as client:
        response = retry.send_streamed(client, client.build_request("GET", "/export.csv"))
        assert response.status_code == 200 and not response.is_closed  # the body is the caller's to stream
        assert b"".join(retry.iter_streamed(response, "GET /export.csv")) == csv_bytes()
        response.close()
        denied = retry.send_streamed(client, client.build_request("GET", "/denied/export.csv"))
        assert denied.status_code == 403 and denied.is_closed
        assert len(denied.content) == ERROR_BODY_BYTES  # of a body over 1 MB: the rest is never read


@RUNNERS
def test_an_error_body_is_scrubbed_and_names_the_request(api: ExportApi, runner: Any) -> None:
    with pytest.raises(ApiHTTPError) as caught:
        runner("/denied/export.csv", "csv", api)
    message = str(caught.value)
    assert message.startswith("GET /denied/export.csv answered 403 Forbidden"), message
    assert TOKEN not in message and "***" in message, message
    assert caught.value.status_code == 403


@RUNNERS
def test_a_status_rule_acts_before_the_body(api: ExportApi, runner: Any) -> None:
    assert runner("/no-such-export.csv", "csv", api, response_actions={404: "empty"}) == []
    assert runner("/export.csv", "csv", api, response_actions=[{"status": 200, "action": "empty"}]) == []


# -- The body: no deadline, no size limit, an idle bound -------------------------------------------------------------


@RUNNERS
def test_a_body_that_stalls_fails_naming_the_request(api: ExportApi, runner: Any) -> None:
    with pytest.raises(ApiTransportError) as caught:
        runner("/stall/export.csv", "csv", api, timeout=0.5, params={"after": 1500, "seconds": 3})
    message = str(caught.value)
    assert re.match(
        r"GET /stall/export\.csv: the body stalled, no bytes for 0\.5 s after [1-9][\d,]* bytes", message
    ), message


def test_a_raw_body_that_stalls_fails_too_and_leaves_no_file(api: ExportApi, tmp_path: Any) -> None:
    target = tmp_path / "stalled.csv"
    stalls = fetcher("/stall/export.csv", "raw", params={"after": 100, "seconds": 3})
    with client_for(api, 0.5) as client, pytest.raises(ApiTransportError, match="the body stalled"):  # noqa: SIM117
        with RawFileWriter(target) as out:  # inside: the writer sees the error, as the operator's does
            stalls.download(client, out)
    assert not target.exists()


@RUNNERS
def test_a_slow_body_outlasts_the_whole_answer_deadline_and_size_limit(
    api: ExportApi, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timeout 0.5 s: an answer read whole must end within 2 s; this one takes 3 s or more (30 pieces, 0.1 s
    apart), and is larger than the size limit set here. Streamed, neither applies."""
    params = {"interval": 0.1, "chunk": -(-len(csv_bytes()) // 30)}
    if runner is run:  # read whole, the same body fails: the test can fail
        with client_for(api, 0.5) as client, pytest.raises(DeadlineExceeded):
            send_bounded(client, client.build_request("GET", "/slow/export.csv", params=params))
    monkeypatch.setattr(retry, "MAX_BODY_BYTES", 100)
    assert runner("/slow/export.csv", "csv", api, timeout=0.5, params=params) == RECORDS


class _CutShort:
    """A server whose answer breaks off: headers, half a chunked body, then the connection closes."""

    def __enter__(self) -> str:
        self.sock = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        conn.recv(65536)
        data = csv_bytes()[:1200]
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
        conn.sendall(head + b"%x\r\n%s\r\n" % (len(data), data))
        conn.close()

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def test_a_body_that_breaks_off_fails_naming_the_request() -> None:
    with _CutShort() as url, httpx.Client(base_url=url) as client, pytest.raises(ApiTransportError) as caught:
        fetcher("/export.csv", "csv").run(client)
    assert str(caught.value).startswith("GET /export.csv: the body broke off after 1,200 bytes"), caught.value


@RUNNERS
def test_a_body_that_does_not_decode_names_the_request(api: ExportApi, runner: Any) -> None:
    with pytest.raises(ApiResponseError, match=r"^GET /export\.csv\.gz: csv: byte \d+ does not decode as utf-8"):
        runner("/export.csv.gz", "csv", api)


# -- Pages, files -----------------------------------------------------------------------------------------------------


@RUNNERS
def test_paginators_that_read_no_body(api: ExportApi, runner: Any) -> None:
    with api.lock:
        api.calls.clear()
    assert runner("/paged/export.jsonl", "jsonl", api, paginator="header_link", params={"per_page": 15}) == RECORDS
    assert api.count("GET", r"/paged/export\.jsonl") == 3
    page_number = {"type": "page_number", "page_size": 15, "page_size_param": "per_page"}
    assert runner("/paged/export.jsonl", "jsonl", api, paginator=page_number) == RECORDS
    assert api.count("GET", r"/paged/export\.jsonl") == 3 + 4  # stops on the empty page
    cursor = {"type": "cursor", "cursor_path": "last_record:id", "cursor_param": "after"}
    assert runner("/export.jsonl", "jsonl", api, paginator=cursor, max_pages=2) == RECORDS + RECORDS


def test_records_to_a_file_and_raw_bytes_to_a_file(api: ExportApi, tmp_path: Any) -> None:
    with client_for(api) as client:
        with JsonLinesWriter(tmp_path / "export.jsonl") as writer:
            summary = fetcher("/export.csv.gz", "csv+gzip").run(client, writer)
        assert summary == {"path": str(tmp_path / "export.jsonl"), "records": len(RECORDS)}
        with RawFileWriter(tmp_path / "export.csv.gz") as out:
            raw = fetcher("/export.csv.gz", "raw").download(client, out)
    expected = gzip_bytes(csv_bytes())
    assert (tmp_path / "export.csv.gz").read_bytes() == expected
    assert raw == {"path": str(tmp_path / "export.csv.gz"), "bytes": len(expected)} | {
        "sha256": hashlib.sha256(expected).hexdigest()
    }


def test_raw_bytes_in_async(api: ExportApi) -> None:
    pieces: list[bytes] = []

    async def write(data: bytes) -> None:
        pieces.append(data)

    async def main() -> int:
        async with aclient_for(api) as client:
            return await fetcher("/export.zip", "raw").adownload(client, write)

    size = asyncio.run(main())
    data = b"".join(pieces)
    with client_for(api) as client:
        assert data == client.get("/export.zip").content and size == len(data)


# -- What a streamed call refuses -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"paginator": "offset"}, "reads total_path 'total' from a JSON body"),
        ({"paginator": "json_link"}, "the json_link paginator reads its next page"),
        ({"paginator": "auto"}, "the auto paginator reads its next page"),
        ({"paginator": {"type": "page_number", "total_pages_path": "pages"}}, "total_pages_path 'pages'"),
        ({"paginator": "cursor"}, "cursor_path 'next_cursor'"),
        ({"paginator": {"type": "offset", "total_path": None, "has_more_path": "more"}}, "has_more_path 'more'"),
        ({"response_filter": "items"}, "response_filter picks records out of a JSON body"),
        ({"response_check": bool}, "response_check reads a parsed JSON body"),
        ({"concurrency": 4}, "concurrency must be 1"),
        ({"response_actions": [{"content": "busy", "action": "retry"}]}, "reads the body of a 2xx answer"),
        ({"response_actions": [{"status": [200, 503], "path": "a", "value": 1, "action": "retry"}]}, "2xx"),
    ],
)
def test_a_streamed_call_refuses_what_needs_a_json_body(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_streamed("csv", **kwargs)
    assert caught.value.field == "decoder" and fragment in str(caught.value), str(caught.value)


def test_what_a_streamed_call_may_have() -> None:
    for paginator in (
        "header_link",
        "page_number",
        {"type": "offset", "total_path": None},
        {"type": "offset", "total_path": None, "has_more_path": "header:X-More"},
        {"type": "cursor", "cursor_path": "header:X-Next"},
        {"type": "cursor", "cursor_path": "last_record:id", "has_more_path": "header:X-More"},
    ):
        assert check_streamed("jsonl", paginator=paginator).format == "jsonl"
    rules = [{"status": 503, "content": "maintenance", "action": "fail"}, {"status": 204, "action": "empty"}]
    assert check_streamed("csv+gzip", response_actions=rules).format == "gzip"
    assert check_streamed("raw") == check_streamed(" RAW ") == "raw"
    with pytest.raises(ConfigError, match="decoder='raw' writes one answer's bytes to output_path"):
        check_streamed("raw", paginator="header_link")
    with pytest.raises(ConfigError, match="unknown format 'parquet'"):
        Fetcher(RequestSpec("GET", "/x"), decoder="parquet")
