"""The token page app in-process (FastAPI TestClient): which connections it lists, Refresh and Clear against real
emulators and the metadata DB, and who may do what. The signed-in user and the auth manager's answers are stand-ins
here; tests/browser/test_token_page.py runs the same page on a real API server with Airflow's auth manager."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_authapi.compat import CLI_NAME
from airflow_provider_authapi.hooks.authapi import reset_token_managers
from airflow_provider_authapi.plugins import app as token_app
from tests.stored_tokens import stored_record, stored_token

WRONG_SECRET = "not-the-client-secret-0123456789"


@pytest.fixture
def connections(airflow_db, aspire, oauth, set_connection) -> dict[str, str]:
    """Connections of every kind the page must sort: token-caching, static, consent, broken, failing, hidden."""
    reset_token_managers()
    oauth2 = {"conn_type": "authapi_oauth2", "host": oauth.url, "login": oauth.client_id}
    set_connection("tp_aspire", conn_type="authapi_token", host=aspire.url, login=aspire.client_id,
                   password=aspire.secret, extra={"profile": "aspire"})  # fmt: skip
    set_connection("tp_cc", **oauth2, password=oauth.client_secret, extra={"login_url": "/token"})
    consent = {"grant_type": "authorization_code", "login_url": "/token", "consent_url": "/authorize"}
    set_connection("tp_consent", **oauth2, password=oauth.client_secret, extra=consent)
    set_connection("tp_wrong_secret", **oauth2, password=WRONG_SECRET, extra={"login_url": "/token"})
    set_connection("tp_broken", **oauth2, password=oauth.client_secret, extra={})  # no login_url
    set_connection("tp_hidden", **oauth2, password=oauth.client_secret, extra={"login_url": "/token"})
    set_connection("tp_basic", conn_type="authapi_basic", host=oauth.url, login="user", password="basic-pass-123")
    yield {"aspire": aspire.secret, "oauth": oauth.client_secret}
    for conn_id in ("tp_aspire", "tp_cc", "tp_consent"):
        _clear(conn_id)
    reset_token_managers()


def _clear(conn_id: str) -> None:
    from airflow_provider_authapi.store import VariableTokenStore

    VariableTokenStore(conn_id, fingerprint="").clear()


def client_for(monkeypatch, *, can_edit: bool = True) -> Any:
    """A TestClient on the page as a signed-in user who may read every tp_ connection but tp_hidden."""
    from fastapi.testclient import TestClient

    def allowed(user: Any, conn_id: str, method: str) -> bool:
        return conn_id != "tp_hidden" and (method == "GET" or can_edit)

    monkeypatch.setattr(token_app, "_allowed", allowed)
    app = token_app.create_app()
    app.dependency_overrides[token_app.current_user] = lambda: SimpleNamespace(get_name=lambda: "alice")
    return TestClient(app, base_url="http://airflow.test", follow_redirects=False)


def rows(html: str) -> dict[str, str]:
    """conn id -> the HTML of its row, for the tp_ connections of this module."""
    found = {}
    for part in html.split("<tr data-conn-id='")[1:]:
        conn_id, _, rest = part.partition("'")
        if conn_id.startswith("tp_"):
            found[conn_id] = rest.partition("</tr>")[0]
    return found


def test_the_page_lists_every_token_caching_connection_the_user_may_see(connections, monkeypatch):
    with client_for(monkeypatch) as client:
        page = client.get("/")
    assert page.status_code == 200
    listed = rows(page.text)
    assert set(listed) == {"tp_aspire", "tp_cc", "tp_consent", "tp_wrong_secret", "tp_broken"}
    assert "Token login API" in listed["tp_aspire"] and "OAuth 2.0 API" in listed["tp_cc"]
    assert "data-state='none'" in listed["tp_aspire"] and "data-state='error'" in listed["tp_broken"]
    assert "login_url" in listed["tp_broken"], "a broken connection says which field"
    assert ">Authorize<" in listed["tp_consent"] and ">Authorize<" not in listed["tp_cc"]
    assert "name='refresh'" in listed["tp_cc"] and "Authorize first" in listed["tp_consent"]
    for secret in (*connections.values(), WRONG_SECRET):
        assert secret not in page.text


def test_refresh_and_clear_a_token_login_and_a_client_credentials_connection(connections, aspire, monkeypatch):
    with client_for(monkeypatch) as client:
        logins = aspire.logins
        done = client.post("/refresh/tp_aspire")
        assert done.status_code == 303 and done.headers["location"].endswith("?done=refreshed&conn_id=tp_aspire")
        assert aspire.logins == logins + 1
        token = stored_token("tp_aspire")
        assert token is not None and token["refresh_token"]
        page = client.get(done.headers["location"])
        assert "Connection tp_aspire: obtained a new token." in page.text
        row = rows(page.text)["tp_aspire"]
        assert "data-state='valid'" in row and "class='refresh-token'>yes<" in row and "UTC" in row
        assert token["access_token"] not in page.text and token["refresh_token"] not in page.text

        # A second Refresh uses the stored refresh token, not a new login.
        assert client.post("/refresh/tp_aspire").status_code == 303
        assert aspire.logins == logins + 1 and stored_token("tp_aspire")["access_token"] != token["access_token"]

        assert client.post("/refresh/tp_cc").status_code == 303
        assert stored_record("tp_cc") is not None

        cleared = client.post("/clear/tp_aspire")
        assert cleared.status_code == 303 and "done=cleared" in cleared.headers["location"]
        assert stored_record("tp_aspire") is None
        page = client.get(cleared.headers["location"])
        assert "Connection tp_aspire: cleared the stored token." in page.text
        assert "data-state='none'" in rows(page.text)["tp_aspire"]
        again = client.post("/clear/tp_aspire")
        assert "done=nothing" in again.headers["location"]


def test_failures_are_shown_on_the_page_without_secrets(connections, monkeypatch):
    with client_for(monkeypatch) as client:
        refused = client.post("/refresh/tp_wrong_secret")
        assert refused.status_code == 502 and "invalid_client" in refused.text
        assert "Connection tp_wrong_secret:" in refused.text and WRONG_SECRET not in refused.text
        assert stored_record("tp_wrong_secret") is None

        static = client.post("/refresh/tp_basic")
        assert static.status_code == 400 and "obtains no tokens" in static.text
        broken = client.post("/refresh/tp_broken")
        assert broken.status_code == 400 and "login_url" in broken.text
        unknown = client.post("/clear/tp_never_defined")
        assert unknown.status_code == 400 and "tp_never_defined" in unknown.text


def test_read_only_users_and_cross_site_posts_change_nothing(connections, aspire, monkeypatch):
    with client_for(monkeypatch) as client:
        assert client.post("/refresh/tp_aspire").status_code == 303
        before = stored_token("tp_aspire")
        cross_site = client.post("/clear/tp_aspire", headers={"Origin": "https://evil.example"})
        assert cross_site.status_code == 403 and stored_token("tp_aspire") == before
        assert client.post("/clear/tp_hidden").status_code == 403
        same_site = client.post("/clear/tp_aspire", headers={"Origin": "http://airflow.test"})
        assert same_site.status_code == 303 and stored_token("tp_aspire") is None

    with client_for(monkeypatch, can_edit=False) as client:
        page = client.get("/")
        assert "view only" in rows(page.text)["tp_aspire"] and "<button" not in page.text
        logins = aspire.logins
        assert client.post("/refresh/tp_aspire").status_code == 403
        assert client.post("/authorize/tp_consent").status_code == 403
    assert aspire.logins == logins and stored_token("tp_aspire") is None


@pytest.fixture
def revocable(airflow_db, oauth, set_connection) -> dict[str, str]:
    """Refresh-token connections on the emulator: revoked at /revoke, at an endpoint that fails, or not at all."""
    reset_token_managers()
    urls = {"tp_revoke": "/revoke", "tp_revoke_refused": "/no-such-endpoint", "tp_revoke_unset": None}
    initial = {}
    for conn_id, url in urls.items():
        initial[conn_id] = oauth.issue_refresh_token(scope="read")
        extra = {"grant_type": "refresh_token", "login_url": "/token", "refresh_token": initial[conn_id]}
        if url:
            extra["revocation_url"] = url
        set_connection(conn_id, conn_type="authapi_oauth2", host=oauth.url, login=oauth.client_id,
                       password=oauth.client_secret, extra=extra)  # fmt: skip
    yield initial
    for conn_id in urls:
        _clear(conn_id)
    reset_token_managers()


def test_clear_revokes_the_tokens_first_and_says_whether_the_api_confirmed(revocable, oauth, monkeypatch):
    with client_for(monkeypatch) as client:
        for conn_id in revocable:
            assert client.post(f"/refresh/{conn_id}").status_code == 303
        tokens = {conn_id: stored_token(conn_id) for conn_id in revocable}
        row = rows(client.get("/").text)["tp_revoke"]
        expires = tokens["tp_revoke"]["extra"]["refresh_token_expires_at"]
        assert f"data-refresh-expires='{expires}'" in row and "days)</span>" in row, "no refresh token expiry shown"

        cleared = client.post("/clear/tp_revoke")
        assert cleared.status_code == 303 and "done=revoked" in cleared.headers["location"]
        page = client.get(cleared.headers["location"]).text
        assert "Connection tp_revoke: the API confirmed the revocation of its tokens; cleared the stored token." in page
        assert stored_record("tp_revoke") is None
        assert oauth.refresh.check(tokens["tp_revoke"]["refresh_token"]) is None, "the refresh token still works"
        assert oauth.access.check(tokens["tp_revoke"]["access_token"]) is None, "the access token still works"

        refused = client.post("/clear/tp_revoke_refused")
        assert refused.status_code == 502 and "notice bad" in refused.text
        assert "refresh token: not revoked: token endpoint" in refused.text and "answered 404" in refused.text
        assert "Cleared the stored token of connection &#x27;tp_revoke_refused&#x27; anyway" in refused.text
        assert stored_record("tp_revoke_refused") is None, "a failed revocation still deletes the local copy"
        assert oauth.refresh.check(tokens["tp_revoke_refused"]["refresh_token"]) is not None

        unset = client.post("/clear/tp_revoke_unset")
        assert unset.status_code == 303 and "why=no_url" in unset.headers["location"]
        page_unset = client.get(unset.headers["location"]).text
        assert "cleared the stored token. Not revoked: the connection has no revocation_url." in page_unset

    shown = page + refused.text + page_unset
    for token in tokens.values():
        assert token["access_token"] not in shown and token["refresh_token"] not in shown
    assert oauth.client_secret not in shown and not any(value in shown for value in revocable.values())


def test_a_damaged_record_shows_its_fix_and_clear_works(connections, oauth, monkeypatch):
    """A record the Variables page redacted (today's `authapi_token_<conn>` after a Save): the row says what is
    wrong and which action fixes it, Clear is offered (Refresh waits for it), and after Clear the cache works."""
    import json

    from airflow_provider_authapi.store import MetadataVariables
    from airflow_provider_authapi.store.variables import legacy_token_variable_name

    redacted = {"version": 1, "conn_id": "***", "fingerprint": "***", "token": {"access_token": "***"}}
    MetadataVariables().set(legacy_token_variable_name("tp_cc"), json.dumps(redacted))
    with client_for(monkeypatch) as client:
        row = rows(client.get("/").text)["tp_cc"]
        assert "data-state='damaged'" in row and "replaced by ***" in row
        assert f"{CLI_NAME} token clear tp_cc" in row and "authapi_token_tp_cc" in row
        assert "<button type='submit' name='clear' data-conn-id='tp_cc' class='primary'>" in row
        assert "title='Clear the damaged record first'" in row
        cleared = client.post("/clear/tp_cc")
        assert cleared.status_code == 303 and "why=damaged" in cleared.headers["location"]
        assert "no token could be read" in client.get(cleared.headers["location"]).text
        assert stored_record("tp_cc") is None
        requests = oauth.token_requests
        assert client.post("/refresh/tp_cc").status_code == 303
        assert oauth.token_requests == requests + 1 and "data-state='valid'" in rows(client.get("/").text)["tp_cc"]
