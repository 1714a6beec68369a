"""The `airflow authapi` command group.

Provider info: `"cli": ["airflow_provider_authapi.cli.definition.get_authapi_cli_commands"]`.
"""

from __future__ import annotations

from typing import Any


def get_authapi_cli_commands() -> list[Any]:
    """Same as `cli.definition.get_authapi_cli_commands` (imported on call: Airflow's CLI config is heavy)."""
    from airflow_provider_authapi.cli.definition import get_authapi_cli_commands as commands

    return commands()


get_cli_commands = get_authapi_cli_commands
