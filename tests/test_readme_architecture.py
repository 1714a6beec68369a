"""The architecture map (docs/architecture.md) stays true: every module it names exists, and every core module
is named."""

from __future__ import annotations

import re

from tests import manual
from tests.conftest import ROOT

PACKAGE = ROOT / "airflow_provider_authapi"
MODULE = r"(?<![\w/.])((?:[a-z_]+/)?[a-z_]+\.py)\b"  # `auth/tokens.py`, and a top-level one: `compat.py`


def _architecture() -> str:
    return manual.block("architecture")


def test_every_module_the_map_names_exists():
    named = set(re.findall(MODULE, _architecture())) - {"tests/test_readme_architecture.py"}
    assert len(named) > 15
    assert [path for path in sorted(named) if not (PACKAGE / path).is_file()] == []


def test_every_module_of_the_core_is_on_the_map():
    named = set(re.findall(MODULE, _architecture())) - {"tests/test_readme_architecture.py"}
    core = {f"{p.parent.name}/{p.name}" for folder in ("auth", "api") for p in (PACKAGE / folder).glob("*.py")}
    assert sorted(core - named - {"auth/__init__.py", "api/__init__.py"}) == []


def _request_path() -> list[str]:
    """The modules the map draws between the connection and XCom (its code block, shared helpers apart)."""
    block = _architecture().split("```")[1]
    return sorted(set(re.findall(MODULE, block)) - {"sensors/authapi.py", "triggers/authapi.py"})


def test_one_paginated_oauth_request_runs_code_in_exactly_the_modules_the_map_draws(airflow_db, set_connection):
    """Follow one client-credentials, offset-paginated `AuthApiOperator.execute` and record every provider module
    whose functions run: the map's request path plus the three shared helpers, no more, no fewer."""
    import sys

    from airflow_provider_authapi.hooks.authapi import reset_token_managers
    from airflow_provider_authapi.operators.authapi import AuthApiOperator
    from tests.airflow.test_operators import OAuthPagedApi
    from tests.emulators.oauth2_server import OAuth2Server

    reset_token_managers()
    ran: set[str] = set()

    def profile(frame, event, arg):
        name = frame.f_globals.get("__name__", "")
        if event == "call" and name.startswith("airflow_provider_authapi."):
            ran.add(name.removeprefix("airflow_provider_authapi.").replace(".", "/") + ".py")

    with OAuth2Server() as oauth, OAuthPagedApi(oauth, total=25) as api:
        set_connection(
            "arch_oauth",
            conn_type="authapi_oauth2",
            host=api.url,
            login=oauth.client_id,
            password=oauth.client_secret,
            extra={"login_url": f"{oauth.url}/token", "grant_type": "client_credentials", "scopes": "read"},
        )
        operator = AuthApiOperator(
            task_id="arch",
            authapi_conn_id="arch_oauth",
            endpoint="/offset",
            pagination={"type": "offset", "limit": 10},
            response_filter="items",
        )
        sys.setprofile(profile)
        try:
            records = operator.execute({})
        finally:
            sys.setprofile(None)
            reset_token_managers()
    assert [record["id"] for record in records] == list(range(1, 26))
    assert oauth.access.issued == 1
    shared = {"auth/errors.py", "auth/retry.py", "auth/json_path.py"}
    assert sorted(ran - shared) == _request_path()
    assert f"runs code in these {len(ran)} modules" in " ".join(_architecture().split())
