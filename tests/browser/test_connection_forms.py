"""Every connection type added in Airflow's own form, in headless Chromium, as a person would: open Admin >
Connections > Add, choose the type, pick the profile where the type has profiles, type the values (JSON objects
are pasted: the form's JSON editor reformats while one types), save. The Edit form and the REST API must then
show every non-secret value as typed (never `***`), and the saved connection must authenticate against the
matching emulator: through the hook, and for the token login type in a DAG run.

One API server for the module. Screenshots of each filled form and its Edit form go to test-artifacts/.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pendulum
import pytest

from airflow_provider_authapi.connections.fields import CONNECTION_TYPES, FieldSpec
from airflow_provider_authapi.get_provider_info import get_provider_info
from airflow_provider_authapi.hooks.authapi import AuthApiHook, reset_token_managers
from airflow_provider_authapi.profiles import PROFILES
from tests.browser.harness import PASSWORD, USER, api_server, free_port, signed_in_connections_page
from tests.conftest import ROOT, run_dag
from tests.emulators.appsmith import AppsmithEmulator
from tests.emulators.aspire import AspireEmulator
from tests.emulators.base import Emulator, Request, Response
from tests.emulators.dastra import DastraEmulator
from tests.stored_tokens import stored_token

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS_FORMS = ROOT / "docs" / "_static" / "forms"
BEARER_TOKEN = "static-bearer-token-0123456789"
BASIC_USER, BASIC_PASSWORD = "reporter", "basic-password-0123456789"
DEFAULT_SECTION = "Extra Fields"  # the form's part for fields without a section


class StaticAuthApi(Emulator):
    """`GET /<scheme>/v1/whoami`: 200 when the request carries exactly the expected headers and query, else 401."""

    def __init__(self) -> None:
        basic = base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
        self.expected: dict[str, tuple[dict[str, str | None], dict[str, str]]] = {
            "basic": ({"authorization": f"Basic {basic}"}, {}),
            "bearer": ({"x-auth-token": BEARER_TOKEN, "authorization": None}, {}),  # the prefix cleared: token alone
            "none": ({"x-tenant": "acme", "authorization": None}, {"region": "eu"}),
        }
        super().__init__()

    def setup_routes(self) -> None:
        self.route("GET", r"/(?P<scheme>basic|bearer|none)/v1/whoami", self.whoami)

    def whoami(self, request: Request) -> Response:
        assert request.match is not None
        headers, query = self.expected[request.match["scheme"]]
        if any(request.header(name) != value for name, value in headers.items()):
            return Response.json({"error": "unauthorized"}, status=401)
        if any(request.query.get(name) != value for name, value in query.items()):
            return Response.json({"error": "missing query parameter"}, status=400)
        return Response.json({"scheme": request.match["scheme"]})


@dataclass
class Plan:
    """One connection as a person types it: standard fields by their form label, extra fields by name."""

    conn_id: str
    conn_type: str
    standard: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)
    profile: str | None = None
    secrets: tuple[str, ...] = ()

    @property
    def hook_name(self) -> str:
        return CONNECTION_TYPES[self.conn_type].hook_name


@dataclass
class Emulators:
    dastra: DastraEmulator
    aspire: AspireEmulator
    appsmith: AppsmithEmulator
    static: StaticAuthApi


@pytest.fixture(scope="module")
def emulators() -> Iterator[Emulators]:
    reset_token_managers()
    with (
        DastraEmulator() as dastra,
        AspireEmulator() as aspire,
        AppsmithEmulator() as appsmith,
        StaticAuthApi() as static,
    ):
        yield Emulators(dastra, aspire, appsmith, static)  # type: ignore[arg-type]
    reset_token_managers()


def plans(api: Emulators) -> list[Plan]:
    appsmith = api.appsmith.airflow_connection()
    return [
        Plan(
            "form_dastra",
            "authapi_oauth2",
            {
                "API base URL": api.dastra.url,
                "Client ID": api.dastra.public_key,
                "Client secret": api.dastra.private_key,
            },
            {"login_url": "/connect/token"},  # the profile's token URL is Dastra's real one
            profile="dastra",
            secrets=(api.dastra.private_key,),
        ),
        Plan(
            "aspire",  # the example DAG's connection id
            "authapi_token",
            {
                "API base URL": api.aspire.url,
                "User name / client ID": api.aspire.client_id,
                "Password / secret": api.aspire.secret,
            },
            {"max_lifetime": 7200, "leeway": 30},
            profile="aspire",
            secrets=(api.aspire.secret,),
        ),
        Plan(
            "form_appsmith",
            "authapi_apikey",
            {"API base URL": api.appsmith.url, "API key": api.appsmith.api_key},
            {key: value for key, value in appsmith["extra"].items()},
            secrets=(api.appsmith.api_key, api.appsmith.signature_secret),
        ),
        Plan(
            "form_basic",
            "authapi_basic",
            {"API base URL": f"{api.static.url}/basic", "User name": BASIC_USER, "Password": BASIC_PASSWORD},
            {"test_endpoint": "/v1/whoami", "timeout": 9},
            secrets=(BASIC_PASSWORD,),
        ),
        Plan(
            "form_bearer",
            "authapi_bearer",
            {"API base URL": f"{api.static.url}/bearer", "Token": BEARER_TOKEN},
            {"header_name": "X-Auth-Token", "header_prefix": None},  # None: clear the field (no prefix)
            secrets=(BEARER_TOKEN,),
        ),
        Plan(
            "form_none",
            "authapi_none",
            {"API base URL": f"{api.static.url}/none"},
            {"extra_headers": {"X-Tenant": "acme"}, "extra_query_params": {"region": "eu"}, "verify_tls": False},
        ),
    ]


# -- the API server ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def airflow_url(airflow_db: Path) -> Iterator[str]:
    """A real `airflow api-server` (simple auth manager, one admin user) on the test AIRFLOW_HOME."""
    with api_server(airflow_db, free_port(), ROOT / "test-artifacts" / "connection-forms-api-server.log") as url:
        yield url


@pytest.fixture(scope="module")
def page(airflow_url: str) -> Iterator[Any]:
    """One signed-in Chromium page for the module."""
    with signed_in_connections_page(airflow_url) as page:
        yield page


def api_connection(airflow_url: str, conn_id: str) -> dict[str, Any]:
    """The connection as Airflow's REST API (and so the Edit form) shows it."""
    token = httpx.post(f"{airflow_url}/auth/token", json={"username": USER, "password": PASSWORD}).json()
    response = httpx.get(
        f"{airflow_url}/api/v2/connections/{conn_id}", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert response.status_code == 200, response.text
    return response.json()


# -- the form, as a person uses it -------------------------------------------------------------------------------


class Form:
    """The Add or Edit connection dialog: open a part of the form, find a field by its label, type, read."""

    def __init__(self, page: Any, conn_type: str) -> None:
        self.page = page
        self.dialog = page.get_by_role("dialog")
        info = next(t for t in get_provider_info()["connection-types"] if t["connection-type"] == conn_type)
        self.fields: dict[str, dict[str, Any]] = info["conn-fields"]  # what the form shows, in its order
        self.specs = {spec.name: spec for spec in CONNECTION_TYPES[conn_type].fields}
        self.parts_used: list[str] = []

    def open_part(self, title: str) -> None:
        if title not in self.parts_used:
            self.parts_used.append(title)
        trigger = self.dialog.get_by_role("button", name=title, exact=True)
        if trigger.get_attribute("aria-expanded") != "true":
            trigger.click()

    def screenshots(self, path_prefix: Path) -> list[Path]:
        """One screenshot per part of the form used (one part is open at a time); their paths."""
        paths = []
        for number, title in enumerate(self.parts_used, 1):
            self.open_part(title)
            slug = re.sub(r"\W+", "-", title.lower())
            paths.append(path_prefix.with_name(f"{path_prefix.name}-{number}-{slug}.png"))
            self.dialog.screenshot(path=paths[-1])
        return paths

    def row(self, label: str) -> Any:
        exact = re.compile(rf"^\s*{re.escape(label)}\s*\*?\s*$")
        return self.dialog.locator("[data-scope=field][data-part=root]").filter(
            has=self.page.locator("label[data-part=label]").filter(has_text=exact)
        )

    def extra_row(self, name: str) -> Any:
        self.open_part(self.fields[name]["schema"].get("section") or DEFAULT_SECTION)
        return self.row(self.fields[name]["label"])

    def type_text(self, target: Any, text: str) -> None:
        target.click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.press("Backspace")
        if text:
            target.press_sequentially(text)

    def type_standard(self, label: str, text: str) -> None:
        self.open_part("Standard Fields")
        self.type_text(self.row(label).locator("input, textarea").first, text)

    def choose(self, row: Any, option: str) -> None:
        row.get_by_role("combobox").click()
        self.page.keyboard.type(option)
        self.page.get_by_role("option", name=option, exact=True).click()

    def type_extra(self, name: str, value: Any) -> None:
        row, schema = self.extra_row(name), self.fields[name]["schema"]
        if "enum" in schema:
            self.choose(row, schema["values_display"][value])
        elif schema["type"][0] == "object":  # pasted, as the JSON editor garbles JSON typed key by key
            row.locator(".view-lines").click()
            self.page.evaluate("text => navigator.clipboard.writeText(text)", json.dumps(value))
            self.page.keyboard.press("Control+A")
            self.page.keyboard.press("Control+V")
            _wait_for(lambda: _read_json_editor(row) == value, f"{name}: the pasted JSON did not show")
        elif schema["type"][0] == "boolean":
            switch = row.locator("input[type=checkbox]")
            if switch.is_checked() != value:
                row.locator("label").last.click()
            _wait_for(lambda: switch.is_checked() == value, f"{name}: the switch did not turn")
        else:
            self.type_text(row.locator("input, textarea").first, "" if value is None else str(value))

    def shown(self, name: str) -> Any:
        """What the form shows in field `name`: text, a dropdown's label, a switch's state, a JSON object."""
        row, schema = self.extra_row(name), self.fields[name]["schema"]
        if "enum" in schema:
            lines = row.inner_text().split("\n")
            return next((value for value, label in schema["values_display"].items() if label in lines), None)
        if schema["type"][0] == "object":
            return _read_json_editor(row)
        if schema["type"][0] == "boolean":
            return row.locator("input[type=checkbox]").is_checked()
        return row.locator("input, textarea").first.input_value()


def _wait_for(condition: Any, what: str, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _read_json_editor(row: Any) -> Any:
    """The JSON object in an editor; it may take a moment to render all its lines after its part opens."""
    deadline = time.monotonic() + 5
    while True:
        text = row.locator(".view-lines").inner_text().replace("\xa0", " ")
        try:
            return json.loads(text or "{}") or None  # an empty object field shows {}
        except ValueError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def expected_extra(form: Form, plan: Plan) -> dict[str, Any]:
    """The extra the form saves: every field, typed values over defaults, null for the rest."""
    typed = {**plan.extra, **({"profile": plan.profile} if plan.profile else {})}
    return {name: typed.get(name, field["schema"].get("default")) for name, field in form.fields.items()}


def as_shown(spec: FieldSpec, value: Any, schema: dict[str, Any]) -> Any:
    """A stored value as the form shows it: text fields show text, "" for none; a dropdown (any field the form
    offers choices for, `profile` included) shows its value, None when none is chosen."""
    if spec.kind in ("choice", "boolean", "object") or "enum" in schema:
        return value
    return "" if value is None else str(value)


def add_connection(page: Any, plan: Plan, shots: Path) -> Form:
    page.get_by_role("button", name="Add Connection").click()
    form = Form(page, plan.conn_type)
    form.type_text(form.row("Connection ID").locator("input"), plan.conn_id)
    form.dialog.get_by_role("combobox").first.click()
    page.keyboard.type(plan.hook_name)
    page.get_by_role("option", name=plan.hook_name, exact=True).click()
    for label, text in plan.standard.items():
        form.type_standard(label, text)
    if plan.profile:
        form.choose(form.extra_row("profile"), PROFILES[plan.profile].label)
    for name, value in plan.extra.items():
        form.type_extra(name, value)
    shown = form.screenshots(shots / f"connection-form-{plan.conn_type}-filled")
    DOCS_FORMS.mkdir(parents=True, exist_ok=True)  # the docs page of the type shows the form as typed here
    shutil.copyfile(shown[0], DOCS_FORMS / f"{plan.conn_type}.png")
    form.dialog.get_by_role("button", name="Save").click()
    form.dialog.wait_for(state="detached")
    return form


def check_edit_form(page: Any, plan: Plan, expected: dict[str, Any], shots: Path) -> None:
    page.locator("tr", has_text=plan.conn_id).first.get_by_role("button", name="Edit Connection").click()
    form = Form(page, plan.conn_type)
    for label, text in plan.standard.items():
        form.open_part("Standard Fields")
        shown = form.row(label).locator("input, textarea").first.input_value()
        assert shown == ("***" if text in plan.secrets else text), (plan.conn_id, label)
    by_part: dict[str, list[str]] = {}
    for name, field_info in form.fields.items():
        by_part.setdefault(field_info["schema"].get("section") or DEFAULT_SECTION, []).append(name)
    for names in by_part.values():  # one part open at a time: read each part's fields together
        for name in names:
            spec = form.specs[name]
            if spec.secret:
                continue
            shown = form.shown(name)
            assert shown != "***", f"{plan.conn_id}: {name} shows Airflow's mask"
            assert shown == as_shown(spec, expected[name], form.fields[name]["schema"]), (plan.conn_id, name, shown)
    form.open_part(DEFAULT_SECTION if DEFAULT_SECTION in by_part else next(iter(by_part)))
    form.dialog.screenshot(path=shots / f"connection-form-{plan.conn_type}-edit.png")  # the first part
    for secret in plan.secrets:
        assert secret not in page.content()
    page.keyboard.press("Escape")
    form.dialog.wait_for(state="detached")


def check_saved(airflow_url: str, plan: Plan, expected: dict[str, Any], form: Form) -> None:
    saved = api_connection(airflow_url, plan.conn_id)
    assert saved["conn_type"] == plan.conn_type
    extra = json.loads(saved["extra"])
    secret_names = {name for name, spec in form.specs.items() if spec.secret}
    differing = {
        name: (extra.get(name), value)
        for name, value in expected.items()
        if name not in secret_names and extra.get(name, "<absent>") != value
    }
    assert not differing, f"{plan.conn_id}: saved vs typed {differing}"
    assert set(extra) == set(expected), plan.conn_id
    for name in secret_names & set(plan.extra):
        assert extra[name] == "***"


def hook(conn_id: str) -> AuthApiHook:
    """The hook on the connection as saved in the metadata DB (outside a task, Airflow 3 reads connections
    from environment variables and secrets backends only)."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == conn_id).one()
        session.expunge(conn)
    return AuthApiHook(conn_id, connection=conn)


def test_every_connection_type_typed_in_the_form_works(
    page: Any, airflow_url: str, emulators: Emulators, artifacts_dir: Path
):
    started = time.monotonic()
    page.goto(f"{airflow_url}/connections")
    for plan in plans(emulators):
        form = add_connection(page, plan, artifacts_dir)
        expected = expected_extra(form, plan)
        check_saved(airflow_url, plan, expected, form)
        check_edit_form(page, plan, expected, artifacts_dir)

    # Each saved connection authenticates against its emulator.
    dastra = hook("form_dastra").request("GET", "/v1/workspaces")
    assert dastra.status_code == 200 and dastra.json()["total"] == 3
    token = stored_token("form_dastra")
    life = pendulum.parse(token["expires_at"]) - pendulum.parse(token["obtained_at"])
    assert 299 <= life.total_seconds() <= 300  # the profile's 300 s cap applies beneath the form's defaults
    assert emulators.dastra.token_requests == 1

    orders = hook("form_appsmith").request("GET", "/api/v1/orders", params={"page_size": 2})
    assert orders.status_code == 200 and len(orders.json()["data"]) == 2
    for scheme in ("basic", "bearer", "none"):
        answer = hook(f"form_{scheme}").request("GET", "/v1/whoami")
        assert (answer.status_code, answer.json()) == (200, {"scheme": scheme})

    # The token login type in a task: the example DAG with the connection the form saved (profile aspire, whose
    # ClientId / Secret body fields must win over the form's default field names).
    run = run_dag("aspire_properties")
    assert run.state == "success", run.task_states()
    assert len(run.xcom("fetch_properties")) == 57
    assert emulators.aspire.count("POST", "/Authorization") == 1
    token = stored_token("aspire")
    life = pendulum.parse(token["expires_at"]) - pendulum.parse(token["obtained_at"])
    assert life.total_seconds() == 7200  # the typed maximum lifetime caps the JWT's 24 hours
    print(f"\nconnection forms: {time.monotonic() - started:.0f} s for six types", file=sys.stderr)
