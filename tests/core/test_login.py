"""Token-endpoint logins that are not OAuth (Aspire, Astera style)."""

from __future__ import annotations

import jwt
import pendulum
import pytest

from airflow_provider_authapi.auth import (
    AuthConfig,
    CommonConfig,
    ConfigError,
    TokenEndpointError,
    TokenLoginConfig,
    build_token_manager,
)
from airflow_provider_authapi.auth.json_path import find_path
from airflow_provider_authapi.auth.tokens import MemoryTokenStore
from tests.core.conftest import FAST, call
from tests.emulators.base import Emulator, Response


def login_config(server, **kwargs) -> AuthConfig:
    scheme = {
        "token_url": f"{server.url}/login",
        "username": server.client_id,
        "password": server.secret,
        "username_field": "ClientId",
        "password_field": "Secret",
        "token_path": "Token",
        "refresh_token_path": "RefreshToken",
        "refresh_url": f"{server.url}/login/refresh",
        "refresh_token_field": "RefreshToken",
        "default_lifetime": 600,
    }
    return AuthConfig(TokenLoginConfig(**{**scheme, **kwargs}), CommonConfig(base_url=server.url))


@pytest.mark.parametrize("request_format", ["json", "form"])
def test_login_reads_token_and_refresh_token_and_the_jwt_expiry(login, mode, request_format):
    config = login_config(login, request_format=request_format)
    manager = build_token_manager(config, retry=FAST)
    assert call(mode, config, manager, "/api/whoami", times=2)[0].json() == {"subject": login.client_id}
    token = manager.cached_token
    exp = jwt.decode(token.access_token, options={"verify_signature": False})["exp"]
    assert token.expires_at == pendulum.from_timestamp(exp)  # 24 h from the JWT, not the 600 s default
    assert token.refresh_token and login.token_requests == 1


def test_expiry_uses_the_separate_refresh_endpoint_and_rotates(login, mode):
    config = login_config(login)
    store = MemoryTokenStore()
    manager = build_token_manager(config, store, retry=FAST)
    call(mode, config, manager, "/api/whoami")
    first = store.load()
    login.advance(24 * 3600)  # the JWT is dead now
    assert call(mode, config, manager, "/api/whoami")[0].status_code == 200
    assert login.count("POST", "/login/refresh") == 1 and login.count("POST", "/login") == 1
    assert store.load().refresh_token != first.refresh_token and login.refresh.live() == [store.load().refresh_token]


def test_a_dead_refresh_token_falls_back_to_a_new_login(login, mode):
    config = login_config(login)
    manager = build_token_manager(config, retry=FAST)
    call(mode, config, manager, "/api/whoami")
    login.refresh.revoke_all()
    login.advance(24 * 3600)  # a 401 from the API: refresh, refused, so log in again
    assert call(mode, config, manager, "/api/whoami")[0].status_code == 200
    assert login.count("POST", "/login/refresh") == 1 and login.count("POST", "/login") == 2


NESTED = {"Data": {"Token": "t", "items": [{"id": 7}]}}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("Data.Token", "t"),
        ("Data.items.0.id", 7),  # the dotted index token logins used...
        ("Data.items[0].id", 7),  # ...and the bracketed one response filters use: one path language
        ("Data.missing", None),
        ("Data.items.5", None),
    ],
)
def test_nested_paths_and_expires_in_paths(path, expected):
    assert find_path(NESTED, path) == expected


class ListLogin(Emulator):
    """A login whose token sits in a list: `{"data": [{"token": ...}]}`."""

    def setup_routes(self) -> None:
        self.route("POST", r"/login", lambda _: Response.json({"data": [{"token": "tok-in-a-list", "ttl": 90}]}))


@pytest.mark.parametrize("token_path", ["data[0].token", "data.0.token", "$.data[-1].token"])
def test_token_paths_take_either_index_spelling(token_path):
    with ListLogin() as server:
        scheme = TokenLoginConfig(token_url=f"{server.url}/login", token_path=token_path, expires_in_path="data.0.ttl")
        token = build_token_manager(AuthConfig(scheme), retry=FAST).get_token()
    assert token.access_token == "tok-in-a-list"
    assert round((token.expires_at - token.obtained_at).total_seconds()) == 90


def test_a_malformed_token_path_names_its_field():
    with ListLogin() as server:
        scheme = TokenLoginConfig(token_url=f"{server.url}/login", token_path="data[0.token")
        with pytest.raises(ConfigError, match="cannot parse path") as caught:
            build_token_manager(AuthConfig(scheme), retry=FAST).get_token()
    assert caught.value.field == "token_path"


def test_nested_response_is_read_by_path(mode):
    from tests.emulators.oauth2_server import LoginServer

    with LoginServer(nested=True) as server:
        config = login_config(server, token_path="Data.Token", refresh_token_path="Data.RefreshToken")
        manager = build_token_manager(config, retry=FAST)
        assert call(mode, config, manager, "/api/whoami")[0].status_code == 200
        assert manager.cached_token.refresh_token


def test_wrong_token_path_names_the_path_and_the_keys_not_the_token(login):
    config = login_config(login, token_path="access_token")
    with pytest.raises(TokenEndpointError) as caught:
        build_token_manager(config, retry=FAST).get_token()
    message = str(caught.value)
    assert "'access_token'" in message and "RefreshToken, Token" in message and "eyJ" not in message


def test_wrong_credentials_name_the_status_and_not_the_secret(login):
    config = login_config(login, password="not-the-secret-123")
    with pytest.raises(TokenEndpointError) as caught:
        build_token_manager(config, retry=FAST).get_token()
    assert caught.value.status_code == 401 and "Invalid credentials" in str(caught.value)
    assert "not-the-secret-123" not in str(caught.value) and login.token_requests == 1  # 401 is not retried
