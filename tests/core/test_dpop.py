"""DPoP (RFC 9449) for OAuth 2.0 connections (issue 26 item 6), in the Airflow-free core, against the Okta DPoP
emulator on 127.0.0.1: the token request's proof and its nonce retry (Okta's first answer is use_dpop_nonce), DPoP
tokens sent as `Authorization: DPoP` with a fresh proof per request (its own htm/htu, the token's ath) and the
resource server's nonce retry, the nonce remembered per origin, refresh with a proof, a replayed proof and another
key refused, no proof built for an origin the credentials may not go to, and no key or token in an error, a repr or
a log line. Sync and async."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from airflow_provider_authapi.auth import AuthConfig, CommonConfig, ConfigError, OAuth2Config, build_token_manager
from airflow_provider_authapi.auth.client import DPoPTokenAuth, build_async_client, build_auth, build_client
from airflow_provider_authapi.auth.config import config_secrets
from airflow_provider_authapi.auth.dpop import DPoPProver, access_token_hash, jwk_thumbprint, proof_url
from airflow_provider_authapi.auth.errors import (
    CredentialOriginError,
    InvalidGrantError,
    TokenEndpointError,
    UnauthorizedError,
)
from airflow_provider_authapi.auth.grants import TokenEndpoint, grant_for
from tests.core.conftest import FAST, call
from tests.emulators.jwt_oauth2 import KeyPair, new_key
from tests.emulators.oauth2_server import OAuth2Server
from tests.emulators.okta_dpop import TOKEN_PATH, USERS_PATH, OktaDPoPEmulator, thumbprint
from tests.emulators.recorder import Recorder

CLIENT_ID, CLIENT_SECRET = "0oa-dpop-client", "okta-client-secret-0123456789"


@pytest.fixture
def okta() -> Iterator[OktaDPoPEmulator]:
    with OktaDPoPEmulator(CLIENT_ID, CLIENT_SECRET, client_auth="basic") as emulator:
        yield emulator


@pytest.fixture(scope="module")
def key() -> KeyPair:
    return new_key("ES256")


@pytest.fixture(scope="module")
def other_key() -> KeyPair:
    return new_key("ES256")


def dpop_config(server: OAuth2Server, key: KeyPair, token_path: str = TOKEN_PATH, **scheme: Any) -> AuthConfig:
    settings: dict[str, Any] = {
        "token_url": f"{server.url}{token_path}",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scopes": ("okta.users.read",),
        "dpop": True,
        "dpop_private_key": key.pem,
        **scheme,
    }
    return AuthConfig(OAuth2Config(**settings), CommonConfig(base_url=server.url))


def secret_parts(key: KeyPair) -> list[str]:
    """The lines of the key's PEM body: none may show anywhere."""
    return [line for line in key.pem.splitlines() if line and not line.startswith("-----")]


def resource_proofs(okta: OktaDPoPEmulator) -> list[dict[str, Any]]:
    return [proof for proof in okta.proofs if proof["path"] == USERS_PATH]


def token_proofs(okta: OktaDPoPEmulator) -> list[dict[str, Any]]:
    return [proof for proof in okta.proofs if proof["path"] == TOKEN_PATH]


# -- the proof itself ------------------------------------------------------------------------------------------------


def _pem(private_key: Any) -> str:
    encoding, private = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    return private_key.private_bytes(encoding, private, serialization.NoEncryption()).decode()


@pytest.mark.parametrize("algorithm", ["ES256", "RS256", "PS256", "EdDSA"])
def test_a_proof_is_a_dpop_jwt_signed_by_the_key_it_carries(algorithm):
    if algorithm == "ES256":
        pem = new_key("ES256").pem
    elif algorithm == "EdDSA":
        pem = _pem(ed25519.Ed25519PrivateKey.generate())
    else:
        pem = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    prover = DPoPProver.from_pem(pem, algorithm)  # type: ignore[arg-type]
    url = "https://User:pw@API.example.com:443/v1/items?page=2#top"
    proof = prover.proof("get", url, access_token="at-123", nonce="n-1")
    header = jwt.get_unverified_header(proof)
    assert (header["typ"], header["alg"]) == ("dpop+jwt", algorithm)
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(header["jwk"]), "the jwk is the public key only"
    claims = jwt.decode(proof, jwt.PyJWK(header["jwk"], algorithm=algorithm).key, algorithms=[algorithm])
    assert claims["htm"] == "GET" and claims["htu"] == "https://api.example.com/v1/items" == proof_url(url)
    assert claims["ath"] == access_token_hash("at-123") and claims["nonce"] == "n-1"
    assert isinstance(claims["iat"], int) and len(claims["jti"]) >= 22
    assert thumbprint(header["jwk"]) == prover.thumbprint
    other = jwt.decode(prover.proof("POST", url), options={"verify_signature": False})
    assert "ath" not in other and "nonce" not in other and other["jti"] != claims["jti"]
    assert pem.splitlines()[1] not in repr(prover) and prover.thumbprint in repr(prover)


