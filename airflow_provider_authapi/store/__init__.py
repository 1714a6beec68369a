"""Token stores backed by Airflow's metadata."""

from airflow_provider_authapi.store.variables import (
    LEASE_VARIABLE_PREFIX,
    TOKEN_VARIABLE_PREFIX,
    MetadataVariables,
    TaskSdkVariables,
    VariableTokenStore,
    lease_variable_name,
    token_variable_name,
    variables_for_this_process,
)

__all__ = [
    "LEASE_VARIABLE_PREFIX",
    "TOKEN_VARIABLE_PREFIX",
    "MetadataVariables",
    "TaskSdkVariables",
    "VariableTokenStore",
    "lease_variable_name",
    "token_variable_name",
    "variables_for_this_process",
]
