"""The connection form of Airflow 3.1, typed in headless Chromium. 3.1 ignores the provider info's `conn-fields`
and builds the form from the hook's wtforms widgets (hooks/connection_types.py): every field under "Extra Fields",
a dropdown showing the stored values, JSON objects as one line of text. Add an OAuth 2.0 connection with the
Dastra profile there, save it, and the saved connection must hold what was typed and authenticate.

On Airflow 3.2 and later the form comes from `conn-fields`: test_connection_forms.py types that one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_authapi.compat import READS_CONN_FIELDS
from airflow_provider_authapi.hooks.authapi import reset_token_managers
from tests.browser.harness import api_server, free_port, signed_in_connections_page
from tests.browser.test_connection_forms import api_connection, hook
from tests.conftest import ROOT
from tests.emulators.dastra import DastraEmulator
from tests.stored_tokens import stored_token

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(READS_CONN_FIELDS, reason="Airflow 3.2+ builds the form from conn-fields (tested elsewhere)"),
]

CONN_ID = "form31_dastra"


def field(dialog: Any, label: str) -> Any:
    """The form row whose label is `label` (a required field's label ends in *)."""
    rows = dialog.locator("[data-scope=field][data-part=root]")
    return rows.filter(has=dialog.page.locator("label", has_text=label)).first


def type_into(page: Any, row: Any, text: str) -> None:
    target = row.locator("input, textarea").first
    target.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    target.press_sequentially(text)


def choose(page: Any, row: Any, option: str) -> None:
    row.get_by_role("combobox").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_an_oauth2_connection_typed_in_the_airflow_31_form_works(airflow_db: Path, artifacts_dir: Path):
    reset_token_managers()
    log = ROOT / "test-artifacts" / "connection-form-31-api-server.log"
    with (
        DastraEmulator() as dastra,
        api_server(airflow_db, free_port(), log) as url,
        signed_in_connections_page(url) as page,
    ):
        page.get_by_role("button", name="Add Connection").click()
        dialog = page.get_by_role("dialog")
        type_into(page, field(dialog, "Connection ID"), CONN_ID)
        dialog.get_by_role("combobox").first.click()
        page.keyboard.type("OAuth 2.0 API")
        page.get_by_role("option", name="OAuth 2.0 API", exact=True).click()
        type_into(page, field(dialog, "API base URL"), dastra.url)
        type_into(page, field(dialog, "Client ID"), dastra.public_key)
        type_into(page, field(dialog, "Client secret"), dastra.private_key)
        dialog.get_by_role("button", name="Extra Fields", exact=True).click()
        choose(page, field(dialog, "Profile"), "dastra")  # 3.1 shows a dropdown's stored values
        type_into(page, field(dialog, "Token URL"), "/connect/token")
        type_into(page, field(dialog, "Extra headers"), json.dumps({"X-Tenant": "acme"}))
        type_into(page, field(dialog, "Timeout (seconds)"), "12")
        dialog.screenshot(path=artifacts_dir / "connection-form-31-filled.png")
        dialog.get_by_role("button", name="Save").click()
        dialog.wait_for(state="detached")

        saved = api_connection(url, CONN_ID)
        assert saved["conn_type"] == "authapi_oauth2" and saved["host"] == dastra.url
        assert saved["login"] == dastra.public_key
        extra = json.loads(saved["extra"])
        assert extra["profile"] == "dastra" and extra["login_url"] == "/connect/token"
        assert extra["grant_type"] == "client_credentials" and extra["client_auth"] == "basic"  # the defaults
        assert extra["timeout"] in (12, "12")
        headers = extra["extra_headers"]  # 3.1 saves the typed text; the field table parses it when read
        assert (json.loads(headers) if isinstance(headers, str) else headers) == {"X-Tenant": "acme"}

        page.locator("tr", has_text=CONN_ID).first.get_by_role("button", name="Edit Connection").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_role("button", name="Extra Fields", exact=True).click()
        assert field(dialog, "Token URL").locator("input").input_value() == "/connect/token"
        dialog.screenshot(path=artifacts_dir / "connection-form-31-edit.png")
        assert dastra.private_key not in page.content()
        page.keyboard.press("Escape")

        saved_hook = hook(CONN_ID)
        assert saved_hook.config.common.headers == {"X-Tenant": "acme"} and saved_hook.config.common.timeout == 12
        answer = saved_hook.request("GET", "/v1/workspaces")
        assert answer.status_code == 200 and answer.json()["total"] == 3
        assert dastra.token_requests == 1 and stored_token(CONN_ID)["access_token"]
    reset_token_managers()
