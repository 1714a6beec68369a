"""The connection types and fields added last, typed into Airflow's own connection form in headless Chromium,
saved, then used against their emulators on 127.0.0.1.

Five connections, as a person enters them (PEM keys pasted, everything else typed):
- GitHub App (`authapi_github_app`): the App ID, the app's RSA key, the installation ID, and the token narrowed to
  two repositories and one permission: one installation token, one API call that sees only those repositories;
- NetSuite (`authapi_netsuite`, OAuth 1.0a): consumer key and secret, token ID and secret, the account ID as the
  realm: one request signed HMAC-SHA256 with that realm;
- OAuth 2.0 client credentials with DPoP on and a P-256 key: the token request and the API call each answered
  `use_dpop_nonce` once and sent again with the nonce, a DPoP token bound to the pasted key;
- Bearer token with an API budget (`budget_requests`, `budget_period`): more calls than the API's per-app limit
  allows at once, all answered 200, paced by the ledger Variable `authapi_budget:<conn_id>:ledger`;
- Token login with a grant and a signer of the user's own (`grant_class`, `auth_class`), the signer's own settings
  added in the form's "Extra Fields JSON": one login through the grant, one signed call.

Each saved connection must show every non-secret value in the Edit form and the REST API (never `***`), hold
every secret unmasked in the metadata DB and show none in the Edit form's HTML. The helpers are those of
`test_connection_forms` and `test_connection_forms_breadth`. One API server for the module. Screenshots go to
test-artifacts/connection-forms-breadth-2/<conn_id>/.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest

from airflow_provider_authapi.auth.dpop import DPoPProver
from airflow_provider_authapi.hooks.authapi import reset_token_managers
from tests.browser import test_connection_forms
from tests.browser.harness import api_server, free_port, signed_in_connections_page
from tests.browser.test_connection_forms import (
    Form,
    Plan,
    _wait_for,
    add_connection,
    api_connection,
    check_edit_form,
    check_saved,
    expected_extra,
    hook,
)
from tests.browser.test_connection_forms_breadth import (
    Pasted,
    check_no_secret_in_edit_form,
    check_stored_unmasked,
    pem_lines,
    squeezed,
)
from tests.browser.test_connection_forms_breadth import pasting as pasting  # the fixture, used by name
from tests.conftest import ROOT
from tests.emulators.app_rate_limit import TOKEN as RATE_LIMITED_TOKEN
from tests.emulators.app_rate_limit import AppRateLimitEmulator
from tests.emulators.github import GitHubEmulator
from tests.emulators.jwt_oauth2 import KeyPair, new_key
from tests.emulators.netsuite import CUSTOMERS_ROUTE, NetSuiteEmulator
from tests.emulators.odd_login import OddLoginServer
from tests.emulators.okta_dpop import TOKEN_PATH, USERS_PATH, OktaDPoPEmulator, thumbprint
from tests.stored_tokens import stored_token

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = "connection-forms-breadth-2"
EXTRA_JSON = "Extra Fields JSON"  # Airflow's part of the form holding the extra as one JSON object
MASK = "***"
DPOP_CLIENT_ID, DPOP_CLIENT_SECRET = "0oa-form-dpop-client", "okta-form-client-secret-0123456789"
BUDGET_REQUESTS, BUDGET_PERIOD, BUDGET_CALLS = 6, 3, 12  # twice the per-app limit, from 4 threads at once
REPOSITORIES = ("service-003", "service-007")
GRANT_CLASS = "dags_examples.odd_login_auth.OddLoginGrant"
SIGNER_CLASS = "dags_examples.odd_login_auth.HmacSigner"


@dataclass
class OwnPlan(Plan):
    """A connection whose extra also holds keys of the user's own, which no form field has: they are added in the
    form's Extra Fields JSON. `own_secrets` are those Airflow masks by their name."""

    own_extra: dict[str, str] = field(default_factory=dict)
    own_secrets: tuple[str, ...] = ()


