"""Connection -> AuthConfig: every type's fields, profile defaults, and one clear error per malformed field."""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_authapi import profiles
from airflow_provider_authapi.auth import client_kwargs
from airflow_provider_authapi.auth.client import ssl_verify
from airflow_provider_authapi.auth.config import (
    ApiKeyConfig,
    BasicAuthConfig,
    BearerAuthConfig,
    NoAuthConfig,
    OAuth2Config,
    TokenLoginConfig,
)
from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.connections import auth_config_from_connection, connection_value
from tests.emulators.base import self_signed_cert
from tests.emulators.oauth2_server import LoginServer

HOST = "https://api.example.com/v2"
SECRET = "client-secret-value-0123456789-abcdef"
SIGNING = "signature-secret-value-0123456789-abcdef"
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nkey-pem-secret-body\n-----END PRIVATE KEY-----"
ALL_SECRETS = (SECRET, SIGNING, KEY_PEM, "user-password-secret", "refresh-token-secret", "short-signing-secret")


@dataclass
class Conn:
    """The attributes of an Airflow Connection the mapping reads (extra as Airflow stores it: a JSON string)."""

    conn_type: str
    conn_id: str = "my_api"
    host: str | None = HOST
    login: str | None = None
    password: str | None = None
    extra: str | None = None


def conn(conn_type: str, extra: dict[str, Any] | str | None = None, **kwargs: Any) -> Conn:
    return Conn(conn_type, extra=extra if isinstance(extra, str) or extra is None else json.dumps(extra), **kwargs)


# -- each type ---------------------------------------------------------------------------------------------------


def test_oauth2_maps_every_field():
    extra = {
        "grant_type": "authorization_code",
        "login_url": "oauth/token",
        "consent_url": "/oauth/authorize",
        "redirect_uri": "https://airflow.example.com/oauth-consent/callback",
        "scopes": "read, write  admin",
        "audience": "https://api.example.com",
        "resource": "urn:api",
        "client_auth": "body",
        "login_params": '{"tenant": "acme", "n": 1}',
        "refresh_token": "refresh-token-secret",
        "use_pkce": "true",
        "auth_location": "query",
        "header_name": "X-Token",
        "header_prefix": "Token",
        "query_param_name": "tok",
        "default_lifetime": "900",
        "max_lifetime": 600,
        "realm_id": "9130",
        "extra_headers": {"X-Tenant": "acme"},
        "extra_query_params": '{"minorversion": 65}',
        "verify_tls": "false",
        "timeout": "12.5",
        "signature_header": "X-Signature",
        "signature_secret": SIGNING,
    }
    config = auth_config_from_connection(conn("authapi_oauth2", extra, login="client-id", password=SECRET))
    scheme = config.scheme
    assert isinstance(scheme, OAuth2Config)
    assert scheme.token_url == "https://api.example.com/v2/oauth/token"
    assert scheme.authorization_url == "https://api.example.com/v2/oauth/authorize"
    assert scheme.redirect_uri == "https://airflow.example.com/oauth-consent/callback"
    assert (scheme.grant_type, scheme.client_id, scheme.client_secret) == ("authorization_code", "client-id", SECRET)
    assert scheme.scopes == ("read", "write", "admin") and scheme.scope == "read write admin"
    assert (scheme.audience, scheme.resource, scheme.client_auth) == ("https://api.example.com", "urn:api", "body")
    assert scheme.extra_token_params == {"tenant": "acme", "n": "1"}
    assert scheme.refresh_token == "refresh-token-secret" and scheme.use_pkce is True
    assert (scheme.placement.location, scheme.placement.header_name) == ("query", "X-Token")
    assert (scheme.placement.prefix, scheme.placement.query_param) == ("Token", "tok")
    assert (scheme.default_lifetime, scheme.max_lifetime) == (900.0, 600.0)
    common = config.common
    assert common.base_url == HOST
    assert common.headers == {"X-Tenant": "acme"} and common.params == {"minorversion": "65"}
    assert common.tls.verify is False and common.timeout == 12.5
    assert common.signature is not None and common.signature.header == "X-Signature"
    assert common.signature.secret == SIGNING
    for secret in (SECRET, SIGNING, "refresh-token-secret"):
        assert secret not in repr(config)


