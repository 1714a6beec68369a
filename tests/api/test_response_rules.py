"""`response_actions` rules (api/rules.py) against APIs on 127.0.0.1: every action, the order of the rules, status,
body content, path and predicate matches, sync and async alike, and their trigger form (`ApiCall`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_authapi.api.fetch import Fetcher
from airflow_provider_authapi.api.pagination import OffsetPaginator, RequestSpec
from airflow_provider_authapi.api.rules import (
    ResponseRuleError,
    ResponseRules,
    RuleFailError,
    RuleRefreshError,
    RuleRetryError,
    TokenRefresh,
)
from airflow_provider_authapi.api.sending import send
from airflow_provider_authapi.auth import AuthConfig, CommonConfig, OAuth2Config, build_auth, build_token_manager
from airflow_provider_authapi.auth.errors import ApiHTTPError, ApiResponseError, ConfigError
from airflow_provider_authapi.auth.retry import RetryPolicy
from airflow_provider_authapi.hooks.authapi import ApiCall
from tests.emulators.base import Handler, Request, Response
from tests.emulators.oauth2_server import OAuth2Server
from tests.emulators.paged_api import PagedApiEmulator
from tests.emulators.rules_api import RulesApi

TOKEN = "rules-bearer-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FAST = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02)
RATE_LIMITED = (200, {"error": "rate limited"}, {})
ITEMS = (200, {"items": [{"id": 1}, {"id": 2}]}, {})
MODES = ["sync", "async"]


def is_maintenance(response: httpx.Response) -> bool:
    """A predicate the rules import by path."""
    return response.headers.get("x-maintenance") == "1"


@pytest.fixture(scope="module")
def _server() -> Iterator[RulesApi]:
    with RulesApi(total=50, token=TOKEN) as emulator:
        yield emulator


@pytest.fixture
def api(_server: RulesApi) -> RulesApi:
    """The module's server, its scripts and counters cleared."""
    _server.reset()
    return _server


def run(api: PagedApiEmulator, fetcher: Fetcher, mode: str, **client: Any) -> Any:
    """`fetcher.run` on a sync client, or `fetcher.arun` on an async one."""
    client = {"base_url": api.url, "headers": AUTH, **client}
    if mode == "sync":
        with httpx.Client(**client) as sync_client:
            return fetcher.run(sync_client)

    async def main() -> Any:
        async with httpx.AsyncClient(**client) as async_client:
            return await fetcher.arun(async_client)

    return asyncio.run(main())


def fetcher(url: str, rules: Any, **kwargs: Any) -> Fetcher:
    return Fetcher(RequestSpec(kwargs.pop("method", "GET"), url), response_actions=rules, retry=FAST, **kwargs)


# -- retry ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_200_whose_body_says_rate_limited_is_retried_by_a_content_rule(api, mode):
    url = api.script("limited", RATE_LIMITED, RATE_LIMITED, ITEMS)
    rules = [{"status": 200, "content": "rate limited", "action": "retry"}]
    assert run(api, fetcher(url, rules, response_filter="items"), mode) == [{"id": 1}, {"id": 2}]
    assert api.hits_of("limited") == 3
    # without the rule, the same answer is an error in disguise: the task fails on the first one
    url = api.script("unruled", RATE_LIMITED, ITEMS)
    with pytest.raises(ApiResponseError, match="answered 200 with an error: rate limited"):
        run(api, fetcher(url, None, response_filter="items"), mode)
    assert api.hits_of("unruled") == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_retry_rule_still_matching_after_the_last_attempt_is_a_typed_error_without_the_token(api, mode):
    url = api.script("always", (200, {"error": "rate limited", "you_sent": ""}, {}))
    rules = [{"content": "rate limited", "action": "retry"}]
    with pytest.raises(RuleRetryError) as caught:
        run(api, fetcher(url, rules), mode)
    assert api.hits_of("always") == FAST.attempts
    message = str(caught.value)
    assert message.startswith(
        "GET /scripted/always answered 200, matching response_actions[0] (content 'rate limited': retry) after 3 "
        "attempts: "
    )
    assert "Bearer ***" in message and TOKEN not in message
    assert isinstance(caught.value, ApiResponseError) and caught.value.status_code == 200


