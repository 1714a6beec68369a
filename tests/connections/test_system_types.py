"""A connection type per known system (`authapi_dastra`, ...), generated from its profile and its base type's fields:
the form shows only what the system needs, in its words, at the profile's values; everything the profile fixes is
hidden; and a connection of the type maps exactly as its base type with that profile (old connections with a
`profile` go on working, and a value a person typed over a shown default wins)."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_authapi.auth.config import AuthConfig
from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.connections import auth_config_from_connection, connection_value
from airflow_provider_authapi.connections.fields import (
    ADVANCED,
    CONNECTION_TYPES,
    GENERIC_TYPES,
    SYSTEM_TYPES,
    ConnectionType,
    too_short_to_mask,
)
from airflow_provider_authapi.get_provider_info import get_provider_info
from airflow_provider_authapi.profiles import PROFILES
from tests.emulators.jwt_oauth2 import certificate_pem, new_key

KEY = new_key("RS256")
KEY_FILE = {
    "type": "service_account",
    "private_key_id": "0123abcd",
    "private_key": KEY.pem,
    "client_email": "reader@demo.iam.gserviceaccount.com",
    "token_uri": "https://oauth2.googleapis.com/token",
}
# What a person types into each system's form (besides what the form starts at): credentials and own values.
TYPED: dict[str, dict[str, Any]] = {
    "astera": {"host": "https://astera.acme.example:9260", "login": "etl", "password": "astera-password-0123"},
    "aspire": {"login": "client-0123", "password": "aspire-secret-0123"},
    "dastra": {"login": "public-key-0123", "password": "private-key-0123"},
    "sap_b1": {"host": "https://b1.acme.example:50000", "login": "manager", "password": "b1-password-0123",
               "extra": {"extra_body": {"CompanyDB": "SBODEMOUS"}}},
    "salesforce": {"login": "3MVG9-consumer", "extra": {"assertion_subject": "ann@acme.example",
                                                        "assertion_private_key": KEY.pem}},
    "salesforce_sandbox": {"login": "3MVG9-consumer", "extra": {"assertion_subject": "ann@acme.example",
                                                                "assertion_private_key": KEY.pem}},
    "google_service_account": {"host": "https://sheets.googleapis.com", "extra": {
        "scopes": "https://www.googleapis.com/auth/spreadsheets.readonly", "service_account_json": KEY_FILE}},
    "entra_id": {"login": "app-0123", "extra": {"tenant_id": "contoso.onmicrosoft.com",
                                                "assertion_private_key": KEY.pem,
                                                "assertion_cert_pem": certificate_pem(KEY)}},
    "github_app": {"login": "1234567", "extra": {"installation_id": "45678901", "assertion_private_key": KEY.pem}},
    "netsuite": {"login": "ns-consumer-key-0123", "password": "ns-consumer-secret-0123",
                 "extra": {"realm": "1234567_SB1", "token_id": "ns-token-id-0123",
                           "token_secret": "ns-token-secret-0123"}},
    "quickbooks_sandbox": {"login": "qb-client", "password": "qb-secret-0123",
                           "extra": {"redirect_uri": "https://airflow.acme.example/oauth-consent/callback"}},
    "quickbooks_production": {"login": "qb-client", "password": "qb-secret-0123",
                              "extra": {"redirect_uri": "https://airflow.acme.example/oauth-consent/callback"}},
    "zoho": {"login": "1000.ZOHOCLIENT", "password": "zoho-secret-0123",
             "extra": {"redirect_uri": "https://airflow.acme.example/oauth-consent/callback"}},
    "xero": {"login": "XEROCLIENT0123", "password": "xero-secret-0123",
             "extra": {"redirect_uri": "https://airflow.acme.example/oauth-consent/callback"}},
    "jira_cloud": {"login": "atlassian-client-0123", "password": "atlassian-secret-0123",
                   "extra": {"redirect_uri": "https://airflow.acme.example/oauth-consent/callback",
                             "discovery_match": {"url": "https://acme.atlassian.net"}}},
}  # fmt: skip


def info(conn_type: str) -> dict[str, Any]:
    return next(t for t in get_provider_info()["connection-types"] if t["connection-type"] == conn_type)


def connection(conn_type: str, extra: dict[str, Any], typed: dict[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(
        conn_id="system",
        conn_type=conn_type,
        host=typed.get("host"),
        login=typed.get("login"),
        password=typed.get("password"),
        extra=json.dumps({**extra, **typed.get("extra", {})}),
    )


def as_saved_by_the_form(conn_type: str) -> dict[str, Any]:
    """The extra a person's Save writes when they leave every extra field at what the form starts at."""
    fields = info(conn_type)["conn-fields"]
    return {name: field["schema"].get("default") for name, field in fields.items()}


