"""Provider metadata read by Airflow's ProvidersManager."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-authapi",
        "name": "Authenticated REST APIs",
        "description": "OAuth 2.0, token login, API key, Basic and Bearer REST APIs with a shared token cache.",
        "versions": ["0.1.0"],
        "connection-types": [],
    }
