"""The newer auth fields typed into Airflow's own connection form in headless Chromium, saved, then used.

Four connections, as a person enters them (PEM keys and certificates pasted, everything else typed):
- OAuth 2.0, JWT bearer grant (RFC 7523): RSA private key, issuer, subject, audience, lifetime, scope claim,
  other claims and key ID;
- OAuth 2.0, client credentials with `private_key_jwt`: a P-256 private key and its certificate (x5t#S256);
- Token login, SAP Business One's session login typed field by field (no profile): the session is the B1SESSION
  response cookie, ROUTEID goes back with it;
- OAuth 2.0, password grant with a `revocation_url`: used, then cleared through `maintenance.clear_and_revoke`
  (what `airflow authapi token clear` and the token page run), which must revoke both tokens at the emulator.

Each saved connection must show every non-secret value in the Edit form and the REST API (never `***`), hold
every secret unmasked in the metadata DB, show no secret in the Edit form's HTML, and authenticate against its
emulator. The form helpers are those of `test_connection_forms`; PEM values are pasted (`Pasted`), since nobody
types a key, and the private key's field is a one-line password input: it must survive losing its line breaks.

One API server for the module. Screenshots go to test-artifacts/connection-forms-breadth/<conn_id>/.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from airflow_provider_authapi.hooks.authapi import reset_token_managers
from airflow_provider_authapi.maintenance import clear_and_revoke
from tests.browser.harness import api_server, free_port, signed_in_connections_page
from tests.browser.test_connection_forms import (
    Form,
    Plan,
    add_connection,
    check_edit_form,
    check_saved,
    expected_extra,
    hook,
)
from tests.conftest import ROOT
from tests.emulators.jwt_oauth2 import JwtOAuth2Server, KeyPair, certificate_pem, new_key, thumbprint_s256
from tests.emulators.oauth2_server import OAuth2Server
from tests.emulators.sap_b1 import ROUTE, SapB1Emulator
from tests.stored_tokens import stored_record, stored_token

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ISSUER, SUBJECT = "reporting@svc.example.com", "alice@example.com"
AUDIENCE = "https://login.example.com"
CLIENT_SECRET = "form-client-secret-0123456789"
USER_PASSWORD = "form-user-password-0123456789"


class Pasted(str):
    """A value a person pastes into its field instead of typing it (PEM text)."""


@dataclass
class Emulators:
    bearer: JwtOAuth2Server  # the JWT bearer grant
    client: JwtOAuth2Server  # private_key_jwt client authentication
    sap: SapB1Emulator
    oauth: OAuth2Server  # the password grant and RFC 7009 revocation
    rsa: KeyPair
    ec: KeyPair
    ec_certificate: str


@pytest.fixture(scope="module")
def emulators() -> Iterator[Emulators]:
    reset_token_managers()
    rsa, ec = new_key("RS256"), new_key("ES256")
    ec_certificate = certificate_pem(ec)
    with (
        JwtOAuth2Server(assertion_audience=AUDIENCE) as bearer,
        JwtOAuth2Server(client_auth="private_key_jwt") as client,
        SapB1Emulator() as sap,
        OAuth2Server(client_secret=CLIENT_SECRET, users={"alice": USER_PASSWORD}) as oauth,
    ):
        bearer.register_issuer(ISSUER, rsa, subjects=(SUBJECT,))
        client.register_client_key(ec, certificate=ec_certificate)
        yield Emulators(bearer, client, sap, oauth, rsa, ec, ec_certificate)  # type: ignore[arg-type]
    reset_token_managers()


def pem_lines(pem: str) -> tuple[str, ...]:
    """The base64 lines of a PEM: none may show in a page, whatever became of the line breaks."""
    return tuple(line for line in pem.splitlines() if line and not line.startswith("-----"))


def plans(api: Emulators) -> list[Plan]:
    return [
        Plan(
            "breadth_jwt_bearer",
            "authapi_oauth2",
            {"API base URL": api.bearer.url},  # no client ID and secret: the key alone authenticates
            {
                "grant_type": "jwt_bearer",
                "login_url": "/token",
                "scopes": "read",
                "assertion_private_key": Pasted(api.rsa.pem),
                "assertion_algorithm": "RS256",
                "assertion_issuer": ISSUER,
                "assertion_subject": SUBJECT,
                "assertion_audience": AUDIENCE,
                "assertion_lifetime": 120,
                "assertion_scope_claim": True,
                "assertion_claims": {"tenant": "acme"},
                "assertion_kid": "rsa-key-1",
            },
            secrets=pem_lines(api.rsa.pem),
        ),
        Plan(
            "breadth_private_key_jwt",
            "authapi_oauth2",
            {"API base URL": api.client.url, "Client ID": api.client.client_id},
            {
                "grant_type": "client_credentials",
                "login_url": "/token",
                "scopes": "read write",
                "client_auth": "private_key_jwt",
                "assertion_private_key": Pasted(api.ec.pem),
                "assertion_algorithm": "ES256",
                "assertion_cert_pem": Pasted(api.ec_certificate),
            },
            secrets=pem_lines(api.ec.pem),
        ),
        Plan(
            "breadth_sap_session",
            "authapi_token",
            {"API base URL": api.sap.url, "User name / client ID": api.sap.user, "Password / secret": api.sap.password},
            {
                "login_url": "/b1s/v1/Login",
                "username_field": "UserName",
                "pass_field": "Password",
                "extra_body": {"CompanyDB": api.sap.company_db},
                "expires_in_path": "SessionTimeout",
                "lifetime_unit": "minutes",
                "credential_source": "cookie",
                "credential_name": "B1SESSION",
                "carry_cookies": "ROUTEID",
                "auth_location": "cookie",
                "cookie_name": "B1SESSION",
                "test_endpoint": "/b1s/v1/Items/$count",
            },
            secrets=(api.sap.password,),
        ),
        Plan(
            "breadth_revocable",
            "authapi_oauth2",
            {"API base URL": api.oauth.url, "Client ID": api.oauth.client_id, "Client secret": CLIENT_SECRET},
            {
                "grant_type": "password",
                "login_url": "/token",
                "scopes": "read",
                "username": "alice",
                "user_password": USER_PASSWORD,
                "revocation_url": "/revoke",
            },
            secrets=(CLIENT_SECRET, USER_PASSWORD),
        ),
    ]


# -- the API server and the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def airflow_url(airflow_db: Path) -> Iterator[str]:
    log = ROOT / "test-artifacts" / "connection-forms-breadth-api-server.log"
    with api_server(airflow_db, free_port(), log) as url:
        yield url


@pytest.fixture(scope="module")
def page(airflow_url: str) -> Iterator[Any]:
    """One signed-in Chromium page for the module."""
    with signed_in_connections_page(airflow_url) as page:
        yield page


@pytest.fixture
def pasting(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`Form.type_extra` pastes `Pasted` values into their field as a person does (clipboard, Ctrl+V); the
    returned dict collects what each pasted field held after the paste (a one-line input drops line breaks)."""
    held: dict[str, str] = {}
    type_extra = Form.type_extra

    def paste_or_type(self: Form, name: str, value: Any) -> None:
        if not isinstance(value, Pasted):
            type_extra(self, name, value)
            return
        target = self.extra_row(name).locator("input, textarea").first
        target.click()
        self.page.keyboard.press("Control+A")
        self.page.evaluate("text => navigator.clipboard.writeText(text)", str(value))
        self.page.keyboard.press("Control+V")
        deadline = time.monotonic() + 5
        while not target.input_value().strip():
            assert time.monotonic() < deadline, f"{name}: the pasted text did not show"
            time.sleep(0.1)
        held[name] = target.input_value()

    monkeypatch.setattr(Form, "type_extra", paste_or_type)
    return held


