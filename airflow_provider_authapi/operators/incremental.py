"""Incremental loads: a high-water mark carried from one run of a task to the next.

`AuthApiOperator(..., incremental={"cursor_path": "updated_at", "param": "updated_since", "initial": "..."})`
sends `updated_since=<mark>` (the stored mark, else `initial`), takes the largest `updated_at` of the records it
fetched as the next mark, and saves it as the last step of a successful `execute`: a failed request, check or
write leaves the stored mark as it was, so the next run asks again from the same point.

Where the mark lives:
- with an `Asset` outlet, on Airflow 3.3 (AIP-103): the asset state store (the task context's `asset_state_store`),
  key `high_water_mark`. It outlives DAG runs and is shared by every task that names the asset (a consumer can
  read it). Airflow 3.1 and 3.2 have no asset state store: there the mark is the Variable
  `authapi_mark_asset.<asset name>.<key>`, shared by the tasks naming the asset as well. After the upgrade to 3.3
  a task whose asset state store has no mark yet reads that Variable once and saves the next mark in the store.
- otherwise: an Airflow Variable `authapi_mark_<dag_id>.<task_id>`. The task state store
  (`context["task_state_store"]`) is scoped to one DAG run (its rows are keyed by dag_run_id, task_id and
  map_index: retries share them, the next run does not), so it cannot carry a mark between runs.
A mapped task instance adds `.<map_index>` to the key or Variable name (keep the mapped list's order stable), or
`.<partition_key>` when it gives one (a tenant id: the mark then follows the tenant, whatever the list's order).

Beyond the mark: `lookback` re-reads a window before it (late records), `end`/`end_param` bound the run (a backfill
of one data interval), `format` says how marks are sent (epoch seconds, a date...), `param` may be any place a
request value goes (`body:filter.since`, `header:If-Modified-Since`, `path:since` for `{since}` in the endpoint),
`filter` drops records outside the bounds (APIs that ignore the parameter) and `primary_key` drops a record this
run already had.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_authapi.api.fetch import as_records
from airflow_provider_authapi.api.output import JsonLinesWriter
from airflow_provider_authapi.api.pagination import RequestSpec, RequestTarget
from airflow_provider_authapi.auth.errors import ApiResponseError, ConfigError
from airflow_provider_authapi.auth.json_path import STAR, find_path, parse_path
from airflow_provider_authapi.compat import asset_state_store

if TYPE_CHECKING:
    from airflow_provider_authapi.hooks.authapi import ApiCall

log = logging.getLogger(__name__)

Mark = str | int | float
ASSET_STATE_KEY = "high_water_mark"
VARIABLE_PREFIX = "authapi_mark_"
FORMATS = ("epoch", "epoch_ms", "date", "iso")


@dataclass(frozen=True)
class Incremental:
    """What `incremental=` asks for.

    :param cursor_path: the records' cursor (`updated_at`, `meta.lastUpdated`); the largest one is the next mark.
    :param param: where the mark goes: a query parameter, `body:<path>`, `header:<name>` or `path:<name>` (the
        endpoint's `{name}`).
    :param initial: the first mark (None: the first run sends none, a full load).
    :param state_key: the state key or Variable name instead of the default.
    :param lookback: sent this much before the stored mark, to catch records that arrived late: seconds for a
        date-time or epoch mark, units for another number. The stored mark itself never goes back.
    :param end: the run's upper bound (`"{{ data_interval_end | ts }}"`): sent at `end_param` when given; the mark
        never passes it, and `filter` drops records beyond it.
    :param end_param: where `end` goes, like `param`.
    :param format: how `param` and `end_param` values are sent: `epoch` (seconds), `epoch_ms`, `date`
        (YYYY-MM-DD), `iso` (UTC, `Z`), a `strftime` pattern, or None (as the records give it).
    :param filter: drop records whose cursor is before what was sent or after `end` (for APIs that ignore the
        parameter); the mark counts only records kept.
    :param primary_key: drop a record whose value at this path the run already had (the first copy is kept).
    :param partition_key: keep one mark per value (a tenant id) instead of per map index.
    """

    cursor_path: str
    param: str
    initial: Mark | None = None
    state_key: str | None = None
    lookback: float = 0
    end: Mark | None = None
    end_param: str | None = None
    format: str | None = None
    filter: bool = False
    primary_key: str | None = None
    partition_key: str | None = None

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def of(cls, spec: Incremental | Mapping[str, Any] | None) -> Incremental | None:
        """Validate `incremental=` when the DAG is parsed (and again once its templates are rendered); a
        `ConfigError` names the key at fault."""
        if spec is None or isinstance(spec, Incremental):
            return spec
        if not isinstance(spec, Mapping):
            raise ConfigError("incremental", f"must be a dict such as {{'cursor_path': ..., 'param': ...}} ({spec!r})")
        unknown = sorted(set(spec) - set(cls.keys()))
        if unknown:
            raise ConfigError(f"incremental.{unknown[0]}", f"unknown key; the keys are {', '.join(cls.keys())}")
        for key in ("cursor_path", "param"):
            if not isinstance(spec.get(key), str) or not spec[key].strip():
                raise ConfigError(f"incremental.{key}", f"a non-empty string is required (got {spec.get(key)!r})")
        if STAR in parse_path(spec["cursor_path"], "incremental.cursor_path") or spec["cursor_path"].strip() == "$":
            raise ConfigError("incremental.cursor_path", "must lead to one value in each record, not a list")
        for key in ("initial", "end"):
            value = spec.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, str | int | float)):
                raise ConfigError(f"incremental.{key}", f"must be a string or a number (got {value!r})")
        for key in ("state_key", "end_param", "primary_key", "partition_key"):
            value = spec.get(key)
            if value is not None and (not isinstance(value, str | int) or not str(value).strip()):
                raise ConfigError(f"incremental.{key}", f"must be a non-empty string (got {value!r})")
        lookback = spec.get("lookback", 0)
        if isinstance(lookback, bool) or not isinstance(lookback, int | float) or lookback < 0:
            raise ConfigError("incremental.lookback", f"must be a number of seconds (or units) >= 0 (got {lookback!r})")
        form = spec.get("format")
        if form is not None and (not isinstance(form, str) or (form not in FORMATS and "%" not in form)):
            raise ConfigError("incremental.format", f"one of {', '.join(FORMATS)} or a strftime pattern (got {form!r})")
        if not isinstance(spec.get("filter", False), bool):
            raise ConfigError("incremental.filter", f"must be true or false (got {spec.get('filter')!r})")
        if spec.get("end_param") is not None and spec.get("end") is None:
            raise ConfigError("incremental.end_param", "needs `end`, the value to send")
        for key in ("param", "end_param"):
            if spec.get(key) is not None:
                _target(spec[key], key)
        if spec.get("primary_key") is not None:
            parse_path(str(spec["primary_key"]), "incremental.primary_key")
        return cls(
            spec["cursor_path"].strip(),
            spec["param"].strip(),
            spec.get("initial"),
            spec.get("state_key"),
            lookback,
            spec.get("end"),
            spec.get("end_param"),
            form,
            spec.get("filter", False),
            spec.get("primary_key"),
            None if spec.get("partition_key") is None else str(spec["partition_key"]),
        )


def _target(spec: str, key: str) -> RequestTarget | _PathTarget:
    field = f"incremental.{key}"
    if spec.startswith("path:"):
        return _PathTarget(spec[len("path:") :], field)
    return RequestTarget(spec, field)


class _PathTarget:
    """`path:<name>`: the value replaces `{name}` in the endpoint (URL-quoted)."""

    def __init__(self, name: str, field: str) -> None:
        if not name:
            raise ConfigError(field, "path: names no placeholder")
        self.name, self.field = name, field

    def set(self, request: RequestSpec, value: Any) -> None:
        from urllib.parse import quote

        placeholder = "{" + self.name + "}"
        if placeholder not in request.url:
            raise ConfigError(self.field, f"the endpoint has no {placeholder} for the mark")
        request.url = request.url.replace(placeholder, quote(str(value), safe=""))


def _order(value: Any, cursor_path: str) -> tuple[int, Any]:
    """How cursor values compare: numbers (and digit strings) as numbers, ISO 8601 texts as instants (a naive one
    taken as UTC), other texts as texts."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return 0, value
    if isinstance(value, str):
        if value.isascii() and value.isdigit():
            return 0, int(value)
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return 2, value
        return 1, moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    raise ApiResponseError(f"incremental cursor {cursor_path!r} is {type(value).__name__}, not a string or number")


_KINDS = {0: "a number", 1: "a date-time", 2: "a text"}


def _moment(value: Mark, key: str) -> datetime:
    """A mark as an instant: an ISO 8601 text, or a number taken as epoch seconds."""
    kind, order = _order(value, f"incremental.{key}")
    if kind == 1:
        return order
    if kind == 0:
        return datetime.fromtimestamp(order, tz=timezone.utc)
    raise ConfigError(f"incremental.{key}", f"{value!r} is neither a number nor an ISO 8601 date-time")


def back_by(value: Mark, lookback: float) -> Mark:
    """`value` moved `lookback` earlier, in its own form: a number minus it, an ISO text minus that many seconds."""
    if not lookback:
        return value
    kind, order = _order(value, "incremental.lookback")
    if kind == 0:
        earlier = order - lookback
        return int(earlier) if isinstance(order, int) and float(lookback).is_integer() else earlier
    if kind == 1:
        moved = order - timedelta(seconds=lookback)
        text = moved.isoformat()
        return text.replace("+00:00", "Z") if str(value).endswith("Z") else text
    raise ConfigError("incremental.lookback", f"the mark {value!r} is a text, neither a number nor a date-time")


def formatted(value: Mark, form: str | None, key: str) -> Mark:
    """A mark as `format` says it is sent."""
    if form is None:
        return value
    moment = _moment(value, key).astimezone(timezone.utc)
    if form == "epoch":
        return int(moment.timestamp())
    if form == "epoch_ms":
        return int(moment.timestamp() * 1000)
    if form == "date":
        return moment.date().isoformat()
    if form == "iso":
        return moment.isoformat().replace("+00:00", "Z")
    return moment.strftime(form)


class MarkStore(Protocol):
    """Where a mark is kept between runs."""

    where: str

    def get(self) -> Mark | None: ...

    def set(self, value: Mark) -> None: ...


class AssetMarkStore:
    """The mark as one key of an asset's state store (AIP-103; the key must not be None-valued). `before` is where
    Airflow < 3.3 kept it: read while the store has none, so a mark survives the upgrade."""

    def __init__(self, accessor: Any, asset_name: str, key: str, before: MarkStore | None = None) -> None:
        self.accessor, self.key, self.before = accessor, key, before
        self.where = f"asset state store of {asset_name!r}, key {key!r}"

    def get(self) -> Mark | None:
        value = self.accessor.get(self.key)
        if value is None and self.before is not None:
            value = self.before.get()
            if value is not None:
                self.where = f"{self.before.where} (kept before Airflow 3.3; the next mark goes to the {self.where})"
        return value

    def set(self, value: Mark) -> None:
        self.accessor.set(self.key, value)


class VariableMarkStore:
    """The mark as an Airflow Variable holding its JSON (so a number stays a number)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.where = f"Variable {name!r}"

    def get(self) -> Mark | None:
        from airflow.sdk import Variable

        return Variable.get(self.name, default=None, deserialize_json=True)

    def set(self, value: Mark) -> None:
        from airflow.sdk import Variable

        Variable.set(self.name, value, description="AuthApiOperator incremental high-water mark", serialize_json=True)


def first_asset(outlets: Iterable[Any]) -> Any:
    """The task's first `Asset` outlet (not an alias or a reference), or None."""
    from airflow.sdk import Asset

    return next((outlet for outlet in outlets if isinstance(outlet, Asset)), None)


_PLAIN_NAME = re.compile(r"[\w.:/-]{1,150}")


def asset_variable_name(asset_name: str, key: str) -> str:
    """The Variable holding an asset's mark where Airflow has no asset state store (< 3.3); an asset name that is
    long or unusual is shortened to a digest, so the name stays within a Variable key's 250 characters."""
    if not _PLAIN_NAME.fullmatch(asset_name):
        asset_name = "~" + hashlib.sha256(asset_name.encode()).hexdigest()[:24]
    return f"{VARIABLE_PREFIX}asset.{asset_name}.{key[:80]}"


def mark_store(spec: Incremental, task: Any, context: Mapping[str, Any]) -> MarkStore:
    """The asset state store of the task's first `Asset` outlet (a Variable on Airflow < 3.3), else a Variable
    named after the dag and task."""
    map_index = getattr(context.get("ti"), "map_index", None)
    suffix = f".{map_index}" if isinstance(map_index, int) and map_index >= 0 else ""
    if spec.partition_key is not None:
        part = spec.partition_key
        suffix = "." + (part if _PLAIN_NAME.fullmatch(part) else "~" + hashlib.sha256(part.encode()).hexdigest()[:24])
    asset = first_asset(task.outlets or ())
    if asset is not None:
        key = (spec.state_key or ASSET_STATE_KEY) + suffix
        variable = VariableMarkStore(asset_variable_name(asset.name, key))
        states = asset_state_store(context)
        return variable if states is None else AssetMarkStore(states[asset], asset.name, key, before=variable)
    return VariableMarkStore((spec.state_key or f"{VARIABLE_PREFIX}{task.dag_id}.{task.task_id}") + suffix)


class IncrementalLoad:
    """One run's mark: read before the requests, the records' largest cursor tracked, saved on success.

    `load = IncrementalLoad(spec, store)`; `call = load.apply(call)`; stream pages through `load.writer(path)` or
    pass the result through `load.refine(result, output)`; `load.finish(result, output)` saves the new mark and
    returns it.
    """

    def __init__(self, spec: Incremental, store: MarkStore, logger: logging.Logger | Any = None) -> None:
        self.spec, self.store, self.log = spec, store, logger or log
        stored = store.get()
        self.start: Mark | None = spec.initial if stored is None else stored
        # What is sent: the stored mark moved back by the lookback (late records); `initial` as given.
        self.since: Mark | None = self.start if stored is None else back_by(self.start, spec.lookback)
        self.best: Mark | None = None
        self._best_order: tuple[int, Any] | None = None
        self.watched_pages = 0
        self._path = parse_path(spec.cursor_path, "incremental.cursor_path")
        self._key = parse_path(spec.primary_key, "incremental.primary_key") if spec.primary_key else None
        self._seen: set[str] = set()
        self._since_order = _order(self.since, "incremental.initial") if self.since is not None else None
        self._end_order = _order(spec.end, "incremental.end") if spec.end is not None else None
        self.outside = self.repeats = 0
        source = "the initial value" if stored is None else f"from the {store.where}"
        back = f", {spec.lookback:g} back from {self.start!r}" if stored is not None and spec.lookback else ""
        until = f", until {spec.end!r}" if spec.end is not None else ""
        self.log.info("Incremental: %s=%r (%s%s)%s", spec.param, self.since, source, back, until)

    @classmethod
    def begin(cls, spec: Incremental, task: Any, context: Mapping[str, Any]) -> IncrementalLoad:
        return cls(spec, mark_store(spec, task, context), getattr(task, "log", None))

    def apply(self, call: ApiCall) -> ApiCall:
        """The call with the mark (none while there is no mark yet) and the end where the spec puts them."""
        values = []
        if self.since is not None:
            values.append(("param", self.spec.param, self.since))
        if self.spec.end_param is not None and self.spec.end is not None:
            values.append(("end_param", self.spec.end_param, self.spec.end))
        if not values:
            return call
        request = RequestSpec("GET", call.endpoint, params=dict(call.query_params or {}), json=call.json)
        request = request.copy()  # the task's own body is left as it is
        request.headers = dict(call.headers or {})
        for key, place, value in values:
            _target(place, key).set(request, formatted(value, self.spec.format, key))
        return replace(
            call,
            endpoint=request.url,
            query_params=request.params or None,
            json=request.json,
            headers=request.headers or None,
        )

    def keep(self, record: Any) -> bool:
        """Whether `record` stays: inside the bounds (with `filter`) and not a repeat (with `primary_key`)."""
        if self.spec.filter:
            value = find_path(record, self._path)
            if value is not None:
                order = _order(value, self.spec.cursor_path)
                too_early = self._since_order is not None and _comparable(order, self._since_order) < 0
                too_late = self._end_order is not None and _comparable(order, self._end_order) > 0
                if too_early or too_late:
                    self.outside += 1
                    return False
        if self._key is not None:
            key = json.dumps(find_path(record, self._key), sort_keys=True, default=str)
            if key in self._seen:
                self.repeats += 1
                return False
            self._seen.add(key)
        return True

    @property
    def selects(self) -> bool:
        return self.spec.filter or self._key is not None

    def select(self, records: Iterable[Any]) -> list[Any]:
        return [record for record in records if self.keep(record)]

    def observe(self, records: Iterable[Any]) -> None:
        """Track the largest cursor of `records`, never past `end`; a record without one is passed over."""
        for record in records:
            value = find_path(record, self._path)
            if value is None:
                continue
            order = _order(value, self.spec.cursor_path)
            if self._best_order is not None and order[0] != self._best_order[0]:
                kinds = f"{_KINDS[self._best_order[0]]} and {_KINDS[order[0]]}"
                raise ApiResponseError(f"incremental cursor {self.spec.cursor_path!r} mixes {kinds}: {value!r}")
            if self._end_order is not None and _comparable(order, self._end_order) > 0:
                continue
            if self._best_order is None or order[1] > self._best_order[1]:
                self.best, self._best_order = value, order

    def writer(self, path: Any) -> JsonLinesWriter:
        """A JSON Lines writer that drops what `keep` refuses and tracks the cursor of every page it writes."""
        return _WatchingWriter(path, self)

    def refine(self, result: Any, output: Any = None) -> Any:
        """The result with `filter` and `primary_key` applied where no `writer()` did it: a list of records (a run
        without `output_path`, sync or deferred), or the file a deferred run wrote (rewritten, the summary's
        count updated)."""
        if not self.selects or self.watched_pages:
            return result
        if output is None:
            if isinstance(result, list):
                result = self.select(result)
                self._report()
            return result
        kept = 0
        staging = output.with_name(output.name + ".incremental")
        with output.open("rb") as lines, staging.open("wb") as out:
            for line in lines:
                if line.strip() and self.keep(record := json.loads(line)):
                    out.write(json.dumps(record, separators=(",", ":"), default=str).encode() + b"\n")
                    kept += 1
        staging.rename(output)
        self._report()
        return {**result, "records": kept} if isinstance(result, dict) else result

    def _report(self) -> None:
        if self.outside or self.repeats:
            self.log.info(
                "Incremental: left out %d records outside the bounds and %d repeats of %r",
                self.outside,
                self.repeats,
                self.spec.primary_key,
            )

    def finish(self, result: Any, output: Any = None) -> Mark | None:
        """Save the new mark (the records' largest cursor, never below the mark sent) and return the mark now in
        force. With `output`, records not streamed through `writer()` (a deferred run) are read back from it."""
        if output is None:
            self.observe(as_records(result))
        elif not self.watched_pages:
            self._observe_file(output)
        else:
            self._report()
        mark = self._newest()
        if mark is None or mark == self.start:
            self.log.info("Incremental: no newer %s; the mark stays %r", self.spec.cursor_path, self.start)
            return self.start
        self.store.set(mark)
        self.log.info("Incremental: mark %r -> %r saved in the %s", self.start, mark, self.store.where)
        return mark

    def _newest(self) -> Mark | None:
        if self.best is None or self.start is None:
            return self.best
        start = _order(self.start, self.spec.cursor_path)
        if self._best_order is not None and start[0] == self._best_order[0] and start[1] > self._best_order[1]:
            return self.start
        return self.best

    def _observe_file(self, output: Any) -> None:
        with output.open("rb") as lines:
            for line in lines:
                if line.strip():
                    self.observe([json.loads(line)])


def _comparable(a: tuple[int, Any], b: tuple[int, Any]) -> int:
    """-1, 0 or 1 for two cursor orders; a number against a date-time compares as epoch seconds."""
    if a[0] != b[0]:
        a, b = _as_instant(a), _as_instant(b)
    if a[0] != b[0]:
        raise ApiResponseError(f"incremental: cannot compare {_KINDS[a[0]]} with {_KINDS[b[0]]} (`end`, `initial`)")
    return (a[1] > b[1]) - (a[1] < b[1])


def _as_instant(order: tuple[int, Any]) -> tuple[int, Any]:
    if order[0] == 0:
        return 1, datetime.fromtimestamp(order[1], tz=timezone.utc)
    return order


class _WatchingWriter(JsonLinesWriter):
    def __init__(self, path: Any, load: IncrementalLoad) -> None:
        super().__init__(path)
        self.load = load

    def write_page(self, records: Iterable[Any]) -> int:
        records = self.load.select(records) if self.load.selects else list(records)
        self.load.observe(records)
        self.load.watched_pages += 1
        return super().write_page(records)
