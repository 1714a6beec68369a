"""Incremental loads (a high-water mark in the asset state store or a Variable), asset events with the record
count, and parent/child fan-out with `partial().expand()`: real `dag.test()` runs against the paged emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pendulum
import pytest

from airflow_provider_authapi.auth.errors import ApiResponseError, ConfigError
from airflow_provider_authapi.compat import HAS_ASSET_STATE_STORE
from airflow_provider_authapi.operators import AuthApiOperator
from airflow_provider_authapi.operators.incremental import Incremental, IncrementalLoad, asset_variable_name
from tests.conftest import load_dag, run_dag
from tests.emulators.paged_api import PagedApiEmulator

TOKEN = "incremental-test-bearer-token-0123456789"
INITIAL = "2026-01-01T00:00:00Z"
SPEC = {"cursor_path": "updated_at", "param": "updated_since", "initial": INITIAL}


@pytest.fixture
def changes_api(airflow_db, set_connection) -> Iterator[PagedApiEmulator]:
    with PagedApiEmulator(total=25, token=TOKEN) as api:
        for conn_id in ("paged_api", "orders_api"):
            set_connection(conn_id, conn_type="authapi_bearer", host=api.url, password=TOKEN)
        yield api


def asked_since(api: PagedApiEmulator, task: str) -> list[str | None]:
    """The `updated_since` each /changes request of `task` sent, in order."""
    return [query.get("updated_since") for query in api.asked if query.get("task") == task]


def asset_state(asset_name: str, key: str) -> object:
    """The mark of an asset: in its asset state store (Airflow 3.3), else in the Variable Airflow < 3.3 uses."""
    if not HAS_ASSET_STATE_STORE:
        return variable(asset_variable_name(asset_name, key))
    from airflow.models.asset import AssetModel
    from airflow.models.asset_state_store import AssetStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (
            select(AssetStateStoreModel.value)
            .join(AssetModel, AssetModel.id == AssetStateStoreModel.asset_id)
            .where(AssetModel.name == asset_name, AssetStateStoreModel.key == key)
        )
        value = session.scalar(query)
    return None if value is None else json.loads(value)


def variable(name: str) -> object:
    from airflow_provider_authapi.store.variables import MetadataVariables

    value = MetadataVariables().get(name)
    return None if value is None else json.loads(value)


def asset_events(asset_name: str, run_id: str) -> list[dict]:
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


def ids_in(path) -> list[int]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


# -- parse time and the mark's arithmetic (no DAG run) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({**SPEC, "cursor_pth": "x"}, "incremental.cursor_pth"),
        ({"cursor_path": "updated_at"}, "incremental.param"),
        ({"param": "since", "cursor_path": " "}, "incremental.cursor_path"),
        ({**SPEC, "cursor_path": "items[*].updated_at"}, "incremental.cursor_path"),
        ({**SPEC, "cursor_path": "a..b["}, "incremental.cursor_path"),
        ({**SPEC, "initial": True}, "incremental.initial"),
        ({**SPEC, "initial": {"at": 1}}, "incremental.initial"),
        ({**SPEC, "state_key": ""}, "incremental.state_key"),
        ("updated_at", "incremental"),
    ],
)
def test_a_bad_incremental_spec_fails_when_the_dag_is_parsed_naming_the_key(spec, field):
    with pytest.raises(ConfigError) as caught:
        AuthApiOperator(task_id="bad", endpoint="/changes", incremental=spec)
    assert caught.value.field == field


class MemoryMarks:
    where = "memory"

    def __init__(self, value=None) -> None:
        self.value, self.saved = value, []

    def get(self):
        return self.value

    def set(self, value) -> None:
        self.saved.append(value)


def test_the_mark_is_the_largest_cursor_compared_by_kind_and_never_goes_back():
    dates = IncrementalLoad(Incremental.of(SPEC), MemoryMarks())
    assert dates.start == INITIAL
    # instants, not texts: +01:00 at 00:30 is before 00:00Z the next day; a record without a cursor is passed over
    records = [{"updated_at": "2026-01-02T00:30:00+01:00"}, {"updated_at": "2026-01-01T23:45:00Z"}, {"id": 3}]
    assert dates.finish(records) == "2026-01-01T23:45:00Z"
    assert dates.store.saved == ["2026-01-01T23:45:00Z"]

    numbers = IncrementalLoad(Incremental.of({"cursor_path": "meta.seq", "param": "after"}), MemoryMarks("90"))
    assert numbers.start == "90"
    numbers.observe([{"meta": {"seq": 9}}, {"meta": {"seq": "100"}}, {"meta": {"seq": 12}}])
    assert numbers.finish([]) == "100"  # "100" > 9 as numbers ("100" < "9" as texts)

    behind = IncrementalLoad(Incremental.of({"cursor_path": "seq", "param": "after"}), MemoryMarks(50))
    assert behind.finish([{"seq": 7}]) == 50 and behind.store.saved == []  # an API that ignored the parameter

    mixed = IncrementalLoad(Incremental.of({"cursor_path": "seq", "param": "after"}), MemoryMarks())
    with pytest.raises(ApiResponseError, match="mixes a number and a date-time"):
        mixed.observe([{"seq": 1}, {"seq": "2026-01-01T00:00:00Z"}])


class ByAssetName(dict):
    """`context["asset_state_store"]` or `context["outlet_events"]` as a task with one Asset outlet sees it."""

    def __init__(self, make) -> None:
        super().__init__()
        self.make = make

    def __getitem__(self, asset):
        return self.setdefault(getattr(asset, "name", asset), self.make())


class StateAccessor(dict):
    def set(self, key, value) -> None:
        self[key] = value


def test_concurrent_pages_streamed_to_a_file_feed_the_mark_and_the_asset_event(changes_api, tmp_path):
    from airflow.sdk import Asset

    changes_api.updated.update({7: "2026-04-01T00:00:00Z", 3: "2026-04-02T00:00:00Z"})
    changes_api.latency = 0.05  # long enough for requests to overlap
    operator = AuthApiOperator(
        task_id="direct",
        authapi_conn_id="paged_api",
        endpoint="/changes",
        pagination={"type": "offset", "limit": 5},
        response_filter="items",
        concurrency=3,
        output_path=f"file://{tmp_path}/direct.jsonl",
        outlets=[Asset(name="direct_changes", uri="file:///tmp/authapi-direct")],
        incremental={**SPEC, "state_key": "seen_until"},
    )
    from types import SimpleNamespace

    context = {
        "asset_state_store": ByAssetName(StateAccessor),
        "outlet_events": ByAssetName(lambda: SimpleNamespace(extra={})),
    }
    assert operator.execute(context) == {"path": f"file://{tmp_path}/direct.jsonl", "records": 25}
    assert changes_api.max_in_flight > 1  # pages were fetched concurrently, and each went through the writer
    assert context["asset_state_store"] == {"direct_changes": {"seen_until": "2026-04-02T00:00:00Z"}}
    assert context["outlet_events"]["direct_changes"].extra == {
        "records": 25,
        "path": f"file://{tmp_path}/direct.jsonl",
        "high_water_mark": "2026-04-02T00:00:00Z",
    }


# -- real runs ---------------------------------------------------------------------------------------------------


def test_the_mark_advances_on_success_only_in_the_asset_state_store_and_a_variable(changes_api, tmp_path):
    variable_name = "authapi_mark_op_incremental.by_variable"
    # run 1: both tasks send `initial`, fetch all 25 records and keep the largest updated_at
    first = run_dag("op_incremental", conf={"out_dir": str(tmp_path / "1")})
    assert first.state == "success", first.task_states()
    for task in ("to_asset", "by_variable"):
        assert asked_since(changes_api, task) == [INITIAL] * 13  # 25 records, 2 a page
        assert ids_in(tmp_path / "1" / f"{task.split('_')[-1]}.jsonl") == list(range(1, 26))
    mark_1 = "2026-01-01T00:25:00Z"
    assert asset_state("authapi_test_changes", "high_water_mark") == mark_1
    assert variable(variable_name) == mark_1
    assert asset_events("authapi_test_changes", first.run_id) == [
        {"records": 25, "path": f"file://{tmp_path}/1/asset.jsonl", "high_water_mark": mark_1}
    ]
    assert first.xcom("to_asset") == {"path": f"file://{tmp_path}/1/asset.jsonl", "records": 25}

    # run 2: two records changed since; both tasks send the stored mark and fetch only those
    changes_api.asked.clear()
    changes_api.updated.update({9: "2026-02-02T00:00:00Z", 5: "2026-02-01T00:00:00Z"})
    second = run_dag("op_incremental", conf={"out_dir": str(tmp_path / "2")})
    assert second.state == "success", second.task_states()
    for task in ("to_asset", "by_variable"):
        assert asked_since(changes_api, task) == [mark_1]
        assert ids_in(tmp_path / "2" / f"{task.split('_')[-1]}.jsonl") == [5, 9]
    mark_2 = "2026-02-02T00:00:00Z"
    assert asset_state("authapi_test_changes", "high_water_mark") == mark_2
    assert variable(variable_name) == mark_2
    assert [event["records"] for event in asset_events("authapi_test_changes", second.run_id)] == [2]

    # run 3: three newer records, but the second page fails after the first page was read: no mark moves
    changes_api.asked.clear()
    changes_api.updated.update({12: "2026-03-01T00:00:00Z", 14: "2026-03-02T00:00:00Z", 20: "2026-03-03T00:00:00Z"})
    third = run_dag("op_incremental", conf={"out_dir": str(tmp_path / "3"), "fail_at": 2})
    assert third.task_states() == {"to_asset": "failed", "by_variable": "failed"}
    for task in ("to_asset", "by_variable"):
        assert asked_since(changes_api, task) == [mark_2, mark_2]  # page 1 (records 12, 14), page 2 refused
    assert asset_state("authapi_test_changes", "high_water_mark") == mark_2
    assert variable(variable_name) == mark_2
    assert asset_events("authapi_test_changes", third.run_id) == []
    assert not (tmp_path / "3" / "asset.jsonl").exists()  # the partial file is removed


def test_a_mark_kept_before_airflow_3_3_is_found_after_the_upgrade(changes_api):
    """Airflow 3.1/3.2 keep an asset outlet's mark in a Variable; 3.3 reads it while its asset state store has none
    and saves the next mark in the store. On 3.1/3.2 the same run reads and advances the Variable."""
    from airflow_provider_authapi.store.variables import MetadataVariables

    kept = asset_variable_name("authapi_test_upgraded", "high_water_mark")
    assert kept == "authapi_mark_asset.authapi_test_upgraded.high_water_mark"
    MetadataVariables().set(kept, json.dumps("2026-01-01T00:20:00Z"))  # as a run on Airflow 3.2 left it

    first = run_dag("op_incremental_upgrade")
    assert first.state == "success", first.task_states()
    assert asked_since(changes_api, "upgraded") == ["2026-01-01T00:20:00Z"]
    assert [record["id"] for record in first.xcom("upgraded")] == [21, 22, 23, 24, 25]
    assert asset_state("authapi_test_upgraded", "high_water_mark") == "2026-01-01T00:25:00Z"
    if HAS_ASSET_STATE_STORE:
        assert variable(kept) == "2026-01-01T00:20:00Z", "3.3 saves the mark in the asset state store only"

    changes_api.asked.clear()
    second = run_dag("op_incremental_upgrade")
    assert second.state == "success", second.task_states()
    assert asked_since(changes_api, "upgraded") == ["2026-01-01T00:25:00Z"], "the newer mark wins over the Variable"


def test_partial_expand_makes_one_child_request_per_parent_id(changes_api):
    result = run_dag("op_fanout")
    assert result.state == "success", result.task_states()
    assert result.xcom("ids") == [1, 2, 3]
    assert {task: state for task, state in result.task_states().items() if task.startswith("detail")} == {
        "detail[0]": "success",
        "detail[1]": "success",
        "detail[2]": "success",
    }
    assert [result.xcom("detail", map_index=i)["id"] for i in range(3)] == [1, 2, 3]
    assert changes_api.count("GET", r"/changes/(?P<id>\d+)") == 3


def test_example_dag_asks_for_its_data_interval_and_keeps_a_mark_on_its_asset(changes_api, tmp_path):
    load_dag("orders_report", "incremental_orders")  # the consumer parses
    changes_api.asked.clear()
    result = run_dag("incremental_orders", conf={"out_url": f"file://{tmp_path}"})
    assert result.state == "success", result.task_states()
    [interval] = [query for query in changes_api.asked if "updated_until" in query]  # one page of 100 each
    [changed] = [query for query in changes_api.asked if "updated_until" not in query]
    start, end = result.dag_run.data_interval_start, result.dag_run.data_interval_end
    assert end - start == pendulum.duration(days=1)  # a real interval: CronDataIntervalTimetable
    assert (interval["updated_since"], interval["updated_until"]) == (start.isoformat(), end.isoformat())
    assert changed["updated_since"] == INITIAL
    assert asset_state("orders_changed", "high_water_mark") == "2026-01-01T00:25:00Z"
    [extra] = asset_events("orders_changed", result.run_id)
    assert extra["records"] == 25 and extra["high_water_mark"] == "2026-01-01T00:25:00Z"
    assert ids_in(tmp_path / result.dag_run.logical_date.strftime("%Y%m%dT%H%M%S") / "changed.jsonl") == list(
        range(1, 26)
    )