def test_a_retry_rule_waits_the_retry_after_it_is_given_and_refuses_one_too_long(api):
    url = api.script("after", (200, {"error": "rate limited"}, {"Retry-After": "7"}), ITEMS)
    rules = ResponseRules.of([{"content": "rate limited", "action": "retry"}])
    slept: list[float] = []
    with httpx.Client(base_url=api.url, headers=AUTH) as client:
        response = send(client, RequestSpec("GET", url), RetryPolicy(backoff=0.01), rules=rules, sleep=slept.append)
        assert response.json() == ITEMS[1] and slept == [7.0]  # the server's wait, not the 0.01 s backoff
        # a Retry-After beyond max_retry_after is not waited out: the first answer ends the request
        url = api.script("too_long", (200, {"error": "rate limited"}, {"Retry-After": "600"}), ITEMS)
        with pytest.raises(RuleRetryError, match=r"after 1 attempt \(Retry-After 600 s exceeds max_retry_after 5 s\)"):
            send(client, RequestSpec("GET", url), RetryPolicy(max_retry_after=5), rules=rules, sleep=slept.append)
    assert api.hits_of("too_long") == 1 and slept == [7.0]


@pytest.mark.parametrize("mode", MODES)
def test_a_retry_rule_retries_a_post_which_a_503_alone_does_not(api, mode):
    url = api.script("post", (503, {"error": "busy"}, {}), ITEMS)
    with pytest.raises(ApiHTTPError, match="POST /scripted/post answered 503"):
        run(api, fetcher(url, None, method="POST"), mode)
    assert api.hits_of("post") == 1  # a POST may have been acted on: not repeated
    url = api.script("post_rule", (503, {"error": "busy"}, {}), ITEMS)
    rules = [{"status": 503, "content": "busy", "action": "retry"}]  # the API says a busy 503 did nothing
    assert run(api, fetcher(url, rules, method="POST"), mode) == ITEMS[1]
    assert api.hits_of("post_rule") == 2


# -- order and conditions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_rules_are_checked_in_order_and_the_first_match_wins(api, mode):
    body = (200, {"error": {"code": "GONE"}}, {})
    fail_first = [{"path": "error.code", "value": "GONE", "action": "fail"}, {"status": 200, "action": "empty"}]
    with pytest.raises(RuleFailError, match=r"matching response_actions\[0\] \(error.code == 'GONE': fail\)"):
        run(api, fetcher(api.script("a", body), fail_first), mode)
    assert run(api, fetcher(api.script("b", body), list(reversed(fail_first))), mode) is None  # empty, unpaginated


@pytest.mark.parametrize("mode", MODES)
def test_every_condition_of_a_rule_must_hold(api, mode):
    rules = [{"status": 404, "content": "no such id", "action": "empty"}]
    with pytest.raises(ApiHTTPError, match="answered 404"):  # a 404 saying something else is still an error
        run(api, fetcher(api.script("other", (404, {"error": "no route"}, {})), rules), mode)
    assert run(api, fetcher(api.script("gone", (404, {"error": "no such id"}, {})), rules), mode) is None


@pytest.mark.parametrize("mode", MODES)
def test_a_path_rule_compares_json_values_exactly(api, mode):
    rules = [{"path": "meta.partial", "value": True, "action": "fail"}]
    one = (200, {"meta": {"partial": 1}, "items": [{"id": 1}]}, {})
    assert run(api, fetcher(api.script("one", one), rules, response_filter="items"), mode) == [{"id": 1}]
    with pytest.raises(RuleFailError, match=r"meta\.partial == True"):
        run(api, fetcher(api.script("true", (200, {"meta": {"partial": True}}, {})), rules), mode)
    # a body that is not JSON has no path: the rule does not match, the body is used as it is
    assert run(api, fetcher(api.script("text", (200, b"partial: true", {})), rules), mode) == "partial: true"


