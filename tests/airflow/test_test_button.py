"""The connection Test button: real emulators, Airflow's own `POST /connections/test` route function behind our
middleware (as the UI calls it: `port: 0`, a temporary connection id), and the hook's messages."""

from __future__ import annotations

import json
from inspect import signature
from typing import Any

import httpx
import pytest

from airflow_provider_authapi.compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_authapi.hooks.authapi import AuthApiHook, reset_token_managers
from airflow_provider_authapi.plugins.connection_test import ConnectionTestMiddleware, normalize_test_body
from tests.emulators.aspire import AspireEmulator
from tests.emulators.odd_login import OddLoginServer
from tests.stored_tokens import stored_record

TEST_PATH = "/api/v2/connections/test"
TEMPORARY_ID = "tmpXyZ42"


@pytest.fixture(autouse=True)
def _fresh_managers():
    reset_token_managers()
    yield
    reset_token_managers()


def aspire_connection(api: AspireEmulator, **extra: Any) -> dict[str, Any]:
    return {
        "conn_type": "authapi_token",
        "host": api.url,
        "login": api.client_id,
        "password": api.secret,
        "extra": {"profile": "aspire", **extra},
    }


def assert_no_secret(message: str, *secrets: str) -> None:
    assert "eyJ" not in message, "a JWT leaked into the message"
    for secret in secrets:
        assert secret not in message


def test_token_login_test_calls_test_endpoint_and_says_where_the_token_went(airflow_db, aspire, set_connection):
    set_connection("aspire_ok", **aspire_connection(aspire, test_endpoint="/Properties?$top=1"))
    calls = aspire.count("GET", "/Properties")
    ok, message = AuthApiHook("aspire_ok").test_connection()
    assert ok, message
    assert message.startswith(f"Connection 'aspire_ok': the login at {aspire.url}/Authorization gave a token valid")
    assert "(with a refresh token)" in message and "of type" not in message  # Aspire declares no token type
    assert "GET /Properties?$top=1 with it in header 'Authorization: Bearer <token>' answered 200." in message
    assert aspire.count("GET", "/Properties") == calls + 1
    assert_no_secret(message, aspire.secret)
    assert stored_record("aspire_ok") is None, "Test must not replace the token tasks use"

    # A wrong prefix used to pass Test (login only): now the API call shows it, and the message says what was sent.
    set_connection(
        "aspire_prefix", **aspire_connection(aspire, test_endpoint="/Properties?$top=1", header_prefix="Token")
    )
    ok, message = AuthApiHook("aspire_prefix").test_connection()
    assert not ok
    assert "with it in header 'Authorization: Token <token>' was refused (401)" in message
    assert "(header_prefix)" in message and "(header_name)" in message  # the fields to check, by their names
    assert "Bearer" not in message
    assert_no_secret(message, aspire.secret)

    # No test_endpoint (or the form's default "/"): the login alone, and a hint.
    set_connection("aspire_plain", **aspire_connection(aspire, test_endpoint="/"))
    calls = aspire.count("GET", "/Properties")
    ok, message = AuthApiHook("aspire_plain").test_connection()
    assert ok and "it will be sent in header 'Authorization: Bearer <token>'" in message
    assert "Set 'Test endpoint' (test_endpoint)" in message or "Set test_endpoint" in message
    assert aspire.count("GET", "/Properties") == calls


def test_oauth2_test_names_the_token_type_and_a_query_placement(airflow_db, oauth, set_connection):
    base = {"conn_type": "authapi_oauth2", "host": oauth.url, "login": oauth.client_id, "password": oauth.client_secret}
    set_connection(
        "cc_query", **base, extra={"login_url": "/token", "auth_location": "query", "test_endpoint": "/api/whoami"}
    )
    ok, message = AuthApiHook("cc_query").test_connection()
    assert ok, message
    assert f"the client credentials grant at {oauth.url}/token gave a token of type bearer valid until" in message
    assert "GET /api/whoami with it in query parameter 'access_token=<token>' answered 200." in message
    assert_no_secret(message, oauth.client_secret, "at-")

    set_connection("cc_bad_secret", **{**base, "password": "wrong-secret-0123456789"}, extra={"login_url": "/token"})
    ok, message = AuthApiHook("cc_bad_secret").test_connection()
    assert not ok and message.startswith("Connection 'cc_bad_secret': the client credentials grant at")
    assert "failed" in message and "invalid_client" in message
    assert_no_secret(message, "wrong-secret-0123456789")


