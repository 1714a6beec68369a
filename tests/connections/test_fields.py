"""The provider info's connection types: the fields the team contract promises, with the right form widgets."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from airflow_provider_authapi import profiles
from airflow_provider_authapi.get_provider_info import get_provider_info

COMMON = {
    "profile", "extra_headers", "extra_query_params", "verify_tls", "ca_cert_pem", "client_cert_pem",
    "client_private_key_pem", "timeout", "signature_header", "signature_secret", "test_endpoint",
}  # fmt: skip
PLACEMENT = {"token_placement", "token_header_name", "token_prefix", "token_query_param"}
LIFETIMES = {"default_token_lifetime", "max_token_lifetime", "leeway"}
FIELDS = {
    "authapi_oauth2": COMMON | PLACEMENT | LIFETIMES | {
        "grant_type", "token_url", "authorization_url", "redirect_uri", "scopes", "audience", "resource",
        "client_auth", "token_request_params", "refresh_token", "use_pkce", "username", "user_password", "realm_id",
    },
    "authapi_token": COMMON | PLACEMENT | LIFETIMES | {
        "token_url", "request_format", "username_field", "password_field", "extra_body", "token_path",
        "refresh_token_path", "expires_in_path", "expires_at_path", "refresh_url", "refresh_token_field",
        "refresh_body",
    },
    "authapi_apikey": COMMON | {"api_key_name", "api_key_location", "api_key_prefix"},
    "authapi_basic": COMMON,
    "authapi_bearer": COMMON | {"token_header_name", "token_prefix"},
    "authapi_none": COMMON,
}  # fmt: skip
SECRETS = {"signature_secret", "client_private_key_pem", "refresh_token", "user_password"}
JSON_OBJECTS = {"extra_headers", "extra_query_params", "token_request_params", "extra_body", "refresh_body"}
DROPDOWNS = {
    "grant_type": {"client_credentials", "authorization_code", "password", "refresh_token"},
    "client_auth": {"basic", "body"},
    "token_placement": {"header", "query"},
    "request_format": {"json", "form"},
    "api_key_location": {"header", "query"},
}
# conn_type -> (standard fields hidden besides schema and port, labels of login and password)
STANDARD = {
    "authapi_oauth2": (set(), {"login": "Client ID", "password": "Client secret"}),
    "authapi_token": (set(), {"login": "User name / client id", "password": "Password / secret"}),
    "authapi_apikey": ({"login"}, {"password": "API key"}),
    "authapi_basic": (set(), {"login": "User name", "password": "Password"}),
    "authapi_bearer": ({"login"}, {"password": "Token"}),
    "authapi_none": ({"login", "password"}, {}),
}


def connection_types() -> dict[str, dict]:
    return {info["connection-type"]: info for info in get_provider_info()["connection-types"]}


def test_every_connection_type_has_the_contract_fields():
    types = connection_types()
    assert set(types) == set(FIELDS)
    for conn_type, info in types.items():
        assert set(info["conn-fields"]) == FIELDS[conn_type], conn_type
        assert info["hook-name"] and info["hook-class-name"].startswith("airflow_provider_authapi.hooks.")
        for name, field in info["conn-fields"].items():
            assert field["label"] and field["description"], (conn_type, name)


@pytest.mark.parametrize("conn_type", sorted(FIELDS))
def test_form_widgets(conn_type):
    fields = connection_types()[conn_type]["conn-fields"]
    for name, field in fields.items():
        schema = field["schema"]
        assert (schema.get("format") == "password") == (name in SECRETS), name
        if name in JSON_OBJECTS:
            assert schema["type"] == ["object", "null"], name
        if name in DROPDOWNS:
            assert set(schema["enum"]) == DROPDOWNS[name] | {None}, name
            assert schema["default"] in DROPDOWNS[name]
        if name.endswith("_pem") and name not in SECRETS:
            assert schema["format"] == "multiline", name
    assert fields["verify_tls"]["schema"] == {"type": ["boolean", "null"], "default": True}
    assert fields["timeout"]["schema"]["type"] == ["number", "null"]


@pytest.mark.parametrize("conn_type", sorted(STANDARD))
def test_standard_fields_hidden_and_relabelled(conn_type):
    behaviour = connection_types()[conn_type]["ui-field-behaviour"]
    hidden, labels = STANDARD[conn_type]
    assert set(behaviour["hidden-fields"]) == {"schema", "port"} | hidden
    assert behaviour["relabeling"] == {"host": "API base URL", **labels}
    assert behaviour["placeholders"]["host"].startswith("https://")


def test_profile_is_a_dropdown_of_the_profiles_of_that_type(monkeypatch):
    monkeypatch.setattr(profiles, "PROFILES", {})
    for name, conn_type in (("acme", "authapi_oauth2"), ("zeta", "authapi_oauth2"), ("keyco", "authapi_apikey")):
        monkeypatch.setitem(profiles.PROFILES, name, profiles.Profile(name, name.title(), conn_type))
    types = connection_types()
    assert types["authapi_oauth2"]["conn-fields"]["profile"]["schema"]["enum"] == ["acme", "zeta", None]
    assert types["authapi_apikey"]["conn-fields"]["profile"]["schema"]["enum"] == ["keyco", None]
    basic_profile = types["authapi_basic"]["conn-fields"]["profile"]["schema"]
    assert "enum" not in basic_profile and basic_profile["type"] == ["string", "null"]


def test_the_real_systems_are_offered_under_their_connection_types():
    types = connection_types()
    oauth2 = types["authapi_oauth2"]["conn-fields"]["profile"]["schema"]["enum"]
    token = types["authapi_token"]["conn-fields"]["profile"]["schema"]["enum"]
    assert oauth2 == ["dastra", "quickbooks_production", "quickbooks_sandbox", None]
    assert token == ["aspire", "astera", None]


def test_modules_plugin_and_cli_are_declared():
    info = get_provider_info()
    modules = {kind: info[kind][0]["python-modules"] for kind in ("hooks", "operators", "sensors", "triggers")}
    assert "airflow_provider_authapi.hooks.authapi" in modules["hooks"]
    assert modules["operators"] == ["airflow_provider_authapi.operators.authapi"]
    assert modules["sensors"] == ["airflow_provider_authapi.sensors.authapi"]
    assert modules["triggers"] == ["airflow_provider_authapi.triggers.authapi"]
    assert "plugins" not in info  # registered once, by the entry point (see get_provider_info)
    plugin_entry_points = [ep for ep in entry_points(group="airflow.plugins") if ep.name == "authapi"]
    assert [ep.value for ep in plugin_entry_points] == ["airflow_provider_authapi.plugins.authapi:AuthApiPlugin"]
    assert info["cli"] and all(path.startswith("airflow_provider_authapi.cli.") for path in info["cli"])


def test_readme_documents_every_field():
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("<!-- BEGIN connections -->") : readme.index("<!-- END connections -->")]
    for conn_type, names in FIELDS.items():
        assert f"`{conn_type}`" in block
        for name in names:
            assert f"| `{name}` |" in block, f"README lacks a row for {name} ({conn_type})"