@pytest.mark.parametrize("mode", MODES)
def test_a_predicate_rule_by_callable_or_by_import_path(api, mode):
    maintenance = (503, {"error": "maintenance"}, {"X-Maintenance": "1"})
    by_callable = [{"predicate": lambda response: response.headers.get("x-maintenance") == "1", "action": "empty"}]
    assert run(api, fetcher(api.script("m1", maintenance), by_callable), mode) is None
    assert api.hits_of("m1") == 1  # the rule decides before the 503's retries
    by_path = [{"status": 503, "predicate": f"{__name__}.is_maintenance", "action": "empty"}]
    assert run(api, fetcher(api.script("m2", maintenance), by_path), mode) is None
    assert ResponseRules.of(by_path).rules[0].predicate is is_maintenance


# -- page actions ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_skip_leaves_a_page_out_and_ignore_ends_the_run_like_empty(api, mode):
    def offset(status: int, rules: Any, **kwargs: Any) -> list[int]:
        spec = RequestSpec("GET", f"/offset?fail_at=20&fail_status={status}")
        paged = Fetcher(spec, paginator=OffsetPaginator(limit=10), response_filter="items", response_actions=rules)
        return [record["id"] for record in run(api, paged, mode)]

    skip = [{"status": 409, "content": "conflict", "action": "skip"}]
    assert offset(409, skip) == [i for i in range(1, 51) if not 21 <= i <= 30]
    for action in ("ignore", "empty"):
        assert offset(409, [{"status": [404, 409], "action": action}]) == list(range(1, 21)), action


def test_the_rules_of_concurrent_pages_are_the_same(api):
    spec = RequestSpec("GET", "/offset?fail_at=20&fail_status=409")
    rules = [{"path": "error", "value": "conflict", "action": "skip"}]
    paged = Fetcher(
        spec, paginator=OffsetPaginator(limit=10), response_filter="items", response_actions=rules, concurrency=4
    )
    assert [r["id"] for r in run(api, paged, "async")] == [i for i in range(1, 51) if not 21 <= i <= 30]


# -- fail -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_fail_names_the_rule_with_an_excerpt_scrubbed_of_every_secret(api, mode):
    secret = "connection-secret-value-42"
    body = (200, {"status": "denied", "you_sent": "", "echo": secret, "client_secret": "abc-unknown-secret"}, {})
    rules = [{"status": 200, "path": "status", "value": "denied", "action": "fail"}]
    with pytest.raises(RuleFailError) as caught:
        run(api, fetcher(api.script("denied", body), rules, secrets=[secret]), mode)
    message = str(caught.value)
    assert message.startswith(
        "GET /scripted/denied answered 200, matching response_actions[0] (status 200, status == 'denied': fail): "
    )
    assert "denied" in caught.value.excerpt
    for value in (TOKEN, secret, "abc-unknown-secret"):
        assert value not in message
    assert isinstance(caught.value, ResponseRuleError) and isinstance(caught.value, ApiResponseError)


# -- refresh --------------------------------------------------------------------------------------------------------


class BodyExpiryApi(PagedApiEmulator):
    """The paged API accepting only live tokens of `oauth`, saying so of a dead one in a 200 body
    (`{"error": {"code": "TOKEN_EXPIRED"}}`) rather than a 401; after `revoke_after` answers it revokes every
    token (as a server does when a token dies mid-run). `always_expired`: every token is called expired."""

    def __init__(self, oauth: OAuth2Server, revoke_after: int = 0, always_expired: bool = False, **kwargs: Any):
        self.oauth, self.revoke_after, self.always_expired = oauth, revoke_after, always_expired
        self.answers = self.expired = 0
        super().__init__(**kwargs)

    def _guarded(self, handler: Handler) -> Handler:
        inner = super()._guarded(handler)

        def guarded(request: Request) -> Response:
            with self.lock:
                if self.always_expired or self.oauth.access.check(request.bearer()) is None:
                    self.expired += 1
                    return Response.json({"error": {"code": "TOKEN_EXPIRED", "token": request.bearer()}})
                self.answers += 1
                if self.answers == self.revoke_after:
                    self.oauth.access.revoke_all()
            return inner(request)

        return guarded


