"""The connection types as real Airflow 3 sees them: ProvidersManager, the UI's hook metadata, the CLI, redaction.
The six generic types and the generated one per known system (`authapi_dastra`, ...)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from airflow_provider_authapi.compat import READS_CONN_FIELDS
from airflow_provider_authapi.connections.fields import SYSTEM_TYPES
from airflow_provider_authapi.get_provider_info import get_provider_info
from airflow_provider_authapi.profiles import PROFILES
from tests.conftest import AIRFLOW_ENV
from tests.connections.test_fields import FIELDS, SECRETS, STANDARD

PACKAGE = "airflow-provider-authapi"
STANDARD_SHOWN = ("host", "login", "password")


def expected_fields(conn_type: str) -> set[str]:
    """The extra fields of the type's form: the contract's, or for a system type what its profile names."""
    if conn_type in FIELDS:
        return FIELDS[conn_type]
    profile = PROFILES[SYSTEM_TYPES[conn_type].profile]
    return {*profile.form, *profile.advanced}


def expected_standard(conn_type: str) -> tuple[set[str], dict[str, str]]:
    """(standard fields hidden besides schema and port, labels of the shown ones)."""
    if conn_type in STANDARD:
        hidden, labels = STANDARD[conn_type]
        return hidden, {"host": "API base URL", **labels}
    labels = PROFILES[SYSTEM_TYPES[conn_type].profile].labels
    shown = {name: labels[name] for name in STANDARD_SHOWN if name in labels}
    return set(STANDARD_SHOWN) - set(shown), shown


def expected_types() -> dict[str, dict]:
    return {info["connection-type"]: info for info in get_provider_info()["connection-types"]}


def test_provider_info_matches_airflows_schema():
    import airflow
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_providers_manager_shows_every_type_and_field():
    from airflow.providers_manager import ProvidersManager

    from airflow_provider_authapi.hooks.authapi import AuthApiHook

    manager = ProvidersManager()
    assert PACKAGE in manager.providers
    try:
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime
    except ImportError:  # Airflow 3.1: task code resolves hooks with the core ProvidersManager
        task_hooks = manager.hooks
    else:
        task_hooks = ProvidersManagerTaskRuntime().hooks  # what task code resolves hooks with (3.2+)
    widgets, behaviours = manager.connection_form_widgets, manager.field_behaviours
    for conn_type, info in expected_types().items():
        hook = task_hooks[conn_type]
        assert hook is not None, f"hook of {conn_type} failed to import"
        assert (hook.connection_type, hook.hook_name, hook.package_name) == (conn_type, info["hook-name"], PACKAGE)
        assert hook.hook_class_name == info["hook-class-name"] and hook.connection_testable
        assert hook.connection_id_attribute_name == "authapi_conn_id"
        if READS_CONN_FIELDS:  # 3.1 reads the form from wtforms widgets, which only its API server has (mocked
            # there): test_ui_connection_form_metadata checks them as the API server sends them
            for name in expected_fields(conn_type):
                widget = widgets[f"extra__{conn_type}__{name}"]
                assert (widget.package_name, widget.field_name) == (PACKAGE, name)
                assert widget.is_sensitive == (name in SECRETS), name
                assert widget.field["schema"]["title"] == info["conn-fields"][name]["label"]
            hidden, labels = expected_standard(conn_type)
            assert set(behaviours[conn_type]["hidden_fields"]) == {"schema", "port"} | hidden
            assert behaviours[conn_type]["relabeling"] == labels

        # Connection.get_hook() gives our hook, bound to the connection id.
        from airflow.models.connection import Connection

        instance = Connection(conn_id=f"{conn_type}_conn", conn_type=conn_type).get_hook()
        assert isinstance(instance, AuthApiHook) and instance.authapi_conn_id == f"{conn_type}_conn"


HOOK_META = (
    "import json\n"
    "from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService\n"
    "print(json.dumps([meta.model_dump(mode='json') for meta in HookMetaService.hook_meta_data()]))\n"
)


def hook_meta_data() -> list:
    """What the API server sends the connection form. Airflow 3.1 reads hook widgets only in a process whose first
    ProvidersManager starts under the API server's wtforms stand-ins (this test process made one already without
    them): there it is asked in a fresh process, as an API server is."""
    from airflow.api_fastapi.core_api.datamodels.connections import ConnectionHookMetaData
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    if READS_CONN_FIELDS:
        return HookMetaService.hook_meta_data()
    env = {**os.environ, **AIRFLOW_ENV}
    run = subprocess.run([sys.executable, "-c", HOOK_META], env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    return [ConnectionHookMetaData.model_validate(meta) for meta in json.loads(run.stdout.splitlines()[-1])]


def test_ui_connection_form_metadata():
    """What the API server sends the React connection form: names, relabelled standard fields, extra fields."""
    metadata = {meta.connection_type: meta for meta in hook_meta_data()}
    for conn_type, info in expected_types().items():
        meta = metadata[conn_type]
        assert meta.hook_name == info["hook-name"]
        hidden, labels = expected_standard(conn_type)
        for name in STANDARD_SHOWN:
            standard = getattr(meta.standard_fields, name)
            assert standard.hidden == (name in hidden), (conn_type, name)
            if name in labels:
                assert standard.title == labels[name], (conn_type, name)
        assert meta.standard_fields.port.hidden and meta.standard_fields.url_schema.hidden
        assert set(meta.extra_fields) == expected_fields(conn_type)
        if "verify_tls" in meta.extra_fields:
            assert meta.extra_fields["verify_tls"]["value"] is True
        for name, field in meta.extra_fields.items():  # the form starts at the defaults, none masked as ***
            assert field["value"] == info["conn-fields"][name]["schema"].get("default"), (conn_type, name)
            if READS_CONN_FIELDS:  # Airflow 3.1's form (made from hook widgets) has no sections
                assert field["schema"].get("section") == info["conn-fields"][name]["schema"].get("section")
            secret = info["conn-fields"][name]["schema"].get("format") == "password"
            assert (field["schema"].get("format") == "password") == secret, (conn_type, name)
        assert list(meta.extra_fields) == list(info["conn-fields"]), "the form keeps the declared order"
    assert metadata["authapi_oauth2"].standard_fields.login.title == "Client ID"
    assert metadata["authapi_none"].standard_fields.password.hidden
    assert set(metadata["authapi_oauth2"].extra_fields["grant_type"]["schema"]["enum"]) >= {"password", "refresh_token"}
    assert metadata["authapi_token"].extra_fields["header_prefix"]["value"] == "Bearer"
    assert metadata["authapi_apikey"].extra_fields["key_location"]["value"] == "header"
    # A system's form starts at its profile's values, in its words (issue 23: not the generic defaults).
    dastra = metadata["authapi_dastra"]
    assert (dastra.hook_name, dastra.standard_fields.login.title) == ("Dastra API", "Public key")
    assert dastra.standard_fields.password.title == "Private key"
    assert dastra.standard_fields.host.placeholder == "https://api.dastra.eu"
    assert dastra.extra_fields["login_url"]["value"] == "https://account.dastra.eu/connect/token"
    assert metadata["authapi_aspire"].extra_fields["login_url"]["value"] == "/Authorization"
    assert "username_field" not in metadata["authapi_aspire"].extra_fields
    assert metadata["authapi_salesforce"].standard_fields.host.hidden
    assert metadata["authapi_quickbooks_sandbox"].extra_fields["realm_id"]["schema"]["title"] == "Company ID (realm ID)"


def test_airflow_redacts_every_secret_field_by_name():
    """The API and UI show a connection's extra through `redact`, which goes by key name."""
    from airflow._shared.secrets_masker import redact

    extra = {name: f"value-of-{name}-0123456789" for name in SECRETS}
    extra["extra_headers"] = {"Authorization": "Bearer header-secret-0123456789"}
    assert redact(extra) == {**dict.fromkeys(SECRETS, "***"), "extra_headers": {"Authorization": "***"}}