def test_every_profile_is_a_connection_type_with_a_hook():
    from airflow_provider_authapi.hooks import connection_types

    assert set(SYSTEM_TYPES) == {f"authapi_{name}" for name in PROFILES}
    assert set(CONNECTION_TYPES) == set(GENERIC_TYPES) | set(SYSTEM_TYPES)
    for conn_type, system in SYSTEM_TYPES.items():
        profile = PROFILES[system.profile]
        assert (system.base, system.hook_name) == (profile.conn_type, profile.label)
        hook = getattr(connection_types, system.hook_class)  # the import path the provider info names
        assert info(conn_type)["hook-class-name"] == f"{hook.__module__}.{hook.__qualname__}"
        assert (hook.conn_type, hook.hook_name) == (conn_type, profile.label)
    assert connection_types.AuthApiDastraHook.conn_type == "authapi_dastra"


@pytest.mark.parametrize("conn_type", sorted(SYSTEM_TYPES))
def test_the_form_shows_what_the_profile_names_at_the_profiles_values(conn_type):
    system = SYSTEM_TYPES[conn_type]
    profile, base = PROFILES[system.profile], GENERIC_TYPES[system.base]
    base_info = info(system.base)["conn-fields"]
    fields = info(conn_type)["conn-fields"]
    assert list(fields) == [*profile.form, *profile.advanced], "the form keeps the profile's order"
    for name, field in fields.items():
        schema = field["schema"]
        assert field["label"] == profile.labels.get(name, base_info[name]["label"]), name
        assert field["description"] == profile.help.get(name, base_info[name]["description"]), name
        assert schema.get("section") == (ADVANCED if name in profile.advanced else None), name
        value = profile.fields.get(name)
        if value is None:  # the profile leaves it: the base type's default
            assert schema.get("default") == base_info[name]["schema"].get("default"), name
        elif too_short_to_mask(value):  # never saved (every read would warn): the mapping applies it
            assert "default" not in schema, name
        else:
            assert schema["default"] == value, name
    hidden_profile_values = set(profile.fields) - set(fields)
    assert hidden_profile_values, "a system type hides what its profile fixes"
    assert {spec.name for spec in base.fields} >= set(fields)
    assert "profile" not in fields and "grant_type" not in fields  # the type is the profile
    # The row's Test tells "the default" from a chosen endpoint by the form's test_endpoint field (connection_check)
    assert "test_endpoint" in fields


