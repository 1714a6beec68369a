"""A consent through the token page app (Admin > API tokens) in-process, as a signed-in user's browser goes: Authorize,
the system's consent page (pressed by the test), the callback with every parameter the system sent back."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from airflow_provider_authapi.plugins import app as token_app

Press = Callable[[str], dict[str, str]]  # the authorization URL -> the callback's query


def consent_through_the_token_page(monkeypatch: pytest.MonkeyPatch, conn_id: str, press: Press) -> httpx.Response:
    """Authorize `conn_id` on the token page; `press` approves at the system's consent page; the page's answer."""
    from fastapi.testclient import TestClient

    monkeypatch.setattr(token_app, "_allowed", lambda user, conn, method: True)
    app = token_app.create_app()
    app.dependency_overrides[token_app.current_user] = lambda: SimpleNamespace(get_name=lambda: "alice")
    with TestClient(app, base_url="http://airflow.test", follow_redirects=False) as page:
        started = page.post(f"/authorize/{conn_id}")
        assert started.status_code == 303, started.text
        query = press(started.headers["location"])
        return page.get("/callback", params=query)


def press_first_button(url: str, verify: Any = True, decision: str | None = None) -> dict[str, str]:
    """Open an emulator's consent page, press its first button (or the one of value `decision`): the callback's
    query, as the browser would follow it."""
    import re

    with httpx.Client(verify=verify) as browser:
        shown = browser.get(url)
        assert shown.status_code == 200, shown.text
        (consent,) = re.findall(r"name='consent' value='([^']+)'", shown.text)
        action = re.search(r"action='([^']+)'", shown.text)
        assert action is not None
        buttons = re.findall(r"name='decision' value='([^']+)'", shown.text)
        pressed = {"consent": consent, "decision": decision or buttons[0]}
        answer = browser.post(httpx.URL(url).join(action.group(1)), data=pressed)
    assert answer.status_code == 302, answer.text
    return dict(httpx.URL(answer.headers["location"]).params)
