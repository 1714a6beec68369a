"""Connection types (form fields) and the mapping of a connection to the auth core's config."""

from __future__ import annotations

from airflow_provider_authapi.connections.fields import (
    CONNECTION_TYPES,
    ConnectionType,
    FieldSpec,
    auth_config_from_connection,
    connection_value,
)

__all__ = ["CONNECTION_TYPES", "ConnectionType", "FieldSpec", "auth_config_from_connection", "connection_value"]
