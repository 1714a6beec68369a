"""The JWT assertion fields of `authapi_oauth2` -> `OAuth2Config`: each field mapped, and one clear error per bad
value naming the connection and the field, never the private key or the client secret."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_authapi.auth.config import OAuth2Config, config_secrets
from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.connections import auth_config_from_connection
from tests.emulators.jwt_oauth2 import KeyPair, certificate_pem, new_key

SECRET = "client-secret-for-hs256-0123456789-abcdef"


@pytest.fixture(scope="module")
def keys() -> dict[str, KeyPair]:
    return {"RS256": new_key("RS256"), "ES256": new_key("ES256")}


def conn(extra: dict[str, Any], login: str | None = "client-id", password: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        conn_id="my_api",
        conn_type="authapi_oauth2",
        host="https://api.example.com",
        login=login,
        password=password,
        extra=json.dumps({"login_url": "/oauth/token", **extra}),
    )


def one_line(pem: str) -> str:
    """A PEM as a one-line (masked) input keeps it: line breaks become spaces."""
    return " ".join(pem.split("\n")).strip()


def test_the_jwt_bearer_grant_maps_every_assertion_field(keys):
    key = keys["ES256"]
    certificate = certificate_pem(key)
    extra = {
        "grant_type": "jwt_bearer",
        "scopes": "api refresh_token",
        "assertion_private_key": one_line(key.pem),
        "assertion_algorithm": "ES256",
        "assertion_issuer": "3MVG9-consumer-key",
        "assertion_subject": "ann@example.com",
        "assertion_audience": "https://login.salesforce.com",
        "assertion_lifetime": "120",
        "assertion_scope_claim": "true",
        "assertion_claims": '{"tenant": "acme"}',
        "assertion_kid": "key-1",
        "assertion_cert_pem": certificate,
    }
    config = auth_config_from_connection(conn(extra, login=None))
    scheme = config.scheme
    assert isinstance(scheme, OAuth2Config) and scheme.grant_type == "jwt_bearer"
    assert scheme.assertion_private_key == key.pem  # line breaks restored
    assert (scheme.assertion_algorithm, scheme.assertion_kid) == ("ES256", "key-1")
    assert (scheme.assertion_issuer, scheme.assertion_subject) == ("3MVG9-consumer-key", "ann@example.com")
    assert scheme.assertion_audience == "https://login.salesforce.com" and scheme.assertion_lifetime == 120.0
    assert scheme.assertion_scope_claim is True and scheme.assertion_claims == {"tenant": "acme"}
    assert scheme.assertion_cert_pem == certificate and scheme.client_id == ""
    assert key.pem in config_secrets(config) and key.pem.splitlines()[1] not in repr(config)


def test_client_assertions_map_with_the_defaults_of_the_config(keys):
    extra = {"client_auth": "private_key_jwt", "assertion_private_key": keys["RS256"].pem}
    scheme = auth_config_from_connection(conn(extra)).scheme
    assert isinstance(scheme, OAuth2Config) and scheme.client_auth == "private_key_jwt"
    assert (scheme.assertion_algorithm, scheme.assertion_lifetime) == ("RS256", 300)
    assert scheme.assertion_scope_claim is False
    assert scheme.assertion_audience is None and scheme.assertion_claims == {}
    hs256 = auth_config_from_connection(conn({"client_auth": "client_secret_jwt"}, password=SECRET)).scheme
    assert isinstance(hs256, OAuth2Config) and hs256.client_auth == "client_secret_jwt"


# (case id, extra, Conn kwargs, field named in the error); "RSA" stands for the module's RSA key PEM.
MALFORMED: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("jwt_bearer without a key", {"grant_type": "jwt_bearer"}, {}, "assertion_private_key"),
    ("a key that is not PEM", {"client_auth": "private_key_jwt", "assertion_private_key": "MIIEfake"}, {},
     "assertion_private_key"),
    ("a PEM block that is no key", {"client_auth": "private_key_jwt", "assertion_private_key":
     "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----"}, {}, "assertion_private_key"),
    ("ES256 with an RSA key", {"client_auth": "private_key_jwt", "assertion_private_key": "RSA",
     "assertion_algorithm": "ES256"}, {}, "assertion_algorithm"),
    ("HS256 for the key", {"client_auth": "private_key_jwt", "assertion_private_key": "RSA",
     "assertion_algorithm": "HS256"}, {}, "assertion_algorithm"),
    ("a certificate of another key", {"client_auth": "private_key_jwt", "assertion_private_key": "RSA",
     "assertion_cert_pem": "OTHER_CERT"}, {}, "assertion_cert_pem"),
    ("claims not JSON", {"assertion_claims": "{tenant: acme}"}, {}, "assertion_claims"),
    ("a reserved claim", {"assertion_claims": {"aud": "x"}}, {}, "assertion_claims"),
    ("lifetime not a number", {"assertion_lifetime": "5m"}, {}, "assertion_lifetime"),
    ("lifetime over an hour", {"assertion_lifetime": 7200}, {}, "assertion_lifetime"),
    ("scope claim not a bool", {"assertion_scope_claim": "perhaps"}, {}, "assertion_scope_claim"),
    ("client_secret_jwt with a short secret", {"client_auth": "client_secret_jwt"}, {"password": "short-secret"},
     "password"),
    ("private_key_jwt without a client id", {"client_auth": "private_key_jwt", "assertion_private_key": "RSA"},
     {"login": None}, "login"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "kwargs", "field"), [pytest.param(*case[1:], id=case[0]) for case in MALFORMED])
def test_a_bad_assertion_field_names_connection_and_field_never_the_key(keys, extra, kwargs, field):
    stand_ins = {"RSA": keys["RS256"].pem, "OTHER_CERT": certificate_pem(keys["ES256"])}
    extra = {name: stand_ins.get(value, value) if isinstance(value, str) else value for name, value in extra.items()}
    with pytest.raises(ConfigError) as caught:
        auth_config_from_connection(conn(extra, **kwargs))
    message = str(caught.value)
    assert caught.value.field == field and message.startswith(f"connection 'my_api', field {field!r}: "), message
    assert keys["RS256"].pem.splitlines()[1] not in message
    assert not kwargs.get("password") or kwargs["password"] not in message