def test_dastra_aspire_and_quickbooks_in_their_own_words():
    dastra = info("authapi_dastra")
    assert dastra["ui-field-behaviour"]["relabeling"] == {
        "host": "API base URL",
        "login": "Public key",
        "password": "Private key",
    }
    assert dastra["ui-field-behaviour"]["placeholders"] == {"host": "https://api.dastra.eu"}
    assert dastra["conn-fields"]["login_url"]["schema"]["default"] == "https://account.dastra.eu/connect/token"
    assert set(dastra["conn-fields"]) == {"login_url", "test_endpoint", "timeout"}

    # Issue 23: the Aspire form showed `username`, `access_token` and 3600 while the profile uses others.
    aspire = info("authapi_aspire")
    assert aspire["ui-field-behaviour"]["relabeling"] == {
        "host": "API base URL",
        "login": "Client ID",
        "password": "Secret",
    }
    assert not {"username_field", "pass_field", "access_path", "default_lifetime"} & set(aspire["conn-fields"])
    assert aspire["conn-fields"]["login_url"]["schema"]["default"] == "/Authorization"

    quickbooks = info("authapi_quickbooks_sandbox")["conn-fields"]
    assert list(quickbooks)[:3] == ["redirect_uri", "realm_id", "refresh_token"]
    assert quickbooks["realm_id"]["label"] == "Company ID (realm ID)"
    assert quickbooks["consent_url"]["schema"]["default"] == "https://appcenter.intuit.com/connect/oauth2"
    assert quickbooks["refresh_token"]["schema"]["format"] == "password"

    salesforce = info("authapi_salesforce")["ui-field-behaviour"]
    assert {"host", "password"} <= set(salesforce["hidden-fields"]) and salesforce["relabeling"] == {
        "login": "Consumer key"
    }
    google = info("authapi_google_service_account")["ui-field-behaviour"]
    assert {"login", "password"} <= set(google["hidden-fields"]) and "host" not in google["hidden-fields"]


def test_netsuite_in_its_own_words_and_its_host_from_the_account_id():
    netsuite = info("authapi_netsuite")
    behaviour = netsuite["ui-field-behaviour"]
    assert behaviour["relabeling"] == {"host": "API base URL", "login": "Consumer key", "password": "Consumer secret"}
    assert behaviour["placeholders"] == {"host": "https://{account}.suitetalk.api.netsuite.com"}
    fields = netsuite["conn-fields"]
    assert list(fields) == ["realm", "token_id", "token_secret", "test_endpoint", "timeout"]
    assert fields["realm"]["label"] == "Account ID"
    assert {fields[name]["schema"].get("format") for name in ("token_id", "token_secret")} == {"password"}
    assert "signature_method" not in fields  # HMAC-SHA256, the one NetSuite takes

    typed = TYPED["netsuite"]
    mapped = config(connection("authapi_netsuite", {}, typed))
    assert mapped.common.base_url == "https://1234567-sb1.suitetalk.api.netsuite.com"  # lower case, - for _
    assert (mapped.scheme.realm, mapped.scheme.signature_method) == ("1234567_SB1", "HMAC-SHA256")
    own_host = config(connection("authapi_netsuite", {}, {**typed, "host": "http://127.0.0.1:8080"}))
    assert own_host.common.base_url == "http://127.0.0.1:8080" and own_host.scheme.realm == "1234567_SB1"
    for realm in ("", "1234567 SB1", "../evil"):
        with pytest.raises(ConfigError) as caught:
            config(connection("authapi_netsuite", {}, {**typed, "extra": {**typed["extra"], "realm": realm}}))
        assert caught.value.field == "realm" and "{account}" in str(caught.value)
    legacy = {**typed["extra"], "signature_method": "HMAC-SHA1"}  # only when named
    assert config(connection("authapi_netsuite", {}, {**typed, "extra": legacy})).scheme.signature_method == "HMAC-SHA1"


def config(conn: SimpleNamespace) -> AuthConfig:
    return auth_config_from_connection(conn)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_a_system_connection_maps_as_its_base_type_with_the_profile(name):
    system = SYSTEM_TYPES[f"authapi_{name}"]
    typed = TYPED[name]
    old = config(connection(system.base, {"profile": name}, typed))  # an existing connection: unchanged
    assert config(connection(system.conn_type, {}, typed)) == old, "the type alone (extra set by hand)"
    assert config(connection(system.conn_type, as_saved_by_the_form(system.conn_type), typed)) == old, "the form"
    assert config(connection(system.conn_type, {"profile": name}, typed)) == old, "its own profile named"
    # The generic type's untouched form with the profile (what the old layout saved) still gives the same.
    generic_form = {**as_saved_by_the_form(system.base), "profile": name}
    assert config(connection(system.base, generic_form, typed)) == old
    assert connection_value(connection(system.conn_type, {}, typed), "test_endpoint") == connection_value(
        connection(system.base, {"profile": name}, typed), "test_endpoint"
    )


