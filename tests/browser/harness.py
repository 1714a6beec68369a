"""What the browser tests share: Debian's chromium driven by Playwright, a real `airflow api-server` on the test
AIRFLOW_HOME with the simple auth manager and one known user (or the FAB auth manager with the accounts and roles
a test asks for), and signing in on the auth manager's login page."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USER, PASSWORD = "admin", "browser-test-password-123"
SIMPLE_AUTH_MANAGER = "simple"
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


@dataclass(frozen=True)
class Account:
    """A user to create: under FAB `role` is a role name (built-in or one of `roles`); simple: admin, op, ..."""

    username: str
    password: str
    role: str


ADMIN = Account(USER, PASSWORD, "admin")
Permission = tuple[str, str]  # FAB (action, resource), e.g. ("can_read", "Connections")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        subprocess.run(["bash", str(ROOT / "scripts" / "install-browser.sh")], check=False)
    if not os.path.exists(CHROMIUM):
        banner = "!" * 100
        message = (
            f"\n{banner}\nBROWSER TEST SKIPPED: {CHROMIUM} is missing and scripts/install-browser.sh could not "
            f"install Debian's chromium (no root, no apt). The UI was NOT tested in a browser.\n{banner}"
        )
        print(message, file=sys.stderr)
        pytest.skip(message)


@contextmanager
def api_server(
    home: Path,
    port: int,
    log: Path,
    env: dict[str, str] | None = None,
    *,
    auth_manager: str = SIMPLE_AUTH_MANAGER,
    accounts: Sequence[Account] = (ADMIN,),
    roles: Mapping[str, Sequence[Permission]] | None = None,
) -> Iterator[str]:
    """Run `airflow api-server` (one worker) until the block ends; yield its URL. Its output goes to `log`.

    The simple auth manager (the default) gets `accounts` from its users setting and passwords file; FAB's
    `roles` and `accounts` are written to its tables first (see `create_fab_accounts`).
    """
    url = f"http://127.0.0.1:{port}"
    if auth_manager == SIMPLE_AUTH_MANAGER:
        manager_env = _simple_auth_manager_env(home, accounts)
    else:
        manager_env = {"AIRFLOW__CORE__AUTH_MANAGER": auth_manager, "AIRFLOW__FAB__AUTH_RATE_LIMITED": "False"}
        accounts_log = log.with_name(f"{log.stem}-accounts.log")
        create_fab_accounts(accounts, roles or {}, {**os.environ, **manager_env, **(env or {})}, accounts_log)
    full_env = {**os.environ, **manager_env, **(env or {})}
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port), "-w", "1"],
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, f"api-server exited; see {log}"
            try:
                if httpx.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"api-server did not start; see {log}"
            time.sleep(1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _simple_auth_manager_env(home: Path, accounts: Sequence[Account]) -> dict[str, str]:
    passwords = home / "browser_test_passwords.json"
    passwords.write_text(json.dumps({account.username: account.password for account in accounts}))
    return {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{a.username}:{a.role}" for a in accounts),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
    }


# Run in a child process with the FAB auth manager configured: FAB's own security manager writes the roles (each
# permission created as FAB stores it, resource-level names such as "Connections:<id>" included) and the users.
_FAB_ACCOUNTS_SCRIPT = """
import json, sys
from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

spec = json.load(open(sys.argv[1]))
with get_application_builder() as appbuilder:
    sm = appbuilder.sm
    for name, permissions in spec["roles"].items():
        role = sm.find_role(name) or sm.add_role(name)
        for action, resource in permissions:
            sm.add_permission_to_role(role, sm.create_permission(action, resource))
    for account in spec["accounts"]:
        if sm.find_user(username=account["username"]) is None:
            role = sm.find_role(account["role"])
            assert role is not None, f"no FAB role {account['role']!r}"
            name = account["username"]
            assert sm.add_user(name, name, "Test", f"{name}@example.com", role, account["password"]), name
"""


def create_fab_accounts(
    accounts: Sequence[Account], roles: Mapping[str, Sequence[Permission]], env: dict[str, str], log: Path
) -> None:
    """Create FAB `roles` and `accounts` in the metadata DB (one process, ~15 s; passwords in a file, not argv)."""
    home = Path(env["AIRFLOW_HOME"])
    spec = home / "browser_test_fab_accounts.json"
    wanted = {"roles": {name: list(perms) for name, perms in roles.items()}, "accounts": [vars(a) for a in accounts]}
    spec.write_text(json.dumps(wanted))
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as out:
        done = subprocess.run(
            [sys.executable, "-c", _FAB_ACCOUNTS_SCRIPT, str(spec)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    spec.unlink()
    assert done.returncode == 0, f"creating FAB users failed; see {log}"


@contextmanager
def chromium() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def new_page(browser: Any, width: int = 1280, height: int = 900) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Any, shot: Path | None = None, account: Account = ADMIN) -> None:
    """On the auth manager's login page (simple or FAB): fill in the account (by default the known user), submit."""
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(account.password)
    if shot is not None:
        page.screenshot(path=shot)
    page.get_by_role("button", name="Sign in").click()  # simple: "Sign in", FAB: "Sign In" (case-insensitive)


@contextmanager
def signed_in_connections_page(airflow_url: str) -> Iterator[Any]:
    """Chromium on Admin > Connections, signed in, the clipboard allowed (JSON and PEM text are pasted)."""
    with chromium() as browser, new_page(browser, width=1100, height=1500) as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        page.goto(f"{airflow_url}/connections")
        page.wait_for_url("**/auth/login**")
        sign_in(page)
        page.wait_for_url(f"{airflow_url}/connections")
        yield page


def store_connections(connections: dict[str, dict[str, Any] | None]) -> None:
    """Add (or, for None, delete with its stored token) connections in the metadata DB, where the API server and
    the UI read them."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    from airflow_provider_authapi.store import VariableTokenStore

    with create_session() as session:
        for conn_id, fields in connections.items():
            session.query(Connection).filter(Connection.conn_id == conn_id).delete()
            if fields is not None:
                extra = json.dumps(fields.get("extra") or {})
                session.add(Connection(conn_id=conn_id, **{**fields, "extra": extra}))
    for conn_id, fields in connections.items():
        if fields is None:
            VariableTokenStore(conn_id, fingerprint="").clear()


@contextmanager
def only_connections(connections: dict[str, dict[str, Any]]) -> Iterator[None]:
    """While the block runs the metadata DB holds `connections` and no other connection; after it, `connections`
    are deleted (with their stored tokens) and the others are back.

    For a module that asserts on every connection a page lists (the token page, Admin > Connections): the session
    shares one DB, and the modules before it may have left connections there (some add theirs through the UI and
    keep them). Those are set aside as stored, encrypted columns untouched, not deleted for good: a module's later
    tests may still need them. `AIRFLOW_CONN_*` connections are not covered (tests set those per test only).
    """
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import delete, insert, select

    table = Connection.__table__
    others = table.c.conn_id.not_in(list(connections))
    with create_session() as session:
        aside = [dict(row) for row in session.execute(select(table).where(others)).mappings()]
        session.execute(delete(table).where(others))
    try:
        store_connections(connections)
        yield
    finally:
        try:
            store_connections({conn_id: None for conn_id in connections})
        finally:
            if aside:
                with create_session() as session:
                    session.execute(insert(table), aside)
