"""Reading a connection saved from an untouched form logs no "Skipping masking for a secret as it's too short".

Airflow's masker registers every extra value of a connection it reads, and warns (once per process, in every task
log) about a string shorter than its minimum before it looks at the key's name. A default the form saves, such as
`test_endpoint: "/"` or `request_format: "json"`, made every read warn; the form now saves no such default."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from airflow_provider_authapi.connections import CONNECTION_TYPES
from airflow_provider_authapi.connections.fields import GENERIC_TYPES, MASKER_MIN_LENGTH
from tests.conftest import AIRFLOW_ENV, ROOT

WARNING = "Skipping masking for a secret as it's too short"

# Read each connection as a task does (the Task SDK's BaseHook, which masks its secrets), then through the hook.
READER = """
import sys
from airflow.sdk import BaseHook
from airflow_provider_authapi.hooks.authapi import AuthApiHook
for conn_id in sys.argv[1:]:
    BaseHook.get_connection(conn_id)
    AuthApiHook(conn_id).config
print("read", len(sys.argv) - 1)
"""


def as_saved_by_an_untouched_form(conn_type: str) -> dict:
    """The connection a person saves after filling only URL, login and password: every shown default saved."""
    fields = CONNECTION_TYPES[conn_type].provider_info()["conn-fields"]
    extra = {name: field["schema"]["default"] for name, field in fields.items() if "default" in field["schema"]}
    if conn_type == "authapi_oauth2":
        extra["login_url"] = "/oauth/token"
    if conn_type == "authapi_token":
        extra["login_url"] = "/api/login"
    if conn_type == "authapi_oauth1":
        extra.update(token_id="token-id-0123456789", token_secret="token-secret-0123456789")
    return {
        "conn_type": conn_type,
        "host": "http://127.0.0.1:9",
        "login": "client-0123",
        "password": "secret-0123456789",
        "extra": extra,
    }


def read_in_a_new_process(connections: dict[str, dict]) -> str:
    env = {**os.environ, **AIRFLOW_ENV, "PYTHONPATH": str(ROOT)}
    env.update({f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn) for conn_id, conn in connections.items()})
    done = subprocess.run(
        [sys.executable, "-c", READER, *connections], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and f"read {len(connections)}" in done.stdout, done.stderr[-2000:]
    return done.stdout + done.stderr


def test_the_masker_minimum_is_the_installed_airflows():
    from airflow._shared.secrets_masker import secrets_masker

    assert secrets_masker._secrets_masker().min_length_to_mask == MASKER_MIN_LENGTH


def test_no_connection_saved_from_an_untouched_form_makes_a_read_warn():
    connections = {f"warn_{conn_type}": as_saved_by_an_untouched_form(conn_type) for conn_type in GENERIC_TYPES}
    assert "test_endpoint" not in connections["warn_authapi_none"]["extra"]
    assert WARNING not in read_in_a_new_process(connections)
    # The check can fail: the default the form used to save makes the same read warn.
    old = {**connections["warn_authapi_none"], "extra": {"test_endpoint": "/"}}
    assert WARNING in read_in_a_new_process({"warn_old_default": old})
