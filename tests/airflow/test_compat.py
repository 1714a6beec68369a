"""One place for what moved between Airflow 3.1, 3.2 and 3.3 (airflow_provider_authapi.compat), and the
`airflow-authapi` script that gives Airflow 3.1 (no provider CLI) the `airflow authapi` commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import airflow_provider_authapi
from airflow_provider_authapi import compat

PACKAGE = Path(airflow_provider_authapi.__file__).parent

# Imports of names that moved between versions: only compat.py may spell them.
MOVED = {
    "airflow.sdk.configuration": r"airflow\.sdk\.configuration",
    "BaseHook from airflow.sdk": r"from airflow\.sdk import [^\n]*\bBaseHook\b",
    "airflow.sdk.log": r"airflow\.sdk\.log\b",
    "the asset state store": r"\[\s*[\"']asset_state_store[\"']\s*\]",
    "the API server's security helpers": r"core_api\.security",
}


@pytest.mark.parametrize("what", sorted(MOVED))
def test_moved_names_are_imported_from_compat_only(what):
    pattern = re.compile(MOVED[what])
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "compat.py" and pattern.search(path.read_text())
    ]
    assert offenders == [], f"{what} imported outside compat.py"


def test_the_flags_match_the_installed_airflow():
    from importlib.metadata import version

    installed = tuple(int(part) for part in version("apache-airflow").split(".")[:2])
    assert compat.AIRFLOW_VERSION[:2] == installed
    assert compat.READS_CONN_FIELDS == compat.READS_PROVIDER_CLI == (installed >= (3, 2))
    assert compat.HAS_ASSET_STATE_STORE == compat.TASKS_LIST_VARIABLES == (installed >= (3, 3))
    assert compat.conf.getboolean("core", "load_examples") is False  # the harness's AIRFLOW__CORE__LOAD_EXAMPLES
    assert callable(compat.mask_secret) and callable(compat.redact) and compat.BaseHook.__name__ == "BaseHook"
    try:
        from airflow.sdk.execution_time.comms import GetVariableKeys  # noqa: F401
    except ImportError:
        assert not compat.TASKS_LIST_VARIABLES
    else:
        assert compat.TASKS_LIST_VARIABLES


def test_a_missing_feature_names_the_version_it_needs():
    error = compat.NeedsNewerAirflow("Listing tokens from a task", "3.3", "Name the connections.")
    version = ".".join(map(str, compat.AIRFLOW_VERSION))
    assert str(error) == f"Listing tokens from a task needs Airflow 3.3 or later; this is Airflow {version}. " + (
        "Name the connections."
    )
    assert isinstance(error, airflow_provider_authapi.auth.errors.AuthApiError)


def test_the_script_offers_the_airflow_authapi_commands():
    from airflow_provider_authapi.cli.main import build_parser

    args = build_parser().parse_args(["token", "refresh", "--all", "--expiring-within", "30d"])
    assert (args.all, args.expiring_within.days, args.conn_id) == (True, 30, None)
    assert build_parser().parse_args(["authorize", "crm", "--listen", "8765"]).listen == 8765

    # as a user of Airflow 3.1 runs it (the console script `airflow-authapi` calls the same main)
    run = subprocess.run(
        [sys.executable, "-m", "airflow_provider_authapi.cli", "token", "refresh", "--all", "--expiring-within", "1x"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 2 and "is not a duration such as 30d" in run.stderr, run.stderr[-2000:]
    assert "\nusage: airflow-authapi token refresh" in "\n" + run.stderr
