"""Provider metadata read by Airflow's ProvidersManager."""

from __future__ import annotations

from typing import Any

INTEGRATION = "Authenticated REST APIs"


def get_provider_info() -> dict[str, Any]:
    from airflow_provider_authapi import __version__
    from airflow_provider_authapi.connections.fields import CONNECTION_TYPES

    def modules(*paths: str) -> list[dict[str, Any]]:
        return [{"integration-name": INTEGRATION, "python-modules": list(paths)}]

    return {
        "package-name": "airflow-provider-authapi",
        "name": INTEGRATION,
        "description": "OAuth 2.0, token login, API key, Basic and Bearer REST APIs with a shared token cache.",
        "versions": [__version__],
        "integrations": [{"integration-name": INTEGRATION, "tags": ["protocol"]}],
        "hooks": modules("airflow_provider_authapi.hooks.authapi", "airflow_provider_authapi.hooks.connection_types"),
        "operators": modules(*(f"airflow_provider_authapi.operators.{name}" for name in ("authapi", "reports"))),
        "sensors": modules("airflow_provider_authapi.sensors.authapi"),
        "triggers": modules(*(f"airflow_provider_authapi.triggers.{name}" for name in ("authapi", "reports"))),
        "connection-types": [_with_profiles(t.provider_info()) for t in CONNECTION_TYPES.values()],
        # No "plugins" key: the plugin is registered by the `airflow.plugins` entry point. Listing it here too
        # makes Airflow load it twice when [core] lazy_load_providers is off ("already registered" import error).
        "cli": ["airflow_provider_authapi.cli.definition.get_authapi_cli_commands"],
    }


def _with_profiles(info: dict[str, Any]) -> dict[str, Any]:
    """Offer this connection type's profiles as a dropdown at the top of its form; no profile field without any."""
    from airflow_provider_authapi.profiles import PROFILES

    fields = info["conn-fields"]
    profile = fields.pop("profile", None)
    names = sorted(name for name, p in PROFILES.items() if p.conn_type == info["connection-type"])
    if profile is not None and names:
        profile["schema"] = {
            "type": ["string", "null"],
            "enum": names,
            "values_display": {name: PROFILES[name].label for name in names},
        }
        info["conn-fields"] = {"profile": profile, **fields}
    return info
