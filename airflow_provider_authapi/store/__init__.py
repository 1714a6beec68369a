"""Token stores backed by Airflow's metadata."""

from airflow_provider_authapi.store.variables import (
    QUEUE_VARIABLE_PREFIX,
    TOKEN_VARIABLE_PREFIX,
    MetadataVariables,
    TaskSdkVariables,
    VariableTokenStore,
    queue_variable_prefix,
    token_variable_name,
    variables_for_this_process,
)

__all__ = [
    "QUEUE_VARIABLE_PREFIX",
    "TOKEN_VARIABLE_PREFIX",
    "MetadataVariables",
    "TaskSdkVariables",
    "VariableTokenStore",
    "queue_variable_prefix",
    "token_variable_name",
    "variables_for_this_process",
]
