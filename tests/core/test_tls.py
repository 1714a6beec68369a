"""TLS: a self-signed server is reached with its CA PEM, refused clearly without it, reachable with verify off."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_authapi.auth import (
    AuthConfig,
    CommonConfig,
    ConfigError,
    TLSConfig,
    TokenEndpointError,
    TokenLoginConfig,
    build_token_manager,
)
from airflow_provider_authapi.auth.client import ssl_verify
from tests.core.conftest import FAST, call
from tests.emulators.base import self_signed_cert
from tests.emulators.oauth2_server import LoginServer


@pytest.fixture
def https_login(tmp_path):
    cert, key = self_signed_cert(str(tmp_path))
    with LoginServer(tls=(cert, key)) as server:
        yield server, Path(cert).read_text()


def config_for(server, tls: TLSConfig) -> AuthConfig:
    scheme = TokenLoginConfig(
        token_url=f"{server.url}/login",
        username=server.client_id,
        password=server.secret,
        username_field="ClientId",
        password_field="Secret",
        token_path="Token",
    )
    return AuthConfig(scheme, CommonConfig(base_url=server.url, tls=tls))


def test_ca_pem_makes_a_self_signed_server_trusted(https_login, mode):
    server, ca_pem = https_login
    config = config_for(server, TLSConfig(ca_pem=ca_pem))
    assert call(mode, config, build_token_manager(config, retry=FAST), "/api/whoami")[0].status_code == 200


def test_without_the_ca_the_error_says_what_to_do_and_is_not_retried(https_login):
    server, _ = https_login
    manager = build_token_manager(config_for(server, TLSConfig()), retry=FAST)
    with pytest.raises(TokenEndpointError, match="ca_cert_pem"):
        manager.get_token()
    assert manager.token_requests == 1


def test_verify_off_reaches_it_too(https_login):
    server, _ = https_login
    config = config_for(server, TLSConfig(verify=False))
    assert call("sync", config, None, "/api/whoami")[0].status_code == 200


def test_a_malformed_ca_pem_names_the_field():
    with pytest.raises(ConfigError) as caught:
        ssl_verify(TLSConfig(ca_pem="-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"))
    assert caught.value.field == "ca_cert_pem"
