"""Who sees and does what under a real auth manager: FAB (`apache-airflow-providers-fab`) on one real
`airflow api-server`, users of the Viewer, User, Op and Admin roles and of two custom roles, each signed in on
FAB's login page in headless Chromium (issue 22, item 3).

- `reader`: Connections read only (FAB's resource-type permission).
- `tester`: Connections read and create, no edit: what Airflow's Test route asks for. Its Test of a connection
  whose grant lives on the stored refresh token (authorization code) refreshes the shared token cache, as the
  Test of an editor does (the rotated refresh token must be kept): the one token write open to a user who may
  not edit the connection. Pinned here so that a change of it is a decision.
- `one_conn`: read and edit on `Connections:<one id>` only. FAB has no per-connection access: its
  `is_authorized_connection` checks the resource type `Connections` and ignores the connection id, so such a
  permission (created here as FAB stores resource-level names, as for `DAG:<id>`) grants nothing. The test pins
  that down: this user sees no connection and may change none.

For each user: the token page lists exactly the connections FAB lets it read; Refresh, Clear and Authorize show
and work only where it may edit, and a POST without edit access is refused (403) with the stored token and the
token endpoint untouched; the token record's secrets show neither on the Variables page nor in the REST API; the
connection row's Test button works for those allowed to test (Airflow: create + read on Connections) and is
refused to the others. Connections and tokens come from the OAuth 2.0 emulator; the module's three connections are
the only ones in the metadata DB while it runs (`only_connections`: those other modules left are set aside).
Screenshots: test-artifacts/permissions-fab-*.png.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.harness import (
    FAB_AUTH_MANAGER,
    Account,
    api_server,
    chromium,
    free_port,
    only_connections,
    sign_in,
)
from tests.conftest import ROOT
from tests.emulators.oauth2_server import OAuth2Server
from tests.stored_tokens import stored_token

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOG = ROOT / "test-artifacts" / "permissions-fab-api-server.log"
PREFIX = "/oauth-consent"
CLIENT_SECRET = "perm-client-secret-0123456789"
CC, CODE, STATIC = "perm_cc", "perm_code", "perm_basic"  # client credentials, authorization code, Basic
TOKEN_CONNECTIONS = {CC, CODE}

READER_ROLE, TESTER_ROLE, ONE_CONN_ROLE = "ConnectionReader", "ConnectionTester", "OneConnection"
ROLES = {
    READER_ROLE: [
        ("can_read", "Website"),
        ("can_read", "Connections"),
        ("menu_access", "Admin"),
        ("menu_access", "Connections"),
    ],
    TESTER_ROLE: [("can_read", "Website"), ("can_read", "Connections"), ("can_create", "Connections")],
    ONE_CONN_ROLE: [
        ("can_read", "Website"),
        ("can_read", f"Connections:{CC}"),
        ("can_edit", f"Connections:{CC}"),
        ("can_create", f"Connections:{CC}"),
    ],
}


@dataclass(frozen=True)
class Expected:
    """What FAB lets a user do with connections (and so with their tokens and token records)."""

    account: Account
    reads: bool  # can_read on Connections: the token page lists them, the Connections page too
    edits: bool  # can_edit on Connections: Refresh, Clear, Authorize
    tests: bool  # can_create + can_read on Connections: Airflow's POST /connections/test
    reads_variables: bool  # can_read on Variables
    sees_menu: bool  # can_read on Plugins: Admin > API tokens (without it, only the page's URL leads there)


def _account(name: str, role: str) -> Account:
    return Account(name, f"{name}-password-0123456789", role)


USERS = {
    # name: Expected(account, reads, edits, tests, reads_variables, sees_menu)
    "viewer": Expected(_account("viewer", "Viewer"), False, False, False, False, False),
    "user": Expected(_account("user", "User"), False, False, False, False, False),
    "op": Expected(_account("op", "Op"), True, True, True, True, True),
    "admin": Expected(_account("admin", "Admin"), True, True, True, True, True),
    "reader": Expected(_account("reader", READER_ROLE), True, False, False, False, False),
    "tester": Expected(_account("tester", TESTER_ROLE), True, False, True, False, False),
    "one_conn": Expected(_account("one_conn", ONE_CONN_ROLE), False, False, False, False, False),
}


@pytest.fixture(scope="module")
def oauth() -> Iterator[OAuth2Server]:
    with OAuth2Server(client_secret=CLIENT_SECRET) as server:
        yield server


@pytest.fixture(scope="module")
def airflow_url(airflow_db: Path, oauth: OAuth2Server) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    oauth2 = dict(conn_type="authapi_oauth2", host=oauth.url, login=oauth.client_id, password=CLIENT_SECRET)
    consent = {"grant_type": "authorization_code", "login_url": "/token", "consent_url": "/authorize"}
    connections = {
        CC: {**oauth2, "extra": {"login_url": "/token", "test_endpoint": "/api/whoami"}},
        CODE: {**oauth2, "extra": {**consent, "redirect_uri": f"{url}{PREFIX}/callback"}},
        STATIC: dict(conn_type="authapi_basic", host=oauth.url, login="someone", password="basic-pass-123", extra={}),
    }
    env = {"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    accounts = [expected.account for expected in USERS.values()]
    # These three and no other: the pages must list exactly what FAB allows, so what other modules left in the
    # session's DB is set aside while this module runs (it would show on the token page and push these rows off
    # the first page of Admin > Connections).
    server = api_server(airflow_db, port, LOG, env, auth_manager=FAB_AUTH_MANAGER, accounts=accounts, roles=ROLES)
    with only_connections(connections), server:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def cached_token(airflow_url: str) -> dict[str, Any]:
    """A token of CC in the shared cache (obtained here through the hook when none is stored)."""
    from airflow_provider_authapi.hooks.authapi import AuthApiHook, reset_token_managers

    if stored_token(CC) is None:
        reset_token_managers()
        AuthApiHook(CC).get_access_token()
    token = stored_token(CC)
    assert token is not None
    return token


def raw_record(conn_id: str) -> str | None:
    from airflow_provider_authapi.store import MetadataVariables, token_variable_name

    return MetadataVariables().get(token_variable_name(conn_id))


def signed_in(browser: Any, airflow_url: str, account: Account, shots: Path) -> Any:
    """A new page signed in as `account` through FAB's login page, on the token page it was sent from."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    home = f"{airflow_url}{PREFIX}/"
    page.goto(home)
    page.wait_for_url("**/auth/login/**")
    sign_in(page, shots / f"permissions-fab-{account.username}-01-login.png", account=account)
    page.wait_for_url(home)
    return page


