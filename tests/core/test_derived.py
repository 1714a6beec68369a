"""Values learned after the consent (auth/derived.py): the consent callback's, the token answer's and a discovery
request's, kept with the token, filling the token URL, the API base URL and headers; against the Zoho (two data
centres), Xero (several organisations) and a Jira Cloud style accessible-resources server, sync and async."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from airflow_provider_authapi.auth import AuthConfig, CommonConfig, OAuth2Config, exchange_code, new_pkce_verifier
from airflow_provider_authapi.auth.client import build_async_client, build_auth, build_client, build_token_manager
from airflow_provider_authapi.auth.config import DerivedValues, TLSConfig
from airflow_provider_authapi.auth.derived import fill_text, fill_url, resolve, values_of
from airflow_provider_authapi.auth.errors import ConfigError, TokenEndpointError
from airflow_provider_authapi.auth.grants import OAuth2Grant, TokenEndpoint
from airflow_provider_authapi.auth.tokens import DERIVED, MemoryTokenStore, Token
from airflow_provider_authapi.connections import auth_config_from_connection
from tests.core.conftest import FAST
from tests.emulators import xero as xero_emulator
from tests.emulators import zoho as zoho_emulator
from tests.emulators.base import Request, Response
from tests.emulators.oauth2_server import OAuth2Server
from tests.emulators.xero import XeroEmulator
from tests.emulators.zoho import ZohoEmulator

ZOHO_FIELDS = {"fields": "Last_Name,Company", "per_page": 200}


@pytest.fixture
def zoho() -> Iterator[ZohoEmulator]:
    with ZohoEmulator() as emulator:
        yield emulator


@pytest.fixture
def xero() -> Iterator[XeroEmulator]:
    with XeroEmulator() as emulator:
        yield emulator


def mapped(conn: dict[str, Any], **extra: Any) -> AuthConfig:
    """The config of a connection as Airflow's JSON form gives it (its system type's profile beneath)."""
    fields = {**conn["extra"], **extra}
    return auth_config_from_connection(SimpleNamespace(
        conn_id="derived", conn_type=conn["conn_type"], host=conn.get("host"), login=conn["login"],
        password=conn["password"], extra=json.dumps(fields)))  # fmt: skip


def consent(url: str, verify: Any = True, decision: str = "accept") -> dict[str, str]:
    """Open an emulator's consent page as a browser would, press its first button (or `decision`), return the
    callback's query."""
    with httpx.Client(verify=verify) as browser:
        page = browser.get(url)
        assert page.status_code == 200, page.text
        (consent_id,) = re.findall(r"name='consent' value='([^']+)'", page.text)
        action = re.search(r"action='([^']+)'", page.text).group(1)  # type: ignore[union-attr]
        answer = browser.post(httpx.URL(url).join(action), data={"consent": consent_id, "decision": decision})
    return dict(httpx.URL(answer.headers["location"]).params)


def zoho_consent(zoho: ZohoEmulator, config: AuthConfig, verifier: str) -> dict[str, str]:
    from airflow_provider_authapi.auth import authorization_url

    url = authorization_url(config.scheme, state="state-1", code_verifier=verifier)  # type: ignore[arg-type]
    return consent(url, verify=ssl.create_default_context(cadata=zoho.ca_cert_pem))


# -- the pieces ------------------------------------------------------------------------------------------------------


def test_the_names_and_paths_are_checked_naming_the_field():
    for given, field, said in (
        ({"consent_values": {"api key": "x"}}, "consent_values", "not a name"),
        ({"answer_values": {"refresh_token_copy": "refresh_token"}}, "answer_values", "named like a secret"),
        ({"answer_values": {"kept": "access_token"}}, "answer_values", "a secret is no value"),
        ({"consent_values": {"grant": "code"}}, "consent_values", "it is no value"),
        ({"consent_values": {"x": "a"}, "answer_values": {"x": "b"}}, "answer_values", "one source"),
        ({"discovery_url": "https://api.example/sites"}, "discovery_values", "go together"),
        ({"discovery_values": {"site": "id"}}, "discovery_url", "go together"),
        ({"discovery_match": {"url": "https://a"}}, "discovery_match", "discovery_url is empty"),
        ({"answer_values": {"x": "a..b"}}, "answer_values", "cannot parse"),
    ):
        with pytest.raises(ConfigError) as caught:
            DerivedValues(**given)
        assert (caught.value.field, said in str(caught.value)) == (field, True), given
    spec = DerivedValues(consent_values={" dc ": " accounts-server "}, answer_values={"api_domain": "api_domain"})
    assert spec.consent_values == {"dc": "accounts-server"} and spec.names == ("dc", "api_domain") and spec
    assert not DerivedValues() and str(DerivedValues(answer_values={"b": "x", "a": "y"})).startswith('{"answer_values"')