@dataclass
class Emulators:
    github: GitHubEmulator
    netsuite: NetSuiteEmulator
    okta: OktaDPoPEmulator
    limited: AppRateLimitEmulator
    odd: OddLoginServer
    dpop_key: KeyPair


@pytest.fixture(scope="module")
def emulators() -> Iterator[Emulators]:
    reset_token_managers()
    with (
        GitHubEmulator() as github,
        NetSuiteEmulator() as netsuite,
        OktaDPoPEmulator(DPOP_CLIENT_ID, DPOP_CLIENT_SECRET, client_auth="basic") as okta,
        AppRateLimitEmulator(limit=BUDGET_REQUESTS, period=float(BUDGET_PERIOD)) as limited,
        OddLoginServer.standalone() as odd,  # /api/signed wants the ticket and the signature
    ):
        yield Emulators(github, netsuite, okta, limited, odd, new_key("ES256"))  # type: ignore[arg-type]
    reset_token_managers()


def plans(api: Emulators) -> list[Plan]:
    gh, ns, odd = api.github, api.netsuite, api.odd
    key_id, signing_secret = next(iter(odd.signing_keys.items()))
    return [
        Plan(
            "breadth2_github_app",
            "authapi_github_app",
            {"API base URL": gh.url, "App ID or client ID": str(gh.app_id)},
            {
                "installation_id": str(gh.installation_id),
                "assertion_private_key": Pasted(gh.key.pem),
                "installation_permissions": {"contents": "read"},
                "installation_repositories": " ".join(REPOSITORIES),
            },
            secrets=pem_lines(gh.key.pem),
        ),
        Plan(
            "breadth2_netsuite",
            "authapi_netsuite",
            {"API base URL": ns.url, "Consumer key": ns.consumer_key, "Consumer secret": ns.consumer_secret},
            {"realm": ns.account_id, "token_id": ns.token_id, "token_secret": ns.token_secret},
            secrets=(ns.consumer_secret, ns.token_id, ns.token_secret),
        ),
        Plan(
            "breadth2_dpop",
            "authapi_oauth2",
            {"API base URL": api.okta.url, "Client ID": DPOP_CLIENT_ID, "Client secret": DPOP_CLIENT_SECRET},
            {
                "grant_type": "client_credentials",
                "login_url": TOKEN_PATH,
                "scopes": "okta.users.read",
                "client_auth": "basic",
                "dpop": True,
                "dpop_private_key": Pasted(api.dpop_key.pem),
                "dpop_algorithm": "ES256",
                "test_endpoint": USERS_PATH,
            },
            secrets=(DPOP_CLIENT_SECRET, *pem_lines(api.dpop_key.pem)),
        ),
        Plan(
            "breadth2_budget",
            "authapi_bearer",
            {"API base URL": api.limited.url, "Token": RATE_LIMITED_TOKEN},
            {"budget_requests": BUDGET_REQUESTS, "budget_period": BUDGET_PERIOD, "test_endpoint": "/api/items"},
            secrets=(RATE_LIMITED_TOKEN,),
        ),
        OwnPlan(
            "breadth2_custom_grant",
            "authapi_token",
            {"API base URL": odd.url, "User name / client ID": odd.user, "Password / secret": odd.pin},
            {"grant_class": GRANT_CLASS, "auth_class": SIGNER_CLASS, "test_endpoint": "/api/whoami"},
            secrets=(odd.pin, signing_secret),
            own_extra={"signing_key_id": key_id, "signing_secret": signing_secret},
            own_secrets=("signing_secret",),
        ),
    ]


# -- the API server and the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def airflow_url(airflow_db: Path) -> Iterator[str]:
    log = ROOT / "test-artifacts" / "connection-forms-breadth-2-api-server.log"
    with api_server(airflow_db, free_port(), log) as url:
        yield url


@pytest.fixture(scope="module")
def page(airflow_url: str) -> Iterator[Any]:
    """One signed-in Chromium page for the module."""
    with signed_in_connections_page(airflow_url) as page:
        yield page