def listed(page: Any) -> set[str]:
    return {row.get_attribute("data-conn-id") for row in page.locator("tr[data-conn-id]").all()}


def post_action(page: Any, airflow_url: str, action: str, conn_id: str) -> Any:
    """POST a token page action with the page's session, as its form would (same origin), without following."""
    return page.request.post(
        f"{airflow_url}{PREFIX}/{action}/{conn_id}", headers={"Origin": airflow_url}, max_redirects=0
    )


def press_test(page: Any, conn_id: str) -> Any:
    """Press the Test icon of a connection row; return the toast that answers (a new one each time)."""
    toasts = page.locator("[data-scope='toast'][data-part='root']")
    if toasts.count():  # the answer to the previous press: wait until Airflow hides it
        toasts.first.wait_for(state="hidden", timeout=20_000)
    page.mouse.move(1, 1)  # the tooltip of a button pressed before covers the row below it
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=conn_id, exact=True))
    row.get_by_role("button", name="Test Connection").click()
    toast = toasts.first
    toast.wait_for()
    return toast


def jwt(page: Any) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "_token")


@pytest.mark.parametrize("name", list(USERS))
def test_token_page_lists_and_allows_what_fab_allows(
    name: str, browser: Any, airflow_url: str, oauth: OAuth2Server, cached_token: dict[str, Any], artifacts_dir: Path
):
    from playwright.sync_api import expect

    expected = USERS[name]
    page = signed_in(browser, airflow_url, expected.account, artifacts_dir)
    try:
        assert f"Signed in as {name}" in page.locator(".who").inner_text()
        assert listed(page) == (TOKEN_CONNECTIONS if expected.reads else set())
        page.screenshot(path=artifacts_dir / f"permissions-fab-{name}-02-token-page.png")
        if not expected.reads:
            assert page.locator("#empty").is_visible()
        for conn_id in listed(page):
            row = page.locator(f"tr[data-conn-id='{conn_id}']")
            buttons = row.get_by_role("button")
            if expected.edits:
                names = {"Refresh", "Clear"} | ({"Authorize"} if conn_id == CODE else set())
                assert {b.inner_text() for b in buttons.all()} == names
            else:
                assert buttons.count() == 0 and row.locator(".actions").inner_text() == "view only"

        plugins = page.request.get(f"{airflow_url}/api/v2/plugins", headers={"Authorization": f"Bearer {jwt(page)}"})
        assert plugins.status == (200 if expected.sees_menu else 403), "the menu entry comes from the plugins list"
        if expected.sees_menu:
            _open_from_the_admin_menu(page, airflow_url, name, artifacts_dir)
        if expected.edits:
            _edit_in_the_browser(page, airflow_url, oauth, cached_token, name, artifacts_dir)
        else:
            _refused_by_post(page, airflow_url, oauth)
        shown = page.content()
        for secret in _secrets():
            assert secret not in shown
        expect(page.locator("h1")).to_contain_text("API tokens")
    finally:
        page.context.close()


