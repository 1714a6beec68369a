"""The deployment scenarios of issue 11, shared by the CI test (tests/deployment) and the benchmark
(bench/deployment.py): what runs, the connection it uses, and the figures and problems one scenario yields."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tests.deployment.harness import ROOT, Deployment, DeploymentError, max_concurrency, percentile, variable_traffic
from tests.emulators.jwt_oauth2 import KeyPair, new_key
from tests.emulators.strict_oauth2 import StrictOAuth2Server

DAG_ID = "shared_cache_load"
WORKING_TASKS = ("call_api", "sync_pages", "deferred_pages")  # the tasks that use the token (not the planners)
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

    @property
    def conf(self) -> dict[str, Any]:
        return {
            "conn_id": self.conn_id,
            "hook_tasks": self.hook_tasks,
            "operator_tasks": self.operator_tasks,
            "duration": self.duration,
            "interval": self.interval,
        }


# Durations leave a few seconds over `min_lifetimes`: the first to last API call must span that many lifetimes.
# jwt_bearer is short (it adds about a minute to CI): 45 s of calls plus the tasks' staggered start span 2 lifetimes.
SCENARIOS = (
    Scenario("rotating", "authapi_rotating", "refresh_token", lifetime=60, duration=190),
    Scenario("client_credentials", "authapi_client_credentials", "client_credentials", lifetime=20, duration=75),
    Scenario("jwt_bearer", "authapi_jwt_bearer", "jwt_bearer", lifetime=20, duration=45, min_lifetimes=2),
)


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
        "lifetime_s": scenario.lifetime,
        "run_states": states,
        "seconds": round(finished - started),
        "task_instances": len(working),
        "max_concurrent": max_concurrency((ti.start_date, ti.end_date) for ti in working),
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
    if figures["max_concurrent"] < MIN_CONCURRENT:
        problems.append(f"{scenario.name}: only {figures['max_concurrent']} task instances ran at once")
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
    return figures, problems


def stored_token(d: Deployment, conn_id: str) -> dict[str, Any]:
    """The token in the Variable `authapi_token_<conn_id>` (the record's `token`, or the record itself)."""
    raw = d.variable(f"authapi_token_{conn_id}")
    record = json.loads(raw) if raw else {}
    return record.get("token", record) if isinstance(record, dict) else {}


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


def write_figures(figures: dict[str, Any]) -> Path:
    folder = ROOT / "test-artifacts"
    folder.mkdir(exist_ok=True)
    path = folder / f"deployment-{figures['scenario']}.json"
    path.write_text(json.dumps(figures, indent=2, default=str))
    return path
