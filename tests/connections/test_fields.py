"""The provider info's connection types: the fields the team contract promises, with form widgets a person can
fill in (dropdowns without a "null" choice, defaults shown, plain help, fields grouped in the order of filling)."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from airflow_provider_authapi import profiles
from airflow_provider_authapi.connections.fields import (
    CONNECTION_TYPES,
    GENERIC_TYPES,
    RENAMED,
    SYSTEM_TYPES,
    too_short_to_mask,
)
from airflow_provider_authapi.get_provider_info import get_provider_info

COMMON = {
    "extra_headers", "extra_query_params", "verify_tls", "ca_cert_pem", "client_cert_pem",
    "client_private_key_pem", "timeout", "allowed_origins", "signature_header", "signature_secret", "test_endpoint",
    "egress_url", "egress_username", "egress_password", "egress_bypass", "auth_class", "budget_requests",
    "budget_period",
}  # fmt: skip
PLACEMENT = {"auth_location", "header_name", "header_prefix", "query_param_name", "cookie_name"}
LIFETIMES = {"default_lifetime", "max_lifetime", "leeway"}
ASSERTION = [
    "assertion_private_key", "assertion_algorithm", "assertion_issuer", "assertion_subject", "assertion_audience",
    "assertion_lifetime", "assertion_scope_claim", "assertion_claims", "assertion_kid", "assertion_cert_pem",
    "service_account_json",
]  # fmt: skip
GITHUB_APP = ["installation_id", "installation_permissions", "installation_repositories"]
OAUTH1 = ["token_id", "token_secret", "realm", "signature_method"]
DPOP = ["dpop", "dpop_private_key", "dpop_algorithm"]
DERIVED = ["consent_values", "answer_values", "discovery_url", "discovery_list", "discovery_values", "discovery_match"]
# The fields of each type's form; `profile` only where profiles of that type exist.
FIELDS = {
    "authapi_oauth2": COMMON | PLACEMENT | LIFETIMES | set(ASSERTION) | {
        "profile", "grant_type", "login_url", "consent_url", "redirect_uri", "scopes", "audience", "resource",
        "client_auth", "login_params", "refresh_token", "use_pkce", "username", "user_password", "realm_id",
        "tenant_id",
        "revocation_url", "grant_class", *GITHUB_APP, *DPOP, *DERIVED,
    },
    "authapi_token": COMMON | PLACEMENT | LIFETIMES | {
        "profile", "login_url", "request_format", "username_field", "pass_field", "extra_body", "access_path",
        "refresh_path", "expires_in_path", "expires_at_path", "refresh_url", "refresh_field", "refresh_body",
        "lifetime_unit", "credential_source", "credential_name", "carry_cookies", "grant_class",
    },
    "authapi_apikey": COMMON | {"key_name", "key_location", "key_prefix"},
    "authapi_basic": COMMON | {"basic_scheme"},
    "authapi_bearer": COMMON | {"header_name", "header_prefix"},
    "authapi_oauth1": COMMON | {"profile", *OAUTH1},
    "authapi_none": COMMON,
}  # fmt: skip
SECRETS = {
    "signature_secret", "client_private_key_pem", "refresh_token", "user_password", "assertion_private_key",
    "token_id", "token_secret",
    "service_account_json", "egress_password", "dpop_private_key",
}  # fmt: skip
JSON_OBJECTS = {
    "assertion_claims", "extra_headers", "extra_query_params", "login_params", "extra_body", "refresh_body",
    "installation_permissions", "consent_values", "answer_values", "discovery_values", "discovery_match",
}  # fmt: skip
DROPDOWNS = {
    "grant_type": (
        {"client_credentials", "authorization_code", "password", "refresh_token", "jwt_bearer", "github_app"},
        "client_credentials",
    ),
    "client_auth": ({"basic", "body", "private_key_jwt", "client_secret_jwt"}, "basic"),
    "assertion_algorithm": ({"RS256", "ES256"}, "RS256"),
    "dpop_algorithm": ({"ES256", "RS256", "PS256", "EdDSA"}, "ES256"),
    "auth_location": ({"header", "query", "cookie"}, "header"),
    "credential_source": ({"body", "header", "cookie"}, "body"),
    "lifetime_unit": ({"seconds", "minutes", "hours"}, "seconds"),
    "basic_scheme": ({"basic", "digest"}, "basic"),
    "request_format": ({"json", "form"}, "json"),
    "key_location": ({"header", "query"}, "header"),
    "signature_method": ({"HMAC-SHA256", "HMAC-SHA1"}, "HMAC-SHA256"),
}
# Fields with a default the form must show filled in.
DEFAULTS = {
    "verify_tls": True, "timeout": 30, "header_name": "Authorization", "header_prefix": "Bearer",
    "query_param_name": "access_token", "default_lifetime": 3600, "leeway": 60, "use_pkce": False,
    "username_field": "username", "pass_field": "password", "access_path": "access_token",
    "refresh_field": "RefreshToken", "key_name": "X-API-Key", "assertion_lifetime": 300, "dpop": False,
}  # fmt: skip
# What a person fills first (the form's "Extra Fields" part, before any named section), per type.
FIRST = {
    "authapi_oauth2": ["profile", "grant_type", "login_url", "scopes", "client_auth"],
    "authapi_token": ["profile", "login_url", "request_format", "username_field", "pass_field", "extra_body",
                      "access_path", "expires_in_path", "lifetime_unit", "expires_at_path"],
    "authapi_apikey": ["key_location", "key_name", "key_prefix"],
    "authapi_basic": ["basic_scheme"],
    "authapi_bearer": ["header_name", "header_prefix"],
    "authapi_oauth1": ["profile", *OAUTH1],
    "authapi_none": [],
}  # fmt: skip
GRANT_SECTIONS = {
    "Authorization code grant": ["consent_url", "redirect_uri", "use_pkce", "realm_id"],
    "Refresh token grant": ["refresh_token"],
    "Password grant": ["username", "user_password"],
    "JWT assertion": ASSERTION,
    "GitHub App": GITHUB_APP,
    "DPoP": DPOP,
}
# conn_type -> (standard fields hidden besides schema and port, labels of login and password)
STANDARD = {
    "authapi_oauth2": (set(), {"login": "Client ID", "password": "Client secret"}),
    "authapi_token": (set(), {"login": "User name / client ID", "password": "Password / secret"}),
    "authapi_apikey": ({"login"}, {"password": "API key"}),
    "authapi_basic": (set(), {"login": "User name", "password": "Password"}),
    "authapi_bearer": ({"login"}, {"password": "Token"}),
    "authapi_oauth1": (set(), {"login": "Consumer key", "password": "Consumer secret"}),
    "authapi_none": ({"login", "password"}, {}),
}


def connection_types() -> dict[str, dict]:
    return {info["connection-type"]: info for info in get_provider_info()["connection-types"]}


def test_every_connection_type_has_the_contract_fields():
    types = connection_types()
    assert set(types) == set(FIELDS) | set(SYSTEM_TYPES)  # system types: tests/connections/test_system_types.py
    for conn_type, info in ((name, types[name]) for name in FIELDS):
        assert set(info["conn-fields"]) == FIELDS[conn_type], conn_type
        assert info["hook-name"] and info["hook-class-name"].startswith("airflow_provider_authapi.hooks.")
        for name, field in info["conn-fields"].items():
            assert field["label"] and field["description"], (conn_type, name)


@pytest.mark.parametrize("conn_type", sorted(FIELDS))
def test_form_widgets(conn_type):
    fields = connection_types()[conn_type]["conn-fields"]
    for name, field in fields.items():
        schema = field["schema"]
        assert "null" in schema["type"], f"{name}: without null the form marks the field required"
        assert None not in schema.get("enum", []), f"{name}: the dropdown would offer a literal 'null'"
        assert (schema.get("format") == "password") == (name in SECRETS), name
        if name in JSON_OBJECTS:
            assert schema["type"] == ["object", "null"], name
        if name in DROPDOWNS:
            choices, default = DROPDOWNS[name]
            assert set(schema["enum"]) == choices, name
            # A default too short for the masker is not saved by the form (see FieldSpec.schema); its label says so.
            assert schema.get("default") == default or schema["values_display"][default].endswith("(default)"), name
        if "enum" in schema:  # every choice has a readable label
            assert set(schema["values_display"]) == set(schema["enum"]), name
            assert all(label and "_" not in label for label in schema["values_display"].values()), name
        if name in DEFAULTS:
            assert schema["default"] == DEFAULTS[name], name
        if name.endswith("_pem") and name not in SECRETS:
            assert schema["format"] == "multiline", name
    assert fields["verify_tls"]["schema"]["type"] == ["boolean", "null"]
    assert fields["timeout"]["schema"]["type"] == ["number", "null"]


@pytest.mark.parametrize("conn_type", sorted(FIELDS))
def test_help_texts_are_plain_text(conn_type):
    for name, field in connection_types()[conn_type]["conn-fields"].items():
        text = field["label"] + " " + field["description"]
        assert "`" not in text and "*" not in text, f"{name}: Markdown shows literally in the form: {text!r}"
        assert "README" not in text and "see " not in text.lower(), f"{name}: the form cannot link anywhere: {text!r}"
        assert field["description"].endswith("."), name


@pytest.mark.parametrize("conn_type", sorted(FIELDS))
def test_fields_in_the_order_a_person_fills_them(conn_type):
    """The form shows fields without a section under "Extra Fields", then one collapsible part per section, in
    the order of their first field: each section's fields must be contiguous."""
    fields = connection_types()[conn_type]["conn-fields"]
    sections = [field["schema"].get("section", "") for field in fields.values()]
    order = list(dict.fromkeys(sections))
    assert sections == sorted(sections, key=order.index), f"{conn_type}: a section's fields are split"
    assert [name for name, section in zip(fields, sections, strict=True) if not section] == FIRST[conn_type]
    for section in ("Requests", "TLS certificates", "Proxy", "Request signature"):
        assert section in order, (conn_type, section)
    if conn_type == "authapi_oauth2":  # the settings of the other grants are out of the way
        for section, names in GRANT_SECTIONS.items():
            assert [n for n, s in zip(fields, sections, strict=True) if s == section] == names, section


