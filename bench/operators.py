"""Extraction benchmark (issues 5 and 15). Run by hand, not a test:

    source .venv/bin/activate && python -m bench.operators [--latency-ms 20] [--records 100000] [--page-size 100]
        [--repeat 3] [--record-bytes 0] [--contenders raw,dlt,http,authapi_seq,authapi_c8,authapi_c8_file]

`--records` records in pages of `--page-size` (100,000 in 1,000 pages by default) from the paged API emulator's
`/offset?offset=&limit=` endpoint (bearer token required), which sleeps `--latency-ms` before each answer (a WAN
round trip). Contenders:

    raw              a sequential `httpx.Client` loop over the offset pages: the baseline
    dlt              dlt's `RESTClient.paginate` with its `OffsetPaginator` (in its own virtualenv, bench/.venvs/dlt,
                     made on first use: dlt is no dependency of this project)
    http             providers-http's `HttpOperator` with a `pagination_function`
    authapi_seq      `AuthApiOperator` (offset paginator, `items` filter), concurrency=1
    authapi_c8       the same with concurrency=8
    authapi_c8_file  the same with concurrency=8 and `output_path` (JSON Lines streamed page by page)

Every pull runs in a fresh subprocess (imports done before the clock starts), the contenders taking turns,
`--repeat` rounds, all against one emulator; reported: median seconds, ratio to the raw loop, peak RSS of the
child (`VmHWM`), its growth over the RSS after imports, records (each pull must return all of them, in order),
and the emulator's CPU seconds during the pull (near the wall time means the server, not the client, set the
pace). The emulator runs in its own process (a ThreadingHTTPServer: it would otherwise share the GIL with the
client) and is stopped by its PID at the end. The operators' `execute({})` is called directly, with the connections
in `AIRFLOW_CONN_*` environment variables, not through `dag.test()`. `--record-bytes` pads each record (e.g. 5000 for
a 500 MB result) to make the memory column speak louder. Nothing leaves 127.0.0.1. Results are printed and written
to bench/results/operators-<latency>ms.{json,txt}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DLT_VENV = ROOT / "bench" / ".venvs" / "dlt"
TOKEN = "bench-operators-bearer-token-0123456789"
AUTHAPI_CONN, HTTP_CONN = "bench_authapi", "bench_http"

CONTENDERS = {
    "raw": "raw httpx.Client loop",
    "dlt": "dlt RESTClient.paginate",
    "http": "HttpOperator (providers-http)",
    "authapi_seq": "AuthApiOperator concurrency=1",
    "authapi_c8": "AuthApiOperator concurrency=8",
    "authapi_c8_file": "AuthApiOperator concurrency=8 + output_path",
}


# -- the server ----------------------------------------------------------------------------------------------------


def serve(total: int, record_bytes: int, latency: float, port: int) -> None:
    """Server process: run the paged API emulator, print its URL, serve until killed."""
    from tests.emulators.paged_api import PagedApiEmulator

    api = PagedApiEmulator(total=total, token=TOKEN, record_bytes=record_bytes, latency=latency, port=port)
    api.start()
    print(api.url, flush=True)
    threading.Event().wait()


class Server:
    """The emulator in its own process; stopped by its PID on exit."""

    def __init__(self, total: int, record_bytes: int, latency: float) -> None:
        self.args = [sys.executable, "-m", "bench.operators", "--serve", str(total), str(record_bytes), str(latency)]

    def __enter__(self) -> Server:
        self.process = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.__exit__()
            raise RuntimeError("the emulator did not start")
        return self

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc: object) -> None:
        os.kill(self.process.pid, signal.SIGTERM)
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
        "RUNTIME__LOG_LEVEL": "WARNING",  # dlt
    }


# -- the contenders: each prepares (imports, builds) and returns the pull to time -----------------------------------

Pull = Callable[[], Any]


def prepare_raw(url: str, page_size: int, out_dir: str) -> Pull:
    import httpx

    def pull() -> list[Any]:
        records: list[Any] = []
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            offset = 0
            while True:
                response = client.get("/offset", params={"offset": offset, "limit": page_size})
                response.raise_for_status()
                page = response.json()
                records.extend(page["items"])
                offset += page_size
                if offset >= page["total"]:
                    return records

    return pull


def prepare_dlt(url: str, page_size: int, out_dir: str) -> Pull:
    from dlt.sources.helpers.rest_client import RESTClient
    from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
    from dlt.sources.helpers.rest_client.paginators import OffsetPaginator

    def pull() -> list[Any]:
        client = RESTClient(
            base_url=url,
            auth=BearerTokenAuth(TOKEN),
            paginator=OffsetPaginator(limit=page_size, total_path="total"),
            data_selector="items",
        )
        return [record for page in client.paginate("/offset") for record in page]

    return pull


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


def prepare_http(url: str, page_size: int, out_dir: str) -> Pull:
    from airflow.providers.http.operators.http import HttpOperator

    def pull() -> Any:
        return HttpOperator(
            task_id="http",
            http_conn_id=HTTP_CONN,
            method="GET",
            endpoint="/offset",
            data={"offset": 0, "limit": page_size},
            headers={"Authorization": f"Bearer {TOKEN}"},
            pagination_function=next_offset_page,
            response_filter=all_items,
        ).execute({})

    return pull


def prepare_authapi(concurrency: int, to_file: bool) -> Callable[[str, int, str], Pull]:
    def prepare(url: str, page_size: int, out_dir: str) -> Pull:
        import airflow_provider_authapi.hooks.authapi  # noqa: F401  (imported before the clock starts)
        from airflow_provider_authapi.operators import AuthApiOperator

        if to_file:  # the first ObjectStoragePath write imports fsspec, plugins (~1.4 s here): not the pull's cost
            from airflow.sdk import ObjectStoragePath

            from airflow_provider_authapi.api.output import JsonLinesWriter

            with JsonLinesWriter(ObjectStoragePath(f"file://{out_dir}/warm-up.jsonl")) as writer:
                writer.write_page([{"warm": "up"}])  # the first write loads the lineage plugins

        def pull() -> Any:
            return AuthApiOperator(
                task_id="authapi",
                authapi_conn_id=AUTHAPI_CONN,
                endpoint="/offset",
                pagination={"type": "offset", "limit": page_size},
                response_filter="items",
                concurrency=concurrency,
                output_path=f"file://{out_dir}/records.jsonl" if to_file else None,
            ).execute({})

        return pull

    return prepare


PREPARE: dict[str, Callable[[str, int, str], Pull]] = {
    "raw": prepare_raw,
    "dlt": prepare_dlt,
    "http": prepare_http,
    "authapi_seq": prepare_authapi(1, to_file=False),
    "authapi_c8": prepare_authapi(8, to_file=False),
    "authapi_c8_file": prepare_authapi(8, to_file=True),
}


# -- one pull, in a fresh child process ------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak RSS. `VmHWM` (the high-water mark) rather than `ru_maxrss`: Linux carries `ru_maxrss`
    over from the parent across fork + exec, so a child of a big parent would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def count_records(result: Any) -> tuple[int, Any, Any]:
    """(records, first id, last id) of a pull's result: a list of records, or an `output_path` summary."""
    if isinstance(result, dict) and "path" in result:
        count, first, last = 0, None, None
        with open(urlsplit(result["path"]).path if "://" in result["path"] else result["path"]) as lines:
            for line in lines:
                record = json.loads(line)
                first = record["id"] if first is None else first
                last, count = record["id"], count + 1
        assert count == result["records"], f"the file has {count} records, the summary says {result['records']}"
        return count, first, last
    return len(result), result[0]["id"] if result else None, result[-1]["id"] if result else None


