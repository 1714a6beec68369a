"""Credentials stay at their origin (issue 22): two real servers on 127.0.0.1, two ports, two origins.

For every scheme, sync and async, a request for the other origin through the connection's client (directly, as a
paginator's next link) is refused before a byte is sent, and the other server sees nothing; a redirect there
arrives without any credential; `allowed_origins` lets the credentials through; a request with `NO_CREDENTIALS`
carries none. Then the values HTTP cannot carry in a header: trimmed, or refused naming the field, never quoted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from airflow_provider_authapi.api.fetch import Fetcher
from airflow_provider_authapi.api.pagination import RequestSpec
from airflow_provider_authapi.auth.client import NO_CREDENTIALS, build_async_client, build_client
from airflow_provider_authapi.auth.config import (
    ApiKeyConfig,
    AuthConfig,
    BasicAuthConfig,
    BearerAuthConfig,
    CommonConfig,
    NoAuthConfig,
    OAuth2Config,
    SignatureConfig,
    TokenLoginConfig,
    TokenPlacement,
    origin,
)
from airflow_provider_authapi.auth.errors import ApiTransportError, ConfigError, CredentialOriginError
from airflow_provider_authapi.auth.tokens import MemoryTokenStore
from tests.core.conftest import FAST
from tests.emulators.base import Request, Response
from tests.emulators.recorder import (
    BEARER,
    CLIENT_SECRET,
    HEADER_SECRET,
    JAR,
    KEY,
    PARAM_SECRET,
    PASSWORD,
    SECRETS,
    SIGNATURE_SECRET,
    Recorder,
    basic_decoded,
    leaks,
)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Recorder, Recorder]]:
    with Recorder() as api, Recorder() as other:
        yield api, other


@pytest.fixture
def api_other(servers) -> tuple[Recorder, Recorder]:
    for server in servers:
        server.reset()
    return servers


def scheme_config(name: str, api: Recorder) -> AuthConfig:
    """The connection of scheme `name` on `api`'s origin."""
    common = CommonConfig(base_url=api.url)
    schemes: dict[str, Any] = {
        "bearer": BearerAuthConfig(BEARER),
        "apikey_header": ApiKeyConfig(KEY, name="X-API-Key"),
        "apikey_query": ApiKeyConfig(KEY, name="api_key", location="query"),
        "basic": BasicAuthConfig("user", PASSWORD),
        "digest": BasicAuthConfig("user", PASSWORD, "digest"),
        "oauth2": OAuth2Config(f"{api.url}/token", client_id="client", client_secret=CLIENT_SECRET),
        "session": TokenLoginConfig(
            f"{api.url}/login",
            username="user",
            password=PASSWORD,
            credential_source="cookie",
            credential_name="B1SESSION",
            carry_cookies=("ROUTEID",),
            placement=TokenPlacement(location="cookie", cookie_name="B1SESSION"),
        ),
        "extras": NoAuthConfig(),
    }
    if name == "extras":
        common = replace(
            common,
            headers={"X-Secret-Header": HEADER_SECRET},
            params={"secret_param": PARAM_SECRET},
            signature=SignatureConfig("X-Signature", SIGNATURE_SECRET),
        )
    return AuthConfig(schemes[name], common)


SCHEMES = ["bearer", "apikey_header", "apikey_query", "basic", "digest", "oauth2", "session", "extras"]


def allowing(config: AuthConfig, other: Recorder) -> AuthConfig:
    return replace(config, common=replace(config.common, allowed_origins=(other.url,)))


def through_client(mode: str, config: AuthConfig, use: Callable[[Any], Any], **httpx_kwargs: Any) -> Any:
    """`use(client)` with the config's client (sync), or `await use(client)` with its async client."""
    from airflow_provider_authapi.auth.client import build_auth, build_token_manager

    manager = build_token_manager(config, MemoryTokenStore(), retry=FAST)
    auth = build_auth(config, manager)
    if mode == "sync":
        with build_client(config, auth, **httpx_kwargs) as client:
            return use(client)

    async def run() -> Any:
        async with build_async_client(config, auth, **httpx_kwargs) as client:
            return await use(client)

    return asyncio.run(run())


