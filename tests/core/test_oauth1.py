"""OAuth 1.0a request signing (issue 26 item 3) in the Airflow-free core, against the NetSuite emulator on 127.0.0.1,
which checks every signature as NetSuite does with oauthlib's server-side functions: each request, sync and async,
carries its own HMAC-SHA256 signature over method, URL, query and form body (a JSON body is not signed), the realm
is the account ID, a nonce is good once and a timestamp for 5 minutes; a refusal is a typed error without any
secret, and the signature never goes to another origin."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import oauthlib.oauth1.rfc5849
import pytest

from airflow_provider_authapi.auth import (
    AuthConfig,
    CommonConfig,
    ConfigError,
    OAuth1Config,
    UnauthorizedError,
    build_auth,
    client_kwargs,
)
from airflow_provider_authapi.auth.client import OAuth1Auth, build_async_client, build_client
from airflow_provider_authapi.auth.config import config_secrets
from airflow_provider_authapi.auth.errors import CredentialOriginError
from tests.emulators.netsuite import CUSTOMERS_ROUTE, RESTLET_ROUTE, SUITEQL_ROUTE, NetSuiteEmulator
from tests.emulators.recorder import Recorder

WRONG_SECRET = "f" * 64


@pytest.fixture
def ns() -> Iterator[NetSuiteEmulator]:
    with NetSuiteEmulator(customers=25) as emulator:
        yield emulator


def ns_config(ns: NetSuiteEmulator, common: dict[str, Any] | None = None, **scheme: Any) -> AuthConfig:
    """The account's four credentials and its ID as the realm, the emulator as the API base URL."""
    given: dict[str, Any] = {
        "consumer_key": ns.consumer_key,
        "consumer_secret": ns.consumer_secret,
        "token_id": ns.token_id,
        "token_secret": ns.token_secret,
        "realm": ns.account_id,
        **scheme,
    }
    return AuthConfig(OAuth1Config(**given), CommonConfig(base_url=ns.url, **(common or {})))


