"""Benchmark of the shared token cache in a real deployment (issue 11). Run by hand, not a test:

    source .venv/bin/activate && python -m bench.deployment [--tasks 64 256] [--baseline bf3436c]
        [--lifetime 60] [--duration 150] [--designs baseline current fallback] [--run-overhead 900]
        [--executor celery] [--worker-concurrency 128] [--fallback-bin .venvs/af-3.2.2/bin]

For each task count and each design, a fresh deployment (tests/deployment/harness.py: PostgreSQL, api-server,
scheduler, dag-processor, triggerer, all on 127.0.0.1; LocalExecutor, or CeleryExecutor with Redis and two
workers of `--worker-concurrency` each) runs two concurrent runs of the load DAG against the strict OAuth 2.0
emulator with rotating refresh tokens: `--tasks` task instances at once in all (hook tasks calling the API every
2 s, plus sync and deferrable operators paging for the same time). `baseline` is the provider at git revision
`--baseline` (the Variable lease of issues 4-6), `current` the working tree's HEAD on this interpreter's Airflow
(3.3: the bakery), `fallback` HEAD on the Airflow of `--fallback-bin` (3.2: the lease and the refresh claim).
Reported per run: failed tasks, token requests against the minimum (one per lifetime elapsed), refresh tokens
presented twice, Variable requests per task, p50/p99/max of the time a hook call took (the token wait is in it,
the cold start included), CPU seconds of the api-server and triggerer, and the machine's peak memory in use.
Printed and written to bench/results/deployment.json.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import threading
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


def memory_in_use_mb() -> float:
    """MemTotal - MemAvailable from /proc/meminfo, in MB: what every process on the machine holds."""
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return (int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])) / 1024


class PeakMemory:
    """The highest `memory_in_use_mb()` seen, sampled every second in a thread while in the `with` block."""

    def __init__(self) -> None:
        self.baseline = memory_in_use_mb()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(1.0):
            self.peak = max(self.peak, memory_in_use_mb())

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def airflow_version(airflow_bin: str | None) -> str:
    python = str(Path(airflow_bin) / "python") if airflow_bin else sys.executable
    code = "import airflow; print(airflow.__version__)"
    return subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def measure(
    design: str,
    revision: str | None,
    tasks: int,
    lifetime: float,
    duration: float,
    *,
    executor: str = "local",
    worker_concurrency: int = 8,
    airflow_bin: str | None = None,
) -> dict[str, Any]:
    scenario = scenario_for(tasks, lifetime, duration)
    version = airflow_version(airflow_bin)  # before the run: a failure here must not cost the run's figures
    celery = executor.lower().startswith("celery")
    if celery:  # every task instance must find a worker slot: the two workers' pools hold them all at once
        worker_concurrency = max(worker_concurrency, math.ceil(tasks / 2))
    with StrictOAuth2Server(access_lifetime=lifetime) as server, PeakMemory() as memory:
        conns = {scenario.conn_id: connection(scenario, server)}
        with Deployment(
            connections=conns,
            parallelism=tasks,
            provider_revision=revision,
            executor=executor,
            worker_concurrency=worker_concurrency,
            airflow_bin=airflow_bin,
        ) as deployment:
            figures, problems = run_scenario(deployment, server, scenario)
    minimum = max(1, math.ceil(figures["lifetimes"]))
    return {
        "design": design,
        "revision": revision or "HEAD",
        "airflow_bin": airflow_bin or "this interpreter's",
        "airflow": version,
        "executor": figures["executor"],
        "hosts": figures["hosts"],
        "memory_mb": {"before": round(memory.baseline), "peak": round(memory.peak)},
        "tasks": tasks,
        "max_concurrent": figures["max_concurrent"],
        "failed": figures["failed"],
        "errors": figures["errors"],
        "token_requests": figures["token_requests"],
        "token_requests_minimum": minimum,
        "lifetimes": figures["lifetimes"],
        "token_requests_per_lifetime": round(figures["token_requests"] / max(figures["lifetimes"], 1e-9), 2),
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
    parser.add_argument(
        "--designs", nargs="+", default=["baseline", "current"], choices=["baseline", "current", "fallback"]
    )
    parser.add_argument("--executor", default="local", help="local or celery")
    parser.add_argument("--worker-concurrency", type=int, default=8, help="Celery: slots per worker (two workers)")
    parser.add_argument(
        "--fallback-bin", default=".venvs/af-3.2.2/bin", help="bin of the venv whose Airflow runs `fallback`"
    )
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
            airflow_bin = str(Path(args.fallback_bin).resolve()) if design == "fallback" else None
            result = measure(
                design,
                revision,
                tasks,
                args.lifetime,
                args.duration,
                executor=args.executor,
                worker_concurrency=args.worker_concurrency,
                airflow_bin=airflow_bin,
            )
            print(json.dumps(result, default=str), flush=True)
            results.append(result)
            RESULTS.parent.mkdir(exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
