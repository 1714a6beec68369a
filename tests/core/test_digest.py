"""HTTP Digest (RFC 7616) on the Basic type, against a server that checks every answer, sync and async."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from airflow_provider_authapi.auth import AuthConfig, BasicAuthConfig, CommonConfig, SignatureConfig, build_auth
from airflow_provider_authapi.connections import auth_config_from_connection
from tests.core.conftest import call
from tests.emulators.digest import DigestServer


@pytest.fixture(params=["MD5", "SHA-256"])
def digest(request) -> Iterator[DigestServer]:
    with DigestServer(algorithm=request.param) as server:
        yield server


def digest_config(server: DigestServer, password: str | None = None, **common) -> AuthConfig:
    scheme = BasicAuthConfig(server.user, password or server.password, http_scheme="digest")
    return AuthConfig(scheme, CommonConfig(base_url=server.url, **common))


def test_one_challenge_then_counted_answers(digest, mode):
    responses = call(mode, digest_config(digest), None, "/whoami", times=3)
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert responses[0].json()["user"] == digest.user and responses[0].json()["algorithm"] == digest.algorithm
    assert digest.challenges == 1  # the first request's 401 only: later ones answer the known challenge at once
    assert digest.accepted == [1, 2, 3]  # nonce counts go up (the server refuses a replayed one)
    assert all(digest.password not in str(r.request.headers) for r in responses)


def test_a_wrong_password_ends_in_the_servers_401(digest, mode):
    (response,) = call(mode, digest_config(digest, password="not-the-password"), None, "/whoami")
    assert response.status_code == 401 and response.json()["error"] == "wrong response"
    assert digest.accepted == []


def test_a_retired_nonce_is_answered_again_within_the_same_request(mode):
    with DigestServer(nonce_uses=2) as server:
        responses = call(mode, digest_config(server), None, "/whoami", times=3)
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert server.challenges == 2  # the first request's, then `stale=true` to the third
    assert server.accepted == [1, 2, 1]  # the third request answers the new nonce, counting from 1 again


def test_extra_query_params_and_signature_are_part_of_the_digested_request(digest, mode):
    signature = SignatureConfig("X-Signature", "s" * 40)
    config = digest_config(digest, params={"region": "eu"}, signature=signature)
    (response,) = call(mode, config, None, "/whoami?page=2")
    assert response.status_code == 200, response.text
    assert response.json()["query"] == {"page": "2", "region": "eu"}  # the uri the server checked had both
    assert response.request.headers["X-Signature"]


def test_the_connection_field_picks_digest_and_nothing_shows_the_password(digest):
    conn = SimpleNamespace(
        conn_id="digest_api",
        conn_type="authapi_basic",
        host=digest.url,
        login=digest.user,
        password=digest.password,
        extra=json.dumps({"basic_scheme": "digest"}),
    )
    config = auth_config_from_connection(conn)
    assert config.scheme == BasicAuthConfig(digest.user, digest.password, "digest")
    assert digest.password not in repr(config) and digest.password not in repr(build_auth(config))
    assert call("sync", config, None, "/whoami")[0].status_code == 200
    basic = auth_config_from_connection(SimpleNamespace(**{**vars(conn), "extra": "{}"}))
    assert basic.scheme.http_scheme == "basic"  # the default
    assert call("sync", basic, None, "/whoami")[0].status_code == 401  # a Digest server refuses Basic
