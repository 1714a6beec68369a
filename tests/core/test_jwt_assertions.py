"""Signed JWT assertions (RFC 7523) against a server that checks them: the JWT bearer grant and the private_key_jwt
and client_secret_jwt client authentications, with httpx.Client and httpx.AsyncClient."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from airflow_provider_authapi.auth import (
    AuthConfig,
    CommonConfig,
    ConfigError,
    OAuth2Config,
    TokenEndpointError,
    authorization_url,
    build_token_manager,
    exchange_code,
    new_pkce_verifier,
)
from airflow_provider_authapi.auth.config import config_secrets
from airflow_provider_authapi.auth.errors import InvalidGrantError
from airflow_provider_authapi.auth.grants import OAuth2Grant
from tests.core.conftest import FAST, call
from tests.emulators.jwt_oauth2 import JwtOAuth2Server, KeyPair, certificate_pem, new_key, thumbprint_s256

ISSUER = "reporting@svc.example.com"
SUBJECT = "alice@example.com"
HMAC_SECRET = "client-secret-for-hs256-0123456789-abcdef"


@pytest.fixture(scope="module")
def keys() -> dict[str, KeyPair]:
    """One RSA and one P-256 key for the module, plus an RSA key the server never registers."""
    return {"RS256": new_key("RS256"), "ES256": new_key("ES256"), "stranger": new_key("RS256")}


@pytest.fixture
def server() -> Iterator[JwtOAuth2Server]:
    with JwtOAuth2Server(client_secret=HMAC_SECRET, users={"alice": "alice-password-123"}) as emulator:
        yield emulator


def config(server: JwtOAuth2Server, **kwargs: Any) -> AuthConfig:
    scheme = {"token_url": server.token_url, "client_id": server.client_id, **kwargs}
    return AuthConfig(OAuth2Config(**scheme), CommonConfig(base_url=server.url))


def bearer_config(server: JwtOAuth2Server, key: KeyPair, **kwargs: Any) -> AuthConfig:
    """The JWT bearer grant as Salesforce or Google want it: no client secret, the key signs."""
    settings = {"assertion_issuer": ISSUER, "assertion_subject": SUBJECT, "assertion_algorithm": key.algorithm}
    return config(server, grant_type="jwt_bearer", assertion_private_key=key.pem, **{**settings, **kwargs})


def client_key_config(server: JwtOAuth2Server, key: KeyPair, **kwargs: Any) -> AuthConfig:
    settings = {
        "client_auth": "private_key_jwt",
        "assertion_private_key": key.pem,
        "assertion_algorithm": key.algorithm,
    }
    return config(server, **{**settings, **kwargs})


def sent_header(form: dict[str, str], name: str) -> dict[str, Any]:
    return jwt.get_unverified_header(form[name])


# -- the JWT bearer grant ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_jwt_bearer_grant_gets_a_token_for_the_assertions_subject(server, keys, mode, algorithm):
    server.register_issuer(ISSUER, keys[algorithm], subjects=(SUBJECT,))
    cfg = bearer_config(server, keys[algorithm], scopes=("read",))
    manager = build_token_manager(cfg, retry=FAST)
    responses = call(mode, cfg, manager, "/api/whoami", times=2)
    assert [r.json() for r in responses] == [{"subject": SUBJECT, "scope": "read"}] * 2
    form = server.last_token_form
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer" and form["scope"] == "read"
    assert not {"client_id", "client_secret", "client_assertion"} & set(form)  # no client authentication
    assert sent_header(form, "assertion")["alg"] == algorithm
    claims = server.assertions[-1]
    assert (claims["iss"], claims["sub"], claims["aud"]) == (ISSUER, SUBJECT, server.token_url)
    assert claims["exp"] - claims["iat"] == 300 and manager.token_requests == 1
    assert manager.cached_token.refresh_token is None


def test_jwt_bearer_scope_claim_extra_claims_audience_and_lifetime(server, keys, mode):
    server.assertion_audience = "https://login.example.com"
    server.register_issuer(ISSUER, keys["RS256"])  # no subject configured: the subject is the issuer
    cfg = bearer_config(
        server,
        keys["RS256"],
        assertion_subject=None,
        assertion_audience="https://login.example.com",
        assertion_lifetime=120,
        assertion_scope_claim=True,
        assertion_claims={"tenant": "acme"},
        scopes=("read", "write"),
    )
    assert call(mode, cfg, build_token_manager(cfg, retry=FAST), "/api/whoami")[0].json()["scope"] == "read write"
    claims = server.assertions[-1]
    assert claims["scope"] == "read write" and claims["tenant"] == "acme" and claims["sub"] == ISSUER
    assert claims["aud"] == "https://login.example.com" and claims["exp"] - claims["iat"] == 120
    assert "scope" not in server.last_token_form  # the scopes went in the claim only


def test_jwt_bearer_starts_over_with_a_new_assertion_when_the_token_dies(server, keys, mode):
    server.register_issuer(ISSUER, keys["ES256"], subjects=(SUBJECT,))
    cfg = bearer_config(server, keys["ES256"])
    manager = build_token_manager(cfg, retry=FAST)
    assert call(mode, cfg, manager, "/api/whoami")[0].status_code == 200
    server.access.revoke_all()  # no refresh token to use: a 401 makes the manager sign a new assertion
    assert call(mode, cfg, manager, "/api/whoami")[0].status_code == 200
    assert manager.token_requests == 2 and len({claims["jti"] for claims in server.assertions}) == 2


def test_a_retried_token_request_signs_a_new_assertion(server, keys):
    """The server recorded the first jti before its answer was lost: the retry must not replay it."""
    server.register_issuer(ISSUER, keys["RS256"], subjects=(SUBJECT,))
    server.fail_after_check(1)
    manager = build_token_manager(bearer_config(server, keys["RS256"]), retry=FAST)
    assert manager.get_token().access_token
    assert manager.token_requests == 2 and len({claims["jti"] for claims in server.assertions}) == 2
    assert not server.refusals


# -- client assertions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_private_key_jwt_client_credentials(server, keys, mode, algorithm):
    server.register_client_key(keys[algorithm])
    cfg = client_key_config(server, keys[algorithm], scopes=("read",))
    assert call(mode, cfg, build_token_manager(cfg, retry=FAST), "/api/whoami")[0].json()["subject"] == "client-id-1"
    form = server.last_token_form
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert form["client_id"] == server.client_id and "client_secret" not in form
    assert sent_header(form, "client_assertion")["alg"] == algorithm
    claims = server.assertions[-1]
    assert claims["iss"] == claims["sub"] == server.client_id and claims["aud"] == server.token_url


def test_private_key_jwt_with_a_certificate_sends_its_thumbprint_and_the_kid(server, keys, mode):
    certificate = certificate_pem(keys["RS256"])
    server.register_client_key(keys["RS256"], certificate=certificate)
    cfg = client_key_config(server, keys["RS256"], assertion_cert_pem=certificate, assertion_kid="key-2024")
    assert call(mode, cfg, build_token_manager(cfg, retry=FAST), "/api/whoami")[0].status_code == 200
    header = sent_header(server.last_token_form, "client_assertion")
    assert header["x5t#S256"] == thumbprint_s256(certificate) and header["kid"] == "key-2024"


def test_a_server_with_a_registered_certificate_refuses_an_assertion_without_its_thumbprint(server, keys):
    server.register_client_key(keys["RS256"], certificate=certificate_pem(keys["RS256"]))
    with pytest.raises(TokenEndpointError) as caught:
        build_token_manager(client_key_config(server, keys["RS256"]), retry=FAST).get_token()
    assert caught.value.error == "invalid_client" and "x5t#S256" in server.refusals[-1]


def test_client_secret_jwt_signs_hs256_with_the_client_secret(server, mode):
    server.client_auth = "client_secret_jwt"
    cfg = config(server, client_auth="client_secret_jwt", client_secret=HMAC_SECRET)
    assert call(mode, cfg, build_token_manager(cfg, retry=FAST), "/api/whoami")[0].status_code == 200
    form = server.last_token_form
    assert sent_header(form, "client_assertion")["alg"] == "HS256" and "client_secret" not in form


def test_client_assertions_authenticate_the_password_grant_and_its_refresh(server, keys, mode):
    server.register_client_key(keys["ES256"])
    cfg = client_key_config(
        server, keys["ES256"], grant_type="password", username="alice", password="alice-password-123"
    )
    manager = build_token_manager(cfg, retry=FAST)
    assert call(mode, cfg, manager, "/api/whoami")[0].json()["subject"] == "alice"
    server.advance(3600)  # the access token expires: a refresh, authenticated by a new client assertion
    assert call(mode, cfg, manager, "/api/whoami")[0].json()["subject"] == "alice"
    assert server.last_token_form["grant_type"] == "refresh_token" and "client_assertion" in server.last_token_form
    assert len({claims["jti"] for claims in server.assertions}) == 2


def test_a_client_assertion_authenticates_the_authorization_code_exchange(server, keys):
    server.register_client_key(keys["RS256"])
    cfg = client_key_config(
        server,
        keys["RS256"],
        grant_type="authorization_code",
        authorization_url=f"{server.url}/authorize",
        redirect_uri="http://127.0.0.1:9/callback",
    ).scheme
    verifier = new_pkce_verifier()
    consent = httpx.get(authorization_url(cfg, state="st-1", code_verifier=verifier), follow_redirects=False)
    code = httpx.URL(consent.headers["location"]).params["code"]
    token = exchange_code(cfg, code, code_verifier=verifier, retry=FAST)
    assert token.refresh_token and server.last_token_form["grant_type"] == "authorization_code"
    assert server.assertions[-1]["sub"] == server.client_id


# -- refusals and bad settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("flow", "error"), [("jwt_bearer", "invalid_grant"), ("private_key_jwt", "invalid_client")])
def test_a_replayed_assertion_is_refused(server, keys, flow, error):
    server.register_issuer(ISSUER, keys["RS256"], subjects=(SUBJECT,))
    server.register_client_key(keys["RS256"])
    make = bearer_config if flow == "jwt_bearer" else client_key_config
    build_token_manager(make(server, keys["RS256"]), retry=FAST).get_token()
    replay = httpx.post(server.token_url, data=server.last_token_form)  # the same assertion, sent again
    assert replay.json()["error"] == error and "replayed" in server.refusals[-1]


@pytest.mark.parametrize(("flow", "error"), [("jwt_bearer", "invalid_grant"), ("private_key_jwt", "invalid_client")])
def test_a_key_the_server_does_not_know_is_an_error_naming_the_endpoint(server, keys, mode, flow, error):
    server.register_issuer(ISSUER, keys["RS256"], subjects=(SUBJECT,))
    server.register_client_key(keys["RS256"])
    make = bearer_config if flow == "jwt_bearer" else client_key_config
    cfg = make(server, keys["stranger"])
    with pytest.raises(TokenEndpointError) as caught:
        call(mode, cfg, build_token_manager(cfg, retry=FAST), "/api/whoami")
    assert caught.value.error == error and f"token endpoint {server.token_url}" in str(caught.value)
    assert "signature" in server.refusals[-1] and keys["stranger"].pem not in str(caught.value)
    assert isinstance(caught.value, InvalidGrantError) is (error == "invalid_grant")


def pem_of(private_key: Any, encryption: Any = None) -> str:
    fmt, encoding = serialization.PrivateFormat.PKCS8, serialization.Encoding.PEM
    return private_key.private_bytes(encoding, fmt, encryption or serialization.NoEncryption()).decode()


def key_auth(pem: str, **settings: Any) -> dict[str, Any]:
    return {"client_auth": "private_key_jwt", "assertion_private_key": pem, **settings}


NOT_A_KEY = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----"
NOT_A_CERTIFICATE = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----"
# case -> (the settings, given the module's keys; the field the error must name)
BAD_SETTINGS = {
    "no key for the grant": (
        lambda k: {"grant_type": "jwt_bearer", "assertion_issuer": ISSUER},
        "assertion_private_key",
    ),
    "no key for private_key_jwt": (lambda k: {"client_auth": "private_key_jwt"}, "assertion_private_key"),
    "text that is no key": (lambda k: key_auth(NOT_A_KEY), "assertion_private_key"),
    "an encrypted key": (
        lambda k: key_auth(pem_of(k["RS256"].private_key, serialization.BestAvailableEncryption(b"pass-phrase"))),
        "assertion_private_key",
    ),
    "an Ed25519 key": (lambda k: key_auth(pem_of(ed25519.Ed25519PrivateKey.generate())), "assertion_private_key"),
    "RSA under 2048 bits": (
        lambda k: key_auth(pem_of(rsa.generate_private_key(public_exponent=65537, key_size=1024))),
        "assertion_private_key",
    ),
    "ES256 with an RSA key": (lambda k: key_auth(k["RS256"].pem, assertion_algorithm="ES256"), "assertion_algorithm"),
    "RS256 with a P-256 key": (lambda k: key_auth(k["ES256"].pem, assertion_algorithm="RS256"), "assertion_algorithm"),
    "HS256 for the grant": (lambda k: key_auth(k["RS256"].pem, assertion_algorithm="HS256"), "assertion_algorithm"),
    "text that is no certificate": (
        lambda k: key_auth(k["RS256"].pem, assertion_cert_pem=NOT_A_CERTIFICATE),
        "assertion_cert_pem",
    ),
    "another key's certificate": (
        lambda k: key_auth(k["RS256"].pem, assertion_cert_pem=certificate_pem(k["stranger"])),
        "assertion_cert_pem",
    ),
    "a reserved extra claim": (lambda k: key_auth(k["RS256"].pem, assertion_claims={"jti": "x"}), "assertion_claims"),
    "a lifetime over an hour": (lambda k: key_auth(k["RS256"].pem, assertion_lifetime=7200), "assertion_lifetime"),
    "a short client_secret_jwt secret": (
        lambda k: {"client_auth": "client_secret_jwt", "client_secret": "short-secret"},
        "client_secret",
    ),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_a_bad_assertion_setting_is_a_config_error_naming_the_field_never_the_key(server, keys, case):
    make, field = BAD_SETTINGS[case]
    settings = make(keys)
    with pytest.raises(ConfigError) as caught:
        config(server, **settings)
    assert caught.value.field == field and str(caught.value).startswith(f"field {field!r}: ")
    for name in ("assertion_private_key", "client_secret"):
        assert not settings.get(name) or settings[name] not in str(caught.value)


def test_the_private_key_and_client_secret_stay_out_of_reprs_errors_and_logs(server, keys, caplog):
    server.client_auth = "client_secret_jwt"
    server.register_issuer(ISSUER, keys["stranger"])  # refuses the assertions signed with the RS256 key
    cfg = bearer_config(server, keys["RS256"], client_auth="client_secret_jwt", client_secret=HMAC_SECRET)
    server.fail_next(1)  # one retry, logged
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TokenEndpointError) as caught:
        build_token_manager(cfg, retry=FAST).get_token()
    grant = OAuth2Grant(cfg.scheme)
    shown = [str(caught.value), repr(caught.value), repr(cfg), repr(grant.grant_signer), caplog.text]
    shown.append(repr(grant.token_request(None)))
    key_body = keys["RS256"].pem.splitlines()[1]  # one line of the key's base64 body
    assert "retrying" in caplog.text and "invalid_grant" in str(caught.value)
    for text in shown:
        assert key_body not in text and HMAC_SECRET not in text
    assert set(config_secrets(cfg)) >= {keys["RS256"].pem, HMAC_SECRET}  # scrubbed from every message
