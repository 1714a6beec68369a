"""A separate OS process that takes its turn in the refresh queue N times and records when it had it.

Run as `python -m tests.airflow.lease_worker CONN_ID ROUNDS OUT_FILE COUNTER_FILE` with the harness's
Airflow environment: it uses the metadata DB, as a CLI or server process would.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from airflow_provider_authapi.store import VariableTokenStore


def main(conn_id: str, rounds: int, out_file: str, counter_file: str) -> None:
    queue = VariableTokenStore(conn_id, "fp").queue
    counter = Path(counter_file)
    spans = []
    for _ in range(rounds):
        ticket = queue.enter()
        while queue.blocker(ticket) is not None:
            time.sleep(0.02)
        start = time.time()
        # A deliberately racy read-modify-write: only mutual exclusion keeps the count right.
        value = int(counter.read_text() or "0")
        time.sleep(0.05)
        counter.write_text(str(value + 1))
        spans.append((start, time.time()))
        queue.leave(ticket)
    Path(out_file).write_text(json.dumps(spans))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