def test_oauth2_defaults_and_password_grant():
    extra = {"login_url": "https://login.example.com/token", "grant_type": "password", "username": "ann",
             "user_password": "user-password-secret", "scopes": ["a", "b"]}  # fmt: skip
    scheme = auth_config_from_connection(conn("authapi_oauth2", extra, login="cid")).scheme
    assert isinstance(scheme, OAuth2Config)
    assert scheme.token_url == "https://login.example.com/token"  # absolute: not joined to the host
    assert (scheme.username, scheme.password, scheme.scopes) == ("ann", "user-password-secret", ("a", "b"))
    assert scheme.client_secret is None and scheme.client_auth == "basic" and scheme.use_pkce is False
    assert (scheme.placement.location, scheme.placement.header_name, scheme.placement.prefix) == (
        "header",
        "Authorization",
        "Bearer",
    )
    assert scheme.default_lifetime == 3600 and scheme.max_lifetime is None
    common = auth_config_from_connection(conn("authapi_oauth2", extra, login="cid")).common
    assert common.tls.verify is True and common.timeout == 30 and common.signature is None


def test_token_login_maps_every_field():
    extra = {
        "login_url": "/api/login",
        "request_format": "form",
        "username_field": "UserName",
        "pass_field": "Password",
        "extra_body": {"Tenant": "t1"},
        "access_path": "data.AccessToken",
        "refresh_path": "data.RefreshToken",
        "expires_in_path": "data.ExpiresIn",
        "expires_at_path": "data.ExpiresAt",
        "default_lifetime": 1200,
        "max_lifetime": "3000",
        "refresh_url": "api/refresh",
        "refresh_field": "Token",
        "refresh_body": '{"Grant": "refresh"}',
        "auth_location": "header",
        "header_name": "X-Auth",
        "header_prefix": "",
    }
    scheme = auth_config_from_connection(conn("authapi_token", extra, login="bob", password=SECRET)).scheme
    assert isinstance(scheme, TokenLoginConfig)
    assert scheme.token_url == "https://api.example.com/v2/api/login"
    assert scheme.refresh_url == "https://api.example.com/v2/api/refresh"
    assert (scheme.username, scheme.password, scheme.request_format) == ("bob", SECRET, "form")
    assert (scheme.username_field, scheme.password_field, scheme.extra_body) == (
        "UserName",
        "Password",
        {"Tenant": "t1"},
    )
    assert (scheme.token_path, scheme.refresh_token_path) == ("data.AccessToken", "data.RefreshToken")
    assert (scheme.expires_in_path, scheme.expires_at_path) == ("data.ExpiresIn", "data.ExpiresAt")
    assert (scheme.default_lifetime, scheme.max_lifetime) == (1200.0, 3000.0)
    assert (scheme.refresh_token_field, scheme.refresh_body) == ("Token", {"Grant": "refresh"})
    assert (scheme.placement.header_name, scheme.placement.prefix) == ("X-Auth", "")  # "" means no prefix


def test_token_login_defaults():
    scheme = auth_config_from_connection(conn("authapi_token", {"login_url": "/login"}, login="u", password="p")).scheme
    assert isinstance(scheme, TokenLoginConfig)
    assert (scheme.request_format, scheme.username_field, scheme.password_field) == ("json", "username", "password")
    assert (scheme.token_path, scheme.refresh_url, scheme.refresh_token_field) == ("access_token", None, "RefreshToken")
    assert scheme.placement.prefix == "Bearer"


def test_api_key_basic_bearer_none():
    apikey = auth_config_from_connection(
        conn("authapi_apikey", {"key_name": "key", "key_location": "query", "key_prefix": "Api-Key"},
             password=SECRET)
    ).scheme  # fmt: skip
    assert apikey == ApiKeyConfig(key=SECRET, name="key", location="query", prefix="Api-Key")
    default_key = auth_config_from_connection(conn("authapi_apikey", password=SECRET)).scheme
    assert default_key == ApiKeyConfig(key=SECRET, name="X-API-Key", location="header", prefix="")

    basic = auth_config_from_connection(conn("authapi_basic", login="ann", password=SECRET)).scheme
    assert basic == BasicAuthConfig("ann", SECRET)

    bearer = auth_config_from_connection(
        conn("authapi_bearer", {"header_name": "X-Token", "header_prefix": ""}, password=SECRET)
    ).scheme
    assert bearer == BearerAuthConfig(token=SECRET, header_name="X-Token", prefix="")
    assert auth_config_from_connection(conn("authapi_bearer", password=SECRET)).scheme.prefix == "Bearer"

    none = auth_config_from_connection(conn("authapi_none", {"extra_headers": {"Accept": "application/json"}}))
    assert none.scheme == NoAuthConfig() and none.common.headers == {"Accept": "application/json"}


