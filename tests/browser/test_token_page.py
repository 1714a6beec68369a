"""End to end in headless Chromium on a real `airflow api-server` (one start for the module) and the Aspire
emulator: a connection row's Test button shows our message (the user's connection id, the API call, where the
token went), Admin > API tokens refreshes and clears a token login's token, and the API server's log stays free
of Airflow's RFC 3986 warning with the `[logging] namespace_levels` setting the README gives.

Screenshots go to test-artifacts/token-page-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.harness import api_server, chromium, free_port, new_page, sign_in, store_connections
from tests.conftest import ROOT
from tests.emulators.aspire import AspireEmulator
from tests.stored_tokens import stored_record

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOG = ROOT / "test-artifacts" / "token-page-api-server.log"
QUIET_CONNECTION_LOGGER = "airflow.models.connection.Connection=ERROR"
GOOD, WRONG_PREFIX, STATIC = "browser_aspire", "browser_aspire_prefix", "browser_basic"


@pytest.fixture(scope="module")
def aspire() -> Iterator[AspireEmulator]:
    with AspireEmulator() as api:
        yield api


@pytest.fixture(scope="module")
def airflow_url(airflow_db: Path, aspire: AspireEmulator) -> Iterator[str]:
    extra = {"profile": "aspire", "test_endpoint": "/Properties?$top=1"}
    token_login = dict(conn_type="authapi_token", host=aspire.url, login=aspire.client_id, password=aspire.secret)
    connections = {
        GOOD: {**token_login, "extra": extra},
        WRONG_PREFIX: {**token_login, "extra": {**extra, "header_prefix": "Token"}},
        STATIC: dict(conn_type="authapi_basic", host=aspire.url, login="user", password="basic-pass-123", extra={}),
    }
    store_connections(connections)
    env = {"AIRFLOW__CORE__TEST_CONNECTION": "Enabled", "AIRFLOW__LOGGING__NAMESPACE_LEVELS": QUIET_CONNECTION_LOGGER}
    try:
        with api_server(airflow_db, free_port(), LOG, env) as url:
            yield url
    finally:
        store_connections({conn_id: None for conn_id in connections})


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser: Any, airflow_url: str) -> Iterator[Any]:
    with new_page(browser) as page:
        page.goto(f"{airflow_url}/connections")
        page.wait_for_url("**/auth/login**")
        sign_in(page)
        page.wait_for_url(f"{airflow_url}/connections")
        yield page


def press_test(page: Any, conn_id: str) -> Any:
    """Press the Test icon of a connection row; return the toast that answers (Airflow shows it ~2 s)."""
    page.mouse.move(1, 1)  # the tooltip of a button pressed before covers the row below it
    page.locator("[data-scope='tooltip'][data-part='content']").first.wait_for(state="hidden")
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=conn_id, exact=True))
    row.get_by_role("button", name="Test Connection").click()
    toast = page.locator("[data-scope='toast'][data-part='root']").filter(has_text=f"Connection '{conn_id}'")
    toast.wait_for()
    return toast


def test_row_test_button_shows_what_was_tried(page: Any, aspire: AspireEmulator, artifacts_dir: Path):
    calls = aspire.count("GET", "/Properties")
    toast = press_test(page, GOOD)
    text = toast.inner_text()
    page.screenshot(path=artifacts_dir / "token-page-01-test-ok.png")
    assert toast.get_attribute("data-type") == "success", text
    assert f"Connection '{GOOD}': the login at {aspire.url}/Authorization gave a token valid until" in text
    assert "GET /Properties?$top=1 with it in header 'Authorization: Bearer <token>' answered 200." in text
    assert aspire.count("GET", "/Properties") == calls + 1
    assert stored_record(GOOD) is None, "Test must leave the shared token cache alone"

    toast = press_test(page, WRONG_PREFIX)
    text = toast.inner_text()
    page.screenshot(path=artifacts_dir / "token-page-02-test-wrong-prefix.png")
    assert toast.get_attribute("data-type") == "error", text
    assert "in header 'Authorization: Token <token>' was refused (401)" in text and "(header_prefix)" in text
    assert aspire.secret not in page.content() and "eyJ" not in text


def test_token_page_refreshes_and_clears(page: Any, airflow_url: str, aspire: AspireEmulator, artifacts_dir: Path):
    from playwright.sync_api import expect

    page.get_by_role("button", name="Admin", exact=True).first.click()
    page.get_by_role("menuitem", name="API tokens").click()
    page.wait_for_url(f"{airflow_url}/plugin/authapi")
    frame = page.frame_locator("iframe")
    row = frame.locator(f"tr[data-conn-id='{GOOD}']")
    state = row.locator("[data-state]")
    assert state.get_attribute("data-state") == "none"
    assert frame.locator(f"tr[data-conn-id='{WRONG_PREFIX}']").count() == 1
    assert frame.locator(f"tr[data-conn-id='{STATIC}']").count() == 0, "a static scheme caches no token"
    page.screenshot(path=artifacts_dir / "token-page-03-list.png")

    logins = aspire.logins
    row.get_by_role("button", name="Refresh").click()
    expect(frame.locator("#notice")).to_contain_text(f"Connection {GOOD}: obtained a new token.")
    expect(state).to_have_attribute("data-state", "valid")
    assert row.locator(".refresh-token").inner_text() == "yes" and "UTC" in row.locator(".valid-until").inner_text()
    record = stored_record(GOOD)
    assert record is not None and aspire.logins == logins + 1
    html = frame.locator("html").inner_html()
    for secret in (record["token"]["access_token"], record["token"]["refresh_token"], aspire.secret):
        assert secret not in html
    page.screenshot(path=artifacts_dir / "token-page-04-refreshed.png")

    # Airflow's dark mode: the page follows the UI's switch.
    page.evaluate("document.documentElement.classList.replace('light', 'dark')")
    frame.locator("html.dark").wait_for()
    page.screenshot(path=artifacts_dir / "token-page-05-dark.png")
    page.evaluate("document.documentElement.classList.replace('dark', 'light')")

    row.get_by_role("button", name="Clear").click()
    expect(frame.locator("#notice")).to_contain_text(f"Connection {GOOD}: cleared the stored token.")
    expect(state).to_have_attribute("data-state", "none")
    expect(row.get_by_role("button", name="Clear")).to_be_disabled()
    assert stored_record(GOOD) is None
    page.screenshot(path=artifacts_dir / "token-page-06-cleared.png")


def test_api_server_log_has_no_secret_and_no_rfc3986_warning(airflow_url: str, aspire: AspireEmulator):
    log = LOG.read_text()
    assert "path=/api/v2/connections/test" in log and "path=/oauth-consent/refresh/" in log, "no connection fetched"
    assert f"{GOOD} (Test)" in log, "the Test's token log lines name the user's connection"
    assert "shall not contain '_'" not in log  # the README's [logging] namespace_levels setting
    for secret in (aspire.secret, "basic-pass-123", "eyJ"):  # eyJ: the start of any JWT Aspire issues
        assert secret not in log