def test_airflow_cli_lists_the_provider_and_its_connection_types():
    env = {**os.environ, **AIRFLOW_ENV}
    commands = {what: [sys.executable, "-m", "airflow", "providers", what, "-o", "json"] for what in ("list", "hooks")}
    running = {what: subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for what, cmd in commands.items()}  # fmt: skip
    outputs = {what: process.communicate(timeout=180) for what, process in running.items()}
    for what, process in running.items():
        assert process.returncode == 0, outputs[what][1][-2000:]
    assert "Inconsistency" not in outputs["hooks"][1]

    providers = {row["package_name"]: row for row in json.loads(outputs["list"][0])}
    from airflow_provider_authapi import __version__

    assert providers[PACKAGE]["version"] == __version__

    hooks = {row["connection_type"]: row for row in json.loads(outputs["hooks"][0])}
    for conn_type, info in expected_types().items():
        row = hooks[conn_type]
        assert (row["class"], row["hook_name"], row["package_name"]) == (
            info["hook-class-name"],
            info["hook-name"],
            PACKAGE,
        )


def test_the_docs_connection_example_maps_as_documented():
    """The docs' `AIRFLOW_CONN_*` example, parsed by Airflow itself, gives the config the docs describe."""
    from airflow.models.connection import Connection

    from airflow_provider_authapi.connections import auth_config_from_connection
    from tests import manual

    match = re.search(r"export AIRFLOW_CONN_(\w+)='(.*?)'", manual.topic("connections"), re.DOTALL)
    assert match, "no AIRFLOW_CONN_ example in docs/connections"
    conn = Connection.from_json(match.group(2), conn_id=match.group(1).lower())
    config = auth_config_from_connection(conn)
    assert conn.conn_id == "crm_api" and config.common.base_url == "https://api.crm.example.com/v2"
    assert config.scheme.token_url == "https://api.crm.example.com/v2/oauth/token"
    assert config.scheme.scopes == ("contacts.read", "deals.read") and config.common.timeout == 20