@pytest.mark.parametrize("conn_type", sorted(STANDARD))
def test_standard_fields_hidden_and_relabelled(conn_type):
    behaviour = connection_types()[conn_type]["ui-field-behaviour"]
    hidden, labels = STANDARD[conn_type]
    assert set(behaviour["hidden-fields"]) == {"schema", "port"} | hidden
    assert behaviour["relabeling"] == {"host": "API base URL", **labels}
    assert behaviour["placeholders"]["host"].startswith("https://")


def test_profile_is_a_dropdown_of_the_profiles_of_that_type_first_in_its_form(monkeypatch):
    monkeypatch.setattr(profiles, "PROFILES", {})
    for name, conn_type in (("acme", "authapi_oauth2"), ("zeta", "authapi_oauth2"), ("keyco", "authapi_apikey")):
        monkeypatch.setitem(profiles.PROFILES, name, profiles.Profile(name, name.title() + " API", conn_type))
    types = connection_types()
    oauth2 = types["authapi_oauth2"]["conn-fields"]
    assert next(iter(oauth2)) == "profile"
    assert oauth2["profile"]["schema"] == {
        "type": ["string", "null"],
        "enum": ["acme", "zeta"],
        "values_display": {"acme": "Acme API", "zeta": "Zeta API"},
    }
    assert types["authapi_apikey"]["conn-fields"]["profile"]["schema"]["enum"] == ["keyco"]
    for conn_type in ("authapi_token", "authapi_basic", "authapi_bearer", "authapi_oauth1", "authapi_none"):
        assert "profile" not in types[conn_type]["conn-fields"], f"{conn_type} has no profiles: no profile field"


