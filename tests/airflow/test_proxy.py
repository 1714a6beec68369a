"""A connection's proxy in Airflow: the hook's requests (a task) and the trigger's (the triggerer, async) go
through the forward proxy emulator, token request included; a 407 fails the trigger's event with the field to fix
and no password."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from airflow_provider_authapi.hooks.authapi import ApiCall, AuthApiHook
from airflow_provider_authapi.triggers.authapi import AuthApiTrigger
from tests.emulators.forward_proxy import ForwardProxy
from tests.emulators.oauth2_server import OAuth2Server

USER, PASSWORD = "proxyuser", "proxy-pass-s3cr3t-0123"


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy(credentials=(USER, PASSWORD)) as server:
        yield server


@pytest.fixture
def api() -> Iterator[OAuth2Server]:
    with OAuth2Server() as server:
        yield server


def define(set_connection, conn_id: str, api: OAuth2Server, proxy: ForwardProxy, password: str = PASSWORD) -> None:
    set_connection(
        conn_id,
        conn_type="authapi_oauth2",
        host=api.url,
        login=api.client_id,
        password=api.client_secret,
        extra={
            "login_url": "/token",
            "scopes": "read",
            "egress_url": proxy.url,
            "egress_username": USER,
            "egress_password": password,
        },
    )


def fire(conn_id: str) -> object:
    trigger = AuthApiTrigger(**ApiCall(conn_id, "/api/whoami").to_dict())

    async def first():
        async for event in trigger.run():
            return event

    return asyncio.run(first())


def test_the_trigger_goes_through_the_proxy(airflow_db, set_connection, api, proxy):
    define(set_connection, "proxied_trigger", api, proxy)
    event = fire("proxied_trigger")
    assert event.payload["status"] == "success", event.payload
    assert event.payload["result"]["subject"] == api.client_id
    assert proxy.targets() == [f"{api.url}/token", f"{api.url}/api/whoami"]
    assert all(seen.proxy_credentials == (USER, PASSWORD) for seen in proxy.seen)


def test_the_hook_goes_through_the_proxy(airflow_db, set_connection, api, proxy):
    define(set_connection, "proxied_hook", api, proxy)
    assert AuthApiHook("proxied_hook").request("GET", "/api/whoami").status_code == 200
    assert proxy.targets() == [f"{api.url}/token", f"{api.url}/api/whoami"]


def test_a_407_in_the_triggerer_names_the_field_and_no_password(airflow_db, set_connection, api, proxy, caplog):
    define(set_connection, "proxied_refused", api, proxy, password="wrong-proxy-pass-0123")
    event = fire("proxied_refused")
    assert event.payload["status"] == "error"
    assert "407 Proxy Authentication Required" in event.payload["message"]
    assert "egress_password" in event.payload["message"]
    for text in (event.payload["message"], repr(event), caplog.text):
        assert "wrong-proxy-pass-0123" not in text and PASSWORD not in text