def get(mode: str, url: str, **kwargs: Any) -> Callable[[Any], Any]:
    if mode == "sync":
        return lambda client: client.get(url, **kwargs)

    async def aget(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(url, **kwargs)

    return aget


def pages(mode: str) -> Callable[[Any], Any]:
    fetcher = Fetcher(RequestSpec("GET", "/page"), paginator="json_link", response_filter="items", retry=FAST)
    return fetcher.run if mode == "sync" else fetcher.arun


# -- refused --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
def test_another_origin_is_refused_before_a_byte_is_sent(scheme, mode, api_other):
    api, other = api_other
    config = scheme_config(scheme, api)
    with pytest.raises(CredentialOriginError) as refused:
        through_client(mode, config, get(mode, f"{other.url}/x?q=1"))
    assert other.seen == []
    message = str(refused.value)
    assert refused.value.origin == other.url and "allowed_origins" in message and api.url in message
    assert not [secret for secret in SECRETS if secret in message]
    # the connection's own origin still works through the same rule
    assert through_client(mode, config, get(mode, "/x")).status_code == 200


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_next_link_to_another_origin_is_refused(scheme, mode, api_other):
    api, other = api_other
    api.next_page = f"{other.url}/page2"
    with pytest.raises(CredentialOriginError, match="allowed_origins"):
        through_client(mode, scheme_config(scheme, api), pages(mode))
    assert other.seen == [] and [r.path for r in api.seen if r.path == "/page"] == ["/page"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_redirect_to_another_origin_arrives_without_any_credential(scheme, mode, api_other):
    api, other = api_other
    api.redirect_to = f"{other.url}/landed"
    response = through_client(mode, scheme_config(scheme, api), get(mode, "/redirect"), follow_redirects=True)
    assert response.status_code == 200 and response.json()["path"] == "/landed"
    assert [r.path for r in other.seen] == ["/landed"]
    assert leaks(other.seen) == []
    if scheme != "digest":  # the API itself got them (digest: the first request has none without a challenge)
        assert leaks([r for r in api.seen if r.path == "/redirect"])


# -- let through -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
def test_allowed_origins_lets_the_credentials_through(scheme, mode, api_other):
    api, other = api_other
    other.digest = scheme == "digest"
    config = allowing(scheme_config(scheme, api), other)
    assert through_client(mode, config, get(mode, f"{other.url}/x")).status_code == 200
    assert leaks(other.seen), "the allowed origin got the credentials"
    other.reset()
    api.next_page = f"{other.url}/page2"
    assert through_client(mode, config, pages(mode)) == [1, 2]
    assert [r.path for r in other.seen] == ["/page2"] and (leaks(other.seen) or scheme == "digest")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_no_credentials_sends_nothing_secret_not_even_the_jar_cookies(scheme, mode, api_other):
    api, other = api_other
    api.redirect_to = f"{api.url}/x"  # sets a cookie in the client's jar, valid for 127.0.0.1 whatever the port

    def use(client: Any) -> Any:
        first = client.get("/redirect", follow_redirects=True)
        return first, client.get(f"{other.url}/presigned?sig=abc", extensions=NO_CREDENTIALS)

    if mode == "async":

        async def use(client: Any) -> Any:  # type: ignore[no-redef]
            first = await client.get("/redirect", follow_redirects=True)
            return first, await client.get(f"{other.url}/presigned?sig=abc", extensions=NO_CREDENTIALS)

    first, presigned = through_client(mode, scheme_config(scheme, api), use)
    assert JAR in first.request.headers.get("cookie", "")  # the jar does hold a cookie for 127.0.0.1
    assert presigned.status_code == 200 and [r.path for r in other.seen] == ["/presigned"]
    assert other.seen[0].query == {"sig": "abc"} and leaks(other.seen) == []


def test_a_connection_without_host_trusts_the_instance_url_of_its_token(mode, api_other):
    """Salesforce: no API base URL; endpoints start with {instance_url}, which the token answer names."""
    api, other = api_other
    api.instance_url = api.url
    config = AuthConfig(OAuth2Config(f"{api.url}/token", client_id="c", client_secret=CLIENT_SECRET))
    assert through_client(mode, config, get(mode, f"{api.url}/services/data")).status_code == 200
    assert [r.path for r in api.seen] == ["/token", "/services/data"] and leaks(api.seen[1:])
    with pytest.raises(CredentialOriginError, match="none: the connection has no API base URL"):
        through_client(mode, config, get(mode, f"{other.url}/services/data"))
    assert other.seen == []


def test_origins_are_normalised_and_checked():
    assert origin("HTTPS://API.Example.com:443/v1?x=1") == "https://api.example.com"
    assert origin("http://127.0.0.1:80") == "http://127.0.0.1" and origin("http://[::1]:8080/") == "http://[::1]:8080"
    common = CommonConfig("https://api.example.com/v2", allowed_origins=("https://files.example.com:443/",))
    assert common.origins == ("https://api.example.com", "https://files.example.com")
    for bad in ("files.example.com", "https://files.example.com/bucket", "ftp://x"):
        with pytest.raises(ConfigError, match="allowed_origins"):
            CommonConfig(allowed_origins=(bad,))


# -- values HTTP cannot carry --------------------------------------------------------------------------------------


def test_a_pasted_trailing_newline_is_trimmed_from_tokens_keys_and_header_values(api_other):
    api, _ = api_other
    common = CommonConfig(api.url, headers={"X-Secret-Header": HEADER_SECRET + "\r\n"})
    configs = [AuthConfig(BearerAuthConfig(BEARER + "\n"), common), AuthConfig(ApiKeyConfig(" " + KEY + "\n"), common)]
    for config in configs:
        assert through_client("sync", config, get("sync", "/x")).status_code == 200
    bearer, key = api.seen
    assert bearer.header("authorization") == f"Bearer {BEARER}" and key.header("x-api-key") == KEY
    assert bearer.header("x-secret-header") == HEADER_SECRET


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: BearerAuthConfig("bearer-\r\nsecret-0123456789"), "token"),
        (lambda: ApiKeyConfig("apikey-\nsecret-0123456789"), "api_key"),
        (lambda: BearerAuthConfig(BEARER, prefix="Bea\r\nrer"), "header_prefix"),
        (lambda: CommonConfig(headers={"X-Secret-Header": "extra-header-\r\nsecret"}), "extra_headers"),
        (lambda: TokenPlacement(location="cookie", cookie_name="B1\nSESSION"), "cookie_name"),
    ],
    ids=["bearer", "api_key", "prefix", "extra_header", "cookie_name"],
)
def test_a_line_break_inside_is_refused_naming_the_field_never_the_value(build, field):
    with pytest.raises(ConfigError) as refused:
        build()
    assert refused.value.field == field and "line break" in str(refused.value)
    assert "secret" not in str(refused.value)


