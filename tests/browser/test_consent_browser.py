"""End to end in headless Chromium: sign in to a real Airflow API server, consent at the QuickBooks Online emulator
(its Approve / Deny page), land on the callback, then a DAG run uses the stored tokens and realm id. Also the
Admin menu entry of the token page.

Debian's chromium (`scripts/install-browser.sh`) is driven by Playwright; no browser is downloaded. Screenshots go
to test-artifacts/. The test is skipped, loudly, only when chromium cannot be installed at all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.browser.harness import api_server, chromium, free_port, new_page, sign_in
from tests.conftest import ROOT, run_dag
from tests.emulators.quickbooks import AUTHORIZE_PATH, QuickBooksEmulator
from tests.stored_tokens import stored_token

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CONN_ID = "qb_consent"
CLIENT_SECRET = "qb-client-secret-0123456789"
REALM = "9130357766"
PREFIX = "/oauth-consent"


@pytest.fixture(scope="module")
def api() -> Iterator[QuickBooksEmulator]:
    with QuickBooksEmulator(client_secret=CLIENT_SECRET, realm_id=REALM) as server:
        yield server


@pytest.fixture(scope="module")
def airflow_url(airflow_db: Path, api: QuickBooksEmulator) -> Iterator[str]:
    """A real `airflow api-server` on the test AIRFLOW_HOME, simple auth manager with one known user."""
    port = free_port()
    _add_connection(f"http://127.0.0.1:{port}", api)
    with api_server(airflow_db, port, ROOT / "test-artifacts" / "browser-api-server.log") as url:
        yield url


def _add_connection(airflow_url: str, api: QuickBooksEmulator) -> None:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    redirect_uri = f"{airflow_url}{PREFIX}/callback"
    api.register_redirect_uri(redirect_uri)  # Intuit: the app's Redirect URIs
    # The profile `quickbooks_sandbox` with the emulator's URLs; no realm id: the consent must bring it.
    extra = {**api.airflow_connection()["extra"], "redirect_uri": redirect_uri}
    extra.pop("realm_id")
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == CONN_ID).delete()
        session.add(
            Connection(
                conn_id=CONN_ID,
                conn_type="authapi_oauth2",
                host=api.url,
                login=api.client_id,
                password=CLIENT_SECRET,
                extra=json.dumps(extra),
            )
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser: Any, airflow_url: str) -> Iterator[Any]:
    with new_page(browser) as page:
        yield page


def test_unauthenticated_requests_are_refused(airflow_url: str):
    with httpx.Client(base_url=airflow_url, follow_redirects=False) as client:
        page = client.get(f"{PREFIX}/")
        assert page.status_code == 303 and page.headers["location"].startswith("/auth/login?next=")
        assert "API tokens" not in page.text
        assert client.post(f"{PREFIX}/authorize/{CONN_ID}").status_code == 401
        callback = client.get(f"{PREFIX}/callback", params={"code": "c", "state": "s"})
        assert callback.status_code == 303 and "/auth/login" in callback.headers["location"]
        forged = client.get(f"{PREFIX}/", cookies={"_token": "not-a-jwt"})
        assert forged.status_code == 303
    assert stored_token(CONN_ID) is None


def test_consent_in_browser_then_dag_uses_tokens(
    page: Any, airflow_url: str, api: QuickBooksEmulator, artifacts_dir: Path
):
    from airflow_provider_authapi.consent import ConsentStates, PendingConsent

    shots = artifacts_dir
    home = f"{airflow_url}{PREFIX}/"

    # Not signed in: the consent page sends the browser to Airflow's login, which brings it back.
    page.goto(home)
    page.wait_for_url("**/auth/login**")
    sign_in(page, shots / "consent-01-login.png")
    page.wait_for_url(home)
    row = page.locator(f"tr[data-conn-id='{CONN_ID}']")
    assert row.locator("[data-state]").get_attribute("data-state") == "none"
    page.screenshot(path=shots / "consent-02-connections.png")

    # Authorize -> the API's consent page (state + PKCE) -> Approve -> the callback stores the tokens.
    row.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{api.url}{AUTHORIZE_PATH}?**")
    consent_query = httpx.URL(page.url).params
    assert consent_query["state"] and consent_query["code_challenge_method"] == "S256"
    assert consent_query["redirect_uri"] == f"{airflow_url}{PREFIX}/callback"
    assert consent_query["scope"] == "com.intuit.quickbooks.accounting"  # from the profile
    page.screenshot(path=shots / "consent-03-provider-consent.png")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{airflow_url}{PREFIX}/callback?**")
    callback_url = page.url
    assert "is authorized" in page.locator("#result").inner_text()
    assert REALM in page.content()
    page.screenshot(path=shots / "consent-04-callback-success.png")
    token = stored_token(CONN_ID)
    assert token is not None and token["refresh_token"] and token["extra"]["realm_id"] == REALM
    for secret in (token["access_token"], token["refresh_token"], CLIENT_SECRET):
        assert secret not in page.content()

    page.goto(home)
    row = page.locator(f"tr[data-conn-id='{CONN_ID}']")
    assert row.locator("[data-state]").get_attribute("data-state") == "valid"
    assert REALM in row.inner_text() and "yes" in row.inner_text()
    assert token["access_token"] not in page.content() and token["refresh_token"] not in page.content()
    page.screenshot(path=shots / "consent-05-connections-authorized.png")

    # The same authorization response again: refused as replayed; the stored token is untouched.
    page.goto(callback_url)
    assert page.locator("#result").get_attribute("data-error") == "replayed"
    page.screenshot(path=shots / "consent-06-replayed.png")

    # Deny at the API: access_denied error page.
    page.goto(home)
    page.locator(f"tr[data-conn-id='{CONN_ID}']").get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{api.url}{AUTHORIZE_PATH}?**")
    page.get_by_role("button", name="Deny").click()
    page.wait_for_url(f"{airflow_url}{PREFIX}/callback?**")
    assert page.locator("#result").get_attribute("data-error") == "access_denied"
    page.screenshot(path=shots / "consent-07-denied.png")

    # A code the token endpoint refuses: the exchange fails with its own error page.
    page.goto(home)
    page.locator(f"tr[data-conn-id='{CONN_ID}']").get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{api.url}{AUTHORIZE_PATH}?**")
    state = httpx.URL(page.url).params["state"]
    page.goto(f"{airflow_url}{PREFIX}/callback?" + urlencode({"code": "forged-code", "state": state}))
    assert page.locator("#result").get_attribute("data-error") == "exchange"
    page.screenshot(path=shots / "consent-08-exchange-failed.png")

    # No state at all, and an expired one.
    page.goto(f"{airflow_url}{PREFIX}/callback?code=abc")
    assert page.locator("#result").get_attribute("data-error") == "state"
    expired = PendingConsent("expired-state-" + "x" * 30, CONN_ID, "http://x/cb", "v", time.time() - 1)
    ConsentStates().put(expired)
    page.goto(f"{airflow_url}{PREFIX}/callback?" + urlencode({"code": "abc", "state": expired.state}))
    assert page.locator("#result").get_attribute("data-error") == "expired"
    page.screenshot(path=shots / "consent-09-expired.png")
    assert stored_token(CONN_ID) == token, "a failed consent must not touch the stored token"

    # A task uses the consented tokens (and the realm id) without asking the token endpoint again.
    token_requests = api.token_requests
    result = run_dag(
        "consent_uses_tokens",
        conf={"conn_id": CONN_ID, "endpoint": "/v3/company/{realm_id}/companyinfo/{realm_id}"},
    )
    assert result.state == "success", result.task_states()
    assert result.xcom("call_api") == {
        "status": 200,
        "endpoint": f"/v3/company/{REALM}/companyinfo/{REALM}",
        "realm_id": REALM,
        "token_requests": 0,
    }
    assert api.token_requests == token_requests


def test_admin_menu_opens_the_token_page(page: Any, airflow_url: str, artifacts_dir: Path):
    """The plugin's external view sits in Airflow's Admin menu. (The connection forms: test_connection_forms.py.)"""
    page.goto(f"{airflow_url}/connections")
    page.wait_for_url("**/auth/login**")
    sign_in(page, artifacts_dir / "connection-form-01-login.png")
    page.wait_for_url(f"{airflow_url}/connections")
    page.get_by_role("button", name="Admin", exact=True).first.click()
    assert page.get_by_role("menuitem", name="API tokens").is_visible()
    page.get_by_role("menuitem", name="API tokens").click()
    page.wait_for_url(f"{airflow_url}/plugin/authapi")
    assert page.frame_locator("iframe").locator("h1").inner_text().startswith("API tokens")
    page.screenshot(path=artifacts_dir / "connection-form-02-admin-menu-page.png")
