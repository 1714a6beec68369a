"""A known system picked as its own connection type in Airflow's form, in headless Chromium, as a person would
(issue 23, item 2): Dastra, Aspire and QuickBooks Online. The form must start at the system's values (its token
URL, not a generic default that contradicts it), name the credentials in the system's words, and show nothing the
profile fixes (grant type, body field names, token paths, lifetimes). Typed, saved, then the row's Test must
succeed against the system's emulator; QuickBooks after its consent on the authorizations page.

For comparison, the old layout too: the generic OAuth 2.0 type with the Dastra profile chosen. Screenshots go to
test-artifacts/system-form-*.png; Dastra's filled form also to docs/_static/forms/authapi_dastra.png.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_authapi.connections.fields import ADVANCED, GENERIC_TYPES, SYSTEM_TYPES
from airflow_provider_authapi.hooks.authapi import reset_token_managers
from airflow_provider_authapi.profiles import PROFILES
from tests.browser.harness import api_server, free_port, signed_in_connections_page
from tests.browser.test_connection_forms import (
    DEFAULT_SECTION,
    DOCS_FORMS,
    Form,
    Plan,
    check_edit_form,
    check_saved,
    expected_extra,
    hook,
)
from tests.browser.test_token_page import press_test
from tests.conftest import ROOT
from tests.emulators.aspire import AspireEmulator
from tests.emulators.dastra import DastraEmulator
from tests.emulators.quickbooks import AUTHORIZE_PATH, TOKEN_PATH, QuickBooksEmulator
from tests.stored_tokens import stored_token

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOG = ROOT / "test-artifacts" / "system-forms-api-server.log"
QB_SECRET = "qb-form-client-secret-0123456789"
QB_REALM = "4620816365212345"
CONSENT = "/oauth-consent"
DOCS_SHOT = {"authapi_dastra": DOCS_FORMS / "authapi_dastra.png"}  # docs/_static/forms/
# Labels of fields the generic types show and a system type must not: what its profile fixes.
FIXED_LABELS = {
    "authapi_dastra": ("Grant type", "Scopes", "Send client ID and secret", "Maximum lifetime (seconds)"),
    "authapi_aspire": ("User name field", "Password field", "Token location in the response",
                       "Default lifetime (seconds)"),
    "authapi_quickbooks_sandbox": ("Grant type", "Scopes", "Send client ID and secret", "Extra headers"),
}  # fmt: skip


@dataclass
class Emulators:
    dastra: DastraEmulator
    aspire: AspireEmulator
    quickbooks: QuickBooksEmulator


@pytest.fixture(scope="module")
def emulators() -> Iterator[Emulators]:
    reset_token_managers()
    with (
        DastraEmulator() as dastra,
        AspireEmulator() as aspire,
        QuickBooksEmulator(client_secret=QB_SECRET, realm_id=QB_REALM) as quickbooks,
    ):
        yield Emulators(dastra, aspire, quickbooks)  # type: ignore[arg-type]
    reset_token_managers()


@pytest.fixture(scope="module")
def airflow_url(airflow_db: Path, emulators: Emulators) -> Iterator[str]:
    port = free_port()
    emulators.quickbooks.register_redirect_uri(f"http://127.0.0.1:{port}{CONSENT}/callback")  # the app's settings
    with api_server(airflow_db, port, LOG, {"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}) as url:
        yield url


@pytest.fixture(scope="module")
def page(airflow_url: str) -> Iterator[Any]:
    with signed_in_connections_page(airflow_url) as page:
        yield page


def plans(api: Emulators, airflow_url: str) -> list[Plan]:
    """What a person types: the credentials by the system's labels, and the emulator's URLs over the real ones."""
    qb = api.quickbooks
    return [
        Plan(
            "sys_dastra",
            "authapi_dastra",
            {  # the base URL last: the docs' screenshot is taken before it (a real user leaves it empty)
                "Public key": api.dastra.public_key,
                "Private key": api.dastra.private_key,
                "API base URL": api.dastra.url,
            },
            {"login_url": "/connect/token"},  # the form shows Dastra's real https://account.dastra.eu/connect/token
            secrets=(api.dastra.private_key,),
        ),
        Plan(
            "sys_aspire",
            "authapi_aspire",
            {"API base URL": api.aspire.url, "Client ID": api.aspire.client_id, "Secret": api.aspire.secret},
            {"test_endpoint": "/Properties?$top=1"},  # /Authorization, as shown, is right relative to the emulator
            secrets=(api.aspire.secret,),
        ),
        Plan(
            "sys_quickbooks",
            "authapi_quickbooks_sandbox",
            {"API base URL": qb.url, "Client ID": qb.client_id, "Client secret": QB_SECRET},
            {
                "redirect_uri": f"{airflow_url}{CONSENT}/callback",
                "consent_url": qb.url + AUTHORIZE_PATH,
                "login_url": qb.url + TOKEN_PATH,
            },
            secrets=(QB_SECRET,),
        ),
    ]


def open_add_form(page: Any, hook_name: str, conn_type: str) -> Form:
    page.get_by_role("button", name="Add Connection").click()
    form = Form(page, conn_type)
    form.dialog.get_by_role("combobox").first.click()
    page.keyboard.type(hook_name)
    page.get_by_role("option", name=hook_name, exact=True).click()
    return form


def check_starts_at_the_profile(form: Form, plan: Plan) -> None:
    """Before typing: each field shows the profile's value (else the base default); what it fixes is absent."""
    profile = PROFILES[SYSTEM_TYPES[plan.conn_type].profile]
    for name, field in form.fields.items():
        expected = field["schema"].get("default")
        if name in profile.fields and not isinstance(profile.fields[name], dict):
            assert expected == profile.fields[name], name  # the form's default is the profile's value
        shown = form.shown(name)
        assert shown == ("" if expected is None else str(expected)), (plan.conn_id, name, shown)
    for part in (DEFAULT_SECTION, ADVANCED):
        if form.dialog.get_by_role("button", name=part, exact=True).count():
            form.open_part(part)
            for label in FIXED_LABELS[plan.conn_type]:
                assert form.row(label).count() == 0, f"{plan.conn_id}: the form shows {label!r}, fixed by the profile"
    form.parts_used.clear()