def test_prefixed_extra_names_from_older_forms():
    extra = {"extra__authapi_oauth2__login_url": "/token", "extra__authapi_oauth2__scopes": "x"}
    scheme = auth_config_from_connection(conn("authapi_oauth2", extra, login="cid")).scheme
    assert scheme.token_url == "https://api.example.com/v2/token" and scheme.scopes == ("x",)


def test_tls_pems_survive_a_one_line_input_and_load(tmp_path):
    """The masked form field is a one-line input, which drops line breaks: the mapping restores them."""
    cert_path, key_path = self_signed_cert(str(tmp_path))
    cert, key = Path(cert_path).read_text(), Path(key_path).read_text()
    flat = {"ca_cert_pem": cert.replace("\n", ""), "client_cert_pem": cert.replace("\n", "\\n"),
            "client_private_key_pem": key.replace("\n", "")}  # fmt: skip
    tls = auth_config_from_connection(conn("authapi_none", flat)).common.tls
    assert (tls.ca_pem, tls.client_cert_pem, tls.client_key_pem) == (cert, cert, key)
    assert key not in repr(tls)
    assert isinstance(ssl_verify(tls), ssl.SSLContext)  # the TLS library accepts the restored cert and key
    with LoginServer(tls=(cert_path, key_path)) as server:
        common = auth_config_from_connection(conn("authapi_none", flat, host=server.url)).common
        with httpx.Client(**client_kwargs(common)) as client:
            assert client.get("/no-such-page").status_code == 404  # TLS handshake with the self-signed server


