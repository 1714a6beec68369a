"""`airflow authapi ...` run as real subprocesses against the OAuth 2.0 emulator and the test metadata DB."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from airflow_provider_authapi.cli.commands import _check_redirect
from airflow_provider_authapi.compat import CLI_NAME, READS_PROVIDER_CLI
from airflow_provider_authapi.consent import ConsentError, PendingConsent
from airflow_provider_authapi.store import VariableTokenStore
from tests.conftest import conn_env
from tests.emulators.aspire import AspireEmulator
from tests.emulators.base import Request, Response
from tests.emulators.oauth2_server import OAuth2Server
from tests.emulators.tokens import bearer_challenge
from tests.stored_tokens import stored_record

CONN_ID = "cli_consent"
CLIENT_SECRET = "cli-client-secret-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def oauth():
    with OAuth2Server(client_secret=CLIENT_SECRET) as server:
        yield server


@pytest.fixture
def cli_env(airflow_db, oauth) -> dict[str, str]:
    """The test AIRFLOW_HOME plus an authorization code connection on the emulator."""
    redirect_port = free_port()
    name, value = conn_env(
        CONN_ID,
        conn_type="authapi_oauth2",
        host=oauth.url,
        login=oauth.client_id,
        password=CLIENT_SECRET,
        extra={
            "grant_type": "authorization_code",
            "token_url": "/token",
            "authorization_url": "/authorize",
            "redirect_uri": f"http://127.0.0.1:{redirect_port}/callback",
            "scopes": "read",
        },
    )
    env = {**os.environ, name: value, "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}
    return {**env, "redirect_port": str(redirect_port)}


# `airflow authapi` where Airflow reads the provider's `cli` key (3.2+), else the `airflow-authapi` script's module
AUTHAPI_CLI = [sys.executable, "-m", "airflow", "authapi"]
if not READS_PROVIDER_CLI:
    AUTHAPI_CLI = [sys.executable, "-m", "airflow_provider_authapi.cli"]


def airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AUTHAPI_CLI, *args], env=env, capture_output=True, text=True, timeout=180)


def start_authorize(env: dict[str, str], *extra: str) -> tuple[subprocess.Popen[str], str]:
    """Start `airflow authapi authorize`, return the process and the authorization URL it printed."""
    proc = subprocess.Popen(
        [*AUTHAPI_CLI, "authorize", CONN_ID, *extra],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "/authorize?" in line:
            return proc, line.strip()
    proc.kill()
    raise AssertionError(f"no authorization URL printed; stderr: {proc.stderr.read() if proc.stderr else ''}")


def json_output(stdout: str) -> Any:
    """The JSON the command printed (Airflow may log warnings to stdout before it)."""
    lines = stdout.splitlines()
    return json.loads("\n".join(lines[lines.index("[") :]))


def test_authorize_status_refresh_clear(cli_env, oauth):
    # authorize: the printed URL carries state and a PKCE challenge; the "browser" (httpx) consents at the
    # emulator, which redirects to the redirect URI; that URL (plus QuickBooks' realmId) is pasted on stdin.
    proc, url = start_authorize(cli_env)
    query = httpx.URL(url).params
    assert query["code_challenge_method"] == "S256" and query["state"] and query["client_id"] == oauth.client_id
    consent = httpx.get(url, follow_redirects=False)
    assert consent.status_code == 302
    redirected = consent.headers["location"] + "&realmId=9130357766"
    out, err = proc.communicate(redirected + "\n", timeout=180)
    assert proc.returncode == 0, err
    assert "is authorized" in out
    assert oauth.last_token_form["grant_type"] == "authorization_code"
    assert oauth.last_token_form.get("code_verifier"), "PKCE verifier not sent with the code"

    record = stored_record(CONN_ID)
    assert record is not None
    first = record["token"]
    assert first["refresh_token"] and first["extra"]["realm_id"] == "9130357766"
    secrets = [first["access_token"], first["refresh_token"], CLIENT_SECRET]

    status = airflow(cli_env, "token", "status", CONN_ID, "--json")
    assert status.returncode == 0, status.stderr
    (shown,) = json_output(status.stdout)
    assert shown["stored"] is True and shown["has_refresh_token"] is True and shown["expired"] is False
    assert shown["current_credentials"] is True and shown["extra"] == {"realm_id": "9130357766"}

    refresh = airflow(cli_env, "token", "refresh", CONN_ID, "--json")
    assert refresh.returncode == 0, refresh.stderr
    assert oauth.last_token_form["grant_type"] == "refresh_token"
    second = stored_record(CONN_ID)["token"]
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"], "rotated refresh token not saved"
    assert second["extra"]["realm_id"] == "9130357766", "refresh lost the realm id"
    secrets += [second["access_token"], second["refresh_token"]]

    # The hook in this process reads the same store: an API call with the refreshed token, no new token request.
    from airflow_provider_authapi.hooks.authapi import AuthApiHook, reset_token_managers

    reset_token_managers()
    requests_before = oauth.count("POST", "/token")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", cli_env[f"AIRFLOW_CONN_{CONN_ID.upper()}"])
        hook = AuthApiHook(CONN_ID)
        assert hook.request("GET", "/api/whoami").status_code == 200
        assert hook.endpoint_vars() == {"realm_id": "9130357766"}
    assert oauth.count("POST", "/token") == requests_before

    cleared = airflow(cli_env, "token", "clear", CONN_ID)
    assert cleared.returncode == 0, cleared.stderr
    assert stored_record(CONN_ID) is None

    for result in (status, refresh, cleared):
        for secret in secrets:
            assert secret not in result.stdout + result.stderr
    for secret in secrets:
        assert secret not in out + err


def test_authorize_listen_reports_denial(cli_env, oauth):
    """--listen receives the redirect itself; a denied consent stores nothing and fails loudly."""
    port = cli_env["redirect_port"]
    proc, url = start_authorize(cli_env, "--listen", port, "--timeout", "120")
    state = httpx.URL(url).params["state"]
    deadline = time.monotonic() + 60
    while True:  # the listener starts right after the URL is printed
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/callback", params={"error": "access_denied", "state": state})
            break
        except httpx.ConnectError:
            assert time.monotonic() < deadline, "the CLI never listened"
            time.sleep(0.2)
    assert answer.status_code == 200 and "not granted" in answer.text
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "access_denied" in err
    assert stored_record(CONN_ID) is None


def pending(**overrides: Any) -> PendingConsent:
    values = dict(state="s" * 43, conn_id=CONN_ID, redirect_uri="http://x/cb", code_verifier="v", expires_at=1e12)
    return PendingConsent(**{**values, **overrides})


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ({"code": "c", "state": "other"}, "state"),
        ({"code": "c"}, "state"),
        ({"error": "access_denied", "state": "s" * 43}, "access_denied"),
        ({"state": "s" * 43}, "code"),
    ],
)
def test_pasted_url_is_checked(query, kind):
    with pytest.raises(ConsentError) as caught:
        _check_redirect(query, pending())
    assert caught.value.kind == kind


def test_pasted_url_after_expiry_is_refused():
    with pytest.raises(ConsentError) as caught:
        _check_redirect({"code": "c", "state": "s" * 43}, pending(expires_at=time.time() - 1))
    assert caught.value.kind == "expired"
    assert _check_redirect({"code": "c", "state": "s" * 43}, pending()) == "c"


def test_token_commands_serve_every_token_caching_type_and_fail_loudly(airflow_db):
    """A token login (Aspire) connection: refresh, status, clear; a static and a broken one: exit 1, named."""
    with AspireEmulator() as aspire:
        connections = {
            "cli_aspire": dict(conn_type="authapi_token", host=aspire.url, login=aspire.client_id,
                               password=aspire.secret, extra={"profile": "aspire"}),
            "cli_basic": dict(conn_type="authapi_basic", host=aspire.url, login="user", password="basic-pass-123"),
            "cli_broken": dict(conn_type="authapi_oauth2", host=aspire.url, login="client", password="secret-1234"),
        }  # fmt: skip
        env = {**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}
        env.update(conn_env(conn_id, **fields) for conn_id, fields in connections.items())

        refresh = airflow(env, "token", "refresh", "cli_aspire")
        assert refresh.returncode == 0, refresh.stderr
        assert aspire.logins == 1
        assert "cli_aspire (authapi_token)" in refresh.stdout and "state: valid" in refresh.stdout
        assert "refresh token: yes" in refresh.stdout and "valid until: 20" in refresh.stdout
        token = stored_record("cli_aspire")["token"]

        status = airflow(env, "token", "status", "--json")
        assert status.returncode == 1, "a connection that cannot be read is an error"
        shown = {row["conn_id"]: row for row in json_output(status.stdout)}
        assert shown["cli_aspire"]["state"] == "valid" and shown["cli_aspire"]["conn_type"] == "authapi_token"
        assert shown["cli_aspire"]["has_refresh_token"] is True
        assert "cli_basic" not in shown, "a static scheme caches no token"
        assert shown["cli_broken"]["state"] == "error" and "login_url" in shown["cli_broken"]["error"]
        assert "cli_broken" in status.stderr

        cleared = airflow(env, "token", "clear", "cli_aspire")
        assert cleared.returncode == 0 and "Cleared the stored token of connection 'cli_aspire'" in cleared.stdout
        assert stored_record("cli_aspire") is None

        static = airflow(env, "token", "status", "cli_basic")
        assert static.returncode == 1 and "'cli_basic' (authapi_basic) obtains no tokens" in static.stderr
        unknown = airflow(env, "token", "refresh", "cli_nowhere")
        assert unknown.returncode == 1 and "'cli_nowhere'" in unknown.stderr and "Traceback" not in unknown.stderr

    for result in (refresh, status, cleared, static, unknown):
        for secret in (token["access_token"], token["refresh_token"], aspire.secret):
            assert secret not in result.stdout + result.stderr


SHELL_CALL = """
import sys
from airflow_provider_authapi.hooks.authapi import AuthApiHook
response = AuthApiHook(sys.argv[1]).request("GET", "/api/whoami")
print(response.status_code, response.json()["subject"])
"""


class EchoingOAuth2Server(OAuth2Server):
    """The OAuth 2.0 emulator plus `GET /api/echo`, which answers with the token it was sent (to prove the CLI
    scrubs what it prints) and a nested list (to prove the body is pretty-printed JSON)."""

    def setup_routes(self) -> None:
        super().setup_routes()
        self.route("GET", r"/api/echo", self.echo)

    def echo(self, request: Request) -> Response:
        token = request.bearer()
        if self.access.check(token) is None:
            return bearer_challenge("invalid_token")
        page = request.query.get("page")
        return Response.json({"you_sent": f"Bearer {token}", "page": page, "items": [{"id": 1}, {"id": 2}]})


@pytest.fixture
def db_connections(airflow_db):
    """Connections saved in the metadata DB, as the UI saves them (not AIRFLOW_CONN_* variables)."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    saved: list[str] = []

    def save(conn_id: str, **fields: Any) -> None:
        extra = json.dumps(fields.pop("extra", {}))
        with create_session() as session:
            session.query(Connection).filter(Connection.conn_id == conn_id).delete()
            session.add(Connection(conn_id=conn_id, extra=extra, **fields))
        saved.append(conn_id)

    yield save
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id.in_(saved)).delete()
    for conn_id in saved:
        VariableTokenStore(conn_id, fingerprint="").clear()


