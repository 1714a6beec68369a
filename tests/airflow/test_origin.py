"""Credentials stay at their origin through Airflow (issue 22): the hook's `request`, `get_client()` and
`get_async_client()` for every connection type, then one `dag.test()` run of tests/dags/origin_guard.py (operator
in the worker and deferred, sensor, paginator, hook in tasks, endpoints from `dag_run.conf`). Two real servers on
127.0.0.1: the connection's and another origin, which must see no credential."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_authapi.auth.errors import ApiTransportError, ConfigError, CredentialOriginError
from airflow_provider_authapi.hooks.authapi import AuthApiHook, reset_token_managers
from tests.conftest import run_dag
from tests.emulators.recorder import (
    BEARER,
    CLIENT_SECRET,
    HEADER_SECRET,
    KEY,
    PARAM_SECRET,
    PASSWORD,
    SECRETS,
    SIGNATURE_SECRET,
    Recorder,
    basic_decoded,
    leaks,
)

REQUEST_SECRET = "request-header-secret-0123456789"  # as in tests/dags/origin_guard.py
LINE_BREAK_TOKEN = ("line-break-token-first-half-0123", "second-half-of-the-token-4567")


def connection(scheme: str, api: Recorder, **extra: Any) -> dict[str, Any]:
    """The Airflow connection (as `set_connection` fields) of scheme `scheme` on `api`'s origin."""
    fields: dict[str, dict[str, Any]] = {
        "bearer": {"conn_type": "authapi_bearer", "password": BEARER},
        "apikey_header": {"conn_type": "authapi_apikey", "password": KEY, "extra": {"key_name": "X-API-Key"}},
        "apikey_query": {
            "conn_type": "authapi_apikey",
            "password": KEY,
            "extra": {"key_name": "api_key", "key_location": "query"},
        },
        "basic": {"conn_type": "authapi_basic", "login": "user", "password": PASSWORD},
        "digest": {
            "conn_type": "authapi_basic",
            "login": "user",
            "password": PASSWORD,
            "extra": {"basic_scheme": "digest"},
        },
        "oauth2": {
            "conn_type": "authapi_oauth2",
            "login": "client",
            "password": CLIENT_SECRET,
            "extra": {"login_url": "/token", "grant_type": "client_credentials"},
        },
        "session": {
            "conn_type": "authapi_token",
            "login": "user",
            "password": PASSWORD,
            "extra": {
                "login_url": "/login",
                "credential_source": "cookie",
                "credential_name": "B1SESSION",
                "carry_cookies": "ROUTEID",
                "auth_location": "cookie",
                "cookie_name": "B1SESSION",
            },
        },
        "extras": {
            "conn_type": "authapi_none",
            "extra": {
                "extra_headers": {"X-Secret-Header": HEADER_SECRET},
                "extra_query_params": {"secret_param": PARAM_SECRET},
                "signature_header": "X-Signature",
                "signature_secret": SIGNATURE_SECRET,
            },
        },
    }
    spec = dict(fields[scheme])
    return {**spec, "host": api.url, "extra": {**spec.get("extra", {}), **extra}}


SCHEMES = ["bearer", "apikey_header", "apikey_query", "basic", "digest", "oauth2", "session", "extras"]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Recorder, Recorder]]:
    with Recorder() as api, Recorder() as other:
        yield api, other


@pytest.fixture
def api_other(servers, airflow_db) -> Iterator[tuple[Recorder, Recorder]]:
    for server in servers:
        server.reset()
    reset_token_managers()
    yield servers
    reset_token_managers()


def refused_everywhere(hook: AuthApiHook, url: str) -> list[str]:
    """The messages of the refusals of `url` by `hook.request`, `get_client()` and `get_async_client()`."""
    messages = []
    with pytest.raises(CredentialOriginError) as refused:
        hook.request("GET", url)
    messages.append(str(refused.value))
    with hook.get_client() as client, pytest.raises(CredentialOriginError) as refused:
        client.get(url)
    messages.append(str(refused.value))

    async def through_async_client() -> None:
        async with hook.get_async_client() as client:
            await client.get(url)

    with pytest.raises(CredentialOriginError) as refused:
        asyncio.run(through_async_client())
    return [*messages, str(refused.value)]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_hook_and_its_clients_keep_every_scheme_at_its_origin(scheme, api_other, set_connection):
    api, other = api_other
    set_connection(f"origin_{scheme}", **connection(scheme, api))
    hook = AuthApiHook(f"origin_{scheme}")
    messages = refused_everywhere(hook, f"{other.url}/x?q=1")
    assert other.seen == []
    for message in messages:
        assert other.url in message and "allowed_origins" in message
        assert not [secret for secret in SECRETS if secret in message]

    assert hook.request("GET", "/x").status_code == 200  # its own origin
    presigned = hook.request("GET", f"{other.url}/presigned?sig=abc", authenticate=False)
    assert presigned.status_code == 200 and [r.path for r in other.seen] == ["/presigned"] and not leaks(other.seen)

    other.reset()
    other.digest = scheme == "digest"
    set_connection(f"origin_{scheme}_allowed", **connection(scheme, api, allowed_origins=f"{other.url}/"))
    assert AuthApiHook(f"origin_{scheme}_allowed").request("GET", f"{other.url}/x").status_code == 200
    assert leaks(other.seen), "allowed_origins lets the credentials through"

    other.reset()
    api.redirect_to = f"{other.url}/landed"
    with hook.get_client(follow_redirects=True) as client:
        assert client.get("/redirect").json()["path"] == "/landed"
    assert [r.path for r in other.seen] == ["/landed"] and leaks(other.seen) == []