def _open_from_the_admin_menu(page: Any, airflow_url: str, name: str, shots: Path) -> None:
    """Admin > API tokens shows the same page inside Airflow's UI (an iframe)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"{airflow_url}/")
    # The menu gets its plugin entries from /api/v2/plugins and re-renders when they arrive: a click that lands
    # on the entry as it is replaced goes nowhere (seen once in a loaded CI run: no request for 30 s after it).
    # So the page settles first, and a click that did not navigate is made once more on a freshly opened menu.
    page.wait_for_load_state("networkidle")
    for attempt in (1, 2):
        page.get_by_role("button", name="Admin", exact=True).first.click()
        page.get_by_role("menuitem", name="API tokens").click()
        try:
            page.wait_for_url(f"{airflow_url}/plugin/authapi", timeout=20_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
    frame = page.frame_locator("iframe")
    frame.locator(f"tr[data-conn-id='{CC}']").wait_for()
    assert frame.locator("tr[data-conn-id]").count() == len(TOKEN_CONNECTIONS)
    page.screenshot(path=shots / f"permissions-fab-{name}-02-admin-menu.png")
    page.goto(f"{airflow_url}{PREFIX}/")


def _edit_in_the_browser(
    page: Any, airflow_url: str, oauth: OAuth2Server, before: dict[str, Any], name: str, shots: Path
) -> None:
    """Refresh and Clear CC, then Authorize CODE through the emulator's consent: each does what it says."""
    from playwright.sync_api import expect

    row = page.locator(f"tr[data-conn-id='{CC}']")
    requests = oauth.token_requests
    row.get_by_role("button", name="Refresh").click()
    expect(page.locator("#notice")).to_contain_text(f"Connection {CC}: obtained a new token.")
    refreshed = stored_token(CC)
    assert refreshed is not None and refreshed["access_token"] != before["access_token"]
    assert oauth.token_requests == requests + 1
    page.screenshot(path=shots / f"permissions-fab-{name}-03-refreshed.png")

    row.get_by_role("button", name="Clear").click()
    expect(page.locator("#notice")).to_contain_text(f"Connection {CC}: cleared the stored token.")
    assert stored_token(CC) is None

    page.locator(f"tr[data-conn-id='{CODE}']").get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{airflow_url}{PREFIX}/callback?**")  # the emulator approves at once
    assert "is authorized" in page.locator("#result").inner_text()
    token = stored_token(CODE)
    assert token is not None and token["refresh_token"]
    page.screenshot(path=shots / f"permissions-fab-{name}-04-authorized.png")
    page.goto(f"{airflow_url}{PREFIX}/")


def _refused_by_post(page: Any, airflow_url: str, oauth: OAuth2Server) -> None:
    """Refresh, Clear and Authorize sent by hand: 403, and nothing stored or asked of the token endpoint changes."""
    records = {conn_id: raw_record(conn_id) for conn_id in TOKEN_CONNECTIONS}
    assert records[CC] is not None, "the cached token the refused POSTs must leave alone"
    requests = oauth.token_requests
    for action in ("refresh", "clear", "authorize"):
        for conn_id in TOKEN_CONNECTIONS:
            answer = post_action(page, airflow_url, action, conn_id)
            assert answer.status == 403, (action, conn_id, answer.status)
            assert f"You may not edit connection {conn_id!r}." in html.unescape(answer.text())
    assert {conn_id: raw_record(conn_id) for conn_id in TOKEN_CONNECTIONS} == records
    assert oauth.token_requests == requests


def _secrets() -> list[str]:
    found = [CLIENT_SECRET, "basic-pass-123"]
    for conn_id in TOKEN_CONNECTIONS:
        token = stored_token(conn_id)
        found += [t for t in ((token or {}).get("access_token"), (token or {}).get("refresh_token")) if t]
    return found


