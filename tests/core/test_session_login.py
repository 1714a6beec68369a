"""Session logins: the token comes back in a cookie or a header and goes out as a cookie, with other cookies carried
along, a lifetime in minutes, and a new login when the server has dropped the session (SAP Business One style)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest

from airflow_provider_authapi.auth import (
    AuthConfig,
    CommonConfig,
    ConfigError,
    TokenEndpointError,
    TokenLoginConfig,
    TokenPlacement,
    UnauthorizedError,
    build_token_manager,
)
from airflow_provider_authapi.auth.client import set_cookies
from airflow_provider_authapi.auth.grants import SESSION_COOKIES
from airflow_provider_authapi.auth.json_path import find_path, parse_path
from airflow_provider_authapi.auth.tokens import MemoryTokenStore
from airflow_provider_authapi.connections import auth_config_from_connection
from tests.core.conftest import FAST, call
from tests.emulators.base import Emulator, Request, Response
from tests.emulators.sap_b1 import ROUTE, SapB1Emulator


@pytest.fixture
def sap() -> Iterator[SapB1Emulator]:
    with SapB1Emulator(items=5) as server:
        yield server


def sap_config(sap: SapB1Emulator, **changes) -> AuthConfig:
    """The `sap_b1` profile's settings, written out in the core's terms."""
    scheme = {
        "token_url": f"{sap.url}/b1s/v1/Login",
        "username": sap.user,
        "password": sap.password,
        "username_field": "UserName",
        "password_field": "Password",
        "extra_body": {"CompanyDB": sap.company_db},
        "credential_source": "cookie",
        "credential_name": "B1SESSION",
        "carry_cookies": ("ROUTEID",),
        "expires_in_path": "SessionTimeout",
        "lifetime_unit": "minutes",
        "placement": TokenPlacement("cookie", cookie_name="B1SESSION"),
        **changes,
    }
    return AuthConfig(TokenLoginConfig(**scheme), CommonConfig(base_url=sap.url))


def test_the_session_cookie_and_route_go_back_on_every_call(sap, mode):
    config = sap_config(sap)
    manager = build_token_manager(config, MemoryTokenStore(), retry=FAST)
    responses = call(mode, config, manager, "/b1s/v1/Items?$top=2", times=3)
    assert [r.status_code for r in responses] == [200, 200, 200] and sap.logins == 1
    token = manager.cached_token
    assert token.access_token == sap.issued[0]  # the B1SESSION cookie, which is the SessionId
    assert responses[2].request.headers["Cookie"] == f"ROUTEID={ROUTE}; B1SESSION={sap.issued[0]}"
    assert token.extra == {SESSION_COOKIES: {"ROUTEID": ROUTE}}  # the session id is not kept twice
    assert (token.expires_at - token.obtained_at).in_seconds() == 30 * 60  # SessionTimeout: 30 minutes


def test_a_session_dropped_by_the_server_means_one_new_login_and_a_replay(sap, mode):
    config = sap_config(sap)
    manager = build_token_manager(config, MemoryTokenStore(), retry=FAST)
    call(mode, config, manager, "/b1s/v1/Items")
    sap.advance(31 * 60)  # idle longer than SessionTimeout on the server's clock; our token still looks fresh
    (response,) = call(mode, config, manager, "/b1s/v1/Items")
    assert response.status_code == 200 and len(response.json()["value"]) == 5
    assert (sap.logins, sap.refused) == (2, 1)
    assert manager.cached_token.access_token == sap.issued[1]


def test_without_the_route_cookie_the_session_is_refused(sap):
    config = sap_config(sap, carry_cookies=())
    manager = build_token_manager(config, MemoryTokenStore(), retry=FAST)
    with pytest.raises(UnauthorizedError) as caught:
        call("sync", config, manager, "/b1s/v1/Items")
    # 401, a new login, 401 again: the error says how the session went out, never the session id
    assert sap.logins == 2 and "cookie 'B1SESSION=<token>'" in str(caught.value)
    assert "Invalid session." in str(caught.value) and not any(sid in str(caught.value) for sid in sap.issued)


def test_a_missing_cookie_is_named_with_the_cookies_that_came(sap):
    config = sap_config(sap, credential_name="SESSION")
    manager = build_token_manager(config, MemoryTokenStore(), retry=FAST)
    with pytest.raises(TokenEndpointError) as caught:
        manager.get_token()
    message = str(caught.value)
    assert "without the cookie 'SESSION'" in message and "B1SESSION, ROUTEID" in message
    assert sap.issued[0] not in message and sap.password not in message


class HeaderLogin(Emulator):
    """A login answering `X-Session: <id>` with an empty body; calls send the id back in the same header."""

    def setup_routes(self) -> None:
        self.sessions: list[str] = []
        self.route("POST", r"/login", self.login)
        self.route("GET", r"/data", self.data)

    def login(self, request: Request) -> Response:
        if request.json() != {"username": "ann", "password": "pw-0123456789"}:
            return Response.json({"error": "bad credentials"}, status=401)
        self.sessions.append(f"sess-{len(self.sessions)}-0123456789abcdef")
        return Response(204, b"", {"X-Session": self.sessions[-1]})

    def data(self, request: Request) -> Response:
        if request.header("x-session") not in self.sessions:
            return Response.json({"error": "no session"}, status=401)
        return Response.json({"ok": True})


def test_a_token_read_from_a_response_header_with_no_body(mode):
    with HeaderLogin() as api:
        scheme = TokenLoginConfig(
            f"{api.url}/login",
            "ann",
            "pw-0123456789",
            credential_source="header",
            credential_name="X-Session",
            default_lifetime=600,
            placement=TokenPlacement(header_name="X-Session", prefix=""),
        )
        config = AuthConfig(scheme, CommonConfig(base_url=api.url))
        manager = build_token_manager(config, MemoryTokenStore(), retry=FAST)
        (response,) = call(mode, config, manager, "/data")
    assert response.json() == {"ok": True} and manager.cached_token.access_token == api.sessions[0]
    token = manager.cached_token
    assert (token.expires_at - token.obtained_at).in_seconds() == 600  # no lifetime in the answer: the default


def test_set_cookies_replaces_same_named_cookies_and_keeps_the_others():
    request = httpx.Request("GET", "https://x", headers={"Cookie": "B1SESSION=old; theme=dark"})
    set_cookies(request, {"ROUTEID": ".node2"})
    set_cookies(request, {"B1SESSION": "new"})
    assert request.headers["Cookie"] == "theme=dark; ROUTEID=.node2; B1SESSION=new"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"credential_source": "cookie"}, "credential_name"),
        ({"credential_source": "query"}, "credential_source"),
        ({"lifetime_unit": "days"}, "lifetime_unit"),
    ],
)
def test_session_settings_are_checked(changes, field):
    with pytest.raises(ConfigError) as caught:
        TokenLoginConfig("https://x/login", **changes)
    assert caught.value.field == field
    with pytest.raises(ConfigError) as caught:
        TokenPlacement("cookie")
    assert caught.value.field == "cookie_name"
    assert TokenPlacement("cookie", cookie_name="B1SESSION").describe() == "cookie 'B1SESSION=<token>'"


def test_a_quoted_key_reads_a_name_with_a_dot():
    assert parse_path('["odata.nextLink"]') == ["odata.nextLink"]
    assert parse_path("a['b.c'].d[0]") == ["a", "b.c", "d", 0]
    assert find_path({"odata.nextLink": "Items?$skip=20", "odata": {}}, '["odata.nextLink"]') == "Items?$skip=20"
    with pytest.raises(ConfigError):
        parse_path('["unterminated]')


def test_the_sap_b1_profile_with_company_db_in_the_login_body(sap):
    conn = SimpleNamespace(
        conn_id="sap_b1",
        conn_type="authapi_token",
        host="https://sap.example.com:50000",
        login="manager",
        password="pw",
        extra=json.dumps({"profile": "sap_b1", "extra_body": {"CompanyDB": "SBODEMOUS"}}),
    )
    scheme = auth_config_from_connection(conn).scheme
    assert scheme.token_url == "https://sap.example.com:50000/b1s/v1/Login"
    assert scheme.extra_body == {"CompanyDB": "SBODEMOUS"} and scheme.password_field == "Password"
    assert (scheme.credential_source, scheme.credential_name, scheme.carry_cookies) == (
        "cookie",
        "B1SESSION",
        ("ROUTEID",),
    )
    assert (scheme.placement.location, scheme.placement.cookie_name) == ("cookie", "B1SESSION")
    assert (scheme.expires_in_path, scheme.in_seconds(30)) == ("SessionTimeout", 1800)
