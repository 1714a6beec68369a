"""The deployment scenarios of issue 11, shared by the CI test (tests/deployment) and the benchmark
(bench/deployment.py): what runs, the connection it uses, and the figures and problems one scenario yields."""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from tests.deployment.harness import (
    FERNET_KEY,
    ROOT,
    Deployment,
    DeploymentError,
    max_concurrency,
    percentile,
    variable_traffic,
)
from tests.emulators.jwt_oauth2 import KeyPair, new_key
from tests.emulators.strict_oauth2 import StrictOAuth2Server, item_id

DAG_ID = "shared_cache_load"
WORKING_TASKS = ("call_api", "sync_pages", "deferred_pages")  # the tasks that use the token (not the planners)
OPERATOR_TASKS = ("sync_pages", "deferred_pages")
MIN_CONCURRENT = 48
MIN_LIFETIMES = 3
MAX_TOKEN_REQUESTS_PER_LIFETIME = 1.5
# Seconds a run may take beyond its tasks' duration: triggering, starting 48 task processes on 2 busy cores,
# deferring and resuming (about 100 s when the machine is shared), plus a margin; a longer wait only delays failure.
RUN_OVERHEAD = int(os.environ.get("AUTHAPI_DEPLOYMENT_RUN_OVERHEAD", 300))


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass(frozen=True)
class Scenario:
    name: str
    conn_id: str
    grant_type: str
    lifetime: float  # access token lifetime at the emulator, seconds
    duration: float  # how long each task keeps using the token, seconds
    hook_tasks: int = env_int("AUTHAPI_DEPLOYMENT_HOOK_TASKS", 18)  # per run
    operator_tasks: int = env_int("AUTHAPI_DEPLOYMENT_OPERATOR_TASKS", 3)  # sync, and as many deferrable, per run
    interval: float = 2.0
    runs: int = 2
    min_lifetimes: float = MIN_LIFETIMES  # the first to last API call must span this many token lifetimes
    min_concurrent: int = MIN_CONCURRENT  # working task instances that must have run at once
    # The deferrable operators' `concurrency` (pages in flight in the triggerer); each page is then this many times
    # slower at the emulator, so the tasks use the token as long as with 1. 1 (the default) passes no
    # `concurrency` at all: bench/deployment.py's baseline revision predates it.
    deferred_concurrency: int = 1

    @property
    def conf(self) -> dict[str, Any]:
        return {
            "conn_id": self.conn_id,
            "hook_tasks": self.hook_tasks,
            "operator_tasks": self.operator_tasks,
            "duration": self.duration,
            "interval": self.interval,
            "deferred_concurrency": self.deferred_concurrency,
        }

    @property
    def pages(self) -> int:
        """One-record pages each operator task fetches (as the DAG's `operator_arguments` counts them)."""
        return max(1, round(self.duration / self.interval))


# Durations leave a few seconds over `min_lifetimes`: the first to last API call must span that many lifetimes.
# jwt_bearer is short (it adds about a minute to CI): 45 s of calls plus the tasks' staggered start span 2 lifetimes.
# Every scenario's deferrable operators page CONCURRENCY at a time in the triggerer (each page CONCURRENCY x 2 s slow).
CONCURRENCY = 3
SCENARIOS = (
    Scenario("rotating", "authapi_rotating", "refresh_token", lifetime=60, duration=190,
             deferred_concurrency=CONCURRENCY),
    Scenario("client_credentials", "authapi_client_credentials", "client_credentials", lifetime=20, duration=75,
             deferred_concurrency=CONCURRENCY),
    Scenario("jwt_bearer", "authapi_jwt_bearer", "jwt_bearer", lifetime=20, duration=45, min_lifetimes=2,
             deferred_concurrency=CONCURRENCY),
)  # fmt: skip
# Under the CeleryExecutor the two workers have 2 x 8 slots: per run 5 hook tasks and 2 sync operators hold one for
# the whole duration, the 2 deferrable operators only until they defer. Two runs are 18 working task instances, 14
# in slots at once, so all of them run together; at least 16 (both workers full) must have. Two grants, not three,
# to keep CI short: the rotating refresh token (presented at most once across machines) and tokens shorter than
# the leeway (client_credentials).
CELERY_MIN_CONCURRENT = 16
CELERY_SCENARIOS = tuple(
    replace(s, hook_tasks=5, operator_tasks=2, min_concurrent=CELERY_MIN_CONCURRENT)
    for s in SCENARIOS
    if s.name in ("rotating", "client_credentials")
)
SCENARIOS_BY_EXECUTOR = {"LocalExecutor": SCENARIOS, "CeleryExecutor": CELERY_SCENARIOS}


