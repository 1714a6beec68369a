"""The API budget through the hook in Airflow (`budget_requests`, `budget_period`): requests of many threads wait
for their send times from the ledger Variable and the app-wide limit holds; without it the same load is refused.
The deployment-wide proof (32 tasks, the triggerer) is tests/deployment/test_teams_and_budget.py."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.compat import TASKS_LIST_VARIABLES
from airflow_provider_authapi.hooks.authapi import AuthApiHook
from tests.emulators.app_rate_limit import TOKEN, AppRateLimitEmulator


def load(hook: AuthApiHook, calls: int = 40) -> list[int]:
    def call(n: int) -> int:
        return hook.request("GET", "/api/items", params={"page": 1}).status_code

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(call, range(calls)))


def test_with_a_budget_the_limit_holds_and_is_used(airflow_db, set_connection) -> None:
    from airflow.models.variable import Variable

    with AppRateLimitEmulator(limit=40, period=4.0) as server:
        set_connection("budget_hook", conn_type="authapi_bearer", host=server.url, password=TOKEN,
                       extra={"budget_requests": 40, "budget_period": 4})  # fmt: skip
        hook = AuthApiHook("budget_hook")
        started = time.monotonic()
        statuses = load(hook, 80)
        elapsed = time.monotonic() - started
    assert statuses == [200] * 80 and server.refused == 0 and server.max_in_window <= 40
    assert elapsed >= 79 * 4.0 / 38 - 0.5  # 80 calls 4 / (0.95 x 40) s apart: the budget was waited for
    if TASKS_LIST_VARIABLES:  # the bakery's turns are quick; the lease's take its delay D each (see the docs)
        assert server.throughput() >= 0.9 * 40 * 0.9  # most of the limit used, on a loaded machine too
    ledger = Variable.get("authapi_budget:budget_hook:ledger")
    assert '"next"' in ledger and TOKEN not in ledger
    assert hook.budget is not None and hook.budget.turns >= 2  # several send times reserved per turn


def test_without_a_budget_the_same_load_is_refused(airflow_db, set_connection) -> None:
    with AppRateLimitEmulator(limit=20, period=10.0) as server:
        set_connection("no_budget_hook", conn_type="authapi_bearer", host=server.url, password=TOKEN)
        statuses = load(AuthApiHook("no_budget_hook"))
    assert statuses.count(429) == 20 and server.refused == 20


BAD = [
    ({"budget_requests": 0}, "budget_requests"),
    ({"budget_requests": 2.5}, "budget_requests"),
    ({"budget_requests": 5, "budget_period": -1}, "budget_period"),
]


@pytest.mark.parametrize(("extra", "field"), BAD)
def test_a_bad_budget_names_its_field(airflow_db, set_connection, extra, field) -> None:
    set_connection("bad_budget", conn_type="authapi_bearer", host="http://127.0.0.1:9", password=TOKEN, extra=extra)
    with pytest.raises(ConfigError, match=field):
        _ = AuthApiHook("bad_budget").config
