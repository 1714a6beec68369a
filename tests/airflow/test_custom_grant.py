"""A grant and a request signer of the user's own in real Airflow (issue 26 item 1): the connection names them by
dotted path (`grant_class`, `auth_class`) or the hook is given them, and they get what built-in grants get: the
token in the shared cache (a Variable, through the Task SDK in tasks), reused by other tasks and other OS
processes with no further login, the token page's and CLI's view of it, and the masking of every secret."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.compat import READS_PROVIDER_CLI
from airflow_provider_authapi.hooks.authapi import ApiCall, AuthApiHook, reset_token_managers
from airflow_provider_authapi.triggers.authapi import AuthApiTrigger
from tests.conftest import ROOT, run_dag
from tests.custom_grants import OddLoginGrant
from tests.emulators.odd_login import OddLoginServer
from tests.stored_tokens import stored_record

GRANT = "tests.custom_grants.OddLoginGrant"
VENDOR_TOKEN = "vendor-token-0123456789abcdef"  # an extra of the user's own, named like a secret
SIGNING_SECRET = "signing-secret-0123456789abcdef"
AUTHAPI_CLI = [sys.executable, "-m", "airflow", "authapi"] if READS_PROVIDER_CLI else [
    sys.executable, "-m", "airflow_provider_authapi.cli"
]  # fmt: skip


@pytest.fixture
def odd(airflow_db) -> Iterator[OddLoginServer]:
    reset_token_managers()
    with OddLoginServer() as server:
        yield server
    reset_token_managers()


def define(set_connection, conn_id: str, server: OddLoginServer, **extra) -> None:
    """A token login connection whose login is the user's own XML session login."""
    set_connection(conn_id, conn_type="authapi_token", host=server.url, login=server.user, password=server.pin,
                   extra={"grant_class": GRANT, "vendor_token": VENDOR_TOKEN, **extra})  # fmt: skip


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}
    return subprocess.run([*AUTHAPI_CLI, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)


def test_the_token_lands_in_the_shared_cache_and_other_tasks_and_processes_reuse_it(odd, set_connection):
    define(set_connection, "odd_cache", odd)
    run = run_dag("token_cache_shared", conf={"conn_id": "odd_cache"})
    assert run.state == "success", run.task_states()
    assert run.xcom("summarize") == {"subjects": [odd.user], "token_requests": [1, 0, 0]}  # three task processes
    record = stored_record("odd_cache")
    live = record["token"]["access_token"]
    assert odd.tickets.check(live) is not None and record["token"]["refresh_token"] in odd.renewals.live()
    assert record["fingerprint"] == AuthApiHook("odd_cache").config.fingerprint()

    # Other OS processes (the CLI): a call through the cached token, and its status; no further login.
    called = cli("call", "odd_cache", "/api/whoami")
    assert called.returncode == 0 and f'"subject": "{odd.user}"' in called.stdout, called.stderr[-2000:]
    status = cli("token", "status", "odd_cache", "--json")
    assert status.returncode == 0, status.stderr[-2000:]
    lines = status.stdout.splitlines()  # Airflow may log warnings to stdout before the JSON
    (shown,) = json.loads("\n".join(lines[lines.index("[") :]))
    assert (shown["state"], shown["conn_type"], shown["has_refresh_token"]) == ("valid", "authapi_token", True)
    assert odd.logins == 1 and odd.renews == 0
    for result in (called, status):
        for secret in (live, odd.pin, VENDOR_TOKEN):
            assert secret not in result.stdout + result.stderr

    # Masked: every token, the password (the PIN) and the secret-named extra (dag.test ran the tasks here).
    from airflow.sdk.log import redact

    for secret in (live, record["token"]["refresh_token"], odd.pin, VENDOR_TOKEN):
        assert redact(f"logged {secret}") == "logged ***"


def test_a_hook_given_the_class_shares_the_cache_of_the_field(odd, set_connection):
    set_connection("odd_code", conn_type="authapi_token", host=odd.url, login=odd.user, password=odd.pin)
    hook = AuthApiHook("odd_code", grant=OddLoginGrant)  # no grant_class, no login_url: the class is enough
    assert hook.request("GET", "/api/whoami").json() == {"subject": odd.user}
    reset_token_managers()  # a new process, whose connection names the same class
    define(set_connection, "odd_code", odd, vendor_token=None)
    assert AuthApiHook("odd_code").request("GET", "/api/whoami").status_code == 200
    assert odd.logins == 1, "the fingerprint is the class's path and the settings: the same cache"


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("tests.custom_grants.NoSuchGrant", "module 'tests.custom_grants' has no 'NoSuchGrant'"),
        ("vendor_sdk.auth.Login", "module 'vendor_sdk.auth' of vendor_sdk.auth.Login was not found"),
        ("tests.custom_grants.HmacSigner", "is not a subclass of airflow_provider_authapi.auth.CustomGrant"),
    ],
)
def test_a_bad_grant_class_fails_naming_the_connection_and_the_field(odd, set_connection, path, problem):
    define(set_connection, "odd_bad", odd, grant_class=path)
    with pytest.raises(ConfigError) as caught:
        AuthApiHook("odd_bad").get_token()
    message = str(caught.value)
    assert message.startswith("connection 'odd_bad', field 'grant_class': ") and problem in message
    assert odd.pin not in message and VENDOR_TOKEN not in message and odd.logins == 0


def test_a_signer_named_by_auth_class_signs_the_hooks_requests_and_is_masked(odd, set_connection):
    set_connection("odd_signed", conn_type="authapi_none", host=odd.url, extra={
        "auth_class": "tests.custom_grants.HmacSigner", "signing_key_id": "key-1", "signing_secret": SIGNING_SECRET,
    })  # fmt: skip
    hook = AuthApiHook("odd_signed")
    assert hook.request("POST", "/api/signed", json={"n": 1}).json() == {"signed": True, "method": "POST"}
    assert odd.signed == [("POST", "/api/signed")]
    from airflow.sdk.log import redact

    assert redact(f"logged {SIGNING_SECRET}") == "logged ***"


def fire(conn_id: str, endpoint: str, **call) -> dict:
    """The first event of the trigger a deferred `AuthApiOperator` hands to the triggerer, run on an event loop."""
    trigger = AuthApiTrigger(**ApiCall(conn_id, endpoint, **call).to_dict())

    async def first() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("no event")

    return asyncio.run(first())


def test_in_the_triggerer_the_grant_and_the_signer_run_on_the_event_loop(odd, set_connection):
    OddLoginGrant.clients.clear()
    odd.signed_needs_ticket = True
    signer = {"auth_class": "tests.custom_grants.HmacSigner", "signing_key_id": "key-1"}
    define(set_connection, "odd_deferred", odd, grant_class="tests.custom_grants.AsyncOddLoginGrant", **signer,
           signing_secret=SIGNING_SECRET)  # fmt: skip
    event = fire("odd_deferred", "/api/signed", method="POST", json={"n": 1})
    assert event["status"] == "success", event
    assert event["result"] == {"signed": True, "method": "POST"} and odd.signed == [("POST", "/api/signed")]
    assert OddLoginGrant.clients == [httpx.AsyncClient] and odd.logins == 1  # its own afetch
    assert stored_record("odd_deferred")["token"]["access_token"]  # the triggerer's token, in the shared cache