@pytest.fixture
def oauth() -> Iterator[OAuth2Server]:
    with OAuth2Server() as server:
        yield server


def oauth_run(oauth: OAuth2Server, api: BodyExpiryApi, paged: Fetcher, mode: str, manager: Any) -> Any:
    config = oauth_config(oauth, api)
    return run(api, paged, mode, headers={}, auth=build_auth(config, manager))


def oauth_config(oauth: OAuth2Server, api: PagedApiEmulator) -> AuthConfig:
    return AuthConfig(
        OAuth2Config(token_url=f"{oauth.url}/token", client_id=oauth.client_id, client_secret=oauth.client_secret),
        CommonConfig(base_url=api.url),
    )


REFRESH = [{"path": "error.code", "value": "TOKEN_EXPIRED", "action": "refresh"}]


@pytest.mark.parametrize("mode", MODES)
def test_refresh_renews_the_token_once_and_sends_the_request_again(oauth, mode):
    with BodyExpiryApi(oauth, total=25) as api:
        manager = build_token_manager(oauth_config(oauth, api))
        manager.get_token()
        oauth.access.revoke_all()  # the token the manager holds is dead, and only the API's body says so
        paged = Fetcher(RequestSpec("GET", "/offset"), response_filter="items", response_actions=REFRESH,
                        token_manager=manager)  # fmt: skip
        records = oauth_run(oauth, api, paged, mode, manager)
    assert [r["id"] for r in records] == list(range(1, 11))
    assert api.expired == 1 and oauth.token_requests == 2  # the first token, and exactly one renewal


def test_refresh_for_every_concurrent_page_that_met_the_dead_token_costs_one_token_request(oauth):
    # the token dies as page 1 is served: the 8 requests sent after it all meet it
    with BodyExpiryApi(oauth, revoke_after=1, total=100, latency=0.05) as api:
        manager = build_token_manager(oauth_config(oauth, api))
        paged = Fetcher(RequestSpec("GET", "/offset"), paginator=OffsetPaginator(limit=10), response_filter="items",
                        response_actions=REFRESH, token_manager=manager, concurrency=8)  # fmt: skip
        records = oauth_run(oauth, api, paged, "async", manager)
    assert [r["id"] for r in records] == list(range(1, 101))
    assert api.expired >= 2  # several requests in flight met the dead token...
    assert oauth.token_requests == 2  # ...and one renewal served them all


@pytest.mark.parametrize("mode", MODES)
def test_an_answer_to_a_token_already_replaced_renews_nothing(oauth, mode):
    """Two requests sent with the same token, their answers read one after the other: one renewal, not two."""
    with BodyExpiryApi(oauth) as api:
        manager = build_token_manager(oauth_config(oauth, api))
        old = manager.get_token()
        oauth.access.revoke_all()
        with httpx.Client(base_url=api.url, auth=build_auth(oauth_config(oauth, api), manager)) as client:
            first, second = client.get("/offset"), client.get("/offset")
        assert first.json()["error"]["code"] == second.json()["error"]["code"] == "TOKEN_EXPIRED"
        refresh = TokenRefresh(manager)
        for response in (first, second):
            if mode == "sync":
                refresh(response)
            else:
                asyncio.run(refresh.arefresh(response))
        assert oauth.token_requests == 2 and manager.get_token().access_token != old.access_token


@pytest.mark.parametrize("mode", MODES)
def test_a_refresh_rule_matching_again_with_the_new_token_is_a_typed_error_without_secrets(oauth, mode):
    with BodyExpiryApi(oauth, always_expired=True) as api:
        manager = build_token_manager(oauth_config(oauth, api))
        paged = Fetcher(RequestSpec("GET", "/offset"), response_actions=REFRESH, token_manager=manager)
        with pytest.raises(RuleRefreshError) as caught:
            oauth_run(oauth, api, paged, mode, manager)
        live = manager.get_token().access_token
    assert api.expired == 2 and oauth.token_requests == 2  # sent twice, renewed once, no loop
    message = str(caught.value)
    assert message.startswith("GET /offset answered 200, matching response_actions[0] (error.code == 'TOKEN_EXPIRED"
                              "': refresh) even with a new token: ")  # fmt: skip
    for secret in (live, oauth.client_secret):
        assert secret not in message


