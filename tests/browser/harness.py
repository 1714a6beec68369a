"""What the browser tests share: Debian's chromium driven by Playwright, a real `airflow api-server` on the test
AIRFLOW_HOME with the simple auth manager and one known user, and signing in on Airflow's login page."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
def api_server(home: Path, port: int, log: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run `airflow api-server` (one worker) until the block ends; yield its URL. Its output goes to `log`."""
    passwords = home / "browser_test_passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    url = f"http://127.0.0.1:{port}"
    full_env = {
        **os.environ,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        **(env or {}),
    }
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


def sign_in(page: Any, shot: Path | None = None) -> None:
    """On Airflow's login page: fill in the known user and submit."""
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    if shot is not None:
        page.screenshot(path=shot)
    page.get_by_role("button", name="Sign in").click()


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