@dataclass
class OwnExtras:
    """What `add_connection` adds in the Extra Fields JSON: `plan`'s own keys (none while `plan` is None)."""

    plan: OwnPlan | None = None
    shown: dict[str, Any] = field(default_factory=dict)  # the JSON that part showed after the paste


@pytest.fixture
def own_extras(monkeypatch: pytest.MonkeyPatch, artifacts_dir: Path) -> OwnExtras:
    """`add_connection` adds the current plan's `own_extra` in the Extra Fields JSON once the form's fields are
    typed (just before its screenshots and Save), as a person adds what no field offers: the JSON shown, their
    keys added, pasted over it. Also: the filled forms' first screenshots, which `add_connection` copies for the
    docs, go to test-artifacts (the docs' pictures are test_connection_forms' to take)."""
    own = OwnExtras()
    screenshots = Form.screenshots

    def paste_then_screenshots(self: Form, path_prefix: Path) -> list[Path]:
        if own.plan is not None:
            own.shown = paste_own_extra(self, own.plan.own_extra)
        return screenshots(self, path_prefix)

    monkeypatch.setattr(Form, "screenshots", paste_then_screenshots)
    monkeypatch.setattr(test_connection_forms, "DOCS_FORMS", artifacts_dir / SHOTS / "docs-forms")
    return own


def extra_json_editor(form: Form) -> Any:
    """The Extra Fields JSON part's editor, its part opened."""
    form.open_part(EXTRA_JSON)
    trigger = form.dialog.get_by_role("button", name=EXTRA_JSON, exact=True)
    return form.dialog.locator(f"[id='{trigger.get_attribute('aria-controls')}']").locator(".monaco-editor")


def editor_json(form: Form, editor: Any) -> dict[str, Any]:
    """The whole JSON in an editor, copied out as a person would (Ctrl+A, Ctrl+C): the editor draws only the lines
    in view, and this extra runs to some 50 of them."""
    editor.click()  # not .view-lines: its centre lies below the editor's visible 200 px
    form.page.keyboard.press("Control+A")
    form.page.keyboard.press("Control+C")
    return json.loads(form.page.evaluate("() => navigator.clipboard.readText()"))


def paste_own_extra(form: Form, own: dict[str, str]) -> dict[str, Any]:
    """Add `own` at the end of the Extra Fields JSON: after the last key, a comma and the keys, pasted."""
    editor = extra_json_editor(form)
    before = editor_json(form, editor)
    editor.click()
    for key in ("Control+End", "ArrowUp", "End"):  # the last line is the closing brace
        form.page.keyboard.press(key)
    added = "".join(f',\n"{name}": {json.dumps(value)}' for name, value in own.items())
    form.page.evaluate("text => navigator.clipboard.writeText(text)", added)
    form.page.keyboard.press("Control+V")
    wanted = {**before, **own}

    def shows_them() -> bool:
        try:
            return editor_json(form, editor) == wanted
        except ValueError:  # not yet JSON again
            return False

    _wait_for(shows_them, "the keys pasted into the Extra Fields JSON did not show")
    shown = editor_json(form, editor)
    form.page.keyboard.press("Control+End")  # the selection gone, the added keys in view for the screenshot
    return shown


# -- checks ----------------------------------------------------------------------------------------------------


def check_own_extra(page: Any, airflow_url: str, plan: OwnPlan, shots: Path) -> None:
    """The keys of the user's own: as typed in the metadata DB; in the REST API and the Edit form's Extra Fields
    JSON as typed, or `***` for one Airflow masks by its name, whose value is not in the page's HTML."""
    stored = hook(plan.conn_id).connection.extra_dejson
    assert {name: stored.get(name) for name in plan.own_extra} == plan.own_extra, f"{plan.conn_id}: stored"
    shown_by_api = json.loads(api_connection(airflow_url, plan.conn_id)["extra"])
    masked = {name: MASK if name in plan.own_secrets else value for name, value in plan.own_extra.items()}
    assert {name: shown_by_api.get(name) for name in plan.own_extra} == masked, f"{plan.conn_id}: REST API"

    page.locator("tr", has_text=plan.conn_id).first.get_by_role("button", name="Edit Connection").click()
    form = Form(page, plan.conn_type)
    editor = extra_json_editor(form)
    shown = editor_json(form, editor)
    page.keyboard.press("Control+End")  # the keys of the user's own, last, in view for the screenshot
    assert {name: shown.get(name) for name in plan.own_extra} == masked, f"{plan.conn_id}: Edit form {shown}"
    form.dialog.screenshot(path=shots / "connection-form-edit-extra-fields-json.png")
    html = page.content()
    for secret in plan.secrets:
        assert secret not in html, f"{plan.conn_id}: a secret is in the Edit form's HTML"
    page.keyboard.press("Escape")
    form.dialog.wait_for(state="detached")