@pytest.mark.parametrize("name", list(USERS))
def test_token_record_secrets_never_show(
    name: str, browser: Any, airflow_url: str, cached_token: dict[str, Any], artifacts_dir: Path
):
    """The record `authapi_cache_<conn>` is readable only with Variables read, and then as sealed ciphertext."""
    from airflow_provider_authapi.store import token_variable_name

    expected = USERS[name]
    key = token_variable_name(CC)
    page = signed_in(browser, airflow_url, expected.account, artifacts_dir)
    try:
        headers = {"Authorization": f"Bearer {jwt(page)}"}
        with httpx.Client(base_url=airflow_url, headers=headers, timeout=30) as api:
            one = api.get(f"/api/v2/variables/{key}")
            listing = api.get("/api/v2/variables", params={"variable_key_pattern": "authapi_%", "limit": 100})
        if expected.reads_variables:
            assert one.status_code == 200 and listing.status_code == 200
            assert '"sealed": "gAAAAA' in one.json()["value"], "the record's secrets are sealed"
            assert key in {v["key"] for v in listing.json()["variables"]}
            page.goto(f"{airflow_url}/variables")
            page.get_by_role("cell", name=key, exact=True).wait_for()
        else:
            assert one.status_code == 403 and listing.status_code == 403
            page.goto(f"{airflow_url}/variables")
            page.get_by_text("403 Forbidden").first.wait_for()  # what Airflow's page says
        page.screenshot(path=artifacts_dir / f"permissions-fab-{name}-05-variables.png")
        shown = one.text + listing.text + page.content()
        for secret in _secrets():
            assert secret not in shown
    finally:
        page.context.close()


@pytest.fixture
def consented(airflow_url: str, oauth: OAuth2Server) -> dict[str, Any]:
    """CODE with a stored token and refresh token, as after a consent (saved here when none is stored)."""
    import pendulum

    from airflow_provider_authapi.auth.tokens import Token
    from airflow_provider_authapi.hooks.authapi import AuthApiHook

    if not (stored_token(CODE) or {}).get("refresh_token"):
        access = oauth.access.issue(oauth.client_id, scope="read")
        expires = pendulum.now("UTC").add(hours=1)
        AuthApiHook(CODE).store.save(Token(access, expires_at=expires, refresh_token=oauth.issue_refresh_token()))
    token = stored_token(CODE)
    assert token is not None
    return token


@pytest.mark.parametrize("name", list(USERS))
def test_row_test_button(
    name: str, browser: Any, airflow_url: str, oauth: OAuth2Server, consented: dict[str, Any], artifacts_dir: Path
):
    """Admin > Connections, Test on the CC and CODE rows: a success for those who may test (CODE's refreshes the
    shared cache); refused to everyone else, the cache untouched."""
    expected = USERS[name]
    page = signed_in(browser, airflow_url, expected.account, artifacts_dir)
    try:
        calls = oauth.count("GET", "/api/whoami")
        page.goto(f"{airflow_url}/connections")
        if expected.reads:
            toast = press_test(page, CC)
            page.screenshot(path=artifacts_dir / f"permissions-fab-{name}-06-test-button.png")
            text = toast.inner_text()
            if expected.tests:
                assert toast.get_attribute("data-type") == "success", text
                assert f"Connection '{CC}'" in text and "GET /api/whoami with it in header" in text
                assert oauth.count("GET", "/api/whoami") == calls + 1
            else:
                assert toast.get_attribute("data-type") == "error", text
                assert oauth.count("GET", "/api/whoami") == calls
            record = raw_record(CODE)
            code_toast = press_test(page, CODE)
            if expected.tests:
                assert code_toast.get_attribute("data-type") == "success", code_toast.inner_text()
                assert "refreshing the stored token" in code_toast.inner_text()
                assert stored_token(CODE)["refresh_token"] != consented["refresh_token"], "rotated and kept"
            else:
                assert code_toast.get_attribute("data-type") == "error", code_toast.inner_text()
                assert raw_record(CODE) == record
        else:
            page.get_by_text("403 Forbidden").first.wait_for()  # the list is refused: no row, no Test button
            assert page.get_by_role("button", name="Test Connection").count() == 0
            page.screenshot(path=artifacts_dir / f"permissions-fab-{name}-06-connections.png")
        # The same request as the button's, sent by hand: the answer follows FAB's permissions.
        body = {"connection_id": CC, "conn_type": "authapi_oauth2", "host": oauth.url, "port": 0}
        answer = page.request.post(f"{airflow_url}/api/v2/connections/test", data=body,
                                   headers={"Authorization": f"Bearer {jwt(page)}"})  # fmt: skip
        assert answer.status == (200 if expected.tests else 403), answer.text()
        if expected.tests:
            assert answer.json()["status"] is True, answer.json()
        for secret in _secrets():
            assert secret not in answer.text()
    finally:
        page.context.close()


def test_api_server_log_has_no_secret(airflow_url: str, oauth: OAuth2Server):
    """After every user's sign-in, page, refused POST and Test: no password, client secret or token in the logs."""
    logs = LOG.read_text() + LOG.with_name(f"{LOG.stem}-accounts.log").read_text()
    assert "path=/oauth-consent/refresh/" in logs and "path=/api/v2/connections/test" in logs, "nothing was logged"
    passwords = [expected.account.password for expected in USERS.values()]
    for secret in (*_secrets(), *passwords, *oauth.access.live(), *oauth.refresh.live()):
        assert secret not in logs
