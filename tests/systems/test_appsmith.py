"""The Appsmith-style authenticated API end to end: custom header and query param, an API key in the query
with a prefix, and a signature JWT on every request, verified by the emulator."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest

from airflow_provider_authapi.auth.config import MIN_SIGNATURE_SECRET_LENGTH
from airflow_provider_authapi.hooks.authapi import AuthApiHook
from tests.conftest import run_dag
from tests.emulators.appsmith import SIGNATURE_HEADER, AppsmithEmulator


@pytest.fixture
def appsmith() -> Iterator[AppsmithEmulator]:
    with AppsmithEmulator() as api:
        yield api


def signed(secret: str, **claims) -> dict[str, str]:
    now = int(time.time())
    payload = {"iat": now, "exp": now + 300, "jti": f"jti-{time.perf_counter_ns()}", **claims}
    return {SIGNATURE_HEADER: jwt.encode(payload, secret, algorithm="HS256"), "X-Tenant": "acme"}


def test_emulator_refuses_a_missing_bad_expired_or_replayed_signature(appsmith):
    url = f"{appsmith.url}/api/v1/orders"
    params = {"api_key": f"Api-Key {appsmith.api_key}", "region": "eu"}

    def status(headers: dict[str, str]) -> tuple[int, str]:
        response = httpx.get(url, params=params, headers=headers)
        return response.status_code, response.json().get("error", "")

    assert status({"X-Tenant": "acme"}) == (401, f"{SIGNATURE_HEADER}: missing")
    assert status(signed("another-secret-of-at-least-32-characters!")) == (401, f"{SIGNATURE_HEADER}: bad signature")
    assert status(signed(appsmith.signature_secret, exp=int(time.time()) - 1)) == (401, f"{SIGNATURE_HEADER}: expired")
    good = signed(appsmith.signature_secret)
    assert status(good)[0] == 200
    assert status(good) == (401, f"{SIGNATURE_HEADER}: replayed")
    assert status({**signed(appsmith.signature_secret), "X-Tenant": ""}) == (400, "header X-Tenant is required")
    assert appsmith.rejections == {"signature": 4, "header": 1}


def test_appsmith_orders_dag(airflow_db, appsmith, set_connection):
    set_connection("appsmith_api", **appsmith.airflow_connection())
    run = run_dag("appsmith_orders")
    assert run.state == "success", run.task_states()
    assert run.xcom("fetch_orders") == appsmith.orders  # 47 orders in 3 pages of 20
    summary = run.xcom("revenue_by_status")
    assert summary["orders"] == 47
    assert sum(summary["amount_by_status"].values()) == pytest.approx(sum(o["amount"] for o in appsmith.orders))
    assert appsmith.count("GET", "/api/v1/orders") == 3
    assert not appsmith.rejections and len(appsmith.signatures_seen) == 3  # a fresh, valid JWT per request
    published = json.dumps([run.xcom("fetch_orders"), summary])
    assert appsmith.api_key not in published and appsmith.signature_secret not in published


def test_a_wrong_signature_secret_is_refused_and_named_without_leaking(airflow_db, appsmith, set_connection):
    connection = appsmith.airflow_connection()
    wrong = "x" * MIN_SIGNATURE_SECRET_LENGTH
    connection["extra"] = {**connection["extra"], "signature_secret": wrong}
    set_connection("appsmith_wrong_secret", **connection)
    hook = AuthApiHook("appsmith_wrong_secret")
    ok, message = hook.test_connection()
    assert not ok and message == "GET /api/v1/orders?page_size=1 answered 401"
    response = hook.request("GET", "/api/v1/orders")
    assert response.status_code == 401 and response.json() == {"error": f"{SIGNATURE_HEADER}: bad signature"}
    assert appsmith.rejections == {"signature": 2}
