"""Benchmark of AuthApiOperator's fetch path (issue 5). Run by hand, not a test:

    source .venv/bin/activate && python -m bench.operators [--pages 1000] [--per-page 100] [--repeats 3]
        [--big-mb 500] [--skip-memory] [--skip-http-memory]

Part 1, wall time: `--pages` pages of `--per-page` records (100,000 records by default) from the paged API
emulator's `/offset` endpoint, pulled by `AuthApiOperator` (offset paginator, `items` filter) and by
providers-http's `HttpOperator` with a `pagination_function` and a `response_filter` that concatenates the
pages, alternating, `--repeats` times each, same server, same process. Reported: median wall time and the ratio.

Part 2, peak memory: a result of at least `--big-mb` MB (the same 1,000 pages, records padded) pulled in a fresh
subprocess per mode; each child reports its peak RSS (`VmHWM`, the high-water mark) before and after the
pull. Modes: AuthApiOperator with `output_path` (JSON Lines streamed page by page), AuthApiOperator without
it (all records in memory, as XCom needs them), and HttpOperator (all responses in memory).

Both parts call the operators' `execute()` directly, with the connections in `AIRFLOW_CONN_*` environment
variables, not through `dag.test()`: a DAG run's ~10 s of scheduling overhead on this machine would dominate
and is the same for both operators. The emulator runs in its own process (it would otherwise share the GIL
with the client). Nothing leaves 127.0.0.1. Results are printed and written to bench/results/operators.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TOKEN = "bench-operators-bearer-token-0123456789"
AUTHAPI_CONN, HTTP_CONN = "bench_authapi", "bench_http"


# -- the server ----------------------------------------------------------------------------------------------------


def serve(total: int, record_bytes: int) -> None:
    """Child process: run the paged API emulator and print its URL."""
    import socketserver

    from tests.emulators.paged_api import PagedApiEmulator

    # http.server sends headers and body in two writes: with Nagle on, every keep-alive response waits for the
    # client's delayed ACK (~40 ms). Real servers set TCP_NODELAY; without it the benchmark measures the stall.
    socketserver.StreamRequestHandler.disable_nagle_algorithm = True

    api = PagedApiEmulator(total=total, token=TOKEN, record_bytes=record_bytes)
    api.start()
    print(api.url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin


class Server:
    def __init__(self, total: int, record_bytes: int = 0) -> None:
        self.args = [sys.executable, "-m", "bench.operators", "--serve", str(total), str(record_bytes)]

    def __enter__(self) -> str:
        self.process = subprocess.Popen(
            self.args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ
        )
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def __exit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def environment(url: str) -> dict[str, str]:
    home = Path(tempfile.gettempdir()) / "authapi-bench-operators"
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        f"AIRFLOW_CONN_{AUTHAPI_CONN.upper()}": json.dumps(
            {"conn_type": "authapi_bearer", "host": url, "password": TOKEN}
        ),
        f"AIRFLOW_CONN_{HTTP_CONN.upper()}": json.dumps({"conn_type": "http", "host": url}),
    }


# -- the two operators ---------------------------------------------------------------------------------------------


def authapi_operator(per_page: int, output_path: str | None = None) -> Any:
    from airflow_provider_authapi.operators import AuthApiOperator

    return AuthApiOperator(
        task_id="authapi",
        authapi_conn_id=AUTHAPI_CONN,
        endpoint="/offset",
        pagination={"type": "offset", "limit": per_page},
        response_filter="items",
        output_path=output_path,
    )


def next_offset_page(response: Any) -> dict[str, Any] | None:
    """HttpOperator `pagination_function`: the next `offset` until `total` is reached."""
    query = parse_qs(urlsplit(response.request.url).query)
    offset, limit = int(query["offset"][0]), int(query["limit"][0])
    if offset + limit >= response.json()["total"]:
        return None
    return {"data": {"offset": offset + limit, "limit": limit}}


def all_items(responses: Any) -> list[Any]:
    """HttpOperator `response_filter`: the records of every page, in order."""
    return [item for response in responses for item in response.json()["items"]]


def http_operator(per_page: int) -> Any:
    from airflow.providers.http.operators.http import HttpOperator

    return HttpOperator(
        task_id="http",
        http_conn_id=HTTP_CONN,
        method="GET",
        endpoint="/offset",
        data={"offset": 0, "limit": per_page},
        headers={"Authorization": f"Bearer {TOKEN}"},
        pagination_function=next_offset_page,
        response_filter=all_items,
    )


# -- part 1: wall time ---------------------------------------------------------------------------------------------


def timed(make: Any) -> tuple[float, int]:
    operator = make()
    start = time.perf_counter()
    result = operator.execute({})
    elapsed = time.perf_counter() - start
    assert result[0]["id"] == 1 and result[-1]["id"] == len(result), "records out of order"
    return elapsed, len(result)


def wall_time(pages: int, per_page: int, repeats: int) -> dict[str, Any]:
    total = pages * per_page
    with Server(total) as url:
        os.environ.update(environment(url))
        runs: dict[str, list[float]] = {"AuthApiOperator": [], "HttpOperator": []}
        makers = {
            "AuthApiOperator": lambda: authapi_operator(per_page),
            "HttpOperator": lambda: http_operator(per_page),
        }
        timed(makers["AuthApiOperator"])  # warm-up: imports, connection parsing
        timed(makers["HttpOperator"])
        for _ in range(repeats):
            for name, make in makers.items():
                elapsed, count = timed(make)
                assert count == total, f"{name} returned {count} records, expected {total}"
                runs[name].append(elapsed)
    medians = {name: statistics.median(times) for name, times in runs.items()}
    return {
        "pages": pages,
        "records": total,
        "runs_s": runs,
        "median_s": medians,
        "ratio_http_over_authapi": medians["HttpOperator"] / medians["AuthApiOperator"],
    }


# -- part 2: peak memory -------------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak RSS. `VmHWM` rather than `ru_maxrss`: Linux carries `ru_maxrss` over from the
    parent across fork + exec, so a child of a big parent would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def memory_child(mode: str, url: str, per_page: int, out_dir: str) -> None:
    """Child process: pull the big result in one `mode`; print peak RSS before and after as JSON."""
    os.environ.update(environment(url))
    import airflow.providers.http.operators.http  # noqa: F401  (same imports in every mode)

    import airflow_provider_authapi.hooks.authapi
    import airflow_provider_authapi.operators  # noqa: F401

    before = peak_rss_mb()
    start = time.perf_counter()
    report: dict[str, Any] = {}
    if mode == "authapi_output_path":
        path = Path(out_dir) / "big.jsonl"
        result = authapi_operator(per_page, f"file://{path}").execute({})
        report.update(records=result["records"], file_mb=path.stat().st_size / 1e6)
        path.unlink()
    elif mode == "authapi_in_memory":
        report.update(records=len(authapi_operator(per_page).execute({})))
    else:
        report.update(records=len(http_operator(per_page).execute({})))
    report.update(seconds=time.perf_counter() - start, rss_before_mb=before, rss_peak_mb=peak_rss_mb())
    print(json.dumps(report), flush=True)


def memory(pages: int, per_page: int, big_mb: int, with_http: bool) -> dict[str, Any]:
    record_bytes = int(big_mb * 1e6 / (pages * per_page)) + 1
    modes = ["authapi_output_path", "authapi_in_memory"] + (["http_in_memory"] if with_http else [])
    results: dict[str, Any] = {"pages": pages, "records": pages * per_page, "record_pad_bytes": record_bytes}
    with Server(pages * per_page, record_bytes) as url, tempfile.TemporaryDirectory() as out_dir:
        import httpx

        page = httpx.get(
            f"{url}/offset",
            params={"offset": 0, "limit": per_page},
            auth=None,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        results["result_mb"] = len(page.content) * pages / 1e6
        for mode in modes:
            child = [sys.executable, "-m", "bench.operators", "--memory-child", mode, url, str(per_page), out_dir]
            done = subprocess.run(child, cwd=ROOT, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{mode} failed:\n{done.stderr[-3000:]}")
            results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


# -- report --------------------------------------------------------------------------------------------------------


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


def report(speed: dict[str, Any] | None, mem: dict[str, Any] | None) -> str:
    lines = ["operators' execute() called directly (no dag.test()); connections from AIRFLOW_CONN_* env vars", ""]
    if speed:
        lines.append(
            f"Wall time: {speed['records']:,} records in {speed['pages']:,} pages, median of "
            f"{len(speed['runs_s']['HttpOperator'])} alternating runs"
        )
        rows = [("operator", "median s", "runs s")]
        for name, median in speed["median_s"].items():
            rows.append((name, f"{median:.2f}", " ".join(f"{t:.2f}" for t in speed["runs_s"][name])))
        lines += [table(rows), f"HttpOperator / AuthApiOperator wall time: {speed['ratio_http_over_authapi']:.2f}x", ""]
    if mem:
        lines.append(
            f"Peak RSS: {mem['result_mb']:.0f} MB of JSON ({mem['records']:,} records of ~"
            f"{mem['record_pad_bytes']:,} B in {mem['pages']:,} pages), one fresh process per mode"
        )
        rows = [("mode", "records", "seconds", "RSS after imports MB", "peak RSS MB", "peak - imports MB")]
        for mode in ("authapi_output_path", "authapi_in_memory", "http_in_memory"):
            if mode in mem:
                r = mem[mode]
                rows.append(
                    (
                        mode,
                        f"{r['records']:,}",
                        f"{r['seconds']:.1f}",
                        f"{r['rss_before_mb']:.0f}",
                        f"{r['rss_peak_mb']:.0f}",
                        f"{r['rss_peak_mb'] - r['rss_before_mb']:.0f}",
                    )
                )
        lines.append(table(rows))
        streamed = mem["authapi_output_path"]
        growth = streamed["rss_peak_mb"] - streamed["rss_before_mb"]
        lines.append(
            f"output_path: file {streamed['file_mb']:.0f} MB, RSS growth {growth:.0f} MB "
            f"= {growth / mem['result_mb']:.1%} of the result size"
        )
        in_memory = mem["authapi_in_memory"]
        lines.append(f"in-memory peak / output_path peak: {in_memory['rss_peak_mb'] / streamed['rss_peak_mb']:.1f}x")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), int(sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--memory-child":
        memory_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--per-page", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=500)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-http-memory", action="store_true")
    args = parser.parse_args()
    speed = None if args.skip_speed else wall_time(args.pages, args.per_page, args.repeats)
    mem = None if args.skip_memory else memory(args.pages, args.per_page, args.big_mb, not args.skip_http_memory)
    text = report(speed, mem)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "operators.json").write_text(json.dumps({"wall_time": speed, "memory": mem}, indent=2))
    (RESULTS / "operators.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
