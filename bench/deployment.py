"""Benchmark of the shared token cache in a real deployment (issue 11). Run by hand, not a test:

    source .venv/bin/activate && python -m bench.deployment [--tasks 64 256] [--baseline bf3436c]
        [--lifetime 60] [--duration 150] [--designs baseline current] [--run-overhead 900]

For each task count and each design, a fresh deployment (tests/deployment/harness.py: PostgreSQL, api-server,
scheduler with LocalExecutor, dag-processor, triggerer, all on 127.0.0.1) runs two concurrent runs of the load
DAG against the strict OAuth 2.0 emulator with rotating refresh tokens: `--tasks` task instances at once in
all (hook tasks calling the API every 2 s, plus sync and deferrable operators paging for the same time).
`baseline` is the provider at git revision `--baseline` (the Variable lease of issues 4-6), `current` the
working tree's HEAD. Reported per run: failed tasks, token requests against the minimum (one per lifetime
elapsed), refresh tokens presented twice, Variable requests per task, p50/p99 of the time a hook call took
(the token wait is in it), and CPU seconds of the api-server and triggerer. Printed and written to
bench/results/deployment.json.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from tests.deployment import scenarios
from tests.deployment.harness import Deployment
from tests.deployment.scenarios import Scenario, connection, run_scenario
from tests.emulators.strict_oauth2 import StrictOAuth2Server

RESULTS = Path(__file__).resolve().parent / "results" / "deployment.json"
OPERATOR_SHARE = 0.125  # of each run's tasks: sync operators, and as many deferrable ones


def scenario_for(tasks: int, lifetime: float, duration: float) -> Scenario:
    """Two runs of `tasks / 2` task instances each: hook tasks plus sync and deferrable operators."""
    per_run = tasks // 2
    operators = max(1, round(per_run * OPERATOR_SHARE))
    return Scenario(
        "rotating",
        "bench_rotating",
        "refresh_token",
        lifetime=lifetime,
        duration=duration,
        hook_tasks=per_run - 2 * operators,
        operator_tasks=operators,
    )


def measure(design: str, revision: str | None, tasks: int, lifetime: float, duration: float) -> dict[str, Any]:
    scenario = scenario_for(tasks, lifetime, duration)
    with StrictOAuth2Server(access_lifetime=lifetime) as server:
        conns = {scenario.conn_id: connection(scenario, server)}
        with Deployment(connections=conns, parallelism=tasks, provider_revision=revision) as deployment:
            figures, problems = run_scenario(deployment, server, scenario)
    minimum = max(1, math.ceil(figures["lifetimes"]))
    return {
        "design": design,
        "revision": revision or "HEAD",
        "tasks": tasks,
        "max_concurrent": figures["max_concurrent"],
        "failed": figures["failed"],
        "errors": figures["errors"],
        "token_requests": figures["token_requests"],
        "token_requests_minimum": minimum,
        "reuses": figures["reuses"],
        "variable_requests_per_task": figures["variable_requests_per_task"],
        "variable_latency_ms": {k: figures["variables"].get(k) for k in ("p50_ms", "p99_ms")},
        "hook_call_s": figures["hook_request_s"],
        "cpu_s": {k: figures["cpu_s"].get(k) for k in ("api-server", "triggerer")},
        "problems": [p.splitlines()[0] for p in problems],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--baseline", default="bf3436c", help="git revision of the design to compare with")
    parser.add_argument("--designs", nargs="+", default=["baseline", "current"], choices=["baseline", "current"])
    parser.add_argument("--lifetime", type=float, default=60)
    parser.add_argument("--duration", type=float, default=150)
    parser.add_argument(
        "--run-overhead", type=float, default=900, help="seconds a run may take beyond --duration (task start-up)"
    )
    args = parser.parse_args()
    scenarios.RUN_OVERHEAD = args.run_overhead  # 256 task processes take minutes to start on 2 cores
    results = []
    for tasks in args.tasks:
        for design in args.designs:
            revision = args.baseline if design == "baseline" else "HEAD"
            result = measure(design, revision, tasks, args.lifetime, args.duration)
            print(json.dumps(result, default=str), flush=True)
            results.append(result)
            RESULTS.parent.mkdir(exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
