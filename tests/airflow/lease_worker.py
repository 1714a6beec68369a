"""A separate OS process that takes the refresh lease N times and records when it held it.

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
    store = VariableTokenStore(conn_id, "fp", settle=0.3, poll=0.05, lease_wait=300)
    counter = Path(counter_file)
    spans = []
    for _ in range(rounds):
        with store.lease():
            start = time.time()
            # A deliberately racy read-modify-write: only mutual exclusion keeps the count right.
            value = int(counter.read_text() or "0")
            time.sleep(0.05)
            counter.write_text(str(value + 1))
            spans.append((start, time.time()))
    Path(out_file).write_text(json.dumps(spans))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
