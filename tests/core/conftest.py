"""Fixtures for the Airflow-free core: local token servers, and one way to call them sync or async."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_authapi.auth import AuthConfig, build_auth, client_kwargs
from airflow_provider_authapi.auth.retry import RetryPolicy
from airflow_provider_authapi.auth.tokens import TokenManager
from tests.emulators.oauth2_server import LoginServer, OAuth2Server

FAST = RetryPolicy(attempts=3, max_total=10, backoff=0.01, max_backoff=0.05, max_retry_after=2)


@pytest.fixture
def oauth() -> Iterator[OAuth2Server]:
    with OAuth2Server() as server:
        yield server


@pytest.fixture
def login() -> Iterator[LoginServer]:
    with LoginServer() as server:
        yield server


@pytest.fixture(params=["sync", "async"])
def mode(request) -> str:
    return request.param


def call(
    mode: str, config: AuthConfig, manager: TokenManager | None, path: str, times: int = 1
) -> list[httpx.Response]:
    """GET `path` `times` times through one client (sync or async) with the config's auth."""
    auth = build_auth(config, manager)
    if mode == "sync":
        with httpx.Client(**client_kwargs(config.common), auth=auth) as client:
            return [client.get(path) for _ in range(times)]

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(**client_kwargs(config.common), auth=auth) as client:
            return [await client.get(path) for _ in range(times)]

    return asyncio.run(run())