def test_a_flattened_certificate_chain_keeps_every_block(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    first, second = (Path(self_signed_cert(str(tmp_path / name))[0]).read_text() for name in "ab")
    chain = auth_config_from_connection(conn("authapi_none", {"ca_cert_pem": (first + second).replace("\n", "")}))
    assert chain.common.tls.ca_pem == first + second
    assert isinstance(ssl_verify(chain.common.tls), ssl.SSLContext)


def test_earlier_client_key_field_name_is_still_read(tmp_path):
    cert_path, key_path = self_signed_cert(str(tmp_path))
    cert, key = Path(cert_path).read_text(), Path(key_path).read_text()
    extra = {"client_cert_pem": cert, "client_key_pem": key}
    assert auth_config_from_connection(conn("authapi_none", extra)).common.tls.client_key_pem == key


# -- profiles ----------------------------------------------------------------------------------------------------


@pytest.fixture
def profile(monkeypatch: pytest.MonkeyPatch) -> profiles.Profile:
    test_profile = profiles.Profile(
        name="acme",
        label="ACME",
        conn_type="authapi_oauth2",
        host="https://acme.example.com",
        fields={"login_url": "/oauth/token", "scopes": "acme.read", "client_auth": "body", "timeout": 5},
    )
    monkeypatch.setitem(profiles.PROFILES, "acme", test_profile)
    return test_profile


def test_profile_defaults_sit_beneath_connection_values(profile):
    config = auth_config_from_connection(conn("authapi_oauth2", {"profile": "acme"}, host=None, login="cid"))
    assert config.common.base_url == "https://acme.example.com"
    assert config.scheme.token_url == "https://acme.example.com/oauth/token"
    assert (config.scheme.scopes, config.scheme.client_auth, config.common.timeout) == (("acme.read",), "body", 5)

    own = {"profile": "acme", "scopes": "mine", "timeout": 12, "login_url": "/t"}
    config = auth_config_from_connection(conn("authapi_oauth2", own, host="https://eu.acme.example.com", login="c"))
    assert config.common.base_url == "https://eu.acme.example.com"
    assert config.scheme.token_url == "https://eu.acme.example.com/t"
    assert (config.scheme.scopes, config.scheme.client_auth, config.common.timeout) == (("mine",), "body", 12)


def test_values_at_the_form_default_leave_the_profiles_values(profile):
    """The UI form saves every field: its defaults (client_auth basic, timeout 30) and null for empty ones. With a
    profile, those are not choices, so the profile's values apply; any other value wins over the profile."""
    from airflow_provider_authapi.connections import CONNECTION_TYPES

    as_saved_by_the_form = {spec.name: spec.default for spec in CONNECTION_TYPES["authapi_oauth2"].fields}
    as_saved_by_the_form["profile"] = "acme"
    config = auth_config_from_connection(conn("authapi_oauth2", as_saved_by_the_form, host=None, login="cid"))
    assert (config.scheme.client_auth, config.common.timeout) == ("body", 5)  # the profile's, not the defaults
    assert config.scheme.token_url == "https://acme.example.com/oauth/token" and config.scheme.scopes == ("acme.read",)
    assert (config.scheme.grant_type, config.scheme.placement.prefix) == ("client_credentials", "Bearer")

    as_typed = {**as_saved_by_the_form, "timeout": "7", "login_url": "/mine"}
    config = auth_config_from_connection(conn("authapi_oauth2", as_typed, host=None, login="cid"))
    assert (config.common.timeout, config.scheme.token_url) == (7, "https://acme.example.com/mine")


def test_aspire_profile_through_the_form_keeps_its_login_fields():
    from airflow_provider_authapi.connections import CONNECTION_TYPES

    saved = {spec.name: spec.default for spec in CONNECTION_TYPES["authapi_token"].fields} | {"profile": "aspire"}
    scheme = auth_config_from_connection(conn("authapi_token", saved, host=None, login="cid", password=SECRET)).scheme
    assert (scheme.username_field, scheme.password_field, scheme.token_path) == ("ClientId", "Secret", "Token")
    assert (scheme.refresh_token_field, scheme.default_lifetime) == ("RefreshToken", 24 * 3600)


def test_a_cleared_prefix_means_no_prefix():
    """The form saves a cleared field as null; for the prefixes, that (like "") means no prefix."""
    bearer = auth_config_from_connection(conn("authapi_bearer", {"header_prefix": None}, password=SECRET)).scheme
    assert bearer.prefix == ""
    login = auth_config_from_connection(conn("authapi_token", {**LOGIN, "header_prefix": None}, password="p")).scheme
    assert login.placement.prefix == ""
    assert auth_config_from_connection(conn("authapi_bearer", {}, password=SECRET)).scheme.prefix == "Bearer"


def test_connection_value_for_fields_outside_the_auth_config(profile):
    own = conn("authapi_oauth2", {"profile": "acme", "extra__authapi_oauth2__realm_id": "9130"}, login="c")
    assert connection_value(own, "realm_id") == "9130"
    assert connection_value(own, "timeout") == 5  # from the profile
    assert connection_value(own, "test_endpoint") == "/"  # the field's default
    assert connection_value(conn("authapi_none", {"test_endpoint": "/health"}), "test_endpoint") == "/health"


def test_a_profiles_headers_and_params_merge_beneath_the_connections():
    own = {"profile": "quickbooks_sandbox", "extra_headers": '{"X-Tenant": "acme"}', "extra_query_params": {}}
    config = auth_config_from_connection(conn("authapi_oauth2", own, host=None, login="cid", password="s"))
    assert config.common.headers == {"Accept": "application/json", "X-Tenant": "acme"}
    assert config.common.params == {"minorversion": "75"}
    own = {"profile": "quickbooks_sandbox", "extra_headers": {"Accept": "application/xml"}}
    config = auth_config_from_connection(conn("authapi_oauth2", own, host=None, login="cid", password="s"))
    assert config.common.headers == {"Accept": "application/xml"}  # the connection's key wins
    assert config.common.base_url == "https://sandbox-quickbooks.api.intuit.com"


def test_profile_of_another_connection_type_is_refused(profile):
    with pytest.raises(ConfigError) as caught:
        auth_config_from_connection(conn("authapi_token", {"profile": "acme", "login_url": "/x"}, password="p"))
    assert caught.value.field == "profile" and "authapi_oauth2" in str(caught.value)


# -- malformed fields --------------------------------------------------------------------------------------------

OAUTH2 = {"login_url": "/token"}
LOGIN = {"login_url": "/login"}
SIGNED = {"signature_header": "X-Sig", "signature_secret": SIGNING}

# (case id, conn_type, extra, Conn kwargs, field named in the error)
MALFORMED: list[tuple[str, str, Any, dict[str, Any], str]] = [
    ("extra not JSON", "authapi_oauth2", '{"login_url": "/t", "x": "' + SECRET, {}, "extra"),
    ("extra not an object", "authapi_basic", "[1, 2]", {"login": "u"}, "extra"),
    ("extra_headers not JSON", "authapi_bearer", {"extra_headers": '{"Authorization": ' + SECRET}, {}, "extra_headers"),
    ("extra_headers a list", "authapi_none", {"extra_headers": '["a"]'}, {}, "extra_headers"),
    ("extra_query_params not JSON", "authapi_apikey", {"extra_query_params": "{x}"}, {}, "extra_query_params"),
    ("login_params not JSON", "authapi_oauth2", {**OAUTH2, "login_params": "{"}, {},
     "login_params"),
    ("extra_body not JSON", "authapi_token", {**LOGIN, "extra_body": "{'a': 1}"}, {}, "extra_body"),
    ("refresh_body not JSON", "authapi_token", {**LOGIN, "refresh_body": "nope"}, {}, "refresh_body"),
    ("unknown grant_type", "authapi_oauth2", {**OAUTH2, "grant_type": "implicit"}, {}, "grant_type"),
    ("unknown client_auth", "authapi_oauth2", {**OAUTH2, "client_auth": "jwt"}, {}, "client_auth"),
    ("unknown auth_location", "authapi_oauth2", {**OAUTH2, "auth_location": "fragment"}, {}, "auth_location"),
    ("cookie without cookie_name", "authapi_token", {**LOGIN, "auth_location": "cookie"}, {}, "cookie_name"),
    ("cookie source without name", "authapi_token", {**LOGIN, "credential_source": "cookie"}, {}, "credential_name"),
    ("unknown lifetime_unit", "authapi_token", {**LOGIN, "lifetime_unit": "days"}, {}, "lifetime_unit"),
    ("unknown basic_scheme", "authapi_basic", {"basic_scheme": "ntlm"}, {}, "basic_scheme"),
    ("unknown request_format", "authapi_token", {**LOGIN, "request_format": "xml"}, {}, "request_format"),
    ("unknown key_location", "authapi_apikey", {"key_location": "body"}, {}, "key_location"),
    ("short signature_secret", "authapi_basic", {"signature_header": "X-Sig", "signature_secret":
     "short-signing-secret"}, {"login": "u"}, "signature_secret"),
    ("signature_secret without header", "authapi_none", {"signature_secret": SIGNING}, {}, "signature_header"),
    ("oauth2 without login_url", "authapi_oauth2", {"scopes": "a"}, {}, "login_url"),
    ("token login without login_url", "authapi_token", {"access_path": "t"}, {}, "login_url"),
    ("relative login_url without host", "authapi_oauth2", OAUTH2, {"host": None}, "login_url"),
    ("host without scheme", "authapi_none", {}, {"host": "api.example.com"}, "host"),
    ("timeout not a number", "authapi_none", {"timeout": "fast"}, {}, "timeout"),
    ("timeout zero", "authapi_none", {"timeout": 0}, {}, "timeout"),
    ("timeout nan", "authapi_none", {"timeout": "nan"}, {}, "timeout"),
    ("lifetime not a number", "authapi_oauth2", {**OAUTH2, "default_lifetime": "1h"}, {},
     "default_lifetime"),
    ("max lifetime negative", "authapi_token", {**LOGIN, "max_lifetime": -5}, {}, "max_lifetime"),
    ("verify_tls not a bool", "authapi_none", {"verify_tls": "maybe"}, {}, "verify_tls"),
    ("use_pkce not a bool", "authapi_oauth2", {**OAUTH2, "use_pkce": "perhaps"}, {}, "use_pkce"),
    ("client key without cert", "authapi_none", {"client_private_key_pem": KEY_PEM}, {}, "client_cert_pem"),
    ("CA not PEM", "authapi_none", {"ca_cert_pem": "MIIBfake"}, {}, "ca_cert_pem"),
    ("unknown profile", "authapi_none", {"profile": "nope"}, {}, "profile"),
    ("password grant without username", "authapi_oauth2", {**OAUTH2, "grant_type": "password",
     "user_password": "user-password-secret"}, {}, "username"),
    ("refresh grant without refresh token", "authapi_oauth2", {**OAUTH2, "grant_type": "refresh_token"}, {},
     "refresh_token"),
    ("client_credentials without client id", "authapi_oauth2", OAUTH2, {"login": None}, "login"),
    ("api key missing", "authapi_apikey", {}, {"password": None}, "password"),
    ("bearer token missing", "authapi_bearer", {}, {"password": None}, "password"),
    ("token login password missing", "authapi_token", LOGIN, {"password": None}, "password"),
    ("basic without user", "authapi_basic", {}, {"login": None}, "login"),
    ("basic without password", "authapi_basic", {}, {"login": "u", "password": None}, "password"),
    ("unknown conn_type", "http", {}, {}, "conn_type"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("conn_type", "extra", "kwargs", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in MALFORMED],
)
def test_malformed_field_names_connection_and_field_and_hides_secrets(conn_type, extra, kwargs, field):
    kwargs = {"login": "client-id", "password": SECRET, **kwargs}
    extra = {**SIGNED, **extra} if isinstance(extra, dict) and "signature_secret" not in extra else extra
    with pytest.raises(ConfigError) as caught:
        auth_config_from_connection(conn(conn_type, extra, conn_id="crm_prod", **kwargs))
    error = caught.value
    message = str(error)
    assert (error.field, error.conn_id) == (field, "crm_prod")
    assert message.startswith(f"connection 'crm_prod', field '{field}': "), message
    assert len(message) > len(f"connection 'crm_prod', field '{field}': ") + 5, message
    for secret in ALL_SECRETS:
        assert secret not in message and secret not in repr(error), f"secret in {message!r}"
    assert error.__cause__ is None or SECRET not in str(error.__cause__)


def test_one_bad_field_in_a_valid_config_is_the_one_named():
    """A config that is valid apart from one field: the error names that field, and shows a non-secret value."""
    good = {**OAUTH2, **SIGNED, "scopes": "a,b", "timeout": 3}
    assert auth_config_from_connection(conn("authapi_oauth2", good, login="c", password=SECRET)).scheme.scopes == (
        "a",
        "b",
    )
    with pytest.raises(ConfigError) as caught:
        auth_config_from_connection(conn("authapi_oauth2", {**good, "timeout": "x"}, login="c", password=SECRET))
    assert caught.value.field == "timeout" and "'x'" in str(caught.value)  # non-secret values are shown


def test_bad_secret_field_says_what_is_wrong_without_the_value():
    with pytest.raises(ConfigError) as caught:
        auth_config_from_connection(conn("authapi_none", {"signature_header": "X", "signature_secret": "tiny-secret"}))
    assert "at least 32 characters" in str(caught.value) and "tiny-secret" not in str(caught.value)


def test_an_unknown_extra_key_is_named_with_the_closest_field_and_no_value(caplog):
    extra = {"login_ulr": "/oauth/token", "login_url": "/t", "shoe_size": "secret-value-123"}
    auth_config_from_connection(conn("authapi_oauth2", extra, login="cid"))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "Connection 'my_api': extra key 'login_ulr' is not a field of authapi_oauth2 and is ignored; "
        "did you mean 'login_url'?",
        "Connection 'my_api': extra key 'shoe_size' is not a field of authapi_oauth2 and is ignored",
    ]
    assert "secret-value-123" not in caplog.text


# -- earlier field names and Airflow's mask ----------------------------------------------------------------------

# Every earlier name with a value and the config attribute it lands in (conn_type, extra, attribute path).
EARLIER = {
    "token_url": ("authapi_oauth2", "/old/token", "scheme.token_url", "https://api.example.com/v2/old/token"),
    "authorization_url": ("authapi_oauth2", "/old/authorize", "scheme.authorization_url",
                          "https://api.example.com/v2/old/authorize"),
    "token_request_params": ("authapi_oauth2", {"tenant": "t"}, "scheme.extra_token_params", {"tenant": "t"}),
    "token_placement": ("authapi_oauth2", "query", "scheme.placement.location", "query"),
    "token_header_name": ("authapi_token", "X-Auth", "scheme.placement.header_name", "X-Auth"),
    "token_prefix": ("authapi_bearer", "", "scheme.prefix", ""),
    "token_query_param": ("authapi_oauth2", "tok", "scheme.placement.query_param", "tok"),
    "default_token_lifetime": ("authapi_token", 900, "scheme.default_lifetime", 900),
    "max_token_lifetime": ("authapi_oauth2", 300, "scheme.max_lifetime", 300),
    "password_field": ("authapi_token", "Secret", "scheme.password_field", "Secret"),
    "token_path": ("authapi_token", "data.jwt", "scheme.token_path", "data.jwt"),
    "refresh_token_path": ("authapi_token", "data.rt", "scheme.refresh_token_path", "data.rt"),
    "refresh_token_field": ("authapi_token", "Rt", "scheme.refresh_token_field", "Rt"),
    "api_key_name": ("authapi_apikey", "X-Key", "scheme.name", "X-Key"),
    "api_key_location": ("authapi_apikey", "query", "scheme.location", "query"),
    "api_key_prefix": ("authapi_apikey", "Key", "scheme.prefix", "Key"),
}  # fmt: skip


def _attribute(config: Any, path: str) -> Any:
    for part in path.split("."):
        config = getattr(config, part)
    return config


@pytest.mark.parametrize("prefixed", [False, True], ids=["plain", "extra__type__"])
@pytest.mark.parametrize("old", sorted(EARLIER))
def test_an_earlier_field_name_is_read_with_a_warning_naming_the_new_one(old, prefixed, caplog):
    from airflow_provider_authapi.connections.fields import RENAMED

    conn_type, value, path, expected = EARLIER[old]
    base = {"authapi_oauth2": OAUTH2, "authapi_token": LOGIN}.get(conn_type, {})
    key = f"extra__{conn_type}__{old}" if prefixed else old
    extra = {**{k: v for k, v in base.items() if not (old == "token_url" and k == "login_url")}, key: value}
    config = auth_config_from_connection(conn(conn_type, extra, login="cid", password=SECRET))
    assert _attribute(config, path) == expected
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        f"Connection 'my_api': extra key {old!r} has been renamed to {RENAMED[old]!r}; rename it in the connection "
        "(the old name is still read)"
    ]


