"""Asset events of `AuthApiOperator`: each `Asset` outlet's event says what the run loaded.

Airflow emits an event for every outlet of a task that succeeds; the operator fills its `extra` through
`context["outlet_events"][asset].extra` with `records` (how many were fetched), `path` (with `output_path`) and
`high_water_mark` (with `incremental`), so a consumer DAG scheduled on the asset reads them from
`triggering_asset_events` without opening the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_authapi.api.fetch import as_records


def load_summary(result: Any, *, to_file: bool, mark: Any = None) -> dict[str, Any]:
    """The `extra` of the run's asset events: `records`, plus `path` and `high_water_mark` when there are any."""
    if to_file:
        extra: dict[str, Any] = {"records": result["records"], "path": result["path"]}
    else:
        extra = {"records": len(as_records(result))}
    if mark is not None:
        extra["high_water_mark"] = mark
    return extra


def add_to_outlet_events(outlets: Iterable[Any], context: Mapping[str, Any], extra: Mapping[str, Any]) -> int:
    """Merge `extra` into the event of every `Asset` outlet; return how many there were."""
    from airflow.sdk import Asset

    events = context["outlet_events"]
    assets = [outlet for outlet in outlets if isinstance(outlet, Asset)]
    for asset in assets:
        events[asset].extra.update(extra)
    return len(assets)