# -- checks ----------------------------------------------------------------------------------------------------


def squeezed(text: str) -> str:
    return "".join(text.split())


def check_stored_unmasked(plan: Plan, form: Form) -> None:
    """The metadata DB holds every typed secret as typed, not Airflow's `***` (PEM: up to its line breaks)."""
    conn = hook(plan.conn_id).connection
    for label, text in plan.standard.items():
        if text in plan.secrets:
            assert conn.password == text, f"{plan.conn_id}: {label} was not stored as typed"
    extra = conn.extra_dejson
    for name, value in plan.extra.items():
        if form.specs[name].secret:
            stored = extra[name]
            assert "***" not in stored, f"{plan.conn_id}: {name} was stored masked"
            assert squeezed(stored) == squeezed(value), f"{plan.conn_id}: {name} was not stored as typed"


def check_no_secret_in_edit_form(page: Any, plan: Plan) -> None:
    """Open the Edit form at every part holding a secret field: no secret (or PEM line) in the page's HTML."""
    page.locator("tr", has_text=plan.conn_id).first.get_by_role("button", name="Edit Connection").click()
    form = Form(page, plan.conn_type)
    form.open_part("Standard Fields")
    html = [page.content()]
    for name, spec in form.specs.items():
        if spec.secret and name in plan.extra:
            form.extra_row(name)  # opens its part
            html.append(page.content())
            assert form.shown(name) == "***", (plan.conn_id, name)
    for secret in plan.secrets:
        assert all(secret not in text for text in html), f"{plan.conn_id}: a secret is in the Edit form's HTML"
    page.keyboard.press("Escape")
    form.dialog.wait_for(state="detached")