def test_a_value_that_starts_a_url_must_be_https_and_within_the_allowed_origins():
    spec = DerivedValues(answer_values={"api_domain": "api_domain", "site": "site"})
    assert fill_url("host", "{api_domain}/crm/v8", spec, {"api_domain": "https://www.zohoapis.eu/"}) == (
        "https://www.zohoapis.eu/crm/v8"
    )
    for value, said in (
        ("http://www.zohoapis.eu", "must be an https URL"),
        ("https://user:pw@www.zohoapis.eu", "must be an https URL"),
        ("www.zohoapis.eu", "must be an https URL"),
        ("https://www.zohoapis.eu?x=1", "must be an https URL"),
    ):
        with pytest.raises(ConfigError) as caught:
            fill_url("host", "{api_domain}/crm", spec, {"api_domain": value})
        assert caught.value.field == "host" and said in str(caught.value) and "answer_values" in str(caught.value)
    allowed = ("https://www.zohoapis.eu",)
    assert fill_url("host", "{api_domain}", spec, {"api_domain": "https://www.zohoapis.eu"}, allowed)
    with pytest.raises(ConfigError) as outside:
        fill_url("login_url", "{api_domain}/token", spec, {"api_domain": "https://evil.example"}, allowed)
    assert outside.value.field == "login_url" and "https://evil.example, which is not in allowed_origins" in str(
        outside.value
    )
    # Anywhere else a value is percent-encoded: it cannot add a path, a query or another host.
    filled = fill_url("host", "https://api.example/ex/{site}/x", spec, {"site": "a/../b?c#d"})
    assert filled == "https://api.example/ex/a%2F..%2Fb%3Fc%23d/x"
    with pytest.raises(ConfigError) as host:
        fill_url("host", "https://{site}/x", spec, {"site": "evil.example"}, ("https://api.example",))
    assert "not in allowed_origins" in str(host.value)
    with pytest.raises(ConfigError) as missing:
        fill_url("host", "{api_domain}/x", spec, {})
    assert "holds {api_domain}, which the token answer's 'api_domain' (answer_values) gives" in str(missing.value)
    # Undeclared braces stay: a header may hold JSON.
    assert fill_text("extra_headers", '{"a": 1} {site}', spec, {"site": "s1"}) == '{"a": 1} s1'
    assert fill_url("host", "https://api.example/{other}", spec, {}) == "https://api.example/{other}"


def test_a_config_holding_values_cannot_make_a_client_until_resolved():
    spec = DerivedValues(answer_values={"api_domain": "api_domain"})
    config = AuthConfig(
        OAuth2Config(token_url="https://login.example/token", client_id="c", client_secret="s", derived=spec),
        CommonConfig(base_url="{api_domain}/v1", headers={"X-Org": "{api_domain}"}),
    )
    assert config.common.origins == ()  # none until filled
    with pytest.raises(ConfigError) as caught:
        build_client(config)
    assert caught.value.field == "host"
    resolved = resolve(config, {"api_domain": "https://api.example"})
    assert resolved.common.base_url == "https://api.example/v1" and resolved.common.origins == ("https://api.example",)
    assert resolved.common.headers == {"X-Org": "https://api.example"}
    assert resolved.fingerprint() == config.fingerprint()


def test_without_values_declared_nothing_changes_and_the_fingerprint_stays():
    plain = OAuth2Config(token_url="https://login.example/{x}", client_id="c", client_secret="s")
    assert AuthConfig(plain).fingerprint() == AuthConfig(OAuth2Config(**{
        "token_url": "https://login.example/{x}", "client_id": "c", "client_secret": "s",
        "derived": DerivedValues()})).fingerprint()  # fmt: skip
    request = OAuth2Grant(plain).token_request(None)
    assert request.url == "https://login.example/{x}"  # no declared name: left as it is


# -- Zoho: the consent names the data centre, the token answer its API domain ---------------------------------------


