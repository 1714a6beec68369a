"""Static schemes and the cross-cutting options: Basic, Bearer, API key, extra headers/params, signature."""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import pytest

from airflow_provider_authapi.auth import (
    ApiKeyConfig,
    AuthConfig,
    BasicAuthConfig,
    BearerAuthConfig,
    CommonConfig,
    ConfigError,
    NoAuthConfig,
    SignatureConfig,
)
from tests.core.conftest import call
from tests.emulators.base import Emulator, Request, Response

SECRET = "s" * 16 + "-signature-secret-0123"


class EchoApi(Emulator):
    """Echoes what authenticated a request, and checks a signature header when one is sent."""

    def setup_routes(self) -> None:
        self.route("GET", r"/echo", self.echo)

    def echo(self, request: Request) -> Response:
        claims = None
        if request.header("x-signature"):
            try:
                claims = jwt.decode(request.header("x-signature"), SECRET, algorithms=["HS256"])
            except jwt.PyJWTError as exc:
                return Response.json({"error": f"bad signature: {exc}"}, status=401)
        return Response.json(
            {"basic": request.basic_auth(), "headers": request.headers, "query": request.query, "claims": claims}
        )


@pytest.fixture
def echo() -> Iterator[EchoApi]:
    with EchoApi() as api:
        yield api


def test_basic(echo, mode):
    config = AuthConfig(BasicAuthConfig("user", "pass-word"), CommonConfig(base_url=echo.url))
    assert call(mode, config, None, "/echo")[0].json()["basic"] == ["user", "pass-word"]


def test_bearer_with_custom_header_and_prefix(echo, mode):
    config = AuthConfig(BearerAuthConfig("static-token", "X-Auth", "Token"), CommonConfig(base_url=echo.url))
    assert call(mode, config, None, "/echo")[0].json()["headers"]["x-auth"] == "Token static-token"


@pytest.mark.parametrize(
    ("key_config", "where", "name", "value"),
    [
        (ApiKeyConfig("k-123", "X-API-Key", "header"), "headers", "x-api-key", "k-123"),
        (ApiKeyConfig("k-123", "Authorization", "header", "Api-Key"), "headers", "authorization", "Api-Key k-123"),
        (ApiKeyConfig("k-123", "api_key", "query", "Key"), "query", "api_key", "Key k-123"),
    ],
)
def test_api_key_in_header_or_query_with_prefix(echo, mode, key_config, where, name, value):
    config = AuthConfig(key_config, CommonConfig(base_url=echo.url))
    assert call(mode, config, None, "/echo")[0].json()[where][name] == value


def echoed_twice(echo, mode) -> tuple[dict, dict]:
    """What the server saw on two requests with extra headers, extra params, an API key and a signature."""
    common = CommonConfig(
        base_url=echo.url,
        headers={"X-Tenant": "acme"},
        params={"lang": "en"},
        signature=SignatureConfig("X-Signature", SECRET, issuer="airflow"),
    )
    config = AuthConfig(ApiKeyConfig("k-1", "api_key", "query"), common)
    first, second = (r.json() for r in call(mode, config, None, "/echo?page=2", times=2))
    return first, second


def test_extra_headers_are_sent(echo, mode):
    first, _ = echoed_twice(echo, mode)
    assert first["headers"]["x-tenant"] == "acme"


def test_extra_params_join_the_request_query_and_the_api_key(echo, mode):
    first, _ = echoed_twice(echo, mode)
    assert first["query"] == {"lang": "en", "page": "2", "api_key": "k-1"}


def test_the_signature_is_a_valid_short_lived_jwt(echo, mode):
    first, _ = echoed_twice(echo, mode)
    assert first["claims"]["iss"] == "airflow" and first["claims"]["exp"] > first["claims"]["iat"]


def test_each_request_gets_a_fresh_signature(echo, mode):
    first, second = echoed_twice(echo, mode)
    assert first["claims"]["jti"] != second["claims"]["jti"]


def test_a_wrongly_signed_header_is_rejected_by_the_server(echo):
    common = CommonConfig(base_url=echo.url, signature=SignatureConfig("X-Signature", "w" * 40))
    response = call("sync", AuthConfig(NoAuthConfig(), common), None, "/echo")[0]
    assert response.status_code == 401 and "bad signature" in response.json()["error"]


def test_signature_secret_must_be_32_characters_and_is_never_echoed():
    with pytest.raises(ConfigError) as caught:
        SignatureConfig("X-Signature", "short-secret-31-characters-long")
    assert caught.value.field == "signature_secret" and "short-secret" not in str(caught.value)


@pytest.mark.parametrize(
    "config",
    [
        BasicAuthConfig("user", "pw-secret-1"),
        BearerAuthConfig("tok-secret-2"),
        ApiKeyConfig("key-secret-3"),
        SignatureConfig("X-S", "sig-secret-4" * 4),
    ],
    ids=lambda config: type(config).__name__,
)
def test_no_secret_in_any_repr(config):
    assert "secret-" not in repr(config) and "secret-" not in repr(AuthConfig(config))