@cache
def assertion_key(scenario: Scenario) -> KeyPair:
    """The RSA key a jwt_bearer scenario signs its assertions with, made at test time (none is committed)."""
    return new_key("RS256")


def new_server(scenario: Scenario) -> StrictOAuth2Server:
    """The scenario's strict server, not started; for jwt_bearer it verifies assertions with the scenario's key."""
    public_key = assertion_key(scenario).public_key if scenario.grant_type == "jwt_bearer" else None
    return StrictOAuth2Server(access_lifetime=scenario.lifetime, assertion_key=public_key)


def connection(scenario: Scenario, server: StrictOAuth2Server) -> dict[str, Any]:
    extra: dict[str, Any] = {"login_url": "/token", "grant_type": scenario.grant_type, "scopes": "read"}
    if scenario.grant_type == "refresh_token":
        extra["refresh_token"] = server.issue_refresh_token(scope="read")  # as if a user had consented
    if scenario.grant_type == "jwt_bearer":  # RFC 7523: the signed assertion is the only credential
        extra.update(
            assertion_private_key=assertion_key(scenario).pem,
            assertion_issuer="loader@service.example",
            assertion_subject="load-test-user",
        )
        return {"conn_type": "authapi_oauth2", "host": server.url, "extra": extra}
    return {
        "conn_type": "authapi_oauth2",
        "host": server.url,
        "login": server.client_id,
        "password": server.client_secret,
        "extra": extra,
    }