def test_zoho_consent_token_url_and_api_domain_come_after_the_consent(zoho, mode):
    config = mapped(zoho.connection())
    verifier = new_pkce_verifier()
    query = zoho_consent(zoho, config, verifier)
    assert query["location"] == "eu" and query["accounts-server"] == zoho.eu.accounts_url

    # A code of the EU data centre: the US accounts server (the consent's host) would refuse it.
    token = exchange_code(config.scheme, query["code"], code_verifier=verifier, common=config.common,  # type: ignore[arg-type]
                          retry=FAST, callback=query)  # fmt: skip
    assert (zoho.eu.count("POST", re.escape(zoho_emulator.TOKEN_PATH)), zoho.token_requests) == (1, 1)
    assert values_of(token) == {"accounts_server": zoho.eu.accounts_url, "location": "eu",
                                "api_domain": zoho.eu.api_url}  # fmt: skip
    assert token.refresh_token and token.access_token not in json.dumps(token.extra)

    store = MemoryTokenStore(token)
    manager = build_token_manager(config, store, retry=FAST)
    assert manager is not None
    resolved = resolve(config, values_of(manager.get_token()))
    assert resolved.common.base_url == zoho.eu.api_url  # localhost: the API domain, not the accounts server
    leads = call_all(mode, resolved, manager, zoho_emulator.LEADS_PATH, params=ZOHO_FIELDS)
    assert [row["id"] for row in leads] == [lead["id"] for lead in zoho.eu.leads[:200]]

    # The refresh goes to the consent's accounts server, its answer's api_domain the same; the values survive.
    refreshed = manager.get_token(force_refresh=True)
    assert zoho.eu.refreshes == 1 and zoho.refreshes == 0
    assert values_of(refreshed) == values_of(token) and refreshed.refresh_token == token.refresh_token
    assert store.status()["extra"] == {DERIVED: values_of(token)}  # public: shown with the token's state


def test_a_refresh_answer_without_the_value_keeps_the_stored_one(zoho):
    config = mapped(zoho.connection())
    seeded = with_zoho_values(zoho, zoho.eu.seed_consent())
    original = zoho.eu._access

    def without_api_domain(scope: str) -> dict[str, Any]:
        body = original(scope)
        body.pop("api_domain")
        return body

    zoho.eu._access = without_api_domain  # type: ignore[method-assign]
    renewed = TokenEndpoint(OAuth2Grant(config.scheme, allowed_origins=config.common.allowed_origins),  # type: ignore[arg-type]
                            verify=ssl_context(zoho), retry=FAST).fetch(seeded)  # fmt: skip
    assert values_of(renewed) == values_of(seeded) and renewed.access_token != seeded.access_token


def with_zoho_values(zoho: ZohoEmulator, refresh_token: str) -> Token:
    values = {"accounts_server": zoho.eu.accounts_url, "location": "eu", "api_domain": zoho.eu.api_url}
    return Token("", refresh_token=refresh_token, extra={DERIVED: values})


def ssl_context(zoho: ZohoEmulator) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=zoho.ca_cert_pem)


def test_a_hostile_accounts_server_or_api_domain_is_refused_before_a_byte_is_sent(zoho):
    config = mapped(zoho.connection())
    for accounts_server, said in (
        (zoho.eu.accounts_url.replace("https", "http"), "must be an https URL"),
        ("https://accounts.evil.example", "not in allowed_origins"),
    ):
        with pytest.raises(ConfigError) as caught:
            exchange_code(config.scheme, "code", common=config.common, retry=FAST,  # type: ignore[arg-type]
                          callback={"accounts-server": accounts_server})  # fmt: skip
        assert caught.value.field == "login_url" and said in str(caught.value)
    with pytest.raises(ConfigError) as none_given:
        exchange_code(config.scheme, "code", common=config.common, retry=FAST, callback={})  # type: ignore[arg-type]
    assert "the consent callback's 'accounts-server' parameter" in str(none_given.value)
    assert zoho.token_requests == 0

    hostile = {"api_domain": "https://api.evil.example", "accounts_server": zoho.eu.accounts_url}
    with pytest.raises(ConfigError) as api:
        resolve(config, hostile)
    assert api.value.field == "host" and "not in allowed_origins" in str(api.value)
    # And a seeded refresh token of a connection naming no token URL cannot be sent anywhere.
    unconsented = mapped({**zoho.connection(), "extra": {**zoho.connection()["extra"], "refresh_token": "1000.rt"}})
    manager = build_token_manager(unconsented, MemoryTokenStore(), retry=FAST)
    with pytest.raises(ConfigError) as seeded:
        manager.get_token()  # type: ignore[union-attr]
    assert seeded.value.field == "login_url" and "authorize the connection" in str(seeded.value)


