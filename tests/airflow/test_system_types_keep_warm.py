"""A system type is its base type wherever code filters by connection type: the keep-warm DAG refreshes only
`("authapi_oauth2",)` connections, and a QuickBooks Online connection of its own type (`authapi_quickbooks_sandbox`)
must be among them, its rotated refresh token saved; a filter on another base type skips it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_authapi.hooks.authapi import reset_token_managers
from airflow_provider_authapi.maintenance import keep_warm
from tests.emulators.quickbooks import AUTHORIZE_PATH, TOKEN_PATH, QuickBooksEmulator
from tests.stored_tokens import stored_token

CONN_ID = "kw_quickbooks_type"


@pytest.fixture
def quickbooks(airflow_db, set_connection) -> Iterator[QuickBooksEmulator]:
    with QuickBooksEmulator() as api:
        extra = {
            "consent_url": api.url + AUTHORIZE_PATH,
            "login_url": api.url + TOKEN_PATH,
            "refresh_token": api.seed_consent(),  # as if consented: the connection's initial refresh token
            "realm_id": api.realm_id,
        }
        set_connection(CONN_ID, conn_type="authapi_quickbooks_sandbox", host=api.url, login=api.client_id,
                       password=api.client_secret, extra=extra)  # fmt: skip
        reset_token_managers()
        yield api
    from airflow_provider_authapi.store import VariableTokenStore

    VariableTokenStore(CONN_ID, fingerprint="").clear()
    reset_token_managers()


def test_keep_warm_of_oauth2_connections_includes_a_system_type_built_on_it(quickbooks: QuickBooksEmulator):
    from airflow_provider_authapi.consent import hook_for

    hook_for(CONN_ID).get_token()
    first = stored_token(CONN_ID)
    assert first is not None and first["refresh_token"]

    (other,) = keep_warm([CONN_ID], conn_types=("authapi_token",))
    assert (other.outcome, other.detail) == ("skipped", "a authapi_quickbooks_sandbox connection")

    refreshes = quickbooks.refreshes
    (result,) = keep_warm([CONN_ID], conn_types=("authapi_oauth2",))  # what the keep-warm DAG asks
    assert result.outcome == "refreshed", result
    assert quickbooks.refreshes == refreshes + 1
    now = stored_token(CONN_ID)
    assert now["refresh_token"] != first["refresh_token"] and now["refresh_token"] in quickbooks.refresh.live()
