"""Admin > Variables cannot break the token cache: in headless Chromium on a real `airflow api-server`, a person
opens the token record's Variable, presses Edit and Save without changing anything, and the cache goes on working.

The record (`authapi_cache_<conn>`, see store/sealing.py) has no name the masker hides, so the page shows its
sealed text as it is and the Save writes the same text back. A DAG run then uses the cached token with no token
request, and, once the token is stale, refreshes it with the stored (rotating) refresh token. A record of the old
format (`authapi_token_<conn>`), whose values the page shows as `***`, is damaged by the same Save: the damage is
detected (never a token of `***`), reported with its fix, and Clear recovers it.

Screenshots go to test-artifacts/variables-page-*.png.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.harness import api_server, chromium, free_port, new_page, sign_in
from tests.conftest import ROOT, run_dag
from tests.emulators.oauth2_server import OAuth2Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOG = ROOT / "test-artifacts" / "variables-page-api-server.log"
CONN_ID, OLD_CONN_ID = "vars_rotating", "vars_old_format"
CLIENT_SECRET = "vars-client-secret-0123456789"


@pytest.fixture(scope="module")
def oauth() -> Iterator[OAuth2Server]:
    with OAuth2Server(client_secret=CLIENT_SECRET) as server:
        yield server


@pytest.fixture(scope="module")
def airflow_url(airflow_db: Path) -> Iterator[str]:
    with api_server(airflow_db, free_port(), LOG) as url:
        yield url


@pytest.fixture(scope="module")
def page(airflow_url: str) -> Iterator[Any]:
    with chromium() as browser, new_page(browser, width=1280, height=1000) as page:
        page.goto(f"{airflow_url}/variables")
        page.wait_for_url("**/auth/login**")
        sign_in(page)
        page.wait_for_url(f"{airflow_url}/variables")
        yield page


def save_unchanged(page: Any, airflow_url: str, key: str, shot: Path) -> str:
    """Admin > Variables: Edit the Variable `key`, Save without touching anything; return the value the form held."""
    page.goto(f"{airflow_url}/variables")
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=key, exact=True))
    row.get_by_role("button", name="Edit Variable").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_have_attribute("data-state", "open")
    value = dialog.locator("textarea[name='value']")
    shown = value.input_value()
    value.evaluate("el => { el.style.height = el.scrollHeight + 'px'; }")  # the whole record in the screenshot
    page.wait_for_timeout(500)  # the dialog's opening animation, for the screenshot only
    page.screenshot(path=shot)
    dialog.get_by_role("button", name="Save").click()
    dialog.wait_for(state="hidden")
    return shown


def raw_value(key: str) -> str:
    from airflow_provider_authapi.store import MetadataVariables

    value = MetadataVariables().get(key)
    assert value is not None, f"{key} is gone"
    return value


def test_an_unchanged_save_keeps_the_cache_working(page, airflow_url, oauth, set_connection, artifacts_dir):
    from airflow_provider_authapi.hooks.authapi import AuthApiHook, reset_token_managers
    from airflow_provider_authapi.store import VariableTokenStore, token_variable_name
    from tests.stored_tokens import expire_stored_token, stored_token

    extra = {"grant_type": "refresh_token", "login_url": "/token", "refresh_token": oauth.issue_refresh_token()}
    set_connection(CONN_ID, conn_type="authapi_oauth2", host=oauth.url, login=oauth.client_id,
                   password=CLIENT_SECRET, extra=extra)  # fmt: skip
    reset_token_managers()
    AuthApiHook(CONN_ID).get_token()  # the first token, its refresh token rotated, saved in the shared cache
    token = stored_token(CONN_ID)
    key = token_variable_name(CONN_ID)
    before = raw_value(key)

    shown = save_unchanged(page, airflow_url, key, artifacts_dir / "variables-page-01-edit-sealed-record.png")
    page.screenshot(path=artifacts_dir / "variables-page-02-saved.png")
    assert '"sealed": "gAAAAA' in shown and "***" not in shown, "the page masked the record"
    for secret in (token["access_token"], token["refresh_token"], CLIENT_SECRET):
        assert secret not in shown and secret not in page.content()
    after = raw_value(key)
    assert json.loads(after) == json.loads(before), "the Save changed the record"
    assert VariableTokenStore(CONN_ID, "").read_record().problem is None

    # A DAG run (three tasks, each like a fresh worker) goes on with the cached token: no token request.
    requests = oauth.token_requests
    reset_token_managers()
    run = run_dag("token_cache_shared", conf={"conn_id": CONN_ID})
    assert run.state == "success", run.task_states()
    assert run.xcom("summarize")["token_requests"] == [0, 0, 0] and oauth.token_requests == requests

    # Once stale, the token is refreshed with the refresh token that went through the page: still the live one.
    expire_stored_token(CONN_ID)
    reset_token_managers()
    run = run_dag("token_cache_shared", conf={"conn_id": CONN_ID})
    assert run.state == "success", run.task_states()
    assert run.xcom("summarize")["token_requests"] == [1, 0, 0] and oauth.invalid_grants == 0
    assert oauth.last_token_form["grant_type"] == "refresh_token"
    assert oauth.refresh.live() == [stored_token(CONN_ID)["refresh_token"]]


def test_an_old_format_record_damaged_by_a_save_is_reported_and_clear_recovers(page, airflow_url, oauth, artifacts_dir):
    """Today's record under `authapi_token_<conn>`: the page shows `***` and the Save writes them back. The damage
    is detected (no token of `***`), the token page names it with Clear as the fix, and Clear, then Refresh, work."""
    from airflow_provider_authapi.auth.errors import DamagedRecordError
    from airflow_provider_authapi.auth.tokens import Token
    from airflow_provider_authapi.consent import hook_for
    from airflow_provider_authapi.store import MetadataVariables, VariableTokenStore
    from airflow_provider_authapi.store.variables import legacy_token_variable_name
    from tests.stored_tokens import stored_token

    oauth2 = dict(conn_type="authapi_oauth2", host=oauth.url, login=oauth.client_id, password=CLIENT_SECRET)
    save_connection(OLD_CONN_ID, {**oauth2, "extra": {"login_url": "/token"}})
    try:
        fingerprint = hook_for(OLD_CONN_ID).config.fingerprint()
        old = Token(access_token="at-old-format-0123456789", refresh_token="rt-old-format-0123456789")
        record = {"version": 1, "conn_id": OLD_CONN_ID, "fingerprint": fingerprint, "token": old.to_dict()}
        key = legacy_token_variable_name(OLD_CONN_ID)
        MetadataVariables().set(key, json.dumps(record))
        store = VariableTokenStore(OLD_CONN_ID, fingerprint)
        assert store.load() == old, "an old record is read as it is (migrated on the next save)"

        shown = save_unchanged(page, airflow_url, key, artifacts_dir / "variables-page-03-edit-old-record.png")
        assert '"access_token": "***"' in shown and old.access_token not in shown and old.refresh_token not in shown
        with pytest.raises(DamagedRecordError, match=r"replaced by \*\*\*.*airflow authapi token clear"):
            store.load()

        page.goto(f"{airflow_url}/plugin/authapi")
        frame = page.frame_locator("iframe")
        row = frame.locator(f"tr[data-conn-id='{OLD_CONN_ID}']")
        expect(row.locator("[data-state]")).to_have_attribute("data-state", "damaged")
        expect(row.locator(".problem")).to_contain_text(f"the token record '{key}' of connection '{OLD_CONN_ID}'")
        expect(row.locator(".problem")).to_contain_text(f"airflow authapi token clear {OLD_CONN_ID}")
        expect(row.get_by_role("button", name="Refresh")).to_be_disabled()
        page.screenshot(path=artifacts_dir / "variables-page-04-token-page-damaged.png")

        row.get_by_role("button", name="Clear").click()
        expect(frame.locator("#notice")).to_contain_text("Not revoked: the stored record was damaged")
        expect(row.locator("[data-state]")).to_have_attribute("data-state", "none")
        assert MetadataVariables().get(key) is None
        requests = oauth.token_requests
        row.get_by_role("button", name="Refresh").click()
        expect(row.locator("[data-state]")).to_have_attribute("data-state", "valid")
        page.screenshot(path=artifacts_dir / "variables-page-05-token-page-recovered.png")
        assert oauth.token_requests == requests + 1 and stored_token(OLD_CONN_ID)["access_token"].startswith("at")
    finally:
        save_connection(OLD_CONN_ID, None)


def save_connection(conn_id: str, fields: dict[str, Any] | None) -> None:
    """Add (or, for None, delete with its token record) a connection in the metadata DB, where the UI lists it."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    from airflow_provider_authapi.store import VariableTokenStore

    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == conn_id).delete()
        if fields is not None:
            session.add(Connection(conn_id=conn_id, **{**fields, "extra": json.dumps(fields.get("extra") or {})}))
    if fields is None:
        VariableTokenStore(conn_id, fingerprint="").clear()