def run_scenario(d: Deployment, server: StrictOAuth2Server, scenario: Scenario) -> tuple[dict[str, Any], list[str]]:
    """Trigger the scenario's runs, wait for them, and return (figures, problems found)."""
    run_ids = [f"{scenario.name}_{n}_{int(time.time())}" for n in range(1, scenario.runs + 1)]
    started, cpu_before = time.time(), d.cpu_seconds()
    d.trigger_many(DAG_ID, {run_id: scenario.conf for run_id in run_ids})
    problems: list[str] = []
    try:
        states = d.wait_for_runs(DAG_ID, run_ids, timeout=scenario.duration + RUN_OVERHEAD)
    except DeploymentError as exc:
        states, problems = d.run_states(DAG_ID, run_ids), [f"{scenario.name}: {exc}"]
        d.fail_runs(DAG_ID, run_ids)  # stop what is left, or it would load the next scenario
    finished = time.time()
    cpu_after = d.cpu_seconds()

    tis = [(run_id, ti) for run_id in run_ids for ti in d.task_instances(DAG_ID, run_id)]
    working = [ti for _, ti in tis if ti.task_id in WORKING_TASKS]
    failed = [(run_id, ti) for run_id, ti in tis if ti.state != "success"]
    errors = Counter(
        error.split("\n")[0][:160]
        for run_id, ti in failed
        for error in (d.task_errors(DAG_ID, run_id, ti.task_id, ti.map_index)[-1:] or [f"(state {ti.state})"])
    )
    hook_results = [r for run_id in run_ids for r in d.xcoms(DAG_ID, run_id, "call_api").values()]
    waits = [w for result in hook_results for w in result["waits"]]

    # How token requests are bounded: `token_requests` counts every request to this scenario's token endpoint
    # (its server serves no other scenario), whatever the grant or outcome. `elapsed` runs from the first to the
    # last API call that carried a token (accepted or refused, /api/whoami and /api/items alike), as the server
    # saw them; `lifetimes` is elapsed / access token lifetime. The issue's bound: requests <= 1.5 x lifetimes.
    window = server.api_window() or (started, started)
    elapsed = window[1] - window[0]
    lifetimes = elapsed / scenario.lifetime
    summary = server.summary()
    token_requests = summary["token_requests"]

    in_window = [e for e in d.access_log() if e.at is None or started <= e.at.timestamp() <= finished + 5]
    figures = {
        "scenario": scenario.name,
        "executor": d.executor,
        "lifetime_s": scenario.lifetime,
        "run_states": states,
        "seconds": round(finished - started),
        "task_instances": len(working),
        "max_concurrent": max_concurrency((ti.start_date, ti.end_date) for ti in working),
        "hosts": dict(Counter(ti.hostname for ti in working)),  # where they ran: one per Celery worker
        "failed": len(failed),
        "failed_by_task": dict(Counter(ti.task_id for _, ti in failed)),
        "errors": dict(errors),
        "elapsed_s": round(elapsed, 1),
        "lifetimes": round(lifetimes, 2),
        "token_request_bound": round(MAX_TOKEN_REQUESTS_PER_LIFETIME * lifetimes, 2),
        **summary,
        "variables": variable_traffic(in_window),
        "variable_requests_per_task": round(len(in_window) / max(1, len(working)), 1),
        "hook_request_s": {"p50": percentile(waits, 0.5), "p99": percentile(waits, 0.99), "max": max(waits or [0])},
        "cpu_s": {name: round(cpu_after.get(name, 0) - cpu_before.get(name, 0), 1) for name in cpu_after},
    }

    if failed:
        reports = "\n".join(d.failure_report(DAG_ID, run_id, limit=2, lines=25) for run_id in run_ids)
        problems.append(f"{scenario.name}: {len(failed)} task instance(s) did not succeed {dict(errors)}\n{reports}")
    if figures["max_concurrent"] < scenario.min_concurrent:
        problems.append(f"{scenario.name}: only {figures['max_concurrent']} task instances ran at once")
    if d.celery and set(figures["hosts"]) != set(d.workers):
        problems.append(f"{scenario.name}: working tasks ran on {figures['hosts']}, not on each Celery worker of "
                        f"{list(d.workers)}")  # fmt: skip
    if lifetimes < scenario.min_lifetimes:
        problems.append(f"{scenario.name}: the API was used for {lifetimes:.2f} token lifetimes only")
    if server.reuses:
        problems.append(f"{scenario.name}: {server.reuses} refresh token(s) presented twice (chain revoked)")
    if server.jti_reuses:
        problems.append(f"{scenario.name}: {server.jti_reuses} assertion jti(s) presented twice")
    if token_requests > MAX_TOKEN_REQUESTS_PER_LIFETIME * lifetimes:
        problems.append(
            f"{scenario.name}: {token_requests} token requests over {lifetimes:.2f} lifetimes "
            f"(bound {MAX_TOKEN_REQUESTS_PER_LIFETIME * lifetimes:.1f})"
        )
    problems += check_stored_token(d, server, scenario)
    for check in (check_pages(d, server, scenario, run_ids), check_trigger_logs(d, scenario, run_ids)):
        figures.update(check[0])
        problems += check[1]
    return figures, problems


class _DeploymentVariables:
    """The deployment's Variables, read-only, as the registers of a token store."""

    def __init__(self, d: Deployment) -> None:
        self.d = d

    def get(self, key: str) -> str | None:
        return self.d.variable(key)


class _DeploymentSealer:
    """Unseals a token record with the deployment's Fernet key (the test process has another one)."""

    def seal(self, data: bytes) -> str | None:
        raise NotImplementedError("read only")

    def unseal(self, text: str) -> bytes:
        from cryptography.fernet import Fernet, InvalidToken

        try:
            return Fernet(FERNET_KEY.encode()).decrypt(text.encode())
        except InvalidToken:
            raise ValueError("not sealed with the deployment's Fernet key") from None


