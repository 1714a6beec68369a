"""JSON Lines output: page by page, counted, removed when the run fails."""

from __future__ import annotations

import json

import pytest

from airflow_provider_authapi.api import ApiHTTPError, Fetcher, JsonLinesWriter, RequestSpec, RetryPolicy


def test_streams_every_page_and_counts(api, client, tmp_path):
    path = tmp_path / "out" / "items.jsonl"
    fetcher = Fetcher(RequestSpec("GET", "/offset"), paginator={"type": "offset", "limit": 10}, response_filter="items")
    with JsonLinesWriter(path) as out:
        summary = fetcher.run(client, out)
    assert summary == {"path": str(path), "records": 25}
    lines = path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == list(range(1, 26))


def test_unpaginated_body_is_one_record_or_a_list(api, client, tmp_path):
    path = tmp_path / "job.jsonl"
    with JsonLinesWriter(path) as out:
        summary = Fetcher(RequestSpec("GET", "/jobs/x?done_after=1")).run(client, out)
    assert summary["records"] == 1
    assert json.loads(path.read_text())["status"] == "done"


def test_a_failed_run_leaves_no_partial_file(api, client, tmp_path):
    path = tmp_path / "partial.jsonl"
    fetcher = Fetcher(RequestSpec("GET", "/flaky/z?fail=9"), retry=RetryPolicy(attempts=1))
    with pytest.raises(ApiHTTPError), JsonLinesWriter(path) as out:
        out.write_page([{"id": 1}])
        fetcher.run(client, out)
    assert not path.exists()


def test_non_ascii_is_kept_as_utf8(tmp_path):
    path = tmp_path / "u.jsonl"
    with JsonLinesWriter(path) as out:
        out.write_page([{"name": "Zoë"}, "plain"])
    assert path.read_bytes() == '{"name":"Zoë"}\n"plain"\n'.encode()