def test_a_refresh_rule_needs_a_connection_with_a_token():
    with pytest.raises(ConfigError, match=r"response_actions.*refresh\) renews the token, but the connection has"):
        Fetcher(RequestSpec("GET", "/x"), response_actions=REFRESH)


# -- the forms, and their errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ([{"status": 200}], r"\[0\]: action None is not one of empty, skip, ignore, retry, refresh, fail"),
        ([{"status": 404, "action": "empty"}, {"action": "retry"}], r"\[1\]: the rule has no condition"),
        ([{"status_code": 404, "action": "empty"}], r"\[0\]: unknown key\(s\) \['status_code'\]"),
        ([{"status": 99, "action": "empty"}], r"\[0\]: status must be an HTTP status"),
        ([{"status": [404, "x"], "action": "empty"}], r"\[0\]: status must be an HTTP status"),
        ([{"content": "", "action": "empty"}], r"\[0\]: content must be a non-empty string"),
        ([{"path": "error.code", "action": "fail"}], r"\[0\]: path and value go together"),
        ([{"path": "a[", "value": 1, "action": "fail"}], r"\[0\]: cannot parse path 'a\['"),
        (
            [{"predicate": "no_such_module.check", "action": "fail"}],
            r"\[0\]: predicate 'no_such_module.check': module 'no_such_module' .* was not found",
        ),
        ([{"predicate": "nodots", "action": "fail"}], r"\[0\]: predicate 'nodots': 'nodots' is not an import path"),
        ([{"predicate": 3, "action": "fail"}], r"\[0\]: predicate must be a callable"),
        (["empty"], r"\[0\]: a rule is a dict"),
        ({"abc": "empty"}, r"\['abc'\]: 'abc' is not an HTTP status"),
        ("empty", r"give a list of rules or a mapping of statuses to actions, not str"),
    ],
)
def test_a_bad_rule_is_refused_naming_response_actions_and_the_rule(spec, problem):
    with pytest.raises(ConfigError, match=rf"^field 'response_actions': {problem}"):
        ApiCall("crm", "/x", response_actions=spec).validate()


def test_rules_travel_to_the_trigger_as_plain_data_and_come_back_the_same():
    rules = [
        {"status": [200, 202], "content": "rate limited", "action": "retry"},
        {"path": "error.code", "value": "TOKEN_EXPIRED", "action": "refresh"},
        {"predicate": f"{__name__}.is_maintenance", "action": "ignore"},
    ]
    kwargs = ApiCall("crm", "/x", response_actions=rules).to_dict()
    assert kwargs["response_actions"] == rules
    again = ApiCall.from_dict(kwargs)
    assert [rule.predicate for rule in again.response_actions][2] is is_maintenance
    assert again.to_dict() == kwargs
    # the mapping form goes as it always did (string keys), and comes back as status rules
    kwargs = ApiCall("crm", "/x", response_actions={404: "empty", 409: "skip"}).to_dict()
    assert kwargs["response_actions"] == {"404": "empty", "409": "skip"}
    assert [(r.status, r.action) for r in ApiCall.from_dict(kwargs).response_actions] == [((404,), "empty"),
                                                                                          ((409,), "skip")]  # fmt: skip
    assert ApiCall("crm", "/x").to_dict()["response_actions"] is None


def test_a_deferrable_task_takes_a_rule_predicate_only_as_an_import_path():
    as_function = [{"predicate": is_maintenance, "action": "fail"}]
    with pytest.raises(ConfigError, match=r"response_actions'?: \[0\]: deferrable=True .* import path string"):
        ApiCall("crm", "/x", response_actions=as_function).validate(deferrable=True)
    ApiCall("crm", "/x", response_actions=as_function).validate(deferrable=False)
    ApiCall("crm", "/x", response_actions=[{"predicate": f"{__name__}.is_maintenance", "action": "fail"}]).validate(
        deferrable=True
    )
