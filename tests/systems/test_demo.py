"""The README's first command, `bash scripts/demo.sh`, runs the Dastra example DAG against its emulator."""

from __future__ import annotations

import os
import subprocess

from tests.conftest import ROOT


def test_readme_demo_command_runs_the_dastra_dag(tmp_path):
    assert "    bash scripts/demo.sh\n" in (ROOT / "README.md").read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}  # not the test harness's home
    done = subprocess.run(
        ["bash", "scripts/demo.sh"],
        cwd=ROOT,
        env={**env, "DEMO_HOME": str(tmp_path / "demo-home")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = done.stdout[done.stdout.index("== results pushed to XCom") :]
    assert 'summarize: {"workspaces": 3, "default": "Workspace 1"' in results
    assert results.rstrip().endswith(": success")
    assert "dastra-private-key" not in done.stdout + done.stderr  # the emulator's client secret
