"""A separate OS process that forces N token refreshes through AuthApiHook, calling the API after each.

Run as `python -m tests.airflow.refresh_worker CONN_ID ROUNDS OUT_FILE` with the harness's Airflow environment
and the connection in `AIRFLOW_CONN_<ID>`; it uses the metadata DB, as a CLI or server process would.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from airflow_provider_authapi.hooks.authapi import AuthApiHook


def main(conn_id: str, rounds: int, out_file: str) -> None:
    hook = AuthApiHook(conn_id)
    hook.store.settle = 0.3
    calls_ok = 0
    for _ in range(rounds):
        time.sleep(random.uniform(0, 0.3))
        hook.get_token(force_refresh=True)
        calls_ok += hook.request("GET", "/api/whoami").status_code == 200
    hook.close()
    Path(out_file).write_text(json.dumps({"refreshes": hook.token_manager.token_requests, "calls_ok": calls_ok}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
