"""`response_actions` rules through Airflow: AuthApiOperator in the worker and deferred to AuthApiTrigger
(`dag.test()` runs the trigger inline), on an OAuth 2.0 connection, against `RulesApi` on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.hooks.authapi import reset_token_managers
from tests.airflow.test_operators import stored_text
from tests.conftest import run_dag
from tests.emulators.oauth2_server import OAuth2Server
from tests.emulators.rules_api import RulesApi
from tests.stored_tokens import stored_token

RATE_LIMITED = (200, {"error": "rate limited"}, {})
ITEMS = (200, {"items": [{"id": 1}, {"id": 2}]}, {})


@pytest.fixture
def rules_api(airflow_db, set_connection) -> Iterator[tuple[RulesApi, OAuth2Server]]:
    reset_token_managers()
    with OAuth2Server() as oauth, RulesApi() as api:
        set_connection(
            "rules_oauth",
            conn_type="authapi_oauth2",
            host=api.url,
            login=oauth.client_id,
            password=oauth.client_secret,
            extra={"login_url": f"{oauth.url}/token", "grant_type": "client_credentials", "scopes": "read"},
        )
        yield api, oauth
    reset_token_managers()


def test_rules_retry_refresh_and_fail_in_the_worker_and_in_the_triggerer(rules_api, monkeypatch):
    from airflow_provider_authapi.triggers.authapi import AuthApiTrigger

    api, oauth = rules_api
    for suffix in ("sync", "deferred"):
        api.script(f"limited_{suffix}", RATE_LIMITED, RATE_LIMITED, ITEMS)
        api.script(f"denied_{suffix}", (200, {"status": "denied", "you_sent": ""}, {}))
    fired: list[dict] = []
    original_run = AuthApiTrigger.run

    async def spy_run(self):
        reset_token_managers()  # a triggerer is another process: only the Variable store's token
        _, kwargs = self.serialize()
        async for event in original_run(self):
            fired.append({"kwargs": kwargs, "payload": event.payload})
            yield event

    monkeypatch.setattr(AuthApiTrigger, "run", spy_run)
    result = run_dag("op_response_rules")
    states = result.task_states()
    assert states == {
        **{f"{task}_{suffix}": "success" for task in ("retry", "refresh") for suffix in ("sync", "deferred")},
        "fail_sync": "failed",
        "fail_deferred": "failed",
    }
    for suffix in ("sync", "deferred"):
        assert result.xcom(f"retry_{suffix}") == [{"id": 1}, {"id": 2}]
        assert api.hits_of(f"limited_{suffix}") == 3  # two "rate limited" answers retried, then the records
        assert result.xcom(f"refresh_{suffix}") == [1, 2, 3]
        first, second = api.tokens_seen[suffix]  # the expired token, then a renewed one: sent twice, no more
        assert first != second
        assert api.hits_of(f"denied_{suffix}") == 1  # fail is not retried
    # one token for the run, plus exactly one renewal per refresh rule that matched (worker and triggerer)
    assert oauth.token_requests == 3
    # the rules went to the triggerer as plain data, the predicate by its import path
    by_path = {f["kwargs"]["request"]["url"]: f for f in fired}
    assert set(by_path) == {"/scripted/limited_deferred", "/expiring/deferred", "/scripted/denied_deferred"}
    assert by_path["/scripted/limited_deferred"]["kwargs"]["response_actions"] == [
        {"status": 200, "predicate": "authapi_test_dag_op_response_rules.rate_limited", "action": "retry"}
    ]
    failed = by_path["/scripted/denied_deferred"]["payload"]
    assert failed["status"] == "error" and failed["error"] == "RuleFailError"
    assert failed["message"].startswith(
        "GET /scripted/denied_deferred answered 200, matching response_actions[0] (status == 'denied': fail): "
    )
    assert '"you_sent": "Bearer ***"' in failed["message"]
    live = stored_token("rules_oauth")["access_token"]
    for secret in (live, oauth.client_secret, *api.tokens_seen["sync"], *api.tokens_seen["deferred"]):
        assert all(secret not in json.dumps(f) for f in fired)
        assert not [key for key, text in stored_text(result).items() if secret in text]


def test_a_deferrable_operator_refuses_a_rule_predicate_that_is_not_an_import_path():
    from airflow_provider_authapi.operators import AuthApiOperator

    rules = [{"status": 200, "predicate": lambda response: True, "action": "retry"}]
    with pytest.raises(ConfigError, match=r"response_actions'?: \[0\]: deferrable=True .* import path string"):
        AuthApiOperator(task_id="t", endpoint="/x", response_actions=rules, deferrable=True)
    AuthApiOperator(task_id="t", endpoint="/x", response_actions=rules, deferrable=False)
    with pytest.raises(ConfigError, match=r"response_actions'?: \[1\]: action 'explode' is not one of"):
        AuthApiOperator(task_id="t", endpoint="/x", response_actions=[rules[0], {"status": 500, "action": "explode"}])
