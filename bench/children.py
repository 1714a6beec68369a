"""Parent/child benchmark (issue 25 item 1). Run by hand, not a test:

    source .venv/bin/activate && python -m bench.children [--children 1000] [--issues 20] [--latency-ms 20]
        [--repeat 3] [--contenders c1,c8,c8_quarter]

The Jira emulator (`tests/emulators/jira.py`) serves `--children` projects of `--issues` issues each, sleeping
`--latency-ms` before every answer (its `delay`: a WAN round trip). Each contender runs `Nested.arun` (the engine
behind `AuthApiOperator(children=...)`): the project list (offset pages of 50) and, for each project, its issues
by `/rest/api/3/search/jql` (pages of 100 by `nextPageToken`, the project's key carried in), every page handed to
a `write_page` that appends it to a JSON Lines file (`JsonLinesWriter`). Contenders:

    c1          every project's search one after another (children concurrency 1)
    c8          eight at once (children concurrency 8)
    c8_quarter  eight at once, over the first quarter of the projects only (the parent's `max_pages`): the same
                run with a quarter of the children, for the memory column
    c8_list     eight at once, no `write_page`: every record returned as a list (as to XCom), the memory column's
                yardstick (it must grow with the children)

Every run is a fresh subprocess (imports, client and fetchers built before the clock starts), the contenders
taking turns for `--repeat` rounds against one emulator in its own process (a ThreadingHTTPServer: it would
otherwise share the GIL with the client), stopped by its PID at the end. Each file is read back after the clock
stops: every issue once, in project order, the project's key on each; c1's and c8's files must be identical.
Reported: median seconds, c1 / c8 (target: >= 6x at 20 ms), requests, peak RSS of the child (`VmHWM`) and its
growth over the RSS before the run (target: flat, c8 over all the children no more than c8_quarter). Nothing
leaves 127.0.0.1. Results are printed and written to bench/results/children.{json,txt}.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PROJECTS_PAGE, ISSUES_PAGE = 50, 100  # the Jira emulator's caps

CONTENDERS = {
    "c1": "children one after another (concurrency=1)",
    "c8": "children concurrency=8",
    "c8_quarter": "concurrency=8, a quarter of the children",
    "c8_list": "concurrency=8, records held in a list",
}


# -- the server ----------------------------------------------------------------------------------------------------


def serve(children: int, issues: int, latency: float) -> None:
    """Server process: run the Jira emulator, print its URL, serve until killed."""
    from tests.emulators.jira import JiraEmulator

    api = JiraEmulator(projects=children, issues_per_project=issues, delay=latency)
    api.start()
    print(api.url, flush=True)
    threading.Event().wait()


class Server:
    """The emulator in its own process; stopped by its PID on exit."""

    def __init__(self, children: int, issues: int, latency: float) -> None:
        self.args = [sys.executable, "-m", "bench.children", "--serve", str(children), str(issues), str(latency)]

    def __enter__(self) -> Server:
        self.process = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.__exit__()
            raise RuntimeError("the emulator did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        os.kill(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=10)


# -- one run, in a fresh child process ------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak RSS (`VmHWM`: Linux carries `ru_maxrss` over from the parent across fork + exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def settings(name: str, children: int) -> tuple[int, int]:
    """(children concurrency, parent pages) of contender `name`."""
    pages = -(-children // PROJECTS_PAGE)
    return {"c1": (1, pages), "c8": (8, pages), "c8_quarter": (8, max(1, pages // 4)), "c8_list": (8, pages)}[name]


def child(name: str, url: str, children: int, issues_each: int) -> None:
    """Child process: one run by contender `name`; print a JSON report."""
    import httpx

    from airflow_provider_authapi.api.children import ChildRequests, Nested, QuietLog
    from airflow_provider_authapi.api.fetch import Fetcher
    from airflow_provider_authapi.api.output import JsonLinesWriter
    from airflow_provider_authapi.api.pagination import RequestSpec
    from tests.emulators.jira import API_TOKEN, EMAIL

    concurrency, parent_pages = settings(name, children)
    projects = {"type": "offset", "offset_param": "startAt", "limit_param": "maxResults", "limit": PROJECTS_PAGE}
    parent = Fetcher(RequestSpec("GET", "/rest/api/3/project/search"), paginator=projects, response_filter="values",
                     max_pages=parent_pages)  # fmt: skip
    issues = ChildRequests(
        "/rest/api/3/search/jql",
        query_params={"jql": "project = {key} ORDER BY created", "fields": "summary", "maxResults": ISSUES_PAGE},
        pagination={"type": "cursor", "cursor_path": "nextPageToken", "cursor_param": "nextPageToken"},
        response_filter="issues",
        include={"project_key": "key"},
        concurrency=concurrency,
    )

    def make_fetcher(request: RequestSpec, spec: ChildRequests) -> Fetcher:  # as ApiCall.fetcher builds them
        return Fetcher(request, paginator=spec.pagination, response_filter=spec.response_filter, retry=parent.retry,
                       logger=QuietLog(parent.log), pace=parent.pace)  # fmt: skip

    nested = Nested(parent, issues, make_fetcher)
    with tempfile.TemporaryDirectory(prefix="authapi-bench-children-") as out_dir:
        path = Path(out_dir) / "issues.jsonl"

        async def run() -> float:
            async with httpx.AsyncClient(base_url=url, auth=(EMAIL, API_TOKEN), timeout=60) as client:
                with JsonLinesWriter(path) as writer:

                    async def write_page(records: list[Any]) -> None:
                        writer.write_page(records)

                    marks["before"] = peak_rss_mb()  # the client (its TLS context) and the file made
                    start = time.perf_counter()
                    if name == "c8_list":
                        held = await nested.arun(client)
                        seconds, marks["peak"] = time.perf_counter() - start, peak_rss_mb()
                        writer.write_page(held)  # for the checks, after the clock and the peak
                        return seconds
                    await nested.arun(client, write_page)
                    return time.perf_counter() - start

        marks: dict[str, float] = {}
        seconds = asyncio.run(run())
        before, peak = marks["before"], marks.get("peak") or peak_rss_mb()
        data = path.read_bytes()
    records = [json.loads(line) for line in data.splitlines()]
    expected = [f"P{p}-{n}" for p in range(1, nested.children_fetched + 1) for n in range(1, issues_each + 1)]
    in_order = [r["key"] for r in records] == expected and all(r["project_key"] == r["key"][: r["key"].index("-")]
                                                               for r in records)  # fmt: skip
    print(json.dumps({"seconds": seconds, "rss_before_mb": before, "rss_peak_mb": peak, "records": len(records),
                      "children": nested.children_fetched, "pages": nested.pages, "in_order": in_order,
                      "sha256": hashlib.sha256(data).hexdigest()}), flush=True)  # fmt: skip


def run_child(name: str, server: Server, children: int, issues: int) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.children", "--child", name, server.url, str(children), str(issues)]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the run and its report ------------------------------------------------------------------------------------------


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in args.contenders}
    with Server(args.children, args.issues, args.latency_ms / 1000) as server:
        for round_ in range(args.repeat):
            for name in args.contenders:
                report = run_child(name, server, args.children, args.issues)
                print(f"round {round_ + 1}/{args.repeat} {name}: {report['seconds']:.2f} s", flush=True)
                expected = min(args.children, settings(name, args.children)[1] * PROJECTS_PAGE)
                assert report["children"] == expected, f"{name}: {report['children']} children, expected {expected}"
                assert report["records"] == expected * args.issues, f"{name}: {report['records']} records"
                assert report["in_order"], f"{name}: issues out of project order, or a project key wrong"
                runs[name].append(report)
    full = {report["sha256"] for name in ("c1", "c8") for report in runs.get(name, [])}
    assert len(full) <= 1, "c1's and c8's files differ"
    return {
        "children": args.children,
        "issues": args.issues,
        "latency_ms": args.latency_ms,
        "repeat": args.repeat,
        "runs": runs,
        "median": {name: medians(reports) for name, reports in runs.items()},
    }


def medians(reports: list[dict[str, Any]]) -> dict[str, float]:
    numbers = [key for key, value in reports[0].items() if type(value) in (int, float)]
    return {key: statistics.median(report[key] for report in reports) for key in numbers}


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


def report(result: dict[str, Any]) -> str:
    median = result["median"]
    lines = [
        f"{result['children']:,} children of {result['issues']} issues each, {result['latency_ms']:g} ms per answer, "
        f"to a JSON Lines file; median of {result['repeat']} (fresh process per run)"
    ]
    rows = [("contender", "children", "records", "median s", "peak RSS MB", "RSS growth MB", "runs s")]
    for name, m in median.items():
        rows.append(
            (
                CONTENDERS[name],
                f"{int(m['children']):,}",
                f"{int(m['records']):,}",
                f"{m['seconds']:.2f}",
                f"{m['rss_peak_mb']:.0f}",
                f"{m['rss_peak_mb'] - m['rss_before_mb']:.1f}",
                " ".join(f"{r['seconds']:.2f}" for r in result["runs"][name]),
            )
        )
    lines.append(table(rows))
    if "c1" in median and "c8" in median:
        ratio = median["c1"]["seconds"] / median["c8"]["seconds"]
        lines.append(f"concurrency=8 vs one after another: {ratio:.1f}x faster (target >= 6x) -> "
                     f"{'met' if ratio >= 6 else 'MISSED'}")  # fmt: skip
    if "c8" in median and "c8_quarter" in median:
        grow = {n: median[n]["rss_peak_mb"] - median[n]["rss_before_mb"] for n in ("c8", "c8_quarter")}
        lines.append(
            f"RSS growth at concurrency=8: {grow['c8_quarter']:.1f} MB for {int(median['c8_quarter']['children']):,} "
            f"children, {grow['c8']:.1f} MB for {int(median['c8']['children']):,}"
        )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=1000, help="projects, one child request each")
    parser.add_argument("--issues", type=int, default=20, help="issues per project")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="emulator sleep before each answer")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is reported")
    parser.add_argument("--contenders", type=lambda s: s.split(","), default=list(CONTENDERS))
    args = parser.parse_args()
    unknown = set(args.contenders) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders {sorted(unknown)}; choose from {', '.join(CONTENDERS)}")
    result = benchmark(args)
    text = report(result)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "children.json").write_text(json.dumps(result, indent=2))
    (RESULTS / "children.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