def test_the_real_systems_are_offered_under_their_connection_types():
    types = connection_types()
    oauth2 = types["authapi_oauth2"]["conn-fields"]["profile"]["schema"]
    token = types["authapi_token"]["conn-fields"]["profile"]["schema"]
    assert oauth2["enum"] == [
        "dastra", "entra_id", "github_app", "google_service_account", "jira_cloud", "quickbooks_production",
        "quickbooks_sandbox", "salesforce", "salesforce_sandbox", "xero", "zoho",
    ]  # fmt: skip
    assert oauth2["values_display"]["quickbooks_sandbox"] == "QuickBooks Online (sandbox)"
    assert token["enum"] == ["aspire", "astera", "sap_b1"]
    assert types["authapi_oauth1"]["conn-fields"]["profile"]["schema"]["enum"] == ["netsuite"]


def test_every_renamed_field_has_a_field_of_its_new_name():
    names = {spec.name for t in CONNECTION_TYPES.values() for spec in t.fields}
    assert set(RENAMED.values()) <= names
    assert not set(RENAMED) & names


def test_modules_plugin_and_cli_are_declared():
    info = get_provider_info()
    modules = {kind: info[kind][0]["python-modules"] for kind in ("hooks", "operators", "sensors", "triggers")}
    assert "airflow_provider_authapi.hooks.authapi" in modules["hooks"]
    assert modules["operators"] == [f"airflow_provider_authapi.operators.{name}" for name in ("authapi", "reports")]
    assert modules["sensors"] == ["airflow_provider_authapi.sensors.authapi"]
    assert modules["triggers"] == [f"airflow_provider_authapi.triggers.{name}" for name in ("authapi", "reports")]
    assert "plugins" not in info  # registered once, by the entry point (see get_provider_info)
    plugin_entry_points = [ep for ep in entry_points(group="airflow.plugins") if ep.name == "authapi"]
    assert [ep.value for ep in plugin_entry_points] == ["airflow_provider_authapi.plugins.authapi:AuthApiPlugin"]
    assert info["cli"] and all(path.startswith("airflow_provider_authapi.cli.") for path in info["cli"])