def test_the_thumbprint_is_rfc_7638s():
    """RFC 7638 section 3.1's example key and thumbprint."""
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjB"
            "ZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8"
            "KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_"
            "xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" == thumbprint(jwk)


# -- token requests and API requests against Okta ------------------------------------------------------------------


def test_a_token_and_api_calls_each_with_one_nonce_retry(okta, key, mode):
    config = dpop_config(okta, key)
    manager = build_token_manager(config, retry=FAST)
    responses = call(mode, config, manager, f"{USERS_PATH}?limit=2#ignored", times=3)
    assert [r.status_code for r in responses] == [200] * 3, okta.refusals
    assert responses[0].json()[0]["profile"]["login"] == "ann@example.com"
    # Okta answers the first token request and the first API request use_dpop_nonce; the nonces are then kept.
    assert okta.nonce_challenges == {"token": 1, "resource": 1}
    assert okta.token_requests == 2 and manager.token_requests == 2
    assert okta.count("GET", USERS_PATH) == 4

    token = manager.cached_token
    assert token is not None and token.token_type == "DPoP"
    bound = jwt.decode(token.access_token, options={"verify_signature": False})["cnf"]["jkt"]
    assert bound == DPoPProver.from_pem(key.pem, "ES256").thumbprint

    (login,) = token_proofs(okta)
    assert login["claims"]["htm"] == "POST" and login["claims"]["htu"] == okta.token_url
    assert login["claims"]["nonce"] == okta.token_nonce and "ath" not in login["claims"]
    calls = resource_proofs(okta)
    assert len(calls) == 3
    for proof in calls:
        claims = proof["claims"]
        assert (claims["htm"], claims["htu"]) == ("GET", f"{okta.url}{USERS_PATH}")  # no query, no fragment
        assert claims["ath"] == access_token_hash(token.access_token) and claims["nonce"] == okta.resource_nonce
        assert thumbprint(proof["header"]["jwk"]) == bound
    jtis = [proof["claims"]["jti"] for proof in okta.proofs]
    assert len(set(jtis)) == len(jtis) == 4, "a fresh proof for every request"


def test_new_nonces_are_asked_for_and_taken_again(okta, key, mode):
    config = dpop_config(okta, key)
    manager = build_token_manager(config, retry=FAST)
    auth = build_auth(config, manager)
    assert [r.status_code for r in _calls(mode, config, auth, 1)] == [200]
    okta.rotate_nonces()
    manager.get_token(force_refresh=True)  # the token endpoint's new nonce: asked for, taken
    assert [r.status_code for r in _calls(mode, config, auth, 2)] == [200, 200]
    assert okta.nonce_challenges == {"token": 2, "resource": 2}
    assert isinstance(auth.inner, DPoPTokenAuth) and auth.inner.nonces == {okta.url: okta.resource_nonce}
    assert token_proofs(okta)[-1]["claims"]["nonce"] == okta.token_nonce


def _calls(mode: str, config: AuthConfig, auth: httpx.Auth, times: int, path: str = USERS_PATH) -> list[Any]:
    if mode == "sync":
        with build_client(config, auth) as client:
            return [client.get(path) for _ in range(times)]

    async def run() -> list[httpx.Response]:
        async with build_async_client(config, auth) as client:
            return [await client.get(path) for _ in range(times)]

    return asyncio.run(run())