def send(mode: str, config: AuthConfig, requests: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
    """Send `(method, url, httpx kwargs)` one after the other through one of the connection's clients."""
    if mode == "sync":
        with build_client(config) as client:
            return [client.request(method, url, **kwargs) for method, url, kwargs in requests]

    async def run() -> list[httpx.Response]:
        async with build_async_client(config) as client:
            return [await client.request(method, url, **kwargs) for method, url, kwargs in requests]

    return asyncio.run(run())


def get(url: str, **kwargs: Any) -> tuple[str, str, dict[str, Any]]:
    return "GET", url, kwargs


def resent(request: httpx.Request) -> dict[str, str]:
    """The signed request's headers for another body: its Authorization, not its Content-Length."""
    return {name: value for name, value in request.headers.items() if name != "content-length"}


def secrets_of(ns: NetSuiteEmulator) -> tuple[str, ...]:
    return ns.consumer_secret, ns.token_secret, ns.token_id


def test_every_request_carries_its_own_signature(ns, mode):
    pages = [get(CUSTOMERS_ROUTE, params={"limit": 10, "offset": offset}) for offset in (0, 10, 20)]
    answers = send(mode, ns_config(ns), [*pages, get(f"{CUSTOMERS_ROUTE}/{ns.customers[3]['id']}")])
    assert [a.status_code for a in answers] == [200] * 4 and ns.refusals == []
    assert [a.json()["count"] for a in answers[:3]] == [10, 10, 5]
    assert [a.json()["hasMore"] for a in answers[:3]] == [True, True, False]
    assert answers[0].json()["totalResults"] == 25 and answers[3].json()["entityId"] == "CUST00004"
    assert len({signed["oauth_nonce"] for signed in ns.accepted}) == 4  # a fresh nonce each, as NetSuite wants
    (signed, *_) = ns.accepted
    assert signed["realm"] == "1234567_SB1" and signed["oauth_signature_method"] == "HMAC-SHA256"
    assert (signed["oauth_consumer_key"], signed["oauth_token"]) == (ns.consumer_key, ns.token_id)
    header = answers[0].request.headers["authorization"]
    assert header.startswith('OAuth realm="1234567_SB1", ') and "oauth_body_hash" not in header
    assert not any(secret in header for secret in (ns.consumer_secret, ns.token_secret))


def test_query_parameters_and_a_form_body_are_signed(ns, mode):
    config = ns_config(ns, {"params": {"deploy": "1"}, "headers": {"X-Team": "finance"}})
    query = {"script": "customscript_export", "from": "2026-12-01 00:00", "tags": ["a b", "c+d"], "empty": ""}
    form = {"action": "export", "note": "50% of Q4 & more", "names": ["Åsa", "Zoë"]}
    got_query, got_form = send(
        mode,
        config,
        [get(RESTLET_ROUTE, params=query), ("POST", f"{RESTLET_ROUTE}?script=customscript_export", {"data": form})],
    )
    assert (got_query.status_code, got_form.status_code) == (200, 200), ns.refusals
    echoed = {**{k: v for k, v in query.items() if k != "tags"}, "tags": "c+d", "deploy": "1"}  # the last "tags"
    assert got_query.json()["query"] == echoed
    assert got_form.json()["body"] == {"action": "export", "note": "50% of Q4 & more", "names": "Zoë"}
    assert got_form.json()["query"] == {"script": "customscript_export", "deploy": "1"}  # the extra parameter too
    assert ns.refusals == []


@pytest.mark.parametrize(
    ("changed", "request_after"),
    [
        ("a query parameter", lambda r: r.url.copy_set_param("script", "customscript_other")),
        ("the path", lambda r: r.url.copy_with(path=CUSTOMERS_ROUTE)),
    ],
)
def test_a_request_changed_after_signing_is_refused(ns, changed, request_after):
    """What the signature covers: the emulator refuses the same signature on another URL or form body."""
    auth = OAuth1Auth(ns_config(ns).scheme)  # type: ignore[arg-type]
    request = httpx.Request("GET", f"{ns.url}{RESTLET_ROUTE}?script=customscript_export")
    auth.apply(request)
    moved = httpx.Request("GET", request_after(request), headers=request.headers)
    assert httpx.Client().send(moved).status_code == 401, changed
    posted = httpx.Request("POST", f"{ns.url}{RESTLET_ROUTE}", data={"amount": "10"})
    auth.apply(posted)
    forged = httpx.Request("POST", posted.url, headers=resent(posted), content=b"amount=1000")
    assert httpx.Client().send(forged).status_code == 401
    assert ns.refusals == ["signature does not match"] * 2


def test_a_json_body_is_not_part_of_the_signature(ns, mode):
    config = ns_config(ns, {"headers": {"Prefer": "transient"}})
    query = {"q": "SELECT id, entityid, email FROM customer ORDER BY id"}
    (rows,) = send(mode, config, [("POST", SUITEQL_ROUTE, {"params": {"limit": 5, "offset": 20}, "json": query})])
    assert rows.status_code == 200, ns.refusals
    assert [row["entityid"] for row in rows.json()["items"]] == [f"CUST{n:05d}" for n in range(21, 26)]
    assert "oauth_body_hash" not in rows.request.headers["authorization"]
    # The same signature on another JSON body is still good: NetSuite leaves the body out, and so does the client.
    auth = OAuth1Auth(config.scheme)  # type: ignore[arg-type]
    request = httpx.Request("POST", f"{ns.url}{RESTLET_ROUTE}", json={"amount": 10})
    auth.apply(request)
    other = httpx.Request("POST", request.url, headers=resent(request), content=b'{"amount": 1000}')
    assert httpx.Client().send(other).json()["body"] == {"amount": 1000}


def test_a_replayed_nonce_and_a_stale_timestamp_are_refused(ns, mode, monkeypatch):
    config = ns_config(ns)
    monkeypatch.setattr(oauthlib.oauth1.rfc5849, "generate_nonce", lambda: "same-nonce-every-time")
    (first,) = send(mode, config, [get(CUSTOMERS_ROUTE, params={"limit": 1})])
    assert first.status_code == 200
    with pytest.raises(UnauthorizedError) as replayed:
        send(mode, config, [get(CUSTOMERS_ROUTE, params={"limit": 2})])
    assert ns.refusals == ["nonce 'same-nonce-every-time' used before"]
    assert "Invalid login attempt" in str(replayed.value) and replayed.value.response.status_code == 401
    monkeypatch.undo()
    ns.advance(301)  # NetSuite's clock 5 minutes and a second ahead of the timestamps
    with pytest.raises(UnauthorizedError):
        send(mode, config, [get(CUSTOMERS_ROUTE)])
    assert ns.refusals[-1].startswith("timestamp ")
    ns.advance(-301)
    assert send(mode, config, [get(CUSTOMERS_ROUTE)])[0].status_code == 200


@pytest.mark.parametrize(
    ("wrong", "refusal"),
    [
        ({"token_secret": WRONG_SECRET}, "signature does not match"),
        ({"consumer_secret": WRONG_SECRET}, "signature does not match"),
        ({"realm": "1234567-sb1"}, "realm '1234567-sb1', not the account id"),  # the host's spelling, not the ID
        ({"signature_method": "HMAC-SHA1"}, "signature method 'HMAC-SHA1'"),  # refused since 2023.1
    ],
    ids=["token secret", "consumer secret", "realm", "HMAC-SHA1"],
)
def test_a_refused_signature_is_a_typed_error_without_any_secret(ns, mode, wrong, refusal):
    config = ns_config(ns, **wrong)
    with pytest.raises(UnauthorizedError) as caught:
        send(mode, config, [get(CUSTOMERS_ROUTE, params={"limit": 5})])
    message = str(caught.value)
    assert ns.refusals == [refusal] and caught.value.response.status_code == 401
    assert message.startswith(f"GET {ns.url}{CUSTOMERS_ROUTE} answered 401 to its OAuth 1.0a signature"), message
    assert "token ID and secret" in message and "Invalid login attempt" in message
    assert "limit=5" not in message  # no query: it may carry a credential
    for secret in (*secrets_of(ns), *config_secrets(config)):
        assert secret not in message


def test_hmac_sha256_is_the_default_and_other_methods_are_refused_by_the_config(ns):
    assert OAuth1Config("ck", "cs", "tid", "ts").signature_method == "HMAC-SHA256"
    for method in ("PLAINTEXT", "RSA-SHA256", "hmac-sha256"):
        with pytest.raises(ConfigError) as caught:
            ns_config(ns, signature_method=method)
        assert caught.value.field == "signature_method"


def test_the_signature_never_goes_to_another_origin(mode):
    with Recorder() as api, Recorder() as other:
        config = AuthConfig(OAuth1Config("ck-0123", "cs-0123456789", "tid-0123456789", "ts-0123456789", "1234567"),
                            CommonConfig(base_url=api.url))  # fmt: skip
        with pytest.raises(CredentialOriginError) as refused:
            send(mode, config, [get(f"{other.url}/elsewhere?q=1")])
        assert other.seen == [] and refused.value.origin == other.url
        api.redirect_to = f"{other.url}/landing"
        (landed,) = send(mode, config, [get("/redirect", follow_redirects=True)])
        assert landed.status_code == 200 and [r.path for r in other.seen] == ["/landing"]
        assert "authorization" not in other.seen[0].headers
        assert api.seen[0].header("authorization", "").startswith('OAuth realm="1234567"')


def test_no_secret_in_repr_and_config_errors_name_the_field(ns):
    config = ns_config(ns)
    for shown in (repr(config), repr(config.scheme), repr(build_auth(config).inner), repr(OAuth1Auth(config.scheme))):
        assert not any(secret in shown for secret in secrets_of(ns)), shown
    assert set(secrets_of(ns)) <= set(config_secrets(config))
    assert httpx.Client(**client_kwargs(config.common)).base_url == httpx.URL(ns.url)
    for missing in ("consumer_key", "consumer_secret", "token_id", "token_secret"):
        with pytest.raises(ConfigError) as caught:
            ns_config(ns, **{missing: " "})
        assert caught.value.field == missing and "required" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        ns_config(ns, token_secret=f"{ns.token_secret}\n{ns.token_secret}")  # a line break inside: unsendable
    assert caught.value.field == "token_secret" and ns.token_secret not in str(caught.value)
    with pytest.raises(ConfigError, match="double quote"):
        ns_config(ns, realm='1234567", oauth_token="x')


def test_without_oauthlib_the_error_names_the_extra_to_install(ns, monkeypatch):
    monkeypatch.setitem(sys.modules, "oauthlib", None)  # `from oauthlib import oauth1` raises ImportError
    with pytest.raises(ConfigError) as caught:
        ns_config(ns)
    assert caught.value.field == "signature_method"
    assert "pip install 'airflow-provider-authapi[oauth1]'" in str(caught.value)
