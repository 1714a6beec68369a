"""Incremental depth: lookback, an end value, send formats, the mark anywhere a request value goes, a mark per
partition, the client-side filter and in-run de-duplication by primary key (issue 25 item 6).

Unit level: `IncrementalLoad` on an in-memory mark store. The operator paths (sync, deferred in the triggerer,
a mark carried between runs) are in tests/systems/test_stripe.py and the filter's in test_incremental_filter_*."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.hooks.authapi import ApiCall
from airflow_provider_authapi.operators.incremental import (
    Incremental,
    IncrementalLoad,
    Mark,
    back_by,
    formatted,
    mark_store,
)


class MemoryMarks:
    where = "memory"

    def __init__(self, value: Mark | None = None) -> None:
        self.value = value

    def get(self) -> Mark | None:
        return self.value

    def set(self, value: Mark) -> None:
        self.value = value


def load(store: MemoryMarks | None = None, **spec: Any) -> IncrementalLoad:
    return IncrementalLoad(Incremental.of({"cursor_path": "updated", "param": "since", **spec}), store or MemoryMarks())


def test_lookback_moves_a_number_or_a_date_time_back_in_its_own_form():
    assert back_by(1_000, 300) == 700
    assert back_by(1_000.5, 0.5) == 1_000.0
    assert back_by("2026-03-01T00:10:00Z", 600) == "2026-03-01T00:00:00Z"
    assert back_by("2026-03-01T00:10:00+02:00", 60) == "2026-03-01T00:09:00+02:00"
    with pytest.raises(ConfigError, match=r"incremental.lookback.*a text"):
        back_by("cursor-abc", 5)


def test_formats_send_a_mark_as_the_api_wants_it():
    assert formatted("2026-03-01T12:30:00Z", "epoch", "param") == 1_772_368_200
    assert formatted("2026-03-01T12:30:00+01:00", "epoch_ms", "param") == 1_772_364_600_000
    assert formatted(1_772_368_200, "iso", "param") == "2026-03-01T12:30:00Z"
    assert formatted("1772368200", "date", "param") == "2026-03-01"
    assert formatted("2026-03-01T12:30:00Z", "%Y%m%d%H%M", "param") == "202603011230"
    assert formatted("as-is", None, "param") == "as-is"
    with pytest.raises(ConfigError, match=r"incremental.end.*neither a number nor an ISO 8601"):
        formatted("yesterday", "epoch", "end")


def test_the_stored_mark_goes_back_by_the_lookback_the_initial_value_does_not():
    first = load(initial="2026-03-01T00:00:00Z", lookback=3600)
    assert first.since == "2026-03-01T00:00:00Z"
    later = load(MemoryMarks("2026-03-02T05:00:00Z"), initial="2026-03-01T00:00:00Z", lookback=3600)
    assert later.since == "2026-03-02T04:00:00Z" and later.start == "2026-03-02T05:00:00Z"
    later.observe([{"updated": "2026-03-02T04:30:00Z"}])  # a late record inside the lookback window
    assert later.finish([]) == "2026-03-02T05:00:00Z"  # the stored mark never goes back


def test_the_mark_and_the_end_go_wherever_the_spec_puts_them():
    call = ApiCall(endpoint="/v1/{since}/items", query_params={"limit": 10}, json={"filter": {"kind": "a"}})
    body = load(MemoryMarks(1_700_000_000), param="body:filter.since", end=1_700_086_399, end_param="header:X-Until")
    sent = body.apply(call)
    assert sent.json == {"filter": {"kind": "a", "since": 1_700_000_000}}
    assert sent.headers == {"X-Until": "1700086399"} and sent.query_params == {"limit": 10}
    assert call.json == {"filter": {"kind": "a"}}  # the task's own body is left as it was
    in_path = load(MemoryMarks("2026-03-01T00:00:00Z"), param="path:since", format="date").apply(call)
    assert in_path.endpoint == "/v1/2026-03-01/items"
    query = load(MemoryMarks("2026-03-01T00:00:00Z"), param="created[gte]", format="epoch").apply(
        ApiCall(endpoint="/x")
    )
    assert query.query_params == {"created[gte]": 1_772_323_200}
    assert load(param="since").apply(call) is call  # no mark yet, no end: nothing to send


def test_a_path_placement_needs_its_placeholder():
    with pytest.raises(ConfigError, match=r"incremental.param.*no \{since\}"):
        load(MemoryMarks(5), param="path:since").apply(ApiCall(endpoint="/items"))


def test_the_mark_never_passes_the_end():
    run = load(MemoryMarks(100), end=200)
    run.observe([{"updated": 150}, {"updated": 250}, {"updated": 199}])
    assert run.finish([]) == 199


def test_the_filter_drops_records_outside_the_bounds_and_the_mark_counts_only_those_kept():
    run = load(MemoryMarks(1_000), lookback=100, end=2_000, filter=True)
    records = [{"id": n, "updated": t} for n, t in enumerate([850, 900, 1_500, 2_000, 2_001, 5_000])]
    kept = run.refine(records)
    assert [r["updated"] for r in kept] == [900, 1_500, 2_000] and run.outside == 3
    assert run.finish(kept) == 2_000


def test_the_filter_compares_epoch_numbers_with_date_time_bounds():
    run = load(MemoryMarks("2026-03-01T00:00:00Z"), end="2026-03-01T23:59:59Z", filter=True)
    kept = run.refine([{"updated": 1_772_323_199}, {"updated": 1_772_323_200}, {"updated": 1_772_409_600}])
    assert kept == [{"updated": 1_772_323_200}]


def test_primary_key_drops_a_record_the_run_already_had():
    run = load(primary_key="meta.id")
    pages = [[{"meta": {"id": 1}, "v": "a"}, {"meta": {"id": 2}, "v": "b"}], [{"meta": {"id": 2}, "v": "b2"}]]
    kept = [r for page in pages for r in run.refine(page)]
    assert [r["v"] for r in kept] == ["a", "b"] and run.repeats == 1


def test_a_deferred_runs_file_is_rewritten_with_only_the_records_kept(tmp_path, caplog):
    output = tmp_path / "pulled.jsonl"
    rows = [
        {"id": "a", "updated": 10},
        {"id": "b", "updated": 20},
        {"id": "a", "updated": 10},
        {"id": "c", "updated": 99},
    ]
    output.write_text("".join(json.dumps(r) + "\n" for r in rows))
    store = MemoryMarks(5)
    run = load(store, primary_key="id", end=50, filter=True)
    with caplog.at_level(logging.INFO):
        summary = run.refine({"path": str(output), "records": 4}, output)
    assert summary == {"path": str(output), "records": 2}
    assert [json.loads(line)["id"] for line in output.read_text().splitlines()] == ["a", "b"]
    assert not list(tmp_path.glob("*.incremental"))
    assert run.finish(summary, output) == 20 and store.value == 20
    assert "left out 1 records outside the bounds and 1 repeats of 'id'" in caplog.text


def test_the_writer_applies_the_same_rules_page_by_page(tmp_path):
    run = load(MemoryMarks(0), primary_key="id", end=100, filter=True)
    with run.writer(tmp_path / "out.jsonl") as writer:
        writer.write_page([{"id": 1, "updated": 5}, {"id": 2, "updated": 500}])
        writer.write_page([{"id": 1, "updated": 5}, {"id": 3, "updated": 60}])
    assert writer.records == 2 and run.finish({"records": 2}, tmp_path / "out.jsonl") == 60
    assert [json.loads(line)["id"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == [1, 3]


def test_a_partition_key_names_the_mark_instead_of_the_map_index():
    task = SimpleNamespace(outlets=(), dag_id="d", task_id="t")
    context = {"ti": SimpleNamespace(map_index=3)}
    by_index = mark_store(Incremental.of({"cursor_path": "u", "param": "s"}), task, context)
    by_tenant = mark_store(
        Incremental.of({"cursor_path": "u", "param": "s", "partition_key": "acme-eu"}), task, context
    )
    odd = mark_store(Incremental.of({"cursor_path": "u", "param": "s", "partition_key": "a b/c?"}), task, context)
    assert by_index.name == "authapi_mark_d.t.3" and by_tenant.name == "authapi_mark_d.t.acme-eu"
    assert odd.name.startswith("authapi_mark_d.t.~") and " " not in odd.name


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"lookback": -1}, "incremental.lookback"),
        ({"lookback": "1h"}, "incremental.lookback"),
        ({"format": "unix"}, "incremental.format"),
        ({"filter": "yes"}, "incremental.filter"),
        ({"end_param": "until"}, "incremental.end_param"),
        ({"end": [1]}, "incremental.end"),
        ({"param": "body:a..b["}, "incremental.param"),
        ({"primary_key": "a[*"}, "incremental.primary_key"),
        ({"partition_key": ""}, "incremental.partition_key"),
    ],
)
def test_bad_options_fail_when_the_dag_is_parsed_naming_the_key(spec, field):
    with pytest.raises(ConfigError) as refused:
        Incremental.of({"cursor_path": "updated", "param": "since", **spec})
    assert refused.value.field == field


def test_the_filter_through_the_operator_in_a_worker_and_deferred(airflow_db, set_connection, tmp_path):
    """An API that ignores `created[gte]`/`[lte]` answers all three days: every path of the operator keeps the
    one asked for, and saves the newest of those as the mark."""
    from airflow_provider_authapi.store.variables import MetadataVariables
    from tests.conftest import run_dag
    from tests.emulators.stripe import StripeEmulator

    def stored_variable(name: str) -> Any:
        value = MetadataVariables().get(name)
        return None if value is None else json.loads(value)

    with StripeEmulator(ignore_created=True) as api:
        set_connection("stripe_ignoring", **api.airflow_connection())
        day = api.first_day + 86_400
        run = run_dag("op_incremental_filter", conf={"day": day, "out": f"file://{tmp_path}"})
    assert run.state == "success", run.task_states()
    wanted = sorted(c["id"] for c in api.charges if day <= c["created"] <= day + 86_399)
    assert len(wanted) == 48 and len(api.charges) == 144
    assert sorted(r["id"] for r in run.xcom("in_xcom")) == wanted
    for task in ("to_file", "deferred"):
        lines = (tmp_path / f"{task}.jsonl").read_text().splitlines()
        assert sorted(json.loads(line)["id"] for line in lines) == wanted, task
        assert run.xcom(task)["records"] == 48, task
        newest = max(c["created"] for c in api.charges if c["id"] in wanted)
        assert stored_variable(f"authapi_mark_op_incremental_filter.{task}") == newest, task