def test_the_docs_document_every_field():
    from tests import manual

    block = manual.topic("connections")  # docs/connections/*.md
    for conn_type, names in FIELDS.items():
        assert f"`{conn_type}`" in block
        for name in names:
            assert f"| `{name}` |" in block, f"docs/connections lack a row for {name} ({conn_type})"
    for old, new in RENAMED.items():
        assert f"| `{old}` | `{new}` |" in block, f"the docs' table of earlier names lacks {old}"


def test_the_docs_default_column_matches_the_field_table():
    """Each docs row's Default is what the form shows (the config attribute's default), e.g. `30`, `true`."""
    from tests import manual

    block = manual.topic("connections")
    defaults: dict[str, set] = {}
    for spec in (spec for t in GENERIC_TYPES.values() for spec in t.fields):  # system types show their profile's
        shown = spec.schema().get("default")  # or the default the form does not save (too short for the masker)
        defaults.setdefault(spec.name, set()).add(spec.default if too_short_to_mask(spec.default) else shown)
    assert all(len(values) == 1 for values in defaults.values()), "a field shows different defaults in two types"
    checked = set()
    for line in block.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        name = cells[0].strip("`")
        if len(cells) != 4 or name not in defaults:
            continue  # not a row of a field table (connection types, earlier names)
        (default,) = defaults[name]
        expected = "" if default is None else f"`{str(default).lower() if isinstance(default, bool) else default}`"
        assert cells[3] == expected, f"the docs' default of {name} is {cells[3]!r}, the form shows {expected!r}"
        checked.add(name)
    assert checked == set(defaults)


def test_the_dpop_fields_map_to_the_config_and_errors_name_the_field_never_the_key():
    import json
    from types import SimpleNamespace

    from airflow_provider_authapi.auth.config import OAuth2Config, config_secrets
    from airflow_provider_authapi.auth.errors import ConfigError
    from airflow_provider_authapi.connections import auth_config_from_connection
    from tests.emulators.jwt_oauth2 import new_key

    key, rsa_key = new_key("ES256"), new_key("RS256")

    def conn(**extra):
        extra = {"login_url": "/oauth2/v1/token", **extra}
        return SimpleNamespace(
            conn_id="okta",
            conn_type="authapi_oauth2",
            host="https://acme.okta.com",
            login="0oa-client",
            password="client-secret-0123456789",
            extra=json.dumps(extra),
        )

    one_line = " ".join(key.pem.split("\n")).strip()  # as the masked one-line input saves it
    config = auth_config_from_connection(conn(dpop="true", dpop_private_key=one_line))
    scheme = config.scheme
    assert isinstance(scheme, OAuth2Config) and scheme.dpop is True and scheme.dpop_algorithm == "ES256"
    assert scheme.dpop_private_key == key.pem and key.pem in config_secrets(config)
    assert scheme.placement.describe() == "header 'Authorization: DPoP <token>'"
    assert key.pem.splitlines()[1] not in repr(config)
    assert auth_config_from_connection(conn()).scheme.dpop is False  # off unless asked for
    rsa = auth_config_from_connection(conn(dpop=True, dpop_private_key=rsa_key.pem, dpop_algorithm="PS256")).scheme
    assert isinstance(rsa, OAuth2Config) and rsa.dpop_algorithm == "PS256"
    for extra, field in (
        ({"dpop": "true"}, "dpop_private_key"),
        ({"dpop": "perhaps", "dpop_private_key": key.pem}, "dpop"),
        ({"dpop": True, "dpop_private_key": "MIGHAgEAMBMG"}, "dpop_private_key"),
        ({"dpop": True, "dpop_private_key": rsa_key.pem}, "dpop_algorithm"),
        ({"dpop": True, "dpop_private_key": key.pem, "dpop_algorithm": "HS256"}, "dpop_algorithm"),
        ({"dpop": True, "dpop_private_key": key.pem, "auth_location": "query"}, "auth_location"),
    ):
        with pytest.raises(ConfigError) as caught:
            auth_config_from_connection(conn(**extra))
        message = str(caught.value)
        assert caught.value.field == field and message.startswith(f"connection 'okta', field {field!r}: "), message
        assert key.pem.splitlines()[1] not in message and rsa_key.pem.splitlines()[1] not in message
