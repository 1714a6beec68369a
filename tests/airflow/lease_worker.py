"""A separate OS process that takes its turn in the refresh queue N times and records when it had it.

Run as `python -m tests.airflow.lease_worker CONN_ID ROUNDS OUT_FILE COUNTER_FILE [lease]` with the harness's
Airflow environment: it uses the metadata DB, as a CLI or server process would. With `lease` it takes turns
through the lease (`LeaseQueue`, the queue where the Task SDK cannot list keys), whatever this Airflow offers.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from airflow_provider_authapi.auth.tokens import LeaseQueue
from airflow_provider_authapi.store import VariableTokenStore
from airflow_provider_authapi.store.variables import lease_delay, queue_variable_prefix


def main(conn_id: str, rounds: int, out_file: str, counter_file: str, design: str = "") -> None:
    store = VariableTokenStore(conn_id, "fp")
    queue = store.queue
    if design == "lease":
        queue = LeaseQueue(store.registers, queue_variable_prefix(conn_id), store.meter, delay=lease_delay())
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
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], *sys.argv[5:])
