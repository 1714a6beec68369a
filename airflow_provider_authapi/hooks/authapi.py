"""`AuthApiHook`: an authenticated httpx client for any of our connection types, with a shared token cache; and
`ApiCall`: the request arguments the operator, the sensor and the trigger share, as one value.

The operator and the sensor build an `ApiCall` from their rendered arguments, fill the endpoint's placeholders
from the hook, then either fetch in the worker or hand `to_dict()` to `AuthApiTrigger`, which rebuilds it with
`from_dict()` in the triggerer:

    call = ApiCall("crm", "/v3/company/{realm_id}/query", query_params={"query": "select ..."})
    hook = call.hook()
    call = call.with_endpoint_vars(hook.endpoint_vars())
    with hook.get_client() as client:
        records = call.fetcher(hook).run(client)

The dict form holds the connection id and request specs only, never a token or secret.
"""

from __future__ import annotations

import asyncio
import logging
import string
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx

from airflow_provider_authapi.api.children import ChildRequests, Nested, QuietLog
from airflow_provider_authapi.api.decoders import Decoder, DecoderSpec
from airflow_provider_authapi.api.fetch import Fetcher
from airflow_provider_authapi.api.pagination import (
    PaginatorSpec,
    RequestSpec,
    ResponseFilter,
    callable_ref,
    get_paginator,
    resolve_callable,
)
from airflow_provider_authapi.api.rules import ResponseActionsSpec, ResponseRules
from airflow_provider_authapi.api.streamed import check_streamed
from airflow_provider_authapi.auth import build_auth, build_token_manager
from airflow_provider_authapi.auth.budget import SharedBudget
from airflow_provider_authapi.auth.client import AUTHENTICATE, AsyncClient, Client, build_async_client, build_client
from airflow_provider_authapi.auth.config import ApiKeyConfig, AuthConfig, BearerAuthConfig, config_secrets
from airflow_provider_authapi.auth.derived import needs_values, resolve, values_of
from airflow_provider_authapi.auth.errors import AuthApiError, ConfigError
from airflow_provider_authapi.auth.retry import Pace, RetryPolicy
from airflow_provider_authapi.auth.tokens import INSTANCE_URL, REALM_ID, Token
from airflow_provider_authapi.compat import BaseHook
from airflow_provider_authapi.connections import auth_config_from_connection
from airflow_provider_authapi.connections.fields import connection_value
from airflow_provider_authapi.store import VariableTokenStore
from airflow_provider_authapi.store.variables import shared_budget

if TYPE_CHECKING:
    from airflow_provider_authapi.auth.tokens import TokenManager

DEFAULT_CONN_ID = "authapi_default"

# One TokenManager per (connection, credentials) in this process: every hook instance, task and trigger
# running here shares its in-memory token, so the store is read at most once per token lifetime.
_MANAGERS: dict[tuple[str, str], TokenManager] = {}
_MANAGERS_LOCK = threading.Lock()


def reset_token_managers() -> None:
    """Forget every in-process token (tests; or after `airflow authapi token clear`)."""
    with _MANAGERS_LOCK:
        _MANAGERS.clear()


def mask(*secrets: str | None) -> None:
    """Register secrets with Airflow's secrets masker so task logs show `***` in their place."""
    from airflow_provider_authapi.compat import mask_secret

    for secret in secrets:
        if secret:
            mask_secret(secret)


class _MaskingStore(VariableTokenStore):
    """A Variable token store that registers every token it reads or writes with the secrets masker."""

    def load(self) -> Token | None:
        token = super().load()
        if token is not None:
            mask(token.access_token, token.refresh_token)
        return token

    def save(self, token: Token) -> None:
        mask(token.access_token, token.refresh_token)
        super().save(token)