def check_used(api: Emulators) -> None:
    """Each saved connection authenticates at its emulator, which saw the credential it expects."""
    # 1. The JWT bearer grant: the assertion the form's fields describe, signed by the pasted RSA key.
    whoami = hook("breadth_jwt_bearer").request("GET", "/api/whoami")
    assert (whoami.status_code, whoami.json()) == (200, {"subject": SUBJECT, "scope": "read"})
    assert not api.bearer.refusals and api.bearer.token_requests == 1
    claims = api.bearer.assertions[-1]
    assert (claims["iss"], claims["sub"], claims["aud"]) == (ISSUER, SUBJECT, AUDIENCE)
    assert (claims["scope"], claims["tenant"], claims["exp"] - claims["iat"]) == ("read", "acme", 120)
    sent = api.bearer.last_token_form
    assert sent["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer" and "scope" not in sent
    assert jwt.get_unverified_header(sent["assertion"]) == {"alg": "RS256", "kid": "rsa-key-1", "typ": "JWT"}
    assert not {"client_id", "client_secret", "client_assertion"} & set(sent)

    # 2. Client credentials with private_key_jwt: ES256 by the pasted P-256 key, the certificate's thumbprint.
    whoami = hook("breadth_private_key_jwt").request("GET", "/api/whoami")
    assert (whoami.status_code, whoami.json()) == (200, {"subject": api.client.client_id, "scope": "read write"})
    assert not api.client.refusals and api.client.token_requests == 1
    sent = api.client.last_token_form
    assert sent["grant_type"] == "client_credentials" and sent["client_id"] == api.client.client_id
    assert sent["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "client_secret" not in sent
    header = jwt.get_unverified_header(sent["client_assertion"])
    assert header["alg"] == "ES256" and header["x5t#S256"] == thumbprint_s256(api.ec_certificate)
    claims = api.client.assertions[-1]
    assert claims["iss"] == claims["sub"] == api.client.client_id and claims["aud"] == api.client.token_url

    # 3. The SAP Business One session login: one login, the B1SESSION and ROUTEID cookies on every call.
    sap = hook("breadth_sap_session")
    items = sap.request("GET", "/b1s/v1/Items", params={"$top": 3, "$select": "ItemCode"})
    assert items.status_code == 200, items.text
    assert items.json()["value"] == [{"ItemCode": f"A{i:05d}"} for i in (1, 2, 3)]
    count = sap.request("GET", "/b1s/v1/Items/$count")
    assert (count.status_code, count.json()) == (200, 45)
    assert (api.sap.logins, api.sap.refused, len(api.sap.sessions)) == (1, 0, 1)
    token = stored_token("breadth_sap_session")
    assert token is not None and token["access_token"] == api.sap.issued[0]
    assert token["extra"] == {"session_cookies": {"ROUTEID": ROUTE}}

    # 4. The password grant, then clear_and_revoke: both tokens revoked at the revocation URL, then dead.
    whoami = hook("breadth_revocable").request("GET", "/api/whoami")
    assert (whoami.status_code, whoami.json()) == (200, {"subject": "alice", "scope": "read"})
    sent = api.oauth.last_token_form
    assert (sent["grant_type"], sent["username"], sent["password"]) == ("password", "alice", USER_PASSWORD)
    token = stored_token("breadth_revocable")
    assert token is not None and token["refresh_token"]
    cleared = clear_and_revoke("breadth_revocable")
    assert cleared.confirmed and not cleared.not_revoked, cleared.lines()
    assert cleared.lines() == [
        "refresh token: revoked (the server confirmed)",
        "access token: revoked (the server confirmed)",
        "Cleared the stored token of connection 'breadth_revocable'.",
    ]
    assert api.oauth.revoked == ["refresh_token", "access_token"] and api.oauth.count("POST", "/revoke") == 2
    assert stored_record("breadth_revocable") is None
    dead = httpx.get(f"{api.oauth.url}/api/whoami", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert dead.status_code == 401
    refresh = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    refused = httpx.post(f"{api.oauth.url}/token", data=refresh, auth=(api.oauth.client_id, CLIENT_SECRET))
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")


def test_newer_auth_fields_typed_in_the_form_work(
    page: Any,
    airflow_url: str,
    emulators: Emulators,
    pasting: dict[str, str],
    artifacts_dir: Path,
):
    started = time.monotonic()
    page.goto(f"{airflow_url}/connections")
    for plan in plans(emulators):
        pasting.clear()
        shots = artifacts_dir / "connection-forms-breadth" / plan.conn_id  # three OAuth 2.0 connections
        shots.mkdir(parents=True, exist_ok=True)
        form = add_connection(page, plan, shots)
        if "assertion_private_key" in pasting:  # a one-line password input: the key's line breaks are gone
            held = pasting["assertion_private_key"]
            assert "\n" not in held and squeezed(held) == squeezed(plan.extra["assertion_private_key"])
        if "assertion_cert_pem" in pasting:  # a text area: the certificate kept its lines
            assert pasting["assertion_cert_pem"].strip() == plan.extra["assertion_cert_pem"].strip()
        expected = expected_extra(form, plan)
        check_saved(airflow_url, plan, expected, form)
        check_stored_unmasked(plan, form)
        check_edit_form(page, plan, expected, shots)
        check_no_secret_in_edit_form(page, plan)

    check_used(emulators)
    print(f"\nconnection forms (breadth): {time.monotonic() - started:.0f} s for four connections", file=sys.stderr)
