"""Fixtures shared by the Airflow-level tests: emulators started once per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.emulators.aspire import AspireEmulator
from tests.emulators.oauth2_server import OAuth2Server


@pytest.fixture(scope="module")
def aspire() -> Iterator[AspireEmulator]:
    with AspireEmulator() as api:
        yield api


@pytest.fixture(scope="module")
def oauth() -> Iterator[OAuth2Server]:
    with OAuth2Server() as server:
        yield server
