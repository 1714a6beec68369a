"""Field names against the installed Airflow's secrets masker: it hides (in the UI, the REST API and every task
log) the value of any extra key whose name contains a sensitive word. Non-secret fields must not be hidden, or the
form shows and saves `***`; secret fields must be. A later Airflow that masks more words fails this test."""

from __future__ import annotations

import pytest

from airflow_provider_authapi.connections.fields import CONNECTION_TYPES

SPECS = sorted({(spec.name, spec.secret) for conn_type in CONNECTION_TYPES.values() for spec in conn_type.fields})


@pytest.fixture(scope="module")
def masker():
    """The masker as Airflow configures it (`DEFAULT_SENSITIVE_FIELDS` plus `[core] sensitive_var_conn_names`)."""
    from airflow import settings
    from airflow._shared.secrets_masker import secrets_masker

    settings._configure_secrets_masker()  # what Airflow runs at start-up; idempotent
    assert secrets_masker.should_hide_value_for_key("password"), "the masker is not configured"
    return secrets_masker


@pytest.mark.parametrize(("name", "secret"), SPECS, ids=[name for name, _ in SPECS])
def test_airflow_hides_exactly_the_secret_fields(masker, name, secret):
    assert masker.should_hide_value_for_key(name) == secret, (
        f"{name}: Airflow would {'show' if secret else 'hide'} its value"
    )
    assert masker.should_hide_value_for_key(f"extra__authapi_oauth2__{name}") == secret  # the prefixed form too


def test_a_connection_extra_keeps_every_non_secret_value_through_redaction(masker):
    """What the REST API and the Edit form show of a saved extra: every value but the secrets, as typed."""
    for conn_type in CONNECTION_TYPES.values():
        extra = {spec.name: f"value of {spec.name} 0123456789" for spec in conn_type.fields}
        redacted = masker.redact(extra)
        for spec in conn_type.fields:
            assert redacted[spec.name] == ("***" if spec.secret else extra[spec.name]), (conn_type.conn_type, spec.name)