def test_a_refresh_carries_a_proof_and_the_bound_refresh_token(okta, key, other_key, mode):
    config = dpop_config(okta, key, grant_type="password", username="alice", password="alice-password-123",
                         scopes=("okta.users.read", "offline_access"))  # fmt: skip
    manager = build_token_manager(config, retry=FAST)
    first = manager.get_token()
    assert first.refresh_token and okta.last_token_form["grant_type"] == "password"
    if mode == "sync":
        renewed = manager.get_token(force_refresh=True, stale=first)
    else:
        renewed = asyncio.run(manager.aget_token(force_refresh=True, stale=first))
    assert okta.last_token_form["grant_type"] == "refresh_token" and renewed.access_token != first.access_token
    assert renewed.token_type == "DPoP" and okta.invalid_grants == 0
    refresh_proof = token_proofs(okta)[-1]["claims"]
    assert refresh_proof["htu"] == okta.token_url and refresh_proof["nonce"] == okta.token_nonce
    assert [r.status_code for r in _calls(mode, config, build_auth(config, manager), 1)] == [200]

    # The refresh token is bound to the key as well: presented with a proof of another key, it is refused.
    thief = TokenEndpoint(grant_for(dpop_config(okta, other_key).scheme), retry=FAST)  # type: ignore[arg-type]
    with pytest.raises(InvalidGrantError) as caught:
        thief.fetch(renewed)
    assert "another DPoP key" in str(caught.value)
    assert renewed.refresh_token not in str(caught.value) and other_key.pem.splitlines()[1] not in str(caught.value)


def test_a_replayed_proof_is_refused(okta, key):
    config = dpop_config(okta, key)
    sent: list[httpx.Request] = []
    with build_client(config, event_hooks={"request": [sent.append]}) as client:
        assert client.get(USERS_PATH).status_code == 200
    replayed = sent[-1]  # the request that was answered 200: its token and its proof
    answer = httpx.get(str(replayed.url), headers={name: replayed.headers[name] for name in ("authorization", "dpop")})
    assert answer.status_code == 401 and 'error="invalid_dpop_proof"' in answer.headers["www-authenticate"]
    assert okta.refusals[-1] == "The DPoP proof's jti has been used before."
    # And at the token endpoint: the same proof twice is refused the second time.
    proof = DPoPProver.from_pem(key.pem, "ES256").proof("POST", okta.token_url, nonce=okta.token_nonce)
    form = {"grant_type": "client_credentials", "scope": "okta.users.read"}
    for status in (200, 400):
        answer = httpx.post(okta.token_url, data=form, headers={"DPoP": proof}, auth=(CLIENT_ID, CLIENT_SECRET))
        assert answer.status_code == status
    assert answer.json()["error"] == "invalid_dpop_proof"


def test_a_proof_of_another_key_is_refused_and_the_error_says_why(okta, key, other_key, mode, caplog):
    config = dpop_config(okta, key)
    manager = build_token_manager(config, retry=FAST)  # its tokens are bound to `key`
    stolen = manager.get_token()
    thief_auth = build_auth(dpop_config(okta, other_key), manager)  # proofs signed with another key
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UnauthorizedError) as caught:
        _calls(mode, config, thief_auth, 1)
    message = str(caught.value)
    assert "answered 401 even with a freshly obtained token" in message and "invalid_dpop_proof" in message
    assert "Authorization: DPoP <token>" in message
    assert "the proof's key is not the one the token is bound to" in okta.refusals
    # The stolen token sent as a bearer token, with no proof: refused as well.
    answer = httpx.get(f"{okta.url}{USERS_PATH}", headers={"Authorization": f"Bearer {stolen.access_token}"})
    assert answer.status_code == 401 and 'error="invalid_token"' in answer.headers["www-authenticate"]
    shown = message + caplog.text + repr(manager.cached_token) + repr(thief_auth.inner.__dict__)
    for secret in (
        stolen.access_token,
        manager.cached_token.access_token,
        *secret_parts(key),
        *secret_parts(other_key),
    ):
        assert secret not in shown


def test_no_proof_is_built_for_an_origin_the_credentials_may_not_go_to(okta, key, mode):
    config = dpop_config(okta, key)
    manager = build_token_manager(config, retry=FAST)
    auth = build_auth(config, manager)
    assert isinstance(auth.inner, DPoPTokenAuth)
    built: list[str] = []
    prover = auth.inner.prover
    real = prover.proof
    prover.proof = lambda method, url, **kwargs: built.append(str(url)) or real(method, url, **kwargs)  # type: ignore[method-assign]
    with Recorder() as other:
        with pytest.raises(CredentialOriginError):
            _calls(mode, config, auth, 1, path=f"{other.url}/steal")
        assert other.seen == [] and built == [], "refused before a proof was signed or a byte was sent"
    assert [r.status_code for r in _calls(mode, config, auth, 1)] == [200]
    assert built == [f"{okta.url}{USERS_PATH}"] * 2  # the API's own origin: its nonce asked for, then taken


