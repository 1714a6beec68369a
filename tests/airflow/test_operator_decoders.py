"""AuthApiOperator(decoder=...) in real `dag.test()` runs against the export server: CSV+gzip, JSON Lines, XML
and raw bytes to files in the worker and deferred to the triggerer, CSV to XCom after a 503, pages by header
link, a stalled body failing by name; what the operator refuses when the DAG is parsed; and a 100 MB export
through the operator in a separate process with its memory growth bounded."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_authapi.auth.errors import ConfigError
from tests.conftest import AIRFLOW_ENV, ROOT, conn_env, run_dag
from tests.emulators.export_api import ExportApi
from tests.emulators.exports import RECORDS, csv_bytes, generated_row, gzip_bytes, xml_record

TOKEN = "export-bearer-token-2b7d41c9e0"


@pytest.fixture
def exports(airflow_db, set_connection) -> Iterator[ExportApi]:
    with ExportApi(token=TOKEN) as api:
        set_connection("exports_api", conn_type="authapi_bearer", host=api.url, password=TOKEN)
        set_connection("exports_slow", conn_type="authapi_bearer", host=api.url, password=TOKEN, extra={"timeout": 0.5})
        yield api


def variable(name: str) -> Any:
    from airflow_provider_authapi.store.variables import MetadataVariables

    value = MetadataVariables().get(name)
    return None if value is None else json.loads(value)


def lines(path: Any) -> list[Any]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_decoded_and_raw_exports_in_the_worker_and_the_triggerer(exports, tmp_path, monkeypatch):
    from airflow_provider_authapi.triggers.authapi import AuthApiTrigger

    fired: list[dict] = []
    original_run = AuthApiTrigger.run

    async def spy_run(self):
        _, kwargs = self.serialize()
        async for event in original_run(self):
            fired.append({"kwargs": kwargs, "payload": dict(event.payload)})
            yield event

    monkeypatch.setattr(AuthApiTrigger, "run", spy_run)
    result = run_dag("op_decoders", conf={"out_dir": str(tmp_path)})
    states = result.task_states()
    assert states.pop("stalled") == "failed" and states.pop("stalled_deferred") == "failed"
    assert set(states.values()) == {"success"}, states

    expected = {"csv_gz": RECORDS, "jsonl": RECORDS, "xml": [xml_record(r) for r in RECORDS]}
    for name, records in expected.items():
        for task_id in (name, f"{name}_deferred"):
            path = tmp_path / f"{task_id}.jsonl"
            assert result.xcom(task_id) == {"path": f"file://{path}", "records": len(RECORDS)}, task_id
            assert lines(path) == records, task_id
    raw = gzip_bytes(csv_bytes())
    for task_id in ("raw", "raw_deferred"):
        path = tmp_path / f"{task_id}.csv.gz"
        assert path.read_bytes() == raw, task_id  # the bytes unchanged, not decompressed
        summary = {"path": f"file://{path}", "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
        assert result.xcom(task_id) == summary, task_id
    assert result.xcom("csv_to_xcom") == RECORDS and result.xcom("csv_to_xcom_deferred") == RECORDS
    assert exports.hits["dag-False"] == 2 and exports.hits["dag-True"] == 2  # a 503, then the export
    for deferrable in (False, True):
        assert lines(tmp_path / f"paged_{deferrable}.jsonl") == RECORDS
    assert exports.count("GET", r"/paged/export\.jsonl") == 2 * 3
    for deferrable, task_id in ((False, "incremental"), (True, "incremental_deferred")):  # a mark from the records
        assert lines(tmp_path / f"incremental_{deferrable}.jsonl") == RECORDS
        assert variable(f"authapi_mark_op_decoders.{task_id}") == "40", task_id
    for deferrable in (False, True):  # a failed run leaves no partial file
        assert not (tmp_path / f"stalled_{deferrable}.jsonl").exists()

    # the deferred tasks went through the trigger, with the decoder as plain data and no secret
    by_task = {f["kwargs"]["output_path"] or f["kwargs"]["request"]["url"]: f for f in fired}
    assert len(fired) == 8
    assert by_task[f"file://{tmp_path}/csv_gz_deferred.jsonl"]["kwargs"]["decoder"] == {
        "format": "csv",
        "compression": "gzip",
    }
    assert by_task[f"file://{tmp_path}/raw_deferred.csv.gz"]["kwargs"]["decoder"] == "raw"
    stalled = by_task[f"file://{tmp_path}/stalled_True.jsonl"]["payload"]
    assert stalled["status"] == "error" and stalled["error"] == "ApiTransportError"
    assert re.match(r"GET /stall/export\.csv: the body stalled, no bytes for 0\.5 s after [1-9]", stalled["message"])
    assert all(TOKEN not in json.dumps(f) for f in fired)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"decoder": "raw"}, "decoder='raw' writes the answer's bytes to output_path"),
        ({"decoder": "raw", "output_path": "file:///x", "incremental": {"cursor_path": "id", "param": "p"}}, "mark"),
        ({"decoder": "csv", "pagination": "offset"}, "reads total_path 'total' from a JSON body"),
        ({"decoder": "csv", "response_filter": "items"}, "response_filter"),
        ({"decoder": "tsv"}, "unknown format 'tsv'"),
    ],
)
def test_the_operator_refuses_a_decoder_that_cannot_work_when_the_dag_is_parsed(kwargs, fragment):
    from airflow_provider_authapi.operators import AuthApiOperator

    with pytest.raises(ConfigError) as caught:
        AuthApiOperator(task_id="refused", endpoint="/export.csv", **kwargs)
    assert caught.value.field == "decoder" and fragment in str(caught.value), str(caught.value)


def test_a_deferrable_decoder_goes_as_plain_data():
    from airflow_provider_authapi.api.decoders import CsvDecoder
    from airflow_provider_authapi.operators import AuthApiOperator

    with pytest.raises(ConfigError, match="give its spec"):
        AuthApiOperator(task_id="instance", endpoint="/export.csv", decoder=CsvDecoder(), deferrable=True)
    assert AuthApiOperator(task_id="in_worker", endpoint="/e.csv", decoder=CsvDecoder()).decoder.format == "csv"


GENERATED_ROWS = 1_100_000  # 101 MB of CSV, 47 MB gzip'd
MAX_GROWTH = 48 * 2**20


@pytest.mark.slow
def test_a_100_mb_export_goes_through_the_operator_to_a_file_in_bounded_memory(exports, tmp_path):
    """The operator, in its own process, streams a generated 101 MB CSV (47 MB gzip'd, made as it is sent by the
    emulator in this process) to JSON Lines; its resident memory grows by less than 48 MB over a warm-up run.

    Why 48 MB: holding the body would take 47 MB for the compressed bytes alone and 101 MB for the CSV; the rows
    as dicts several hundred. Streaming holds a chunk, a 64 KiB piece of CSV, one parse batch and 500 records on
    their way to the file: a few MB. (A bound on bytes, not on time.)"""
    name, value = conn_env("exports_mem", conn_type="authapi_bearer", host=exports.url, password=TOKEN)
    env = {**os.environ, **AIRFLOW_ENV, name: value, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    before = exports.generated_bytes, exports.sent_bytes
    command = [sys.executable, "-m", "tests.airflow.decoder_memory_worker", "exports_mem", str(tmp_path)]
    worker = subprocess.run(
        [*command, str(GENERATED_ROWS)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert worker.returncode == 0, worker.stderr[-3000:]
    report = json.loads(worker.stdout.strip().splitlines()[-1])
    made, sent = exports.generated_bytes - before[0], exports.sent_bytes - before[1]
    assert made > 100_000_000 and sent > 40_000_000, (made, sent)  # the bound is below what buffering needs
    path = tmp_path / "generated.jsonl"
    assert report["result"] == {"path": f"file://{path}", "records": GENERATED_ROWS}
    count = 0
    with path.open() as records:
        for count, line in enumerate(records, 1):
            if count % 9973 == 0 or count in (1, GENERATED_ROWS):  # spot checks; every row would double the time
                assert json.loads(line) == generated_row(count)
    assert count == GENERATED_ROWS
    growth = report["peak"] - report["baseline"]
    assert growth < MAX_GROWTH, f"resident memory grew {growth / 1e6:.1f} MB (baseline {report['baseline'] / 1e6:.0f})"
