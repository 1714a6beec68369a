"""Benchmark of the shared token cache (issue 4). Run by hand, not a test:

    source .venv/bin/activate && python -m bench.token_cache [--tasks 200] [--workers 8] [--requests 5000]

Part 1: `--tasks` task runs spread over `--workers` OS processes within one token lifetime. Each task run
starts with an empty in-process cache, as a fresh Airflow task process does, builds an `AuthApiHook` and makes
one API call. Baseline: the same task runs, each logging in for itself (what a hand-written task does).
Reported: token requests seen by the server and wall time.

Part 2: per-request overhead of the hook's client with a warm token against a raw `httpx.Client` with a
static `Authorization` header, `--requests` requests each to the same local server, taking turns in 5 rounds;
reported as totals and the median of the per-round ratios.

Both parts use the metadata DB of a throwaway AIRFLOW_HOME (SQLite, migrated here) and a local OAuth2
server on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONN_ID = "bench_cache"


def _airflow_env(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__FERNET_KEY": "5sBTJhtpNiqYk3RzMxfHX1IiB8nY3xnHJmyQBVNmmB0=",
        "AIRFLOW__SECRETS__USE_CACHE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }


def _conn_json(server_url: str, client_id: str, secret: str) -> str:
    return json.dumps(
        {
            "conn_type": "authapi_oauth2",
            "host": server_url,
            "login": client_id,
            "password": secret,
            "extra": {"login_url": "/token", "grant_type": "client_credentials", "client_auth": "basic"},
        }
    )


def _task_runs(args: tuple[str, int, bool]) -> list[int]:
    """One worker process: `count` task runs, cached (through the hook) or logging in each time."""
    endpoint, count, use_cache = args
    from airflow_provider_authapi.hooks.authapi import AuthApiHook, reset_token_managers

    statuses = []
    for _ in range(count):
        reset_token_managers()  # a new task process starts with an empty memory layer
        hook = AuthApiHook(CONN_ID)
        if not use_cache:
            hook.store.clear()  # per-task login: nothing shared
        statuses.append(hook.request("GET", endpoint).status_code)
        hook.close()
    return statuses


def part1(server, endpoint: str, tasks: int, workers: int) -> dict[str, dict[str, float]]:
    from airflow_provider_authapi.hooks.authapi import AuthApiHook

    results = {}
    for label, use_cache in (("per-task login (baseline)", False), ("shared cache", True)):
        AuthApiHook(CONN_ID).store.clear()
        before = server.token_requests
        started = time.perf_counter()
        per_worker = [tasks // workers + (1 if i < tasks % workers else 0) for i in range(workers)]
        with ProcessPoolExecutor(workers) as pool:
            statuses = [
                s for chunk in pool.map(_task_runs, [(endpoint, n, use_cache) for n in per_worker]) for s in chunk
            ]
        wall = time.perf_counter() - started
        assert statuses == [200] * tasks, f"{label}: not every call succeeded"
        results[label] = {"token_requests": server.token_requests - before, "wall_s": wall}
    return results


def part2(server, endpoint: str, requests: int, rounds: int = 5) -> dict[str, float]:
    """Raw and hook clients take turns in `rounds` rounds (so drift in the machine's load hits both alike);
    each side's figure is its total over the rounds, and the ratio the median of the per-round ratios."""
    import statistics

    import httpx

    from airflow_provider_authapi.hooks.authapi import AuthApiHook

    hook = AuthApiHook(CONN_ID)
    token = hook.get_access_token()
    per_round = max(1, requests // rounds)

    def timed(client: httpx.Client) -> float:
        started = time.perf_counter()
        for _ in range(per_round):
            client.get(endpoint).raise_for_status()
        return time.perf_counter() - started

    raw_times, hook_times = [], []
    with (
        httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as raw,
        hook.get_client() as client,
    ):
        timed(raw), timed(client)  # warm both connections up
        for _ in range(rounds):
            raw_times.append(timed(raw))
            hook_times.append(timed(client))
    return {
        "raw_httpx_s": sum(raw_times),
        "hook_client_s": sum(hook_times),
        "ratio_hook_over_raw": statistics.median(h / r for h, r in zip(hook_times, raw_times, strict=True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="authapi-bench-"))
    os.environ.update(_airflow_env(home))
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)

    sys.path.insert(0, str(ROOT))
    from tests.emulators.oauth2_server import BenchOAuth2Server

    with BenchOAuth2Server() as server:
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = _conn_json(server.url, server.client_id, server.client_secret)
        one = part1(server, server.api_path, args.tasks, args.workers)
        two = part2(server, server.api_path, args.requests)

    base, cached = one["per-task login (baseline)"], one["shared cache"]
    print(f"Part 1: {args.tasks} task runs over {args.workers} processes, one token lifetime")
    for label, row in one.items():
        print(f"  {label:28s} token requests {row['token_requests']:5d}   wall {row['wall_s']:7.2f} s")
    print(
        f"  ratio cache/baseline: token requests {cached['token_requests'] / base['token_requests']:.4f}, "
        f"wall {cached['wall_s'] / base['wall_s']:.2f}"
    )
    print(f"Part 2: {args.requests} requests with a warm token")
    print(f"  raw httpx.Client + static header {two['raw_httpx_s']:.2f} s")
    print(f"  AuthApiHook.get_client()         {two['hook_client_s']:.2f} s")
    extra_ms = (two["hook_client_s"] - two["raw_httpx_s"]) / args.requests * 1000
    print(f"  ratio hook/raw {two['ratio_hook_over_raw']:.3f} (median of 5 rounds), {extra_ms:+.3f} ms per request")


if __name__ == "__main__":
    main()
