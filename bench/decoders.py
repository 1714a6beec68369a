"""Decoder benchmark (issue 25 item 4). Run by hand, not a test:

    source .venv/bin/activate && python -m bench.decoders [--megabytes 500] [--repeat 1] [--chunk 65536]
        [--contenders authapi,dictreader]

Writes a CSV of about `--megabytes` MB under /tmp (the exports emulator's generated rows: id, a 48-digit hex
token, name, amount, note; every 10th note quoted with a comma, doubled quotes and a line break), deleted at the
end, and decodes it to JSON Lines (`json.dumps` per row) with each contender:

    authapi     `CsvDecoder().records(...)` over the file's bytes, `--chunk` bytes at a time (what a streamed
                HTTP body hands it)
    dictreader  `csv.DictReader` over the same file opened as text (`newline=""`, UTF-8): the baseline

Both write their lines to the same sink, which hashes them: the two outputs must be identical, row for row.
Every run is a fresh subprocess, the contenders taking turns for `--repeat` rounds; reported: median seconds, the
ratio to DictReader (target: within 1.5x), CPU seconds (less disturbed by a busy machine than wall time), rows,
peak RSS of the child (`VmHWM`) and its growth over the RSS before the loop (target: flat, a few MB whatever the
file's size). Results are printed and written to bench/results/decoders.{json,txt}.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BYTES_PER_ROW = 92  # about, for the generated rows up to a few million

CONTENDERS = {
    "authapi": "CsvDecoder().records over byte chunks",
    "dictreader": "csv.DictReader over the text file",
}


def generate(path: Path, megabytes: float) -> tuple[int, int]:
    """Write the CSV; return (rows, bytes)."""
    from tests.emulators.exports import generated_csv

    rows = int(megabytes * 1_000_000 / BYTES_PER_ROW)
    size = 0
    with path.open("wb") as out:
        for text in generated_csv(rows, batch=10_000):
            data = text.encode()
            out.write(data)
            size += len(data)
    return rows, size


class Sink:
    """Where each contender writes its JSON Lines: hashed, in batches, so both pay the same for output."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.lines: list[str] = []
        self.count = 0

    def write(self, line: str) -> None:
        self.lines.append(line)
        if len(self.lines) == 10_000:
            self.flush()

    def flush(self) -> None:
        self.digest.update("".join(self.lines).encode())
        self.count += len(self.lines)
        self.lines.clear()


# -- the contenders: each returns the loop to time ------------------------------------------------------------------


def prepare_authapi(path: Path, chunk: int) -> Callable[[Sink], None]:
    from airflow_provider_authapi.api.decoders import CsvDecoder

    def run(sink: Sink) -> None:
        dumps, write = json.dumps, sink.write
        with path.open("rb", buffering=0) as body:
            chunks: Iterator[bytes] = iter(lambda: body.read(chunk), b"")
            for record in CsvDecoder().records(chunks):
                write(dumps(record) + "\n")

    return run


def prepare_dictreader(path: Path, chunk: int) -> Callable[[Sink], None]:
    def run(sink: Sink) -> None:
        dumps, write = json.dumps, sink.write
        with path.open(newline="", encoding="utf-8") as text:
            for record in csv.DictReader(text):
                write(dumps(record) + "\n")

    return run


PREPARE: dict[str, Callable[[Path, int], Callable[[Sink], None]]] = {
    "authapi": prepare_authapi,
    "dictreader": prepare_dictreader,
}


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


def child(name: str, path: str, chunk: int) -> None:
    """Child process: one decode by contender `name`; print a JSON report."""
    run = PREPARE[name](Path(path), chunk)
    sink = Sink()
    before = peak_rss_mb()
    start, cpu_start = time.perf_counter(), time.process_time()
    run(sink)
    sink.flush()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, "rss_before_mb": before, "rss_peak_mb": peak,
                      "rows": sink.count, "sha256": sink.digest.hexdigest()}), flush=True)  # fmt: skip


def run_child(name: str, path: Path, chunk: int) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.decoders", "--child", name, str(path), str(chunk)]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the run and its report ------------------------------------------------------------------------------------------


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in args.contenders}
    directory = Path(tempfile.mkdtemp(prefix="authapi-bench-decoders-", dir="/tmp"))
    path = directory / "export.csv"
    try:
        start = time.perf_counter()
        rows, size = generate(path, args.megabytes)
        print(f"generated {size / 1e6:.0f} MB, {rows:,} rows in {time.perf_counter() - start:.0f} s", flush=True)
        for round_ in range(args.repeat):
            for name in args.contenders:
                report = run_child(name, path, args.chunk)
                print(f"round {round_ + 1}/{args.repeat} {name}: {report['seconds']:.2f} s", flush=True)
                assert report["rows"] == rows, f"{name} decoded {report['rows']} rows, the file has {rows}"
                runs[name].append(report)
    finally:
        path.unlink(missing_ok=True)
        directory.rmdir()
    digests = {report["sha256"] for reports in runs.values() for report in reports}
    assert len(digests) == 1, "the contenders' JSON Lines differ"
    return {
        "megabytes": size / 1e6,
        "rows": rows,
        "chunk": args.chunk,
        "repeat": args.repeat,
        "runs": runs,
        "median": {name: medians(reports) for name, reports in runs.items()},
    }


def medians(reports: list[dict[str, Any]]) -> dict[str, float]:
    return {key: statistics.median(report[key] for report in reports) for key in reports[0] if key != "sha256"}


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


def report(result: dict[str, Any]) -> str:
    median = result["median"]
    base = median.get("dictreader", {}).get("seconds")
    lines = [
        f"{result['megabytes']:.0f} MB CSV, {result['rows']:,} rows, to JSON Lines; chunks of {result['chunk']:,} "
        f"bytes; median of {result['repeat']} (fresh process per run); identical output"
    ]
    rows = [("contender", "median s", "x DictReader", "CPU s", "x DictReader", "MB/s", "peak RSS MB", "RSS growth MB",
             "runs s")]  # fmt: skip
    base_cpu = median.get("dictreader", {}).get("cpu_s")
    for name, m in median.items():
        rows.append(
            (
                CONTENDERS[name],
                f"{m['seconds']:.2f}",
                f"{m['seconds'] / base:.2f}" if base else "-",
                f"{m['cpu_s']:.2f}",
                f"{m['cpu_s'] / base_cpu:.2f}" if base_cpu else "-",
                f"{result['megabytes'] / m['seconds']:.1f}",
                f"{m['rss_peak_mb']:.0f}",
                f"{m['rss_peak_mb'] - m['rss_before_mb']:.0f}",
                " ".join(f"{r['seconds']:.2f}" for r in result["runs"][name]),
            )
        )
    lines.append(table(rows))
    if base and base_cpu and "authapi" in median:
        ratio, cpu_ratio = median["authapi"]["seconds"] / base, median["authapi"]["cpu_s"] / base_cpu
        met = "met" if ratio <= 1.5 else "MISSED"
        lines.append(f"CsvDecoder within 1.5x of DictReader: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU -> {met}")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=500, help="size of the generated CSV")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the median is reported")
    parser.add_argument("--chunk", type=int, default=65536, help="bytes per chunk handed to CsvDecoder")
    parser.add_argument("--contenders", type=lambda s: s.split(","), default=list(CONTENDERS))
    args = parser.parse_args()
    unknown = set(args.contenders) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders {sorted(unknown)}; choose from {', '.join(CONTENDERS)}")
    result = benchmark(args)
    text = report(result)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "decoders.json").write_text(json.dumps(result, indent=2))
    (RESULTS / "decoders.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