def child(name: str, url: str, page_size: int) -> None:
    """Child process: one pull by contender `name`; print a JSON report."""
    os.environ.update(environment(url))
    with tempfile.TemporaryDirectory() as out_dir:
        pull = PREPARE[name](url, page_size, out_dir)
        before = peak_rss_mb()
        start = time.perf_counter()
        result = pull()
        seconds = time.perf_counter() - start
        peak = peak_rss_mb()
        records, first, last = count_records(result)
    print(json.dumps({"seconds": seconds, "rss_imports_mb": before, "rss_peak_mb": peak, "records": records,
                      "first_id": first, "last_id": last}), flush=True)  # fmt: skip


def dlt_python() -> Path:
    """The dlt virtualenv's interpreter; the virtualenv is made (and dlt installed) on first use."""
    python = DLT_VENV / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import dlt, httpx"], check=False).returncode == 0:
        return python
    print(f"Creating {DLT_VENV.relative_to(ROOT)} (dlt, httpx): once, takes a minute or two", flush=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", DLT_VENV], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "dlt", "httpx"], check=True)
    return python


def run_child(name: str, server: Server, page_size: int, total: int) -> dict[str, Any]:
    python = dlt_python() if name == "dlt" else Path(sys.executable)
    args = [python, "-m", "bench.operators", "--child", name, server.url, str(page_size)]
    cpu_before = server.cpu_seconds()
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["server_cpu_s"] = server.cpu_seconds() - cpu_before
    got = (report["records"], report["first_id"], report["last_id"])
    assert got == (total, 1, total), f"{name} returned {got} (records, first id, last id), expected {(total, 1, total)}"
    return report


# -- the run and its report ------------------------------------------------------------------------------------------


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    names = args.contenders
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    with Server(args.records, args.record_bytes, args.latency_ms / 1000) as server:
        if "dlt" in names:
            dlt_python()
        for round_ in range(args.repeat):
            for name in names:
                report = run_child(name, server, args.page_size, args.records)
                print(f"round {round_ + 1}/{args.repeat} {name}: {report['seconds']:.2f} s", flush=True)
                runs[name].append(report)
    return {
        "latency_ms": args.latency_ms,
        "records": args.records,
        "page_size": args.page_size,
        "pages": -(-args.records // args.page_size),
        "record_bytes": args.record_bytes,
        "repeat": args.repeat,
        "runs": runs,
        "median": {name: medians(reports) for name, reports in runs.items()},
    }


def medians(reports: list[dict[str, Any]]) -> dict[str, float]:
    return {key: statistics.median(report[key] for report in reports) for key in reports[0]}


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


def report(result: dict[str, Any]) -> str:
    median = result["median"]
    raw = median.get("raw", {}).get("seconds")
    lines = [
        f"{result['records']:,} records in {result['pages']:,} pages of {result['page_size']}, "
        f"{result['latency_ms']:g} ms latency per answer, median of {result['repeat']} (fresh process per pull)",
    ]
    rows = [
        ("contender", "median s", "time / raw", "peak RSS MB", "RSS growth MB", "records", "server CPU s", "runs s")
    ]
    for name, m in median.items():
        rows.append(
            (
                CONTENDERS[name],
                f"{m['seconds']:.2f}",
                f"{m['seconds'] / raw:.2f}" if raw else "-",
                f"{m['rss_peak_mb']:.0f}",
                f"{m['rss_peak_mb'] - m['rss_imports_mb']:.0f}",
                f"{int(m['records']):,}",
                f"{m['server_cpu_s']:.1f}",
                " ".join(f"{r['seconds']:.2f}" for r in result["runs"][name]),
            )
        )
    lines.append(table(rows))
    lines += targets(median)
    return "\n".join(lines)


def targets(median: dict[str, dict[str, float]]) -> list[str]:
    """The issue's targets, checked against this run."""
    lines: list[str] = []
    raw = median.get("raw", {}).get("seconds")
    if raw and "authapi_seq" in median:
        slower = median["authapi_seq"]["seconds"] / raw - 1
        lines.append(f"sequential within 10% of the raw loop: {slower:+.1%} -> {'met' if slower <= 0.10 else 'MISSED'}")
    if raw and "authapi_c8" in median:
        speedup = raw / median["authapi_c8"]["seconds"]
        lines.append(f"concurrency=8 vs the raw sequential loop: {speedup:.1f}x faster (target >= 6x at 20 ms)")
    if "authapi_c8" in median and "authapi_c8_file" in median:
        grow = {n: median[n]["rss_peak_mb"] - median[n]["rss_imports_mb"] for n in ("authapi_c8", "authapi_c8_file")}
        lines.append(
            f"RSS growth during the pull: {grow['authapi_c8']:.0f} MB in memory, "
            f"{grow['authapi_c8_file']:.0f} MB with output_path"
        )
    return lines


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 0)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="emulator sleep before each answer")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is reported")
    parser.add_argument("--record-bytes", type=int, default=0, help="padding per record")
    parser.add_argument("--contenders", type=lambda s: s.split(","), default=list(CONTENDERS))
    args = parser.parse_args()
    unknown = set(args.contenders) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders {sorted(unknown)}; choose from {', '.join(CONTENDERS)}")
    result = benchmark(args)
    text = report(result)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"operators-{args.latency_ms:g}ms"
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2))
    (RESULTS / f"{stem}.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
