"""Stripe end to end: the example DAG pulls a data interval's charges by `starting_after` and `has_more`, in a
worker and in the triggerer, and a second run catches a charge recorded late through the lookback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pendulum
import pytest

from airflow_provider_authapi.hooks.authapi import reset_token_managers
from tests.conftest import run_dag
from tests.emulators.stripe import StripeEmulator


@pytest.fixture
def stripe() -> Iterator[StripeEmulator]:
    reset_token_managers()
    with StripeEmulator() as api:
        yield api
    reset_token_managers()


def ids_in(summary: dict) -> list[str]:
    path = Path(summary["path"].removeprefix("file://"))
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_emulator_pages_by_the_last_id_and_filters_on_created(stripe):
    bearer = {"Authorization": f"Bearer {stripe.secret_key}"}
    assert httpx.get(f"{stripe.url}/v1/charges").status_code == 401
    first = httpx.get(f"{stripe.url}/v1/charges", params={"limit": 100}, headers=bearer).json()
    assert first["has_more"] and len(first["data"]) == 100
    assert first["data"][0]["created"] >= first["data"][-1]["created"]  # newest first
    rest = httpx.get(
        f"{stripe.url}/v1/charges", params={"limit": 100, "starting_after": first["data"][-1]["id"]}, headers=bearer
    ).json()
    assert not rest["has_more"] and len(first["data"]) + len(rest["data"]) == len(stripe.charges)
    day = {"created[gte]": stripe.first_day, "created[lte]": stripe.first_day + 86_399, "limit": 100}
    assert len(httpx.get(f"{stripe.url}/v1/charges", params=day, headers=bearer).json()["data"]) == 48
    bad = httpx.get(f"{stripe.url}/v1/charges", params={"created[gte]": "2026-01-01"}, headers=bearer).json()
    assert bad["error"]["code"] == "parameter_invalid_integer"
    missing = httpx.get(f"{stripe.url}/v1/charges", params={"starting_after": "ch_nope"}, headers=bearer).json()
    assert missing["error"]["code"] == "resource_missing"


def test_stripe_charges_dag_then_a_late_charge(airflow_db, stripe, set_connection, tmp_path):
    set_connection("stripe", **stripe.airflow_connection())
    run = run_dag("stripe_charges", conf={"out_url": f"file://{tmp_path}"})
    assert run.state == "success", run.task_states()
    today = pendulum.now("UTC").start_of("day").int_timestamp
    yesterday = [c for c in stripe.charges if today - 86_400 <= c["created"] < today]
    expected = sorted(c["id"] for c in yesterday)
    assert len(expected) == 48
    for task in ("charges", "charges_deferred"):
        assert sorted(ids_in(run.xcom(task))) == expected, task
    first_asks = [q for q in stripe.asked if "starting_after" not in q]
    assert {q["created[gte]"] for q in first_asks} == {str(today - 86_400)}  # `initial`: the interval's start
    assert {q["created[lte]"] for q in first_asks} == {str(today - 1)}  # `end`: its last second
    newest = max(c["created"] for c in yesterday)

    # A charge of yesterday that reaches the API only now, 10 minutes before the newest one loaded: the next run
    # asks from an hour before its mark, and gets it.
    late = stripe.add_charge(newest - 600, amount=4_242)
    stripe.add_charge(today + 60)  # today's: after the end, never asked for
    stripe.asked.clear()
    again = run_dag("stripe_charges", conf={"out_url": f"file://{tmp_path}"})
    assert again.state == "success", again.task_states()
    window = sorted(c["id"] for c in stripe.charges if newest - 3600 <= c["created"] < today)
    assert late["id"] in window and len(window) == 4  # the late one and the last hour's three (22:30 included)
    for task in ("charges", "charges_deferred"):
        assert sorted(ids_in(again.xcom(task))) == window, task
    assert {q["created[gte]"] for q in stripe.asked} == {str(newest - 3600)}
    assert again.xcom("report") == {"charges.jsonl": 4, "charges-deferred.jsonl": 4}
    published = json.dumps([run.xcom("report"), again.xcom("charges"), again.xcom("charges_deferred")])
    assert stripe.secret_key not in published
