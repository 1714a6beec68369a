"""A login of your own end to end: the example DAG `custom_grant` against the odd-login emulator, its grant and
signer (`dags_examples/odd_login_auth.py`) named by the connection as `python -m tests.emulators custom_grant`
writes it. One login serves every task of the run and the next run; a session the server dropped is renewed once
with the rotating renewal token; no secret reaches XCom."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_authapi.hooks.authapi import reset_token_managers
from tests.conftest import run_dag
from tests.emulators.odd_login import OddLoginServer
from tests.emulators.systems import emulator_class
from tests.stored_tokens import stored_token


@pytest.fixture
def odd() -> Iterator[OddLoginServer]:
    reset_token_managers()
    with emulator_class("custom_grant").standalone() as server:  # the demo's server
        yield server
    reset_token_managers()


def test_the_signed_endpoint_wants_the_ticket_and_the_signature(odd):
    from dags_examples.odd_login_auth import HmacSigner, OddLoginGrant

    extra = odd.airflow_connection()["extra"]
    signer = HmacSigner(extra)
    with httpx.Client(base_url=odd.url) as client:
        assert client.post("/api/signed", json={}, auth=signer).status_code == 401  # signed, no ticket
        ticket = OddLoginGrant().fetch(client, {"login": odd.user, "password": odd.pin})["access_token"]
        bearer = {"Authorization": f"Bearer {ticket}"}
        assert client.post("/api/signed", json={}, headers=bearer).status_code == 401  # a ticket, unsigned
        assert client.post("/api/signed", json={}, headers=bearer, auth=signer).json()["signed"] is True
        wrong = HmacSigner({**extra, "signing_secret": "another-secret-0123456789abcdef"})
        assert client.post("/api/signed", json={}, headers=bearer, auth=wrong).status_code == 401


def test_custom_grant_dag_logs_in_once_for_every_task_and_run(airflow_db, odd, set_connection):
    set_connection("odd_login", **odd.airflow_connection())
    run = run_dag("custom_grant")
    assert run.state == "success", run.task_states()
    assert run.xcom("whoami") == {"subject": odd.user}
    assert run.xcom("signed_report") == {"subject": odd.user, "signed": True, "method": "POST"}
    assert (odd.logins, odd.renews) == (1, 0), "one login for both tasks"
    assert odd.signed == [("POST", "/api/signed")]
    first = stored_token("odd_login")
    assert odd.tickets.check(first["access_token"]) is not None  # the grant's ticket, in the shared Variable

    # A new process (nothing in memory): the ticket comes from the Variable, no second login.
    reset_token_managers()
    again = run_dag("custom_grant")
    assert again.state == "success", again.task_states()
    assert (odd.logins, odd.renews) == (1, 0)

    # The server drops the session early: one refused call, one renewal through the grant's refresh (the
    # renewal rotates, and the new one is kept), the call replayed; still no second login.
    odd.advance(601)
    reset_token_managers()
    renewed = run_dag("custom_grant")
    assert renewed.state == "success", renewed.task_states()
    assert (odd.logins, odd.renews) == (1, 1)
    latest = stored_token("odd_login")
    assert latest["access_token"] != first["access_token"]
    assert latest["refresh_token"] != first["refresh_token"] and latest["refresh_token"] in odd.renewals.live()
    assert len(odd.signed) == 3

    published = json.dumps(
        [result.xcom(task) for result in (run, again, renewed) for task in ("whoami", "signed_report")]
    )
    secrets = (odd.pin, odd.airflow_connection()["extra"]["signing_secret"])
    for secret in (*secrets, first["access_token"], first["refresh_token"], latest["access_token"]):
        assert secret not in published
