"""Astera end to end over HTTPS with a self-signed certificate: trusted through ca_cert_pem, a clear error
without it, and a new login once the token's validity has passed."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_authapi.auth.errors import AuthApiError
from airflow_provider_authapi.hooks.authapi import AuthApiHook, reset_token_managers
from tests.conftest import run_dag
from tests.emulators.astera import AsteraEmulator
from tests.emulators.base import self_signed_cert
from tests.stored_tokens import expire_stored_token


@pytest.fixture
def astera(tmp_path) -> Iterator[AsteraEmulator]:
    reset_token_managers()
    with AsteraEmulator(tls=self_signed_cert(str(tmp_path))) as api:
        yield api
    reset_token_managers()


def test_emulator_login_and_bearer(astera):
    trusted = httpx.Client(base_url=astera.url, verify=ssl.create_default_context(cafile=astera.cert_path))
    wrong = trusted.post("/api/account/login", json={"user": astera.user, "password": "nope"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    login = trusted.post("/api/account/login", json={"user": astera.user, "password": astera.password})
    assert login.json()["token_type"] == "bearer" and login.json()["expires_in"] == 1200
    assert trusted.get("/api/ServerInfo").status_code == 401
    bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert trusted.get("/api/ServerInfo", headers=bearer).json()["Port"] == 9260
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{astera.url}/api/ServerInfo")


def test_astera_server_info_dag(airflow_db, astera, set_connection):
    set_connection("astera", **astera.airflow_connection())
    first = run_dag("astera_server_info")
    assert first.state == "success", first.task_states()
    info = first.xcom("server_info")
    assert (info["ServerName"], info["Version"]) == ("ASTERA-ETL-01", "11.1.0.412")
    assert first.xcom("job_status") == "Completed"
    assert first.xcom("report") == "ASTERA-ETL-01 runs Astera 11.1.0.412 (Enterprise); job status: Completed"
    assert astera.token_requests == 1  # both calls, one login

    # The validity period passes: the next run logs in again instead of sending a dead token.
    astera.advance(1201)
    first_token = expire_stored_token("astera")["access_token"]
    reset_token_managers()
    second = run_dag("astera_server_info")
    assert second.state == "success", second.task_states()
    assert astera.token_requests == 2 and astera.count("GET", "/api/ServerInfo") == 2  # no 401 on the way

    published = json.dumps([info, first.xcom("report"), second.xcom("report")])
    assert astera.password not in published and first_token not in published


def test_without_the_ca_certificate_the_error_names_ca_cert_pem(airflow_db, astera, set_connection):
    connection = astera.airflow_connection()
    connection["extra"] = {"profile": "astera"}
    set_connection("astera", **connection)
    ok, message = AuthApiHook("astera").test_connection()
    assert not ok and "ca_cert_pem" in message and "TLS verification" in message
    with pytest.raises(AuthApiError, match="ca_cert_pem"):
        AuthApiHook("astera").request("GET", "/api/ServerInfo")
    assert astera.token_requests == 0  # nothing got through the handshake
    run = run_dag("astera_server_info")
    assert run.state == "failed" and run.task_states()["server_info"] == "failed"
