from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.emulators.paged_api import PagedApiEmulator

TOKEN = "s3cr3t-bearer-token-value"


@pytest.fixture(scope="module")
def _server() -> Iterator[PagedApiEmulator]:
    with PagedApiEmulator(total=25, token=TOKEN) as emulator:
        yield emulator


@pytest.fixture
def api(_server: PagedApiEmulator) -> PagedApiEmulator:
    """The module's server, reset: 25 records, no calls counted, fresh per-key counters."""
    with _server.lock:
        _server.total = 25
        _server.calls.clear()
        _server.hits.clear()
        _server.first_429_at.clear()
    return _server


@pytest.fixture
def client(api: PagedApiEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c
