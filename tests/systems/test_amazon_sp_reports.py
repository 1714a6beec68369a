"""Amazon SP-API reports end to end: the example DAG makes an open listings report (Login with Amazon, the token in
`x-amz-access-token`), polls it in the triggerer until DONE, downloads its gzip'd TSV from the presigned origin with
no credential, and summarizes the listings; the connection as the docs page gives it passes the Test button."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from airflow_provider_authapi.hooks.authapi import AuthApiHook
from tests.conftest import run_dag
from tests.emulators.amazon_sp import AmazonSpEmulator, listing
from tests.systems.published import published_text

ROWS = 250


@pytest.fixture
def sp() -> Iterator[AmazonSpEmulator]:
    with AmazonSpEmulator(rows=ROWS, polls_to_done=3) as emulator:
        yield emulator


def test_amazon_sp_reports_dag(airflow_db, sp, set_connection, tmp_path, monkeypatch):
    from airflow_provider_authapi.triggers.reports import AuthApiReportTrigger

    fired: list[dict] = []
    original_run = AuthApiReportTrigger.run

    async def spy_run(self):
        _, kwargs = self.serialize()
        async for event in original_run(self):
            fired.append({"kwargs": kwargs, "payload": dict(event.payload)})
            yield event

    monkeypatch.setattr(AuthApiReportTrigger, "run", spy_run)
    set_connection("amazon_sp", **sp.airflow_connection())
    run = run_dag("amazon_sp_reports", conf={"out_url": tmp_path.as_uri(), "poll_interval": 0.2})
    assert run.state == "success", run.task_states()

    (report_id,) = sp.reports
    report = sp.reports[report_id]
    assert (report["processingStatus"], report["_polls"]) == ("DONE", 3)
    assert sp.created == [{"reportType": "GET_FLAT_FILE_OPEN_LISTINGS_DATA", "marketplaceIds": ["ATVPDKIKX0DER"]}]
    assert run.xcom("summarize") == {
        "report_id": report_id,
        "listings": ROWS,
        "distinct_skus": ROWS,
        "in_stock": sum(1 for n in range(1, ROWS + 1) if n % 17),
        "units": sum(n % 17 for n in range(1, ROWS + 1)),
        "dearest": listing(ROWS)["sku"],
    }
    written = run.xcom("open_listings")
    assert written["records"] == ROWS and written["report_id"] == report_id
    path = tmp_path / written["path"].removeprefix(tmp_path.as_uri() + "/")
    assert json.loads(path.read_text().splitlines()[0]) == listing(1)

    # one token; every API call with it in x-amz-access-token; nothing but the URL at the presigned origin
    assert sp.token_requests == 1 and sp.refusals == []
    (headers,) = sp.bucket.seen
    assert not {"authorization", "x-amz-access-token", "cookie"} & set(headers) and sp.bucket.refusals == []
    # the polls ran in the triggerer, which got plain data; no secret nor the presigned URL anywhere published
    (trigger,) = fired
    assert trigger["payload"]["status"] == "success" and trigger["payload"]["polls"] == 3
    assert trigger["kwargs"]["report"]["poll_interval"] == 0.2
    secrets = [sp.client_secret, sp.refresh_token, *sp.access.live(), "X-Amz-Signature", sp.bucket.url]
    for text in (published_text(run), json.dumps(fired)):
        assert not any(secret in text for secret in secrets)


def test_the_connection_as_documented_passes_the_test_button(airflow_db, sp, set_connection):
    set_connection("amazon_sp", **sp.airflow_connection())
    ok, message = AuthApiHook("amazon_sp").test_connection()
    assert ok, message
    assert sp.token_requests == 1 and sp.refusals == []

    wrong = sp.airflow_connection()
    wrong["password"] = "amzn1.oa2-cs.v1.0000000000000000000000000000000000000000000000000000000000000000"
    set_connection("amazon_sp_wrong", **wrong)
    ok, message = AuthApiHook("amazon_sp_wrong").test_connection()
    assert not ok and "invalid_client" in message and wrong["password"] not in message