# -- Xero: one token, several organisations, a header per call -----------------------------------------------------


def xero_config(xero: XeroEmulator, **extra: Any) -> AuthConfig:
    return mapped(xero.connection(seeded_refresh_token=xero.seed_consent()), **extra)


def test_xero_discovery_after_the_first_token_names_the_organisation_of_every_call(xero, mode):
    config = xero_config(xero)
    store = MemoryTokenStore()
    manager = build_token_manager(config, store, retry=FAST)
    assert manager is not None
    token = manager.aget_token if mode == "async" else manager.get_token
    first = asyncio.run(token()) if mode == "async" else token()  # type: ignore[arg-type]
    uk = xero.tenant("Demo Company (UK)")
    assert values_of(first) == {"tenant_id": uk["tenantId"], "tenant_name": "Demo Company (UK)"}  # the first one
    assert xero.count("GET", "/connections") == 1 and xero.refreshes == 1

    resolved = resolve(config, values_of(first))
    assert resolved.common.headers["Xero-Tenant-Id"] == uk["tenantId"]
    contacts = call_all(mode, resolved, manager, "/Contacts", params={"page": 1})
    assert len(contacts) == 100 and contacts[0]["Name"] == "Contact 1 of Demo Company (UK)"
    assert xero.api_calls == [(f"{xero_emulator.API}/Contacts", uk["tenantId"])]

    # A renewal keeps the organisation: no second discovery. A call without the header is refused.
    again = manager.get_token(force_refresh=True)
    assert values_of(again) == values_of(first) and xero.count("GET", "/connections") == 1
    bare = httpx.get(
        xero.url + xero_emulator.API + "/Organisation", headers={"Authorization": f"Bearer {again.access_token}"}
    )
    assert bare.status_code == 403 and bare.json()["Detail"] == "AuthenticationUnsuccessful"

    # Every organisation, for a mapped task per organisation: what the hook hands a DAG.
    entries = manager.endpoint.discover_entries(again)
    assert entries == [{"tenant_id": t["tenantId"], "tenant_name": t["tenantName"]} for t in xero.tenants]


def test_xero_discovery_match_picks_an_organisation_or_names_those_there_are(xero):
    config = xero_config(xero, discovery_match={"tenantName": "acme ltd"})  # any case
    manager = build_token_manager(config, MemoryTokenStore(), retry=FAST)
    assert values_of(manager.get_token())["tenant_name"] == "Acme Ltd"  # type: ignore[union-attr]

    config = xero_config(xero, discovery_match={"tenantName": "Nobody Ltd"})
    endpoint = TokenEndpoint(OAuth2Grant(config.scheme), retry=FAST)  # type: ignore[arg-type]
    verifier = new_pkce_verifier()
    from airflow_provider_authapi.auth import authorization_url

    query = consent(authorization_url(config.scheme, state="s", code_verifier=verifier), decision="allow")  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as caught:
        endpoint.exchange_code(query["code"], verifier)  # a consent: the user sees the pick fail
    assert caught.value.field == "discovery_match"
    assert "tenantName='Demo Company (UK)'; tenantName='Demo Company (AU)'; tenantName='Acme Ltd'" in str(caught.value)


def test_a_failed_discovery_keeps_a_renewed_token_and_is_tried_again_at_the_next_renewal(xero, caplog):
    config = xero_config(xero)
    store = MemoryTokenStore()
    manager = build_token_manager(config, store, retry=FAST)
    assert manager is not None
    original = xero.connections
    xero.connections = lambda request: Response.json({"Title": "Forbidden"}, 403)  # type: ignore[method-assign]
    xero._routes = [(m, p, xero.connections if p.pattern == "/connections" else h) for m, p, h in xero._routes]
    first = manager.get_token()
    assert values_of(first) == {} and first.refresh_token and store.load() == first  # the rotated token is kept
    assert "discovery" in caplog.text and first.access_token not in caplog.text
    with pytest.raises(ConfigError) as caught:
        resolve(config, values_of(first))
    assert caught.value.field == "extra_headers" and "obtain a new token" in str(caught.value)

    xero._routes = [(m, p, original if p.pattern == "/connections" else h) for m, p, h in xero._routes]
    second = manager.get_token(force_refresh=True)
    assert values_of(second)["tenant_name"] == "Demo Company (UK)"