def test_custom_grant_test_logs_in_through_the_grant_and_signs_the_call(airflow_db, set_connection, monkeypatch):
    """A `grant_class` connection is a token connection: Test logs in with the grant (not a bare GET of the test
    endpoint), into a throwaway store, then calls the endpoint with the ticket and the `auth_class` signature."""
    from airflow.api_fastapi.core_api.routes.public import connections as routes
    from fastapi.testclient import TestClient

    with OddLoginServer.standalone() as odd:  # /api/signed wants the ticket and the signature
        connection = odd.airflow_connection()  # the demo's: the example's grant and signer
        extra = {**connection["extra"], "test_endpoint": "/api/signed"}
        signing_secret, grant = extra["signing_secret"], extra["grant_class"]
        set_connection("odd_test", **{**connection, "extra": extra})
        ok, message = AuthApiHook("odd_test").test_connection()
        assert ok, message
        assert message.startswith(f"Connection 'odd_test': the custom grant {grant} gave a token valid until")
        assert "(with a refresh token)" in message and "of type" not in message
        assert "GET /api/signed with it in header 'Authorization: Bearer <token>' answered 200." in message
        assert (odd.logins, odd.signed) == (1, [("GET", "/api/signed")])
        assert stored_record("odd_test") is None, "Test must not replace the token tasks use"

        # No test_endpoint: the login alone, and the hint.
        set_connection("odd_plain", **{**connection, "extra": {**extra, "test_endpoint": ""}})
        ok, plain = AuthApiHook("odd_plain").test_connection()
        assert ok and "it will be sent in header 'Authorization: Bearer <token>'" in plain, plain
        assert odd.logins == 2 and len(odd.signed) == 1

        # A refused login names the grant and what the vendor said, never the PIN.
        set_connection("odd_wrong", **{**connection, "password": "wrong-pin-0123456789"})
        ok, wrong = AuthApiHook("odd_wrong").test_connection()
        assert not ok and wrong.startswith(f"Connection 'odd_wrong': the custom grant {grant} failed:"), wrong
        assert "401" in wrong

        # The form's Test through Airflow's own route: a temporary connection id, the user's named.
        monkeypatch.setenv("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
        monkeypatch.setattr(routes, "get_random_string", lambda: TEMPORARY_ID)
        body = {**connection, "connection_id": "odd_form", "extra": json.dumps(extra), "port": 0}
        with TestClient(airflow_test_app(middleware=True)) as client:
            answer = client.post(TEST_PATH, json=body).json()
        assert answer["status"] is True, answer
        assert answer["message"].startswith(f"Connection 'odd_form': the custom grant {grant} gave a token")
        assert TEMPORARY_ID.lower() not in answer["message"].lower()
        assert odd.logins == 4 and len(odd.signed) == 2
        for text in (message, plain, wrong, answer["message"]):
            assert_no_secret(text, odd.pin, "wrong-pin-0123456789", signing_secret, *odd.tickets.live())
            assert not any(renewal in text for renewal in odd.renewals.live())


def test_middleware_drops_only_port_zero_of_our_types():
    ours = json.dumps({"conn_type": "authapi_token", "connection_id": "aspire", "port": 0, "host": "h"}).encode()
    body, conn_id = normalize_test_body(ours)
    assert conn_id == "aspire" and json.loads(body) == {
        "conn_type": "authapi_token",
        "connection_id": "aspire",
        "host": "h",
    }
    kept = json.dumps({"conn_type": "authapi_token", "connection_id": "a", "port": 8443}).encode()
    assert normalize_test_body(kept) == (kept, "a")
    for other in (
        {"conn_type": "http", "connection_id": "h", "port": 0},  # another provider's type: untouched
        {"conn_type": "authapi_basic", "connection_id": "b", "port": False},  # not the number 0
    ):
        raw = json.dumps(other).encode()
        assert normalize_test_body(raw)[0] == raw
    assert normalize_test_body(b"not json") == (b"not json", None)


class _AllowAll:
    def is_authorized_connection(self, **_: Any) -> bool:
        return True


def airflow_test_app(middleware: bool) -> Any:
    """Airflow's own `test_connection` route function (port check, temporary id, env var) on a small app."""
    from airflow.api_fastapi.core_api.datamodels.connections import ConnectionBody
    from airflow.api_fastapi.core_api.routes.public import connections as routes
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import JSONResponse

    app = FastAPI()
    # Airflow 3.3's route also takes the user and the auth manager (it checks access); 3.1 and 3.2's do not.
    access = {"user": None, "auth_manager": _AllowAll()}
    access = {name: value for name, value in access.items() if name in signature(routes.test_connection).parameters}

    @app.post(TEST_PATH)
    def test(request_body: dict[str, Any]) -> Any:  # sync: runs in the thread pool, as Airflow's
        try:
            result = routes.test_connection(ConnectionBody(**request_body), **access)
        except HTTPException as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return result.model_dump()

    return ConnectionTestMiddleware(app) if middleware else app


def test_row_test_button_through_airflows_route_names_the_users_connection(
    airflow_db, oauth, set_connection, monkeypatch
):
    from airflow.api_fastapi.core_api.routes.public import connections as routes
    from fastapi.testclient import TestClient

    from airflow_provider_authapi.consent import begin, complete, hook_for

    monkeypatch.setenv("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
    monkeypatch.setattr(routes, "get_random_string", lambda: TEMPORARY_ID)  # Airflow's random id, made known
    extra = {
        "grant_type": "authorization_code",
        "login_url": "/token",
        "consent_url": "/authorize",
        "redirect_uri": "http://127.0.0.1:9/callback",
        "test_endpoint": "/api/whoami",
    }
    connection = {
        "conn_type": "authapi_oauth2",
        "host": oauth.url,
        "login": oauth.client_id,
        "password": oauth.client_secret,
        "extra": extra,
    }
    set_connection("consented", **connection)

    # The UI's row Test sends what the list shows: masked password, port Number(null) = 0.
    body = {
        "connection_id": "consented",
        "conn_type": "authapi_oauth2",
        "host": oauth.url,
        "login": oauth.client_id,
        "password": "***",
        "extra": json.dumps(extra),
        "port": 0,
        "schema": "",
        "description": "",
    }
    with TestClient(airflow_test_app(middleware=False)) as client:
        refused = client.post(TEST_PATH, json=body)
    if AIRFLOW_V_3_3_PLUS:  # Airflow 3.3.2 as is; 3.1 and 3.2 have no host-or-port check (nothing to mend there)
        assert refused.status_code == 400 and "host or port" in refused.json()["detail"]
    else:
        assert refused.status_code == 200, refused.text

    with TestClient(airflow_test_app(middleware=True)) as client:
        nothing_stored = client.post(TEST_PATH, json=body).json()
        assert nothing_stored["status"] is False
        assert "'consented'" in nothing_stored["message"]
        assert TEMPORARY_ID.lower() not in nothing_stored["message"].lower(), nothing_stored["message"]

        # After the consent, Test refreshes through the connection's own cache and keeps the rotated token.
        hook = hook_for("consented")
        url, pending = begin(hook)
        code = httpx.URL(httpx.get(url).headers["location"]).params["code"]
        complete(hook, pending, code)
        before = stored_record("consented")["token"]
        answer = client.post(TEST_PATH, json=body).json()
    assert answer["status"] is True, answer["message"]
    assert answer["message"].startswith(f"Connection 'consented': refreshing the stored token at {oauth.url}/token")
    assert "GET /api/whoami with it in header 'Authorization: Bearer <token>' answered 200." in answer["message"]
    after = stored_record("consented")["token"]
    assert after["refresh_token"] != before["refresh_token"], "the rotated refresh token was not kept"
    assert_no_secret(answer["message"] + nothing_stored["message"], oauth.client_secret, after["access_token"])
    assert TEMPORARY_ID.lower() not in answer["message"].lower()
    assert not [key for key in _variable_keys() if TEMPORARY_ID.lower() in key.lower()], (
        "a token cached under the temporary id"
    )


def _variable_keys() -> list[str]:
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        return [row.key for row in session.query(Variable).all()]