class AuthApiHook(BaseHook):
    """Talk to a REST API through a connection of any `authapi_*` type.

    Tokens are fetched and refreshed by the auth core and cached in a Variable shared by every task and worker
    (docs: "The token cache"). `get_client()` gives a ready `httpx.Client`; inside `@task` code:

        with AuthApiHook("dastra").get_client() as client:
            workspaces = client.get("/v1/workspaces").json()

    `grant` (a `CustomGrant` subclass or instance) obtains the tokens of an OAuth 2.0 or token login connection
    instead of its built-in grant, and `auth` (an `httpx.Auth` subclass, built with the connection's settings, or
    an instance) signs every request after the connection's own credentials: they win over the connection's
    `grant_class` and `auth_class` fields. The token cache is the connection's all the same: a hook given the
    class and one reading it from `grant_class` share it, in every process.
    """

    conn_name_attr = "authapi_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "authapi_oauth2"
    hook_name = "Authenticated REST API"

    def __init__(
        self,
        authapi_conn_id: str = default_conn_name,
        *,
        leeway: float | None = None,
        connection: Any = None,
        grant: Any = None,
        auth: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.authapi_conn_id = authapi_conn_id
        self.leeway = leeway
        self._connection = connection
        self._grant, self._own_auth = grant, auth
        self._client: httpx.Client | None = None
        self._derived: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"AuthApiHook(authapi_conn_id={self.authapi_conn_id!r})"

    # -- configuration ---------------------------------------------------------------------------------------

    @cached_property
    def connection(self) -> Any:
        """The connection as the Task SDK finds it; outside a task (a Python shell, a script) also in the metadata
        DB, which the Task SDK skips there: a connection saved in the UI is found from a shell too."""
        if self._connection is not None:
            return self._connection
        try:
            return self.get_connection(self.authapi_conn_id)
        except Exception as exc:
            from airflow_provider_authapi.store.variables import TaskSdkVariables, variables_for_this_process

            if type(exc).__name__ != "AirflowNotFoundException" or isinstance(
                variables_for_this_process(), TaskSdkVariables
            ):
                raise
            from airflow_provider_authapi.consent import get_connection

            return get_connection(self.authapi_conn_id)

    @cached_property
    def config(self) -> AuthConfig:
        config = auth_config_from_connection(self.connection, grant=self._grant, auth=self._own_auth)
        mask(*config_secrets(config))
        return config

    @cached_property
    def store(self) -> VariableTokenStore:
        return VariableTokenStore(self.authapi_conn_id, self.config.fingerprint())

    @cached_property
    def token_manager(self) -> TokenManager | None:
        """The process-wide TokenManager of this connection, or None for static schemes."""
        key = (self.authapi_conn_id, self.config.fingerprint())
        with _MANAGERS_LOCK:
            manager = _MANAGERS.get(key)
            if manager is None:
                store = _MaskingStore(self.authapi_conn_id, self.config.fingerprint())
                manager = build_token_manager(self.config, store, leeway=self.leeway)
                if manager is not None:
                    _MANAGERS[key] = manager
            return manager

    @property
    def auth(self) -> httpx.Auth:
        """The connection's credentials, bound to its origins (`auth.client.OriginBoundAuth`), each request under
        the deployment's API budget when the connection sets one (`budget_requests`)."""
        return build_auth(self.resolved_config, self.token_manager, self.budget)

    @cached_property
    def budget(self) -> SharedBudget | None:
        """The API budget every task, worker and the triggerer share for this connection, or None."""
        if not self.config.common.budget.enabled:
            return None
        return shared_budget(self.authapi_conn_id, self.config.common.budget)

    # -- clients -----------------------------------------------------------------------------------------------

    def get_client(self, **httpx_kwargs: Any) -> Client:
        """A new `httpx.Client`: base URL, auth, headers, query params, TLS and timeout from the connection.

        Credentials go only to the connection's origins (docs: "Where credentials go"); a request with
        `extensions=auth.client.NO_CREDENTIALS` carries none. A transport error is raised as `ApiTransportError`,
        scrubbed of secrets. A base URL or header holding a value learned after the consent (`{api_domain}`) is
        filled from the token, which is obtained first if none is stored (`resolved_config`)."""
        return build_client(self.resolved_config, self.auth, **httpx_kwargs)

    def get_async_client(self, **httpx_kwargs: Any) -> AsyncClient:
        """A new `httpx.AsyncClient` configured like `get_client()`, sharing the same token cache. On an event loop,
        `await aderived_values()` first when the base URL or headers hold a value learned after the consent."""
        return build_async_client(self.resolved_config, self.auth, **httpx_kwargs)

    @property
    def resolved_config(self) -> AuthConfig:
        """`config` with the values learned after the consent filled into its API base URL, extra headers and query
        parameters (`auth/derived.py`); `config` itself when they hold none."""
        if not self.config.derived or not needs_values(self.config):
            return self.config
        return resolve(self.config, self.derived_values())

    def get_conn(self) -> httpx.Client:
        """The hook's own client, kept open for its lifetime (closed by `close()`)."""
        if self._client is None:
            self._client = self.get_client()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def request(self, method: str, endpoint: str, *, authenticate: bool = True, **httpx_kwargs: Any) -> httpx.Response:
        """Send one authenticated request. The status is not raised; a 401 is retried once by the auth.

        An `endpoint` on another origin than the connection's is refused (`CredentialOriginError`) unless the
        connection lists it in `allowed_origins`; `authenticate=False` sends the request with no credential at all
        (a presigned download URL). A transport error is a scrubbed `ApiTransportError`."""
        if not authenticate:
            httpx_kwargs["extensions"] = {**(httpx_kwargs.get("extensions") or {}), AUTHENTICATE: False}
        return self.get_conn().request(method, endpoint, **httpx_kwargs)

    # -- tokens ------------------------------------------------------------------------------------------------

    def get_token(self, force_refresh: bool = False) -> Token | None:
        """The current token (obtaining or refreshing it as needed), or None for static schemes."""
        if self.token_manager is None:
            return None
        return self.token_manager.get_token(force_refresh=force_refresh)

    def get_access_token(self, force_refresh: bool = False) -> str:
        """The current access token string; for static schemes the configured token or key."""
        token = self.get_token(force_refresh=force_refresh)
        if token is not None:
            return token.access_token
        scheme = self.config.scheme
        if isinstance(scheme, BearerAuthConfig):
            return scheme.token
        if isinstance(scheme, ApiKeyConfig):
            return scheme.key
        raise AuthApiError(f"connection {self.authapi_conn_id!r} ({type(scheme).__name__}) uses no token")

    def endpoint_vars(self) -> dict[str, str]:
        """Non-secret values for endpoint templates, such as `realm_id` (QuickBooks company id), `instance_url`
        (the API base URL of a Salesforce org, from its token response) and every value the connection learns after
        its consent (`derived_values()`: Jira Cloud's `{cloudid}`, Zoho's `{api_domain}`).

        A value stored with the token (from the consent callback or the token response) wins over the connection's
        field. A connection without a host of its own, or with values learned after the consent, gets a token
        first if none is stored: they come with it (`{instance_url}/services/data/...`).
        """
        named = (REALM_ID, INSTANCE_URL)
        values = {key: str(value) for key in named if (value := connection_value(self.connection, key))}
        if self.token_manager is not None:
            derived = bool(self.config.derived)
            token = self.get_token() if derived or not self.config.common.base_url else self.store.load()
            if token is not None:
                values.update({k: str(v) for k, v in token.extra.items() if k in named and v})
            if derived:
                self._derived = values_of(token)
                values.update(self._derived)
        return values

    def derived_values(self) -> dict[str, str]:
        """The values the connection learned after its consent, as kept with its token (`auth/derived.py`): from the
        consent callback (`consent_values`), the token answer (`answer_values`) and the discovery request sent with
        the first token (`discovery_values`). {} for a connection that declares none; a token is obtained first
        when none is stored. Read once per hook."""
        if self._derived is None:
            self._derived = values_of(self.get_token()) if self.config.derived else {}
        return self._derived

    async def aderived_values(self) -> dict[str, str]:
        """The async `derived_values()`, for an event loop (the triggerer)."""
        if self._derived is None:
            manager = self.token_manager
            self._derived = values_of(await manager.aget_token()) if manager and self.config.derived else {}
        return self._derived

    def discovered_entries(self) -> list[dict[str, str]]:
        """Every entry the connection's discovery request lists now, each as its `discovery_values` (Xero: one per
        organisation the consent gave, `{"tenant_id", "tenant_name"}`): a list a DAG maps a task over
        (`.expand()`), while the connection's own `{tenant_id}` stays the entry `discovery_match` picks. Sent
        with the current token, as token requests are sent; the entries hold no secret."""
        manager = self.token_manager
        if manager is None or not self.config.derived.discovery_url:
            raise ConfigError("discovery_url", f"connection {self.authapi_conn_id!r} has no discovery request")
        return manager.endpoint.discover_entries(manager.get_token())

    # -- UI ----------------------------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """For the UI's Test button: obtain a fresh token (then GET `test_endpoint` when set), or GET
        `test_endpoint` for static schemes. See `plugins.connection_check`; the message holds no secret."""
        from airflow_provider_authapi.plugins.connection_check import run_connection_test

        return run_connection_test(self)


# -- the request arguments operator, sensor and trigger share ----------------------------------------------------

# The request arguments Airflow renders with Jinja, and how the UI shows them rendered.
REQUEST_TEMPLATE_FIELDS = ("endpoint", "query_params", "json", "data", "headers")
REQUEST_TEMPLATE_RENDERERS = {"query_params": "json", "json": "json", "data": "py", "headers": "json"}

ResponseFilterSpec = str | Callable[[Any], Any] | dict[str, str] | None
ResponseCheck = Callable[[Any], bool]


class AuthApiTaskError(AuthApiError):
    """A deferred request failed in the triggerer; the message is the trigger's, secret-free."""


def format_endpoint(endpoint: str, variables: Mapping[str, str]) -> str:
    """Fill `{name}` placeholders (e.g. `/v3/company/{realm_id}/query`) from the hook's `endpoint_vars()`."""
    if "{" not in endpoint:
        return endpoint
    names = {name for _, name, _, _ in string.Formatter().parse(endpoint) if name}
    missing = sorted(names - set(variables))
    if missing:
        known = ", ".join(sorted(variables)) or "none"
        raise ConfigError("endpoint", f"{endpoint!r} needs {missing}; the connection provides: {known}")
    return endpoint.format_map(variables)


def event_result(event: dict[str, Any]) -> Any:
    """The result a trigger sent back, or raise with its (secret-free) error message."""
    if event.get("status") != "success":
        raise AuthApiTaskError(f"{event.get('error', 'Error')}: {event.get('message', 'no message')}")
    return event.get("result")


def _by_import_path(field_name: str, build: Callable[[], Any], why: str) -> Any:
    """`build()`, with a refusal re-worded to say why an import path is needed."""
    try:
        return build()
    except ConfigError as exc:
        raise ConfigError(field_name, f"{exc} ({why})") from None


TASK_ARGUMENTS = ("endpoint", "method", "query_params", "json", "data", "headers", "response_filter", "response_check")


@dataclass
class ApiCall:
    """One call through an `authapi_*` connection: what to request and how to read the answer.

    `endpoint` may hold `{name}` placeholders until `with_endpoint_vars()`; `response_filter` is a path, a
    callable or its spec; `pagination` a paginator, its name or its dict; `ok_statuses` are statuses that
    mean "not yet" to a sensor; `allow_empty_pages` takes a page without the filtered path as no records
    instead of an error; `concurrency`, `max_requests_per_second` and `response_actions` (rules: `api/rules.py`)
    are `Fetcher`'s; so is `decoder` (a `decoder_for` spec, or `"raw"`: each answer streamed, `api/decoders.py`).
    """

    authapi_conn_id: str = DEFAULT_CONN_ID
    endpoint: str = ""
    method: str = "GET"
    query_params: dict[str, Any] | None = None
    json: Any = None
    data: Any = None
    headers: dict[str, str] | None = None
    response_filter: ResponseFilterSpec = None
    pagination: PaginatorSpec = None
    response_check: ResponseCheck | None = None
    max_pages: int | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    ok_statuses: tuple[int, ...] = ()
    allow_empty_pages: bool = False
    concurrency: int = 1
    max_requests_per_second: float | None = None
    response_actions: ResponseRules | ResponseActionsSpec = None
    authenticate: bool = True  # False: no credential of any kind (a presigned URL on another origin)
    decoder: DecoderSpec | None = None  # each answer streamed: records of this format, or "raw" bytes
    children: ChildRequests | Mapping[str, Any] | None = None  # requests per record of this one (api/children.py)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self.ok_statuses = tuple(self.ok_statuses or ())
        if self.children is not None:
            self.children = ChildRequests.of(self.children)

    @classmethod
    def of_task(cls, task: Any, **more: Any) -> ApiCall:
        """The call an operator or sensor describes with its (rendered) attributes of the same names."""
        shared = {name: getattr(task, name) for name in TASK_ARGUMENTS}
        more.setdefault("authenticate", getattr(task, "authenticate", True))
        return cls(task.authapi_conn_id, retry=task.request_retry, **shared, **more)

    def validate(self, *, deferrable: bool = False) -> None:
        """Fail when the DAG is parsed, not at run time, on a bad filter or paginator (and, for a deferrable
        task, on a callable the triggerer could not import)."""
        ResponseFilter.of(self.response_filter)
        get_paginator(self.pagination)
        ResponseRules.of(self.response_actions)
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int) or self.concurrency < 1:
            raise ConfigError("concurrency", f"must be a whole number, 1 or more (got {self.concurrency!r})")
        if self.max_requests_per_second is not None and not self.max_requests_per_second > 0:
            raise ConfigError("max_requests_per_second", f"must be above 0 (got {self.max_requests_per_second!r})")
        if self.decoder is not None:
            check_streamed(
                self.decoder,
                paginator=self.pagination,
                response_filter=self.response_filter,
                response_check=self.response_check,
                concurrency=self.concurrency,
                response_actions=self.response_actions,
            )
        if self.children is not None and self.decoder is not None:
            raise ConfigError("children", "child requests are read from JSON records: leave decoder out")
        if deferrable:
            self._reading_specs()

    # -- in the worker -----------------------------------------------------------------------------------------

    def hook(self) -> AuthApiHook:
        """The connection's hook."""
        return AuthApiHook(self.authapi_conn_id)

    def with_endpoint_vars(self, variables: Mapping[str, str]) -> ApiCall:
        """This call with the endpoint's placeholders filled (done once, in the worker)."""
        return replace(self, endpoint=format_endpoint(self.endpoint, variables))

    def request(self) -> RequestSpec:
        return RequestSpec(
            self.method,
            self.endpoint,
            params=dict(self.query_params or {}),
            json=self.json,
            data=self.data,
            headers=self.headers or {},
            authenticate=self.authenticate,
        )

    def fetcher(self, hook: AuthApiHook, logger: logging.Logger | Any = None) -> Fetcher | Nested:
        """The page loop of this call; errors are scrubbed of every secret of the hook's connection. A `refresh`
        rule renews the token through the hook's token manager. With `children`, the parent's loop inside a
        `Nested` run whose child fetchers share its secrets, retry policy, logger and pace."""
        if self.children is None:
            return self._fetcher(hook, logger)
        # one pace for the whole run, sized for the most requests it has in flight (children's concurrency)
        in_flight, spec = self.concurrency, self.children
        while spec is not None:
            in_flight, spec = max(in_flight, spec.concurrency), spec.children
        parent = self._fetcher(hook, logger, pace=Pace(self.max_requests_per_second, in_flight=in_flight))

        def child(request: RequestSpec, spec: ChildRequests) -> Fetcher:
            rules = ResponseRules.of(spec.response_actions) if spec.response_actions is not None else None
            return Fetcher(
                replace(request, authenticate=self.authenticate),
                paginator=spec.pagination,
                response_filter=spec.response_filter,
                retry=self.retry,
                max_pages=spec.max_pages,
                secrets=parent.secrets,
                logger=QuietLog(parent.log),
                allow_empty_pages=spec.allow_empty_pages,
                response_actions=rules,
                token_manager=hook.token_manager if rules is not None and rules.refreshes else None,
                pace=parent.pace,
            )

        return Nested(parent, self.children, child)

    def _fetcher(self, hook: AuthApiHook, logger: logging.Logger | Any = None, pace: Pace | None = None) -> Fetcher:
        rules = ResponseRules.of(self.response_actions) if self.response_actions is not None else None
        return Fetcher(
            self.request(),
            paginator=self.pagination,
            response_filter=self.response_filter,
            response_check=self.response_check,
            retry=self.retry,
            max_pages=self.max_pages,
            secrets=config_secrets(hook.config),
            logger=logger or logging.getLogger(__name__),
            ok_statuses=self.ok_statuses,
            allow_empty_pages=self.allow_empty_pages,
            concurrency=self.concurrency,
            max_requests_per_second=self.max_requests_per_second,
            response_actions=rules,
            token_manager=hook.token_manager if rules is not None and rules.refreshes else None,
            decoder=self.decoder,
            pace=pace,
        )

    # -- to and from the triggerer -----------------------------------------------------------------------------

    def _reading_specs(self) -> dict[str, Any]:
        """Paginator, filter, check and response rules as plain data; a lambda or nested function is refused, naming
        its field (a rule's predicate goes as the import path string it was given as)."""
        paginator = get_paginator(self.pagination)
        pagination_spec = paginator.to_spec() if paginator else None
        response_filter = ResponseFilter.of(self.response_filter)
        filter_spec = check_ref = None
        if response_filter is not None:
            why = "deferrable=True sends it by import path"
            filter_spec = _by_import_path("response_filter", response_filter.to_spec, why)
        if self.response_check is not None:
            check, why = self.response_check, "deferrable=True sends it to the triggerer by import path"
            check_ref = _by_import_path("response_check", lambda: callable_ref(check), why)
        if isinstance(self.decoder, Decoder):
            raise ConfigError(
                "decoder",
                f"deferrable=True sends the decoder to the triggerer as plain data: give its spec ('csv+gzip', "
                f"{{'format': 'xml', 'record_tag': 'item'}}), not {self.decoder!r}",
            )
        return {
            "pagination": pagination_spec,
            "response_filter": filter_spec,
            "response_check": check_ref,
            "response_actions": ResponseRules.of(self.response_actions).to_spec(),
            "decoder": self.decoder,
            **({"children": self.children.to_spec()} if isinstance(self.children, ChildRequests) else {}),
        }

    def to_dict(self) -> dict[str, Any]:
        """The trigger's kwargs: plain data; callables and custom paginators by import path."""
        return {
            "authapi_conn_id": self.authapi_conn_id,
            "request": self.request().to_dict(),
            **self._reading_specs(),
            "max_pages": self.max_pages,
            "retry": self.retry.to_spec(),
            "ok_statuses": list(self.ok_statuses) or None,
            "allow_empty_pages": self.allow_empty_pages,
            "concurrency": self.concurrency,
            "max_requests_per_second": self.max_requests_per_second,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApiCall:
        """Inverse of `to_dict()`: imports the callables it names (rule predicates included)."""
        request = RequestSpec.from_dict(data["request"])
        check = data.get("response_check")
        return cls(
            authapi_conn_id=data["authapi_conn_id"],
            endpoint=request.url,
            method=request.method,
            query_params=request.params,
            json=request.json,
            data=request.data,
            headers=request.headers,
            authenticate=request.authenticate,
            response_filter=data.get("response_filter"),
            pagination=data.get("pagination"),
            response_check=resolve_callable(check) if check else None,
            max_pages=data.get("max_pages"),
            retry=RetryPolicy.of(data.get("retry")),
            ok_statuses=tuple(data.get("ok_statuses") or ()),
            allow_empty_pages=bool(data.get("allow_empty_pages")),
            concurrency=int(data.get("concurrency") or 1),
            max_requests_per_second=data.get("max_requests_per_second"),
            response_actions=ResponseRules.of(data.get("response_actions")) or None,
            decoder=data.get("decoder"),
            children=data.get("children"),
        )

    async def ahook(self) -> AuthApiHook:
        """The connection's hook inside the triggerer's event loop."""
        connection = await AuthApiHook.aget_connection(self.authapi_conn_id)
        hook = AuthApiHook(self.authapi_conn_id, connection=connection)
        # building the config registers its secrets with the masker, a sync Task SDK call: not on the loop
        await asyncio.to_thread(getattr, hook, "config")
        if hook.config.derived and needs_values(hook.config):  # values kept with the token fill the base URL
            await hook.aderived_values()
        return hook