def test_a_value_typed_over_the_profiles_wins_even_if_it_is_the_generic_default():
    """3600 is the generic default lifetime: on the generic type with a profile, the form saved it for everyone and
    it must count as unset; on the system type the form starts at the profile's 7200, so 3600 was chosen."""
    typed = TYPED["salesforce"]
    chosen = {**as_saved_by_the_form("authapi_salesforce"), "default_lifetime": 3600}
    assert config(connection("authapi_salesforce", chosen, typed)).scheme.default_lifetime == 3600
    generic = {**as_saved_by_the_form("authapi_oauth2"), "profile": "salesforce"}
    assert config(connection("authapi_oauth2", generic, typed)).scheme.default_lifetime == 7200
    hidden = config(connection("authapi_aspire", {"access_path": "data.token"}, TYPED["aspire"]))
    assert hidden.scheme.token_path == "data.token"  # a hidden field set in the extra JSON still applies


def test_a_system_connection_refuses_another_profile():
    with pytest.raises(ConfigError) as caught:
        config(connection("authapi_dastra", {"profile": "aspire"}, TYPED["dastra"]))
    assert caught.value.field == "profile" and "'dastra'" in str(caught.value)


def test_a_profile_naming_no_field_of_its_base_type_fails_at_import():
    from airflow_provider_authapi.connections.fields import system_type

    wrong = dataclasses.replace(PROFILES["dastra"], advanced=("login_ulr",))
    with pytest.raises(ValueError, match="login_ulr"):
        system_type(wrong)


def test_all_fields_of_a_system_type_are_the_base_types_with_the_forms_labels():
    system: ConnectionType = SYSTEM_TYPES["authapi_dastra"]
    names = [spec.name for spec in system.all_fields]
    assert names == [spec.name for spec in GENERIC_TYPES["authapi_oauth2"].fields]
    assert next(s for s in system.all_fields if s.name == "login_url").section == ADVANCED


def test_zoho_xero_and_jira_cloud_name_the_values_their_consent_gives():
    zoho = config(connection("authapi_zoho", {}, TYPED["zoho"]))
    assert zoho.common.base_url == "{api_domain}" and zoho.common.origins == zoho.common.allowed_origins
    assert {"https://accounts.zoho.eu", "https://www.zohoapis.eu", "https://accounts.zohocloud.ca"} <= set(
        zoho.common.allowed_origins
    )
    derived = zoho.scheme.derived
    assert zoho.scheme.token_url == "{accounts_server}/oauth/v2/token"  # kept whole: no host to join it to
    assert derived.consent_values == {"accounts_server": "accounts-server", "location": "location"}
    assert derived.answer_values == {"api_domain": "api_domain"} and zoho.scheme.placement.prefix == "Zoho-oauthtoken"
    assert "access_type=offline" in (zoho.scheme.authorization_url or "")

    xero = config(connection("authapi_xero", {}, TYPED["xero"]))
    assert xero.common.headers["Xero-Tenant-Id"] == "{tenant_id}"
    assert xero.scheme.derived.discovery_url == "https://api.xero.com/connections"
    picked = config(connection("authapi_xero", {"discovery_match": '{"tenantName": "Acme Ltd"}'}, TYPED["xero"]))
    assert picked.scheme.derived.discovery_match == {"tenantName": "Acme Ltd"}
    assert picked.fingerprint() != xero.fingerprint(), "another organisation is a new consent's values"

    jira = config(connection("authapi_jira_cloud", {}, TYPED["jira_cloud"]))
    assert jira.common.base_url == "https://api.atlassian.com/ex/jira/{cloudid}"
    assert jira.common.origins == ("https://api.atlassian.com",)
    assert jira.scheme.derived.discovery_values["cloudid"] == "id"
    assert jira.scheme.derived.discovery_match == {"url": "https://acme.atlassian.net"}
    assert jira.scheme.audience == "api.atlassian.com"