# -- Jira Cloud: the site's cloudid names the API base URL ----------------------------------------------------------


class AccessibleResources(OAuth2Server):
    """An OAuth 2.0 server with Atlassian's `accessible-resources` and an API under `/ex/jira/{cloudid}`."""

    SITES = [
        {"id": "11111111-aaaa-4bbb-8ccc-000000000001", "url": "https://first.atlassian.net", "name": "first"},
        {"id": "22222222-aaaa-4bbb-8ccc-000000000002", "url": "https://acme.atlassian.net", "name": "acme"},
    ]

    def setup_routes(self) -> None:
        super().setup_routes()
        self.route("GET", r"/oauth/token/accessible-resources", self.resources)
        self.route("GET", r"/ex/jira/(?P<cloud>[^/]+)/rest/api/3/myself", self.myself)

    def resources(self, request: Request) -> Response:
        if self.access.check(request.bearer()) is None:
            return Response.json({"code": 401, "message": "Unauthorized"}, 401)
        return Response.json([{**site, "scopes": ["read:jira-work"], "avatarUrl": ""} for site in self.SITES])

    def myself(self, request: Request) -> Response:
        if self.access.check(request.bearer()) is None:
            return Response.json({"code": 401}, 401)
        assert request.match is not None
        return Response.json({"accountId": "557058:f00", "cloud": request.match.group("cloud")})


def test_jira_cloud_cloudid_from_accessible_resources_fills_the_api_base_url(mode):
    with AccessibleResources(client_auth="body", scopes=("read:jira-work", "offline_access")) as server:
        conn = {"conn_type": "authapi_jira_cloud", "host": f"{server.url}/ex/jira/{{cloudid}}",
                "login": server.client_id, "password": server.client_secret, "extra": {
                    "login_url": f"{server.url}/token", "consent_url": f"{server.url}/authorize",
                    "discovery_url": f"{server.url}/oauth/token/accessible-resources", "scopes": "read:jira-work",
                    "discovery_match": {"url": "https://ACME.atlassian.net/"},
                    "refresh_token": server.issue_refresh_token("read:jira-work")}}  # fmt: skip
        config = mapped(conn)
        assert config.common.origins == (server.url,)
        manager = build_token_manager(config, MemoryTokenStore(), retry=FAST)
        assert manager is not None
        token = asyncio.run(manager.aget_token()) if mode == "async" else manager.get_token()
        site = AccessibleResources.SITES[1]
        assert values_of(token) == {"cloudid": site["id"], "site_url": site["url"], "site_name": "acme"}
        resolved = resolve(config, values_of(token))
        assert resolved.common.base_url == f"{server.url}/ex/jira/{site['id']}"
        (answer,) = call_all(mode, resolved, manager, "/rest/api/3/myself")
        assert answer["cloud"] == site["id"]


# -- a call through a resolved config, sync or async ---------------------------------------------------------------


def call_all(mode: str, config: AuthConfig, manager: Any, path: str, params: dict[str, Any] | None = None) -> list:
    """GET `path` with the config's client (sync or async); the answer's records (`data`, `Contacts`) or itself."""

    def records(response: httpx.Response) -> list:
        assert response.status_code == 200, response.text
        body = response.json()
        return body.get("data") or body.get("Contacts") or [body]

    auth = build_auth(config, manager)
    if mode == "sync":
        with build_client(config, auth) as client:
            return records(client.get(path, params=params))

    async def run() -> list:
        async with build_async_client(config, auth) as client:
            return records(await client.get(path, params=params))

    return asyncio.run(run())


def test_config_tls_reaches_the_discovery_and_token_requests(zoho):
    """The Zoho emulator's self-signed certificate: token and discovery requests verify with ca_cert_pem too."""
    config = mapped(zoho.connection())
    assert isinstance(config.common.tls, TLSConfig) and config.common.tls.ca_pem
    broken = TokenEndpoint(OAuth2Grant(config.scheme, allowed_origins=config.common.allowed_origins), retry=FAST)  # type: ignore[arg-type]
    with pytest.raises(TokenEndpointError) as caught:
        broken.fetch(with_zoho_values(zoho, zoho.eu.seed_consent()))  # no CA: TLS verification fails
    assert "ca_cert_pem" in str(caught.value)