def stored_token(d: Deployment, conn_id: str) -> dict[str, Any]:
    """The token in the connection's record (`authapi_cache_<conn_id>`, unsealed), or {} when none or damaged."""
    from airflow_provider_authapi.auth.tokens import SharedTokenStore
    from airflow_provider_authapi.store.variables import legacy_token_variable_name, token_variable_name

    store = SharedTokenStore(
        _DeploymentVariables(d),  # type: ignore[arg-type]
        name=conn_id,
        fingerprint="",
        token_key=token_variable_name(conn_id),
        queue_prefix="",
        sealer=_DeploymentSealer(),
        legacy_key=legacy_token_variable_name(conn_id),
    )
    record = store.read_record()
    return record.token.to_dict() if record is not None and record.token is not None else {}


def check_stored_token(d: Deployment, server: StrictOAuth2Server, scenario: Scenario) -> list[str]:
    token = stored_token(d, scenario.conn_id)
    if scenario.grant_type == "refresh_token":
        live = server.live_refresh_tokens()
        if not token.get("refresh_token") or [token["refresh_token"]] != live:
            return [
                f"{scenario.name}: the stored refresh token is not the server's live one "
                f"(stored: {'yes' if token.get('refresh_token') else 'none'}, live at the server: {len(live)})"
            ]
        return []
    if not token.get("access_token") or not server.issued_access_token(token["access_token"]):
        return [f"{scenario.name}: the stored access token was not issued by the server"]
    if token.get("refresh_token"):
        return [f"{scenario.name}: a refresh token was stored for a grant that has none"]
    return []


def page_label(run_id: str, task_id: str, map_index: int) -> str:
    """The `task` query parameter of one operator task's pages: as `page_label` in dags/shared_cache_load.py."""
    return f"{run_id}/{task_id}/{map_index}"


def expected_ids(scenario: Scenario, run_id: str, task_id: str, map_index: int) -> list[str]:
    """Every record id the operator task must return, in page order (the emulator's `item_id`s)."""
    label = page_label(run_id, task_id, map_index)
    return [item_id(label, number) for number in range(1, scenario.pages + 1)]