def test_call_and_test_use_a_connection_saved_in_the_metadata_db(db_connections):
    """`call` sends one request through the connection and its shared token cache and prints the status and the
    pretty, scrubbed JSON body; `test` prints our Test message; both exit 1 on failure and name the problem."""
    with EchoingOAuth2Server(client_secret=CLIENT_SECRET) as oauth:
        oauth2 = {"conn_type": "authapi_oauth2", "host": oauth.url, "login": oauth.client_id}
        db_connections("cli_call", **oauth2, password=CLIENT_SECRET, extra={"login_url": "/token"})
        db_connections("cli_wrong", **oauth2, password="not-the-secret-0123456789", extra={"login_url": "/token"})
        env = {**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}

        first = airflow(env, "call", "cli_call", "/api/whoami")
        assert first.returncode == 0, first.stderr
        assert f"GET {oauth.url}/api/whoami -> 200 OK" in first.stdout
        assert '{\n  "subject": "client-id-1",\n  "scope": ' in first.stdout
        assert oauth.count("POST", "/token") == 1
        token = stored_record("cli_call")["token"]["access_token"]  # the shared cache holds the CLI's token

        echoed = airflow(env, "call", "cli_call", "GET", "/api/echo", "--query", "page=2")
        assert echoed.returncode == 0, echoed.stderr
        assert oauth.count("POST", "/token") == 1, "the second call did not reuse the cached token"
        assert '"you_sent": "Bearer ***"' in echoed.stdout and '"items": [\n    {\n      "id": 1' in echoed.stdout
        assert '"page": "2"' in echoed.stdout

        missing = airflow(env, "call", "cli_call", "DELETE", "/api/nothing-here")
        assert missing.returncode == 1 and f"DELETE {oauth.url}/api/nothing-here -> 404" in missing.stdout

        tested = airflow(env, "test", "cli_call")
        assert tested.returncode == 0, tested.stderr
        assert "\nOK: Connection 'cli_call': the client credentials grant at " in f"\n{tested.stdout}"
        failed = airflow(env, "test", "cli_wrong")
        assert failed.returncode == 1 and "\nFAILED: Connection 'cli_wrong'" in f"\n{failed.stdout}"
        assert "invalid_client" in failed.stdout

        # The hook in a plain Python shell finds the connection saved in the metadata DB (the Task SDK alone
        # does not look there outside a task), and uses the cached token.
        requests = oauth.count("POST", "/token")
        shell = subprocess.run(
            [sys.executable, "-c", SHELL_CALL, "cli_call"], env=env, capture_output=True, text=True, timeout=180
        )
        assert shell.returncode == 0 and "200 client-id-1" in shell.stdout, shell.stderr[-2000:]
        assert oauth.count("POST", "/token") == requests

        # A damaged record: status names it and the fix; an explicit refresh replaces it.
        from airflow_provider_authapi.store import MetadataVariables, token_variable_name

        MetadataVariables().set(token_variable_name("cli_call"), "hand-edited garbage")
        damaged = airflow(env, "token", "status", "cli_call")
        assert damaged.returncode == 1 and "is damaged: it is not JSON" in damaged.stdout
        assert f"{CLI_NAME} token clear cli_call" in damaged.stdout
        replaced = airflow(env, "token", "refresh", "cli_call")
        assert replaced.returncode == 0 and "state: valid" in replaced.stdout, replaced.stderr
        assert stored_record("cli_call")["token"]["access_token"] != token

        unknown = airflow(env, "call", "cli_nowhere", "/api/whoami")
        assert unknown.returncode == 1 and "'cli_nowhere'" in unknown.stderr and "Traceback" not in unknown.stderr
        bad = airflow(env, "call", "cli_call", "FETCH", "/x")
        assert bad.returncode == 1 and "give [METHOD] PATH" in bad.stderr

    for result in (first, echoed, missing, tested, failed, shell, damaged, replaced, unknown):
        for secret in (token, CLIENT_SECRET):
            assert secret not in result.stdout + result.stderr
