"""A separate OS process that runs `AuthApiOperator(decoder="csv+gzip", output_path=...)` on a generated export
and reports how far its resident memory grew: the test's emulator (and its gzip state) stays in the parent.

Run as `python -m tests.airflow.decoder_memory_worker CONN_ID OUT_DIR ROWS` with the harness's Airflow
environment and `AIRFLOW_CONN_<CONN_ID>` set. Prints one JSON line: the result, the resident bytes after a small
warm-up run (imports, client, connection all made), and the peak resident bytes of the run that follows (Linux:
the peak is reset to the current size first, through /proc/self/clear_refs, so what the imports took is not in it).
"""

from __future__ import annotations

import gc
import json
import sys

from airflow_provider_authapi.operators.authapi import AuthApiOperator


def status_bytes(field: str) -> int:
    """`VmRSS` (resident now) or `VmHWM` (the peak since the last reset) from /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(field)


def export(conn_id: str, out_dir: str, rows: int, name: str) -> dict:
    operator = AuthApiOperator(
        task_id=name,
        authapi_conn_id=conn_id,
        endpoint="/generated.csv.gz",
        query_params={"rows": rows},
        decoder="csv+gzip",
        output_path=f"file://{out_dir}/{name}.jsonl",
    )
    return operator.execute({})


def main(conn_id: str, out_dir: str, rows: int) -> None:
    export(conn_id, out_dir, 5000, "warm_up")
    gc.collect()
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # the peak (VmHWM) starts again from the resident size now
    baseline = status_bytes("VmRSS")
    result = export(conn_id, out_dir, rows, "generated")
    peak = status_bytes("VmHWM")
    print(json.dumps({"result": result, "baseline": baseline, "peak": peak}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