def check_used(api: Emulators) -> dict[str, float]:
    """Each saved connection authenticates at its emulator, which saw the credentials it expects; the seconds
    each took."""
    took: dict[str, float] = {}

    # 1. GitHub App: the app's JWT (iss the App ID) buys one installation token, narrowed as typed.
    started = time.monotonic()
    gh = api.github
    listing = hook("breadth2_github_app").request("GET", "/installation/repositories", params={"per_page": 30})
    assert listing.status_code == 200, listing.text
    assert [repo["name"] for repo in listing.json()["repositories"]] == list(REPOSITORIES)
    assert (gh.token_requests, gh.refusals, gh.pages) == (1, [], 1)
    (claims,) = gh.jwts
    assert claims["iss"] == str(gh.app_id) and claims["exp"] - claims["iat"] == 600
    assert gh.bodies == [{"repositories": list(REPOSITORIES), "permissions": {"contents": "read"}}]
    token = stored_token("breadth2_github_app")
    assert token is not None and token["access_token"].startswith("ghs_") and token["refresh_token"] is None
    took["github_app"] = time.monotonic() - started

    # 2. NetSuite: one request signed HMAC-SHA256 with the token typed, the account ID as the realm; no token.
    started = time.monotonic()
    ns = api.netsuite
    customers = hook("breadth2_netsuite").request("GET", CUSTOMERS_ROUTE, params={"limit": 2})
    assert customers.status_code == 200, ns.refusals
    assert customers.json()["count"] == 2 and ns.refusals == []
    (signed,) = ns.accepted
    assert (signed["realm"], signed["oauth_signature_method"]) == (ns.account_id, "HMAC-SHA256")
    assert (signed["oauth_consumer_key"], signed["oauth_token"]) == (ns.consumer_key, ns.token_id)
    assert stored_token("breadth2_netsuite") is None
    took["netsuite"] = time.monotonic() - started

    # 3. DPoP: Okta asks each of the token request and the API call for its nonce once; a DPoP token bound to
    # the pasted key, a fresh proof per request.
    started = time.monotonic()
    okta = api.okta
    users = hook("breadth2_dpop").request("GET", USERS_PATH)
    assert users.status_code == 200, okta.refusals
    assert [user["profile"]["login"] for user in users.json()] == ["ann@example.com", "bo@example.com"]
    assert okta.nonce_challenges == {"token": 1, "resource": 1}
    assert okta.refusals == ["The DPoP proof's nonce is missing or stale."] * 2  # those two first answers only
    assert okta.token_requests == 2 and okta.count("GET", USERS_PATH) == 2
    token = stored_token("breadth2_dpop")
    assert token is not None and token["token_type"] == "DPoP", token and token["token_type"]
    bound = jwt.decode(token["access_token"], options={"verify_signature": False})["cnf"]["jkt"]
    assert bound == DPoPProver.from_pem(api.dpop_key.pem, "ES256").thumbprint
    login, call = okta.proofs
    assert (login["path"], login["claims"]["nonce"]) == (TOKEN_PATH, okta.token_nonce)
    assert (call["path"], call["claims"]["nonce"]) == (USERS_PATH, okta.resource_nonce)
    assert thumbprint(call["header"]["jwk"]) == bound and login["claims"]["jti"] != call["claims"]["jti"]
    took["dpop"] = time.monotonic() - started

    # 4. The API budget: twice the per-app limit at once, every call 200 and paced from the ledger Variable.
    from airflow.models.variable import Variable

    started = time.monotonic()
    limited = api.limited
    budget_hook = hook("breadth2_budget")
    with ThreadPoolExecutor(4) as pool:
        statuses = list(
            pool.map(lambda page: budget_hook.request("GET", "/api/items", params={"page": page}).status_code,
                     range(1, BUDGET_CALLS + 1))
        )  # fmt: skip
    elapsed = time.monotonic() - started
    assert statuses == [200] * BUDGET_CALLS, statuses
    assert (limited.refused, limited.unauthenticated) == (0, 0) and limited.max_in_window <= BUDGET_REQUESTS
    spacing = BUDGET_PERIOD / (0.95 * BUDGET_REQUESTS)
    assert elapsed >= (BUDGET_CALLS - 1) * spacing - 0.5, f"{elapsed:.1f} s: the budget was not waited for"
    ledger = Variable.get("authapi_budget:breadth2_budget:ledger")
    assert '"next"' in ledger and RATE_LIMITED_TOKEN not in ledger
    assert budget_hook.budget is not None and budget_hook.budget.config.requests == BUDGET_REQUESTS
    took["budget"] = elapsed

    # 5. The grant of the user's own logs in once (XML, the PIN typed); the signer signs the call with the key
    # pasted into the Extra Fields JSON, after the ticket.
    started = time.monotonic()
    odd = api.odd
    report = hook("breadth2_custom_grant").request("POST", "/api/signed", json={"report": "daily"})
    assert (report.status_code, report.json()) == (200, {"signed": True, "method": "POST"}), report.text
    assert (odd.logins, odd.renews) == (1, 0) and odd.signed == [("POST", "/api/signed")]
    token = stored_token("breadth2_custom_grant")
    assert token is not None and odd.tickets.check(token["access_token"]) is not None
    took["custom_grant"] = time.monotonic() - started
    return took