def test_the_hook_turns_every_transport_error_into_a_scrubbed_typed_error(api_other, set_connection):
    api, _ = api_other
    set_connection("origin_line_break", **connection("bearer", api))
    with pytest.raises(ApiTransportError) as failed:
        AuthApiHook("origin_line_break").request("GET", "/x", headers={"X-Request-Secret": REQUEST_SECRET + "\n"})
    assert "header 'x-request-secret'" in str(failed.value).lower() and REQUEST_SECRET not in str(failed.value)
    set_connection("origin_nowhere", **{**connection("apikey_query", api), "host": "http://127.0.0.1:9"})
    with pytest.raises(ApiTransportError) as failed:
        AuthApiHook("origin_nowhere").request("GET", "/x")
    assert KEY not in str(failed.value) and "ConnectError" in type(failed.value).__name__


def test_through_the_operator_sensor_triggerer_and_tasks(api_other, set_connection, capfd, caplog):
    api, other = api_other
    api.next_page = f"{other.url}/page2"
    set_connection("origin_bearer", **connection("bearer", api, extra_headers={"X-Secret-Header": HEADER_SECRET}))
    set_connection("origin_allowed", **connection("apikey_query", api, allowed_origins=other.url))
    set_connection("origin_newline", **{**connection("bearer", api), "password": BEARER + "\n"})
    set_connection("origin_crlf", **{**connection("bearer", api), "password": "\r\n".join(LINE_BREAK_TOKEN)})
    caplog.set_level(logging.INFO)
    result = run_dag("origin_guard", conf={"other": other.url})
    states = result.task_states()
    failed = ["refused", "refused_deferred", "refused_sensor", "next_link", "line_break_token", "line_break_header"]
    failed += ["line_break_header_deferred", "hook_refused", "hook_line_break_header"]
    assert {task: states[task] for task in failed} == dict.fromkeys(failed, "failed")
    succeeded = ("allowed", "trailing_newline", "hook_presigned", "presigned", "presigned_deferred")
    assert {task: states[task] for task in succeeded} == dict.fromkeys(succeeded, "success")
    assert result.xcom("allowed") == {"ok": True, "path": "/x"}
    assert result.xcom("presigned")["path"] == result.xcom("presigned_deferred")["path"] == "/presigned"
    # nothing else reached the other origin: the allowed call, and three presigned fetches without credentials
    assert sorted(r.path for r in other.seen) == ["/presigned"] * 3 + ["/x"]
    allowed, *presigned = sorted(other.seen, key=lambda r: r.path != "/x")
    assert allowed.query.get("api_key") == KEY and leaks(presigned) == []
    trimmed = [r for r in api.seen if r.path == "/x" and r.header("authorization") == f"Bearer {BEARER}"]
    assert trimmed, "the token pasted with a trailing newline was sent trimmed"

    captured = capfd.readouterr()
    log = captured.out + captured.err + "\n".join(r.getMessage() for r in caplog.records)
    log += json.dumps([str(r.exc_info[1]) for r in caplog.records if r.exc_info])
    assert "CredentialOriginError" in log and "allowed_origins" in log
    assert "line break" in log and "'password'" in log  # the token's field is named
    assert "header 'x-request-secret' holds a line break" in log.lower()  # operator and hook name the header
    for secret in (*SECRETS, REQUEST_SECRET, *LINE_BREAK_TOKEN):
        assert secret not in log, secret


def test_pasted_line_breaks_through_the_hook(api_other, set_connection):
    """A key pasted with its trailing newline works; one with a line break inside fails naming the field; a Basic
    password keeps its line break (it is sent base64-encoded, and may contain anything)."""
    api, _ = api_other
    set_connection("origin_key_newline", **{**connection("apikey_header", api), "password": KEY + "\n"})
    assert AuthApiHook("origin_key_newline").request("GET", "/x").status_code == 200
    assert api.seen[-1].header("x-api-key") == KEY
    set_connection("origin_key_crlf", **{**connection("apikey_header", api), "password": "\r\n".join(LINE_BREAK_TOKEN)})
    with pytest.raises(ConfigError) as refused:
        AuthApiHook("origin_key_crlf").request("GET", "/x")
    assert refused.value.field == "password" and "origin_key_crlf" in str(refused.value)
    assert not [half for half in LINE_BREAK_TOKEN if half in str(refused.value)]
    set_connection("origin_basic_crlf", **{**connection("basic", api), "password": PASSWORD + "\r\n"})
    assert AuthApiHook("origin_basic_crlf").request("GET", "/x").status_code == 200
    assert basic_decoded(api.seen[-1].header("authorization")) == f"user:{PASSWORD}\r\n"