# -- what the server must answer, and the settings -------------------------------------------------------------------


def test_a_bearer_answer_to_a_dpop_token_request_is_refused(key):
    with OAuth2Server(CLIENT_ID, CLIENT_SECRET) as plain:  # ignores the DPoP header, answers a bearer token
        manager = build_token_manager(dpop_config(plain, key, token_path="/token", scopes=("read",)), retry=FAST)
        with pytest.raises(TokenEndpointError) as caught:
            manager.get_token()
    message = str(caught.value)
    assert "'bearer' token, not a DPoP one" in message and "turn dpop off" in message
    assert CLIENT_SECRET not in message and key.pem.splitlines()[1] not in message


def test_the_settings_are_checked_naming_the_field_never_the_key(key):
    weak = _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    rsa_key = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    base = {"token_url": "https://okta.example.com/oauth2/v1/token", "client_id": CLIENT_ID, "dpop": True}
    cases = [
        ({"dpop_private_key": None}, "dpop_private_key"),
        ({"dpop_private_key": "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----"},
         "dpop_private_key"),
        ({"dpop_private_key": rsa_key}, "dpop_algorithm"),  # ES256, the default, with an RSA key
        ({"dpop_private_key": weak, "dpop_algorithm": "PS256"}, "dpop_private_key"),
        ({"dpop_private_key": key.pem, "dpop_algorithm": "HS256"}, "dpop_algorithm"),
        ({"dpop_private_key": key.pem, "grant_type": "github_app", "installation_id": "1",
          "assertion_private_key": rsa_key}, "dpop"),
    ]  # fmt: skip
    for settings, field in cases:
        with pytest.raises(ConfigError) as caught:
            OAuth2Config(**{**base, **settings})
        assert caught.value.field == field, (field, caught.value)
        for pem in (key.pem, rsa_key, weak):
            assert pem.splitlines()[1] not in str(caught.value)
    from airflow_provider_authapi.auth.config import TokenPlacement

    with pytest.raises(ConfigError) as caught:
        OAuth2Config(**base, dpop_private_key=key.pem, placement=TokenPlacement(location="query"))
    assert caught.value.field == "auth_location"
    scheme = OAuth2Config(**base, dpop_private_key=key.pem, dpop_algorithm="ES256")
    assert scheme.placement.describe() == "header 'Authorization: DPoP <token>'"  # the Bearer prefix replaced
    assert key.pem in config_secrets(scheme) and key.pem.splitlines()[1] not in repr(scheme)
    assert OAuth2Config(**{**base, "dpop": False}).placement.prefix == "Bearer"  # no key needed with dpop off


def test_dpop_settings_change_the_fingerprint_only_when_used(key, other_key):
    url = "https://okta.example.com/oauth2/v1/token"
    plain = AuthConfig(OAuth2Config(token_url=url, client_id=CLIENT_ID))
    unused = AuthConfig(OAuth2Config(token_url=url, client_id=CLIENT_ID, dpop_algorithm="ES256"))
    assert plain.fingerprint() == unused.fingerprint(), "tokens stored before DPoP existed are kept"
    bound = [AuthConfig(OAuth2Config(token_url=url, client_id=CLIENT_ID, dpop=True, dpop_private_key=k.pem))
             for k in (key, other_key)]  # fmt: skip
    assert len({plain.fingerprint(), *(config.fingerprint() for config in bound)}) == 3, "a key's tokens are its own"


def test_okta_service_app_private_key_jwt_with_a_dpop_key_of_its_own(key, mode):
    """An Okta API service app: the client authenticates with a signed JWT (its registered key), and the tokens
    are bound to the DPoP key, another key the server never sees but in the proofs."""
    client_key = new_key("RS256")
    with OktaDPoPEmulator(CLIENT_ID, client_auth="private_key_jwt") as okta:
        okta.register_client_key(client_key)
        config = dpop_config(okta, key, client_secret=None, client_auth="private_key_jwt",
                             assertion_private_key=client_key.pem)  # fmt: skip
        manager = build_token_manager(config, retry=FAST)
        assert [r.status_code for r in call(mode, config, manager, USERS_PATH)] == [200], okta.refusals
        assert okta.nonce_challenges == {"token": 1, "resource": 1}
        (assertion,) = okta.assertions  # the nonce-less first request was refused before client authentication
        assert assertion["iss"] == CLIENT_ID and assertion["aud"] == okta.token_url
        assert manager.cached_token is not None and manager.cached_token.token_type == "DPoP"
