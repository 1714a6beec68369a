"""Token stores backed by Airflow's metadata."""

from airflow_provider_authapi.store.variables import (
    MetadataVariables,
    VariableTokenStore,
    queue_variable_prefix,
    token_variable_name,
)

__all__ = [
    "MetadataVariables",
    "VariableTokenStore",
    "queue_variable_prefix",
    "token_variable_name",
]
