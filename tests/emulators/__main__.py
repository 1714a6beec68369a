"""Run one real system's emulator in the foreground, for the demo and for trying the provider by hand.

    python -m tests.emulators dastra [--port 0] [--conn-id dastra] [--env-file conn.env]

Prints the emulator's URL, credentials and the Airflow connection to create; with `--env-file`, also writes
`AIRFLOW_CONN_<CONN_ID>='<json>'` there (a line to `source`). Stops on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import sys
import threading

from tests.emulators.systems import SYSTEMS, start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.emulators", description=__doc__.splitlines()[0])
    parser.add_argument("system", choices=sorted(SYSTEMS))
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--conn-id", help="connection id for --env-file (default: the system's name)")
    parser.add_argument("--env-file", help="write AIRFLOW_CONN_<CONN_ID>='<json>' to this file once listening")
    args = parser.parse_args(argv)

    emulator = start(args.system, port=args.port)
    description = emulator.describe()
    print(json.dumps(description, indent=2), flush=True)
    if args.env_file:
        conn_id = (args.conn_id or args.system).upper()
        line = f"export AIRFLOW_CONN_{conn_id}={shlex.quote(json.dumps(emulator.airflow_connection()))}\n"
        temporary = f"{args.env_file}.tmp"
        with open(temporary, "w") as handle:
            handle.write(line)
        os.replace(temporary, args.env_file)  # appears complete or not at all: the demo waits for it

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
