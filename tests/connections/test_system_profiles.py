"""The Salesforce, Google and Entra ID profiles as a connection maps them: what each fills, the tenant in the token
URL, a service-account key file given as text or as an object, and `instance_url` kept from a token response."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from airflow_provider_authapi.auth.config import OAuth2Config
from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.auth.grants import OAuth2Grant
from airflow_provider_authapi.connections import auth_config_from_connection
from tests.emulators.jwt_oauth2 import KeyPair, certificate_pem, new_key


@pytest.fixture(scope="module")
def key() -> KeyPair:
    return new_key("RS256")


def scheme(extra: dict[str, Any], host: str | None = None, login: str | None = "client-id") -> OAuth2Config:
    conn = SimpleNamespace(
        conn_id="sys", conn_type="authapi_oauth2", host=host, login=login, password=None, extra=json.dumps(extra)
    )
    config = auth_config_from_connection(conn)
    assert isinstance(config.scheme, OAuth2Config)
    return config.scheme


def test_salesforce_profiles_sign_for_the_login_host_with_a_short_assertion(key):
    extra = {"assertion_subject": "ann@acme.example", "assertion_private_key": key.pem}
    production = scheme({"profile": "salesforce", **extra}, login="3MVG9-consumer-key")
    sandbox = scheme({"profile": "salesforce_sandbox", **extra}, login="3MVG9-consumer-key")
    assert production.grant_type == "jwt_bearer" and production.assertion_lifetime == 180
    assert production.token_url == "https://login.salesforce.com/services/oauth2/token"
    assert (production.assertion_audience, sandbox.assertion_audience) == (
        "https://login.salesforce.com",
        "https://test.salesforce.com",
    )
    assert production.default_lifetime == 7200 and production.client_secret is None


def test_entra_id_fills_the_tenant_in_the_token_url_and_needs_one(key):
    extra = {"profile": "entra_id", "assertion_private_key": key.pem, "assertion_cert_pem": certificate_pem(key)}
    filled = scheme({**extra, "tenant_id": "contoso.onmicrosoft.com"}, login="app-id")
    assert filled.token_url == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert (filled.client_auth, filled.scopes) == ("private_key_jwt", ("https://graph.microsoft.com/.default",))
    with pytest.raises(ConfigError) as caught:
        scheme(extra, login="app-id")
    assert caught.value.field == "tenant_id" and "{tenant}" in str(caught.value)
    odd = scheme({**extra, "tenant_id": "a/b?c"}, login="app-id")  # a tenant cannot change the URL's path
    assert odd.token_url == "https://login.microsoftonline.com/a%2Fb%3Fc/oauth2/v2.0/token"


def test_a_service_account_key_file_as_text_or_object_and_refusals_that_name_the_field(key):
    key_file = {
        "type": "service_account",
        "private_key_id": "abc123",
        "private_key": key.pem,
        "client_email": "reader@demo.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    base = {"profile": "google_service_account", "scopes": "https://www.googleapis.com/auth/drive.readonly"}
    as_text = scheme({**base, "service_account_json": json.dumps(key_file)}, login=None)
    as_object = scheme({**base, "service_account_json": key_file}, login=None)
    assert as_text == as_object
    assert (as_text.token_url, as_text.assertion_audience) == (key_file["token_uri"], key_file["token_uri"])
    assert (as_text.assertion_issuer, as_text.assertion_kid) == (key_file["client_email"], "abc123")
    assert as_text.assertion_scope_claim and "service_account_json" not in repr(as_text)
    own_audience = scheme({**base, "service_account_json": key_file, "assertion_audience": "https://aud"}, login=None)
    assert own_audience.assertion_audience == "https://aud"  # a field set on the connection wins over the key file

    with pytest.raises(ConfigError) as caught:
        scheme({"scopes": base["scopes"], "service_account_json": key_file}, login="x")  # no profile: no jwt_bearer
    assert caught.value.field == "grant_type"
    with pytest.raises(ConfigError) as caught:
        scheme({**base, "service_account_json": {**key_file, "token_uri": "file:///etc/passwd"}}, login=None)
    assert caught.value.field == "service_account_json" and "passwd" not in str(caught.value)


def test_instance_url_is_kept_from_the_token_response_and_anything_else_is_not(key):
    grant = OAuth2Grant(OAuth2Config(token_url="https://login.example/token", client_id="c", client_secret="s"))
    request = grant.token_request(None)

    def parsed(**body: Any) -> dict[str, Any]:
        response = httpx.Response(200, json={"access_token": "at-1", **body}, request=request.build())
        return grant.parse(response, request, None).extra

    assert parsed(instance_url="https://acme.my.salesforce.com/") == {"instance_url": "https://acme.my.salesforce.com"}
    assert parsed(instance_url="javascript:alert(1)") == {} and parsed(instance_url=["x"]) == {}