def add_system_connection(page: Any, plan: Plan, shots: Path) -> Form:
    form = open_add_form(page, plan.hook_name, plan.conn_type)
    check_starts_at_the_profile(form, plan)
    form.type_text(form.row("Connection ID").locator("input"), plan.conn_id)
    for label, text in plan.standard.items():
        if label == "API base URL" and plan.conn_type in DOCS_SHOT:  # the docs show the form a real user fills:
            form.dialog.screenshot(path=DOCS_SHOT[plan.conn_type])  # the base URL empty, the system's shown
        form.type_standard(label, text)
    for name, value in plan.extra.items():
        form.type_extra(name, value)
    form.screenshots(shots / f"system-form-{plan.conn_type}-filled")
    form.open_part("Standard Fields")
    form.dialog.screenshot(path=shots / f"system-form-{plan.conn_type}.png")
    form.dialog.get_by_role("button", name="Save").click()
    form.dialog.wait_for(state="detached")
    return form


def screenshot_old_layout(page: Any, shots: Path) -> None:
    """The generic OAuth 2.0 type with the Dastra profile chosen, as issue 23 found it: for the comparison."""
    form = open_add_form(page, GENERIC_TYPES["authapi_oauth2"].hook_name, "authapi_oauth2")
    form.open_part("Standard Fields")
    form.dialog.screenshot(path=shots / "system-form-old-layout-1-standard-fields.png")
    form.choose(form.extra_row("profile"), PROFILES["dastra"].label)
    assert form.shown("login_url") == "", "the generic form shows no token URL for the Dastra profile"
    form.dialog.screenshot(path=shots / "system-form-old-layout-2-extra-fields.png")
    page.keyboard.press("Escape")
    form.dialog.wait_for(state="detached")


def authorize(page: Any, airflow_url: str, api: QuickBooksEmulator, conn_id: str, shots: Path) -> None:
    """Admin > API authorizations: Authorize, Approve at the QuickBooks consent page, back on the callback."""
    page.goto(f"{airflow_url}{CONSENT}/")
    page.locator(f"tr[data-conn-id='{conn_id}']").get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{api.url}{AUTHORIZE_PATH}?**")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{airflow_url}{CONSENT}/callback?**")
    assert "is authorized" in page.locator("#result").inner_text()
    page.screenshot(path=shots / "system-form-quickbooks-consented.png")


def test_known_systems_typed_as_their_own_types_work(
    page: Any, airflow_url: str, emulators: Emulators, artifacts_dir: Path
):
    started = time.monotonic()
    page.goto(f"{airflow_url}/connections")
    DOCS_FORMS.mkdir(parents=True, exist_ok=True)
    screenshot_old_layout(page, artifacts_dir)
    for plan in plans(emulators, airflow_url):
        form = add_system_connection(page, plan, artifacts_dir)
        expected = expected_extra(form, plan)
        check_saved(airflow_url, plan, expected, form)
        check_edit_form(page, plan, expected, artifacts_dir)
    shutil.copyfile(DOCS_SHOT["authapi_dastra"], artifacts_dir / "system-form-authapi_dastra-docs.png")

    # The row's Test, against each emulator. QuickBooks' authorization code needs its consent first.
    tests = {"sys_dastra": emulators.dastra.token_requests, "sys_aspire": emulators.aspire.logins}
    authorize(page, airflow_url, emulators.quickbooks, "sys_quickbooks", artifacts_dir)
    token = stored_token("sys_quickbooks")
    assert token is not None and token["extra"]["realm_id"] == QB_REALM
    page.goto(f"{airflow_url}/connections")
    messages = {}
    for conn_id in ("sys_dastra", "sys_aspire", "sys_quickbooks"):
        toast = press_test(page, conn_id)
        messages[conn_id] = toast.inner_text()
        page.screenshot(path=artifacts_dir / f"system-form-test-{conn_id}.png")
        assert toast.get_attribute("data-type") == "success", messages[conn_id]
    assert f"{emulators.dastra.url}/connect/token" in messages["sys_dastra"]
    assert f"{emulators.aspire.url}/Authorization" in messages["sys_aspire"]
    assert "GET /Properties?$top=1" in messages["sys_aspire"] and "answered 200" in messages["sys_aspire"]
    assert emulators.dastra.token_requests == tests["sys_dastra"] + 1
    assert emulators.aspire.logins == tests["sys_aspire"] + 1
    assert emulators.quickbooks.refreshes >= 1, "QuickBooks' Test refreshes through the stored, rotated token"
    for secret in (emulators.dastra.private_key, emulators.aspire.secret, QB_SECRET):
        assert secret not in page.content() and all(secret not in text for text in messages.values())

    # A task-side read: the saved Dastra connection calls the API with the profile's 300 s cap.
    answer = hook("sys_dastra").request("GET", "/v1/workspaces")
    assert answer.status_code == 200 and answer.json()["total"] == 3
    print(f"\nsystem forms: {time.monotonic() - started:.0f} s for three systems", file=sys.stderr)