def test_a_basic_password_keeps_its_line_break_it_is_sent_encoded(api_other):
    api, _ = api_other
    config = AuthConfig(BasicAuthConfig("user", PASSWORD + "\r\n"), CommonConfig(api.url))
    assert through_client("sync", config, get("sync", "/x")).status_code == 200
    assert basic_decoded(api.seen[0].header("authorization")) == f"user:{PASSWORD}\r\n"


def test_an_unsendable_request_header_is_a_typed_error_naming_the_header_without_the_value(mode, api_other):
    api, _ = api_other
    config = AuthConfig(BearerAuthConfig(BEARER), CommonConfig(api.url))
    with pytest.raises(ApiTransportError) as failed:
        through_client(mode, config, get(mode, "/x", headers={"X-Request-Secret": HEADER_SECRET + "\r\nX: y"}))
    assert isinstance(failed.value, httpx.LocalProtocolError)  # code catching httpx's class still does
    message = str(failed.value)
    assert "header 'x-request-secret'" in message.lower() and "line break" in message
    assert HEADER_SECRET not in message and BEARER not in message
    assert failed.value.__cause__ is None and failed.value.__suppress_context__


def test_a_token_answer_with_a_line_break_inside_is_unsendable_not_quoted(mode):
    class BrokenToken(Recorder):
        def answer(self, request: Request) -> Response:
            if request.path == "/token":
                self.seen.append(request)
                return Response.json({"access_token": "issued-\nbroken-token-0123", "expires_in": 60})
            return super().answer(request)

    with BrokenToken() as broken:
        config = AuthConfig(OAuth2Config(f"{broken.url}/token", client_id="c", client_secret=CLIENT_SECRET))
        config = replace(config, common=CommonConfig(broken.url))
        with pytest.raises(ApiTransportError, match="header 'Authorization' holds a line break") as failed:
            through_client(mode, config, get(mode, "/x"))
    assert "broken-token" not in str(failed.value) and [r.path for r in broken.seen] == ["/token"]


def test_other_transport_errors_keep_their_httpx_class_and_carry_no_secret(mode):
    config = AuthConfig(ApiKeyConfig(KEY, name="api_key", location="query"), CommonConfig("http://127.0.0.1:9"))
    with pytest.raises(httpx.ConnectError) as failed:
        through_client(mode, config, get(mode, "/x"))
    assert isinstance(failed.value, ApiTransportError) and KEY not in str(failed.value)