def test_the_new_name_wins_over_the_earlier_one():
    extra = {"login_url": "/new", "token_url": "/old", "token_placement": "query", "auth_location": None}
    scheme = auth_config_from_connection(conn("authapi_oauth2", extra, login="cid")).scheme
    assert scheme.token_url == "https://api.example.com/v2/new"
    assert scheme.placement.location == "query"  # null (the form's empty field) does not hide the earlier value


@pytest.mark.parametrize(
    ("conn_type", "key", "field"),
    [
        ("authapi_oauth2", "login_url", "login_url"),
        ("authapi_oauth2", "token_placement", "auth_location"),
        ("authapi_token", "default_token_lifetime", "default_lifetime"),
        ("authapi_token", "extra__authapi_token__refresh_token_field", "refresh_field"),
        ("authapi_apikey", "api_key_name", "key_name"),
        ("authapi_bearer", "header_prefix", "header_prefix"),
    ],
)
def test_the_mask_in_a_non_secret_field_is_an_error_naming_connection_and_field(conn_type, key, field):
    """`***` is what Airflow's form showed and saved for fields it masked by name: not a value to use."""
    base = {"authapi_oauth2": OAUTH2, "authapi_token": LOGIN}.get(conn_type, {})
    with pytest.raises(ConfigError) as caught:
        auth_config_from_connection(conn(conn_type, {**base, key: "***"}, conn_id="dastra", password=SECRET))
    message = str(caught.value)
    assert (caught.value.field, caught.value.conn_id) == (field, "dastra")
    assert message.startswith(f"connection 'dastra', field '{field}': holds Airflow's mask *** instead of a value")
    assert SECRET not in message
    if key != field:
        assert key.rsplit("__", 1)[-1] in message  # the earlier name, which made Airflow hide it


def test_the_mask_in_a_secret_field_is_left_to_airflow():
    """Airflow puts the stored secret back when the form saves `***` for it: nothing to refuse here."""
    extra = {**SIGNED, "client_cert_pem": None, "refresh_token": "***"}
    config = auth_config_from_connection(conn("authapi_oauth2", {**OAUTH2, **extra}, login="cid"))
    assert config.scheme.refresh_token == "***"


def test_leeway_may_be_zero_but_not_negative():
    zero = conn("authapi_oauth2", {"login_url": "/t", "leeway": 0}, host="https://api.example", login="id")
    assert auth_config_from_connection(zero).scheme.leeway == 0
    negative = conn("authapi_oauth2", {"login_url": "/t", "leeway": -1}, host="https://api.example", login="id")
    with pytest.raises(ConfigError, match="field 'leeway': must be 0 or more"):
        auth_config_from_connection(negative)
