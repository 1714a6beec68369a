"""A separate OS process that forces N token refreshes through AuthApiHook, calling the API after each.

Run as `python -m tests.airflow.refresh_worker CONN_ID ROUNDS OUT_FILE [lease]` with the harness's Airflow
environment and the connection in `AIRFLOW_CONN_<ID>`; it uses the metadata DB, as a CLI or server process
would. With `lease` its token store takes turns through the lease, as on an Airflow whose Task SDK cannot list
Variable keys (before 3.3), whatever this Airflow offers.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from airflow_provider_authapi.hooks.authapi import AuthApiHook
from airflow_provider_authapi.store import variables


def main(conn_id: str, rounds: int, out_file: str, design: str = "") -> None:
    if design == "lease":
        variables.task_sdk_lists_keys = lambda: False  # as on Airflow 3.1 / 3.2
    hook = AuthApiHook(conn_id)
    queue = hook.token_manager.store.queue
    calls_ok = 0
    for _ in range(rounds):
        time.sleep(random.uniform(0, 0.3))
        hook.get_token(force_refresh=True)
        calls_ok += hook.request("GET", "/api/whoami").status_code == 200
    hook.close()
    result = {"refreshes": hook.token_manager.token_requests, "calls_ok": calls_ok, "queue": type(queue).__name__}
    Path(out_file).write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], *sys.argv[4:])
