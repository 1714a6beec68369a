"""The `airflow authapi` command group.

Provider info: `"cli": ["airflow_provider_authapi.cli.definition.get_authapi_cli_commands"]`.
"""
