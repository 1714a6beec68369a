"""Airflow logs "Connection schemes (type: authapi_oauth2) shall not contain '_' according to RFC3986" from
`Connection.get_uri()`, which every connection fetch in a server process calls (the secrets cache write). The
docs' `[logging] namespace_levels` entry (docs/test-button.md) keeps exactly that logger's warnings out; its
errors still show."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from airflow_provider_authapi.compat import AIRFLOW_V_3_2_PLUS
from tests import manual
from tests.conftest import conn_env

FETCH = (
    "import airflow\n"  # configures logging from [logging], as every Airflow process does at start
    "from airflow.models.connection import Connection\n"
    "Connection.get_connection_from_secrets('rfc_oauth2')\n"
    "print('fetched')\n"
)
WARNING = "Connection schemes (type: authapi_oauth2) shall not contain '_' according to RFC3986"
SETTING = "airflow.models.connection.Connection=ERROR"  # as in docs/test-button.md


def fetch(airflow_home_env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-c", FETCH], env=airflow_home_env, capture_output=True, text=True)
    assert result.returncode == 0 and "fetched" in result.stdout, result.stderr
    return result.stdout + result.stderr


@pytest.mark.skipif(not AIRFLOW_V_3_2_PLUS, reason="[logging] namespace_levels is read from Airflow 3.2 on")
def test_namespace_levels_keeps_the_warning_out(airflow_db):
    assert f"namespace_levels = {SETTING}" in manual.block("test-button")
    name, value = conn_env("rfc_oauth2", conn_type="authapi_oauth2", host="https://api.example.com")
    env = {**os.environ, name: value, "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}
    env.pop("AIRFLOW__LOGGING__NAMESPACE_LEVELS", None)
    assert WARNING in fetch(env), "Airflow no longer warns: drop the docs' setting and this test"
    assert WARNING not in fetch({**env, "AIRFLOW__LOGGING__NAMESPACE_LEVELS": SETTING})