def test_latest_connection_types_and_fields_typed_in_the_form_work(
    page: Any,
    airflow_url: str,
    emulators: Emulators,
    pasting: dict[str, str],
    own_extras: OwnExtras,
    artifacts_dir: Path,
):
    started = time.monotonic()
    page.goto(f"{airflow_url}/connections")
    typed_in: dict[str, float] = {}
    for plan in plans(emulators):
        began = time.monotonic()
        pasting.clear()
        own_extras.plan = plan if isinstance(plan, OwnPlan) else None
        shots = artifacts_dir / SHOTS / plan.conn_id
        shots.mkdir(parents=True, exist_ok=True)
        form = add_connection(page, plan, shots)
        for name, value in plan.extra.items():  # a one-line password input: a pasted key's line breaks are gone
            if isinstance(value, Pasted):
                held = pasting[name]
                assert "\n" not in held and squeezed(held) == squeezed(value), f"{plan.conn_id}: {name} as pasted"
        expected = expected_extra(form, plan)
        if isinstance(plan, OwnPlan):
            assert {name: own_extras.shown.get(name) for name in plan.own_extra} == plan.own_extra
            expected.update({name: MASK if name in plan.own_secrets else v for name, v in plan.own_extra.items()})
        check_saved(airflow_url, plan, expected, form)
        check_stored_unmasked(plan, form)
        check_edit_form(page, plan, expected, shots)
        check_no_secret_in_edit_form(page, plan)
        if isinstance(plan, OwnPlan):
            check_own_extra(page, airflow_url, plan, shots)
        typed_in[plan.conn_id] = time.monotonic() - began

    used = check_used(emulators)
    print(
        f"\nconnection forms (breadth 2): {time.monotonic() - started:.0f} s for five connections; typed and "
        f"checked {', '.join(f'{k} {v:.0f} s' for k, v in typed_in.items())}; "
        f"used {', '.join(f'{k} {v:.1f} s' for k, v in used.items())}",
        file=sys.stderr,
    )