def _difference(got: Any, expected: list[str]) -> str:
    if not isinstance(got, list):
        return f"returned {type(got).__name__}, not a list"
    if sorted(map(str, got)) == sorted(expected):
        first = next(n for n, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
        return f"every id, but out of page order from position {first}"
    missing, extra = len(set(expected) - set(map(str, got))), len(set(map(str, got)) - set(expected))
    return f"{len(got)} ids for {len(expected)}: {missing} missing, {extra} not expected"


def check_pages(
    d: Deployment, server: StrictOAuth2Server, scenario: Scenario, run_ids: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """Each operator task's XCom is every id of its pages in page order; the emulator saw the deferred ones keep
    up to `deferred_concurrency` (and more than one) pages in flight, the sync ones one at a time."""
    problems, wrong, done = [], [], 0
    in_flight: dict[str, list[int]] = {task_id: [] for task_id in OPERATOR_TASKS}
    for run_id in run_ids:
        for task_id in OPERATOR_TASKS:
            results = d.xcoms(DAG_ID, run_id, task_id)
            for index in range(scenario.operator_tasks):
                label = page_label(run_id, task_id, index)
                in_flight[task_id].append(server.items_max_in_flight.get(label, 0))
                expected = expected_ids(scenario, run_id, task_id, index)
                if index not in results:
                    wrong.append(f"{label}: no XCom")
                elif results[index] != expected:
                    wrong.append(f"{label}: {_difference(results[index], expected)}")
                else:
                    done += 1
    if wrong:
        problems.append(f"{scenario.name}: {len(wrong)} operator result(s) are not every page's ids in order: {wrong}")
    most = scenario.deferred_concurrency
    deferred = in_flight["deferred_pages"]
    if most > 1 and (not deferred or min(deferred) < 2):
        problems.append(f"{scenario.name}: not every deferred task had pages in flight at once (most per task: "
                        f"{deferred}; concurrency={most})")  # fmt: skip
    if any(n > most for n in deferred) or any(n > 1 for n in in_flight["sync_pages"]):
        problems.append(f"{scenario.name}: more pages in flight than the concurrency: {in_flight} "
                        f"(deferred concurrency={most}, sync 1)")  # fmt: skip
    figures = {
        "pages_per_operator": scenario.pages,
        "operator_results_in_order": f"{done}/{len(run_ids) * len(OPERATOR_TASKS) * scenario.operator_tasks}",
        "items_max_in_flight": in_flight,
    }
    return figures, problems


ITEM_ID = re.compile(r"item-[0-9a-f]{16}")
FIRED = "Trigger fired event"


def check_trigger_logs(d: Deployment, scenario: Scenario, run_ids: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Each deferred task's trigger log (`attempt=N.log.trigger.<job>.log`, where the triggerer writes what its
    triggers log, "Trigger fired event" included) shows the event with the result's size only (`<N records, M bytes
    as JSON>`); neither those files nor the triggerer's process log (its own lines only) hold any record id."""
    sizes = re.compile(rf"<{scenario.pages:,} records, [\d,]+ bytes as JSON>")
    triggerer = d.services["triggerer"].log if "triggerer" in d.services else d.home / "triggerer.log"
    files = [triggerer]
    shown, missing = 0, []
    for run_id in run_ids:
        for index in range(scenario.operator_tasks):
            paths = [p for p in d.task_log_paths(DAG_ID, run_id, "deferred_pages", index) if ".trigger." in p.name]
            files += paths
            lines = [line for path in paths for line in path.read_text(errors="replace").splitlines()]
            fired = [line for line in lines if FIRED in line]
            if any(sizes.search(line) for line in fired):
                shown += 1
            else:
                missing.append(f"{page_label(run_id, 'deferred_pages', index)}: {fired[:1] or 'no fired event'}")
    leaked: Counter[str] = Counter()
    for path in files:
        text = path.read_text(errors="replace") if path.exists() else ""
        if found := len(ITEM_ID.findall(text)):
            leaked[path.name] += found
    problems = []
    if missing:
        problems.append(f"{scenario.name}: {len(missing)} deferred task(s) without a '{FIRED}' line giving the "
                        f"result's size in its trigger log: {missing}")  # fmt: skip
    if leaked:
        problems.append(f"{scenario.name}: record ids in the triggerer's logs: {dict(leaked)} (files under {d.home})")
    figures = {
        "trigger_events_with_sizes": shown,
        "record_ids_in_trigger_logs": sum(leaked.values()),
        "trigger_log_files": len(files),
    }
    return figures, problems


def write_figures(figures: dict[str, Any]) -> Path:
    """`test-artifacts/deployment-<scenario>.json` (LocalExecutor) or `deployment-celery-<scenario>.json`."""
    folder = ROOT / "test-artifacts"
    folder.mkdir(exist_ok=True)
    celery = "celery-" if figures.get("executor") == "CeleryExecutor" else ""
    path = folder / f"deployment-{celery}{figures['scenario']}.json"
    path.write_text(json.dumps(figures, indent=2, default=str))
    return path


# -- deferred tasks under load (issue 21, item 7) -------------------------------------------------------------------

BURST_DAG_ID = "deferred_burst"
HELD = "holding it"  # AuthApiTrigger's log line when it holds a ready event until MIN_SECONDS_AFTER_DEFERRAL
STATE_MISMATCH = "state mismatch"  # the `log` event of Airflow's race: a stale executor success failed the task


@dataclass(frozen=True)
class Burst:
    """`deferred` deferrable operators per stage (3 stages, one after the other) whose triggers finish at once,
    among `busy` tasks calling the API for `duration` s (dags/deferred_burst.py). The issue's figure: 71 tasks at
    once, parallelism 72."""

    conn_id: str
    busy: int = env_int("AUTHAPI_DEPLOYMENT_BURST_BUSY", 24)
    deferred: int = env_int("AUTHAPI_DEPLOYMENT_BURST_DEFERRED", 8)
    duration: float = env_int("AUTHAPI_DEPLOYMENT_BURST_SECONDS", 60)

    @property
    def conf(self) -> dict[str, Any]:
        return {"conn_id": self.conn_id, "busy_tasks": self.busy, "deferred_tasks": self.deferred,
                "duration": self.duration, "interval": 2}  # fmt: skip


BURST_DEFERRED_TASKS = ("quick_deferred_1", "quick_deferred_2", "quick_deferred_3")  # dags/deferred_burst.py


def held_in_trigger_log(d: Deployment, run_id: str, task_id: str, index: int) -> bool:
    """Whether deferred task `task_id[index]`'s trigger log says the trigger held its ready event."""
    paths = d.task_log_paths(BURST_DAG_ID, run_id, task_id, index)
    return any(HELD in path.read_text(errors="replace") for path in paths if ".trigger." in path.name)


def run_burst(d: Deployment, burst: Burst, *, held_expected: bool = True) -> tuple[dict[str, Any], list[str]]:
    """Trigger one `deferred_burst` run, wait, and return (figures, problems): every task succeeded, each deferred
    one with its page, Airflow logged no state mismatch, and (with this provider) each trigger held its event."""
    from tests.emulators.strict_oauth2 import item_id

    d.wait_for_dags([BURST_DAG_ID])
    run_id = f"burst_{int(time.time())}"
    started = time.time()
    d.trigger(BURST_DAG_ID, run_id, burst.conf)
    problems: list[str] = []
    try:
        states = d.wait_for_runs(BURST_DAG_ID, [run_id], timeout=burst.duration + RUN_OVERHEAD)
    except DeploymentError as exc:
        states, problems = d.run_states(BURST_DAG_ID, [run_id]), [f"burst: {exc}"]
        d.fail_runs(BURST_DAG_ID, [run_id])
    tis = d.task_instances(BURST_DAG_ID, run_id)
    working = [ti for ti in tis if ti.task_id in ("busy", *BURST_DEFERRED_TASKS)]
    failed = [ti for ti in tis if ti.state != "success"]
    mismatches = d.query("SELECT count(*) FROM log WHERE dag_id = %s AND run_id = %s AND event = %s",
                         (BURST_DAG_ID, run_id, STATE_MISMATCH))[0][0]  # fmt: skip
    wrong, held = [], 0
    for task_id in BURST_DEFERRED_TASKS:
        results = d.xcoms(BURST_DAG_ID, run_id, task_id)
        for index in range(burst.deferred):
            if results.get(index) != [item_id(f"{run_id}/{task_id}/{index}", 1)]:
                wrong.append(f"{task_id}[{index}]")
            held += held_in_trigger_log(d, run_id, task_id, index)
    deferrals = len(BURST_DEFERRED_TASKS) * burst.deferred
    errors = Counter(
        (d.task_errors(BURST_DAG_ID, run_id, ti.task_id, ti.map_index)[-1:] or [f"(state {ti.state})"])[0][:160]
        for ti in failed
    )
    figures = {
        "scenario": "deferred_burst",
        "executor": d.executor,
        "parallelism": d.parallelism,
        "run_state": states.get(run_id),
        "seconds": round(time.time() - started),
        "busy_tasks": burst.busy,
        "deferred_tasks": burst.deferred,
        "deferrals": deferrals,
        "max_concurrent": max_concurrency((ti.start_date, ti.end_date) for ti in working),
        "failed": len(failed),
        "failed_by_task": dict(Counter(ti.task_id for ti in failed)),
        "errors": dict(errors),
        "state_mismatches": mismatches,
        "deferred_results_right": deferrals - len(wrong),
        "events_held": held,
    }
    if failed:
        problems.append(f"burst: {len(failed)} task instance(s) did not succeed {dict(errors)}\n"
                        f"{d.failure_report(BURST_DAG_ID, run_id, limit=3, lines=25)}")  # fmt: skip
    if mismatches:
        problems.append(f"burst: Airflow logged {mismatches} state mismatch(es): stale executor events failed tasks")
    if wrong:
        problems.append(f"burst: deferred task(s) {wrong} did not return their page's record")
    if held_expected and held != deferrals:
        problems.append(f"burst: {held} of {deferrals} triggers held their event ('{HELD}' in the trigger log)")
    if figures["max_concurrent"] < burst.busy:
        problems.append(f"burst: only {figures['max_concurrent']} task instances ran at once (busy: {burst.busy})")
    return figures, problems
