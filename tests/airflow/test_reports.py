"""AuthApiReportOperator in real `dag.test()` runs against the SP-API Reports emulator: the report created in the
worker, polled and downloaded in the worker or deferred to the triggerer, to a JSON Lines file, to XCom and raw; a
FATAL report failing its task with the status; the presigned URL and every secret kept out of the trigger's
kwargs and event, XCom and rendered fields; and what the operator refuses when the DAG is parsed."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_authapi.auth.errors import ConfigError
from tests.conftest import run_dag
from tests.emulators.amazon_sp import AmazonSpEmulator, listing, listings_tsv
from tests.systems.published import published_text

ROWS = 120
JOB = {"endpoint": "/r", "poll_endpoint": "/r/{id}", "id_path": "id", "status_path": "s"}


@pytest.fixture
def sp(airflow_db, set_connection) -> Iterator[AmazonSpEmulator]:
    with AmazonSpEmulator(rows=ROWS, polls_to_done=3) as emulator:
        set_connection("amazon_sp", **emulator.airflow_connection())
        yield emulator


def asset_extra(asset_name: str, run_id: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (
            select(AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == asset_name, AssetEvent.source_run_id == run_id)
        )
        return list(session.scalars(query))


def test_report_jobs_in_the_worker_and_the_triggerer(sp, tmp_path, monkeypatch):
    from airflow_provider_authapi.triggers.reports import AuthApiReportTrigger

    fired: list[dict[str, Any]] = []
    original_run = AuthApiReportTrigger.run

    async def spy_run(self):
        _, kwargs = self.serialize()
        async for event in original_run(self):
            fired.append({"kwargs": kwargs, "payload": dict(event.payload)})
            yield event

    monkeypatch.setattr(AuthApiReportTrigger, "run", spy_run)
    result = run_dag("op_reports", conf={"out_dir": str(tmp_path)})
    states = result.task_states()
    assert states.pop("fatal") == "failed" and states.pop("fatal_deferred") == "failed", states
    assert set(states.values()) == {"success"}, states

    expected = [listing(n) for n in range(1, ROWS + 1)]
    ids = {}
    for suffix in ("", "_deferred"):
        path = tmp_path / f"listings{suffix}.jsonl"
        summary = result.xcom(f"to_file{suffix}")
        ids[f"to_file{suffix}"] = summary.pop("report_id")
        assert summary == {"path": f"file://{path}", "records": ROWS}
        assert [json.loads(line) for line in path.read_text().splitlines()] == expected
        extra = asset_extra(f"file:///reports/listings{suffix}", result.run_id)
        assert extra == [{"records": ROWS, "path": f"file://{path}"}], suffix
        assert result.xcom(f"to_xcom{suffix}") == expected
        raw = tmp_path / f"listings{suffix}.tsv.gz"
        assert gzip.decompress(raw.read_bytes()) == listings_tsv(ROWS)  # the document's bytes, still gzip
        raw_summary = result.xcom(f"raw{suffix}")
        assert raw_summary["sha256"] == hashlib.sha256(raw.read_bytes()).hexdigest()
        assert set(raw_summary) == {"path", "bytes", "sha256", "report_id"}

    # every report was created once, with the rendered body, and polled until DONE (or FATAL) on its 3rd poll
    assert len(sp.reports) == 8 and {report["_polls"] for report in sp.reports.values()} == {3}
    starts = sorted(body["dataStartTime"] for body in sp.created)  # rendered from dag_run.conf's default
    assert starts == ["2026-01-01T00:00:00Z"] * 6 + ["2026-02-01T00:00:00Z"] * 2
    assert sorted(r["processingStatus"] for r in sp.reports.values()) == ["DONE"] * 6 + ["FATAL"] * 2
    assert ids["to_file"] != ids["to_file_deferred"] and set(ids.values()) <= set(sp.reports)
    for headers in sp.bucket.seen:  # six downloads, none with a credential
        assert not {"authorization", "x-amz-access-token", "cookie"} & set(headers)
    assert len(sp.bucket.seen) == 6 and sp.bucket.refusals == [] and sp.refusals == []
    assert sp.token_requests == 1  # one token for every task and the triggerer: the shared cache

    # the deferred tasks polled and downloaded in the trigger, which carried plain data and no secret
    assert len(fired) == 4
    by_task = {json.dumps(f["kwargs"]["report"]["json"]) + str(f["kwargs"]["output_path"]): f for f in fired}
    kwargs = next(f["kwargs"] for f in fired if f["kwargs"]["output_path"] == f"file://{tmp_path}/listings_deferred"
                  ".jsonl")  # fmt: skip
    assert kwargs["report"]["poll_interval"] == 0.05 and kwargs["decoder"] == {"format": "csv", "delimiter": "\t"}
    assert set(kwargs["created"]) == {"report_id", "poll", "deadline"}
    assert kwargs["created"]["poll"]["url"] == f"/reports/2021-06-30/reports/{kwargs['created']['report_id']}"
    fatal = next(f["payload"] for f in by_task.values() if f["payload"]["status"] == "error")
    assert fatal["error"] == "ReportJobError" and fatal["report_id"] in sp.reports
    assert f"report {fatal['report_id']} ended FATAL" in fatal["message"]
    done = next(p for f in fired if (p := f["payload"])["status"] == "success" and f["kwargs"]["output_path"] is None)
    assert (done["polls"], done["records"], len(done["result"])) == (3, ROWS, ROWS)

    secrets = [sp.client_secret, sp.refresh_token, *sp.access.live(), "X-Amz-Signature", sp.bucket.url]
    published = published_text(result)
    for text in (json.dumps(fired), published):
        assert not any(secret in text for secret in secrets)


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"decoder": "raw"}, "decoder", "decoder='raw' writes the document's bytes to output_path"),
        ({"decoder": "tsv"}, "decoder", "unknown format 'tsv'"),
        ({"report": {"endpoint": "/r", "poll_endpoint": "/r/{id}", "id_path": "id"}}, "report.status_path", "needs"),
        ({"report": {**JOB, "timeout": -1}}, "report.timeout", "above 0"),
    ],
)
def test_the_operator_refuses_a_job_that_cannot_work_when_the_dag_is_parsed(kwargs, field, fragment):
    from airflow_provider_authapi.operators import AuthApiReportOperator

    arguments = {"report": JOB, "decoder": "csv", **kwargs}
    with pytest.raises(ConfigError) as caught:
        AuthApiReportOperator(task_id="refused", **arguments)
    assert caught.value.field == field and fragment in str(caught.value), str(caught.value)


def test_a_deferred_job_sends_its_decoder_as_plain_data():
    from airflow_provider_authapi.api.decoders import CsvDecoder
    from airflow_provider_authapi.operators import AuthApiReportOperator

    AuthApiReportOperator(task_id="worker", report=JOB, decoder=CsvDecoder(delimiter="\t"))
    with pytest.raises(ConfigError) as caught:
        AuthApiReportOperator(task_id="deferred", report=JOB, decoder=CsvDecoder(), deferrable=True)
    assert caught.value.field == "decoder" and "plain data" in str(caught.value)
