"""`AuthApiOperator`: one authenticated REST call (optionally paginated) whose JSON result goes to XCom, or with
`decoder` whose streamed answer (CSV, JSON Lines, XML, gzip, zip, or raw bytes) goes to XCom or a file."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath

from airflow_provider_authapi.api import JsonLinesWriter, RetryPolicy
from airflow_provider_authapi.api.children import ChildRequests
from airflow_provider_authapi.api.decoders import DecoderSpec
from airflow_provider_authapi.api.fetch import Fetcher
from airflow_provider_authapi.api.output import RawFileWriter
from airflow_provider_authapi.api.pagination import PaginatorSpec
from airflow_provider_authapi.api.rules import ResponseActionsSpec
from airflow_provider_authapi.api.streamed import DECODER, is_raw
from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.compat import conf
from airflow_provider_authapi.hooks.authapi import (
    REQUEST_TEMPLATE_FIELDS,
    REQUEST_TEMPLATE_RENDERERS,
    ApiCall,
    event_result,
)
from airflow_provider_authapi.operators.assets import add_to_outlet_events, load_summary
from airflow_provider_authapi.operators.incremental import Incremental, IncrementalLoad

if TYPE_CHECKING:
    from airflow_provider_authapi.hooks.authapi import AuthApiHook


class AuthApiOperator(BaseOperator):
    """Call `endpoint` through an `authapi_*` connection; return the JSON result (pushed to XCom).

    :param authapi_conn_id: the connection (any `authapi_*` type).
    :param endpoint: path relative to the connection's host, or an absolute URL on it. `{realm_id}`-style
        placeholders are filled from `AuthApiHook.endpoint_vars()`. Templated.
    :param method: HTTP method.
    :param query_params: query string parameters (named so because `params` is every operator's Jinja
        params argument). Templated.
    :param json: a JSON body. Templated.
    :param data: a form body (dict) or raw text body (str). Templated.
    :param headers: extra request headers. Templated.
    :param response_filter: a path into the JSON body (`QueryResponse.Customer`, `items[*].id`) or a callable
        taking the parsed body. With pagination it picks each page's records.
    :param pagination: a paginator instance, name (`json_link`, `header_link`, `offset`, `page_number`,
        `cursor`, `quickbooks`, or `auto`: picked from the first answer and logged) or dict
        (`{"type": "offset", "limit": 500}`). The result is then the list of all records.
    :param response_check: a callable taking each page's parsed body; a false result fails the task.
    :param max_pages: stop after this many pages. Without it, more than 10,000 pages fail the task (an API
        whose next link or cursor never ends); a next link or cursor that repeats an earlier page's always does.
    :param allow_empty_pages: take a page whose body lacks the `response_filter` path as no records. By default
        such a page fails the task (naming the page and the keys it has), as does a 2xx body that is an error
        (`{"error": "quota exceeded"}`) or not JSON.
    :param concurrency: requests in flight at once (default 1). Pages come out in page order, and with
        `output_path` memory holds at most this many pages. Only where later requests are known before earlier
        answers: `offset` and `page_number` once the first page gives a total (or `max_pages` bounds the run),
        `quickbooks` after a `COUNT(*)` query; other paginators page one request at a time (and log so).
    :param max_requests_per_second: a pace for APIs that publish a limit but send no rate-limit headers. Any
        `Retry-After`, `X-RateLimit-Remaining`/`-Reset` or IETF `RateLimit` header slows the requests in flight
        down before the limit, with or without it.
    :param response_actions: what an answer means, decided before its body is used: statuses mapped to actions
        (`{404: "empty", 409: "skip"}`), or a list of rules checked in order, the first match winning:
        `[{"status": 200, "content": "rate limited", "action": "retry"}, {"path": "error.code", "value":
        "TOKEN_EXPIRED", "action": "refresh"}]`. A rule's conditions (all must hold): `status` (one or a list),
        `content` (a substring of the body), `path` + `value` (a JSON path in the body equal to the value),
        `predicate` (a callable `(response) -> bool`; with `deferrable=True` only as its import path string,
        `"package.module.function"`). Actions: `empty` (a page of no records, which ends a run that stops on an
        empty page; `ignore` is another name for it), `skip` (the page is left out; offsets and page numbers go on
        to the next), `retry` (under `request_retry`, as a 429 is; still matching after the last attempt fails the
        task), `refresh` (the token is renewed, as after a 401, and the request sent once more), `fail` (the task
        fails, naming the rule, with a secret-free excerpt). See `api/rules.py`.
    :param output_path: an `ObjectStoragePath` or URL (`file:///data/x.jsonl`, `s3://...`): records are
        streamed there as JSON Lines page by page, and only `{"path", "records"}` goes to XCom. Templated.
    :param output_conn_id: connection for the object store of `output_path` when given as a string.
    :param decoder: read each answer as it streams in, instead of whole as JSON: a format name (`"csv"`, `"jsonl"`,
        `"xml"` needs a dict, `"json"`), with a compression (`"csv+gzip"`, `"jsonl+zip"`), or a dict (`{"format":
        "csv", "delimiter": ";", "compression": "gzip"}`, `{"format": "xml", "record_tag": "item"}`; see
        `api/decoders.py`). The records go to `output_path` as JSON Lines, memory holding a record and a chunk
        (a batch of at most 500 records on its way to the file), or without `output_path` to XCom as a list. The
        status is checked (and 429/5xx retried) before the body is read; the body then has no deadline and no size
        limit, only an idle bound: no bytes for the connection's `timeout` fails the task, naming the request.
        `"raw"` writes the body's bytes unchanged to `output_path` (required; httpx undoes a `Content-Encoding`) and
        returns `{"path", "bytes", "sha256"}`. With a decoder, `response_filter`, `response_check`, `concurrency`
        > 1, `incremental` (raw only) and paginators that read the body are refused (`ConfigError` naming
        `decoder`): `header_link`, `offset` with `total_path=None`, `page_number` without totals and `cursor` on
        a `header:` or `last_record:` cursor page; a response rule on `content` or `path` needs error statuses.
    :param children: requests made for every record of this one, in the same task: a `ChildRequests` or its dict,
        `{"endpoint": "/projects/{id}/issues", "query_params": {"since": "{updated}"}, "pagination": ...,
        "response_filter": "issues", "include": {"project_key": "key"}, "concurrency": 8}`. `{path}` placeholders
        take a value of the parent record (endpoint, query parameters, JSON body, headers); `include` carries
        parent fields into each child record; `children` nests further. The result (XCom or `output_path`) is the
        child records, in parent order; `concurrency` children run at once (async, also in the worker), sharing
        `max_requests_per_second` and the rate-limit pace, each under `response_actions` of its own (a child rule
        `{404: "empty"}` skips a parent gone since). Templated (Jinja's `{{ }}` leaves single braces alone). See
        `api/children.py`.
    :param request_retry: a `RetryPolicy`, its dict form, or a number of attempts (default 5): retries of each
        request on connect errors, timeouts, 429 and 5xx, honouring `Retry-After`.
    :param incremental: a high-water mark carried across runs, `{"cursor_path": "updated_at", "param":
        "updated_since", "initial": "2026-01-01T00:00:00Z"}`: the request gets `param=<mark>` (the stored mark,
        else `initial`; neither: no parameter), and after a successful run the largest `cursor_path` of the
        records fetched is saved as the next mark (a failed run leaves it). Kept in the asset state store of the
        first `Asset` outlet, else in the Variable `authapi_mark_<dag_id>.<task_id>`; `"state_key"` names the key
        or Variable instead. Also `lookback`, `end`/`end_param`, `format`, `filter`, `primary_key` and
        `partition_key`, and `param` as `body:`/`header:`/`path:` (see `Incremental`). Templated: `"initial": "{{
        data_interval_start | ts }}"` works. See `operators/incremental.py`.
    :param authenticate: `False` sends the request with no credential of any kind (no token, key, password,
        extra header or cookie), for an endpoint that needs none, such as a presigned download URL an earlier
        answer gave; such a URL may be on any origin. With `True` (the default) the endpoint must be on an origin
        the connection trusts (its API base URL's, or one in `allowed_origins`), else the task fails unsent.
    :param deferrable: run the requests in the triggerer (`AuthApiTrigger`); default `[operators]
        default_deferrable`. Callables (filter, check, custom paginator) must then be importable there:
        module-level functions in a module on the triggerer's path. The result travels back in the trigger
        event (stored in the metadata DB), so use `output_path` for large results.
    """

    template_fields: Sequence[str] = (*REQUEST_TEMPLATE_FIELDS, "output_path", "incremental", "children")
    template_fields_renderers = {**REQUEST_TEMPLATE_RENDERERS, "incremental": "json", "children": "json"}
    ui_color = "#e3f2fd"

    def __init__(
        self,
        *,
        endpoint: str,
        authapi_conn_id: str = "authapi_default",
        method: str = "GET",
        query_params: dict[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        response_filter: str | Callable[[Any], Any] | None = None,
        pagination: PaginatorSpec = None,
        response_check: Callable[[Any], bool] | None = None,
        max_pages: int | None = None,
        allow_empty_pages: bool = False,
        concurrency: int = 1,
        max_requests_per_second: float | None = None,
        response_actions: ResponseActionsSpec = None,
        output_path: str | ObjectStoragePath | None = None,
        output_conn_id: str | None = None,
        request_retry: RetryPolicy | dict[str, Any] | int | None = None,
        incremental: Incremental | dict[str, Any] | None = None,
        decoder: DecoderSpec | None = None,
        children: ChildRequests | dict[str, Any] | None = None,
        authenticate: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.authapi_conn_id = authapi_conn_id
        self.endpoint = endpoint
        self.method = method.upper()
        self.query_params = query_params
        self.json = json
        self.data = data
        self.headers = headers
        self.response_filter = response_filter
        self.pagination = pagination
        self.response_check = response_check
        self.max_pages = max_pages
        self.allow_empty_pages = allow_empty_pages
        self.concurrency = concurrency
        self.max_requests_per_second = max_requests_per_second
        self.response_actions = response_actions
        self.output_path = output_path
        self.output_conn_id = output_conn_id
        self.request_retry = RetryPolicy.of(request_retry)
        if incremental is not None:
            Incremental.of(incremental)  # checked when the DAG is parsed; its templates are rendered before execute
        self.incremental = incremental
        self.authenticate = authenticate
        self.decoder = decoder
        self.children = _as_data(children)
        self.deferrable = deferrable
        if children is not None and incremental is not None:
            raise ConfigError(
                "children",
                f"{self.task_id}: incremental with children is not supported yet (its mark would go on the parent "
                "request); give the child request its own since-parameter",
            )
        if is_raw(decoder) and output_path is None:
            raise ConfigError(
                DECODER, f"{self.task_id}: decoder='raw' writes the answer's bytes to output_path: give one"
            )
        if is_raw(decoder) and incremental is not None:
            raise ConfigError(
                DECODER, f"{self.task_id}: decoder='raw' has no records to take a mark from (incremental)"
            )
        self._call().validate(deferrable=deferrable)
        if deferrable and pagination is not None and output_path is None:
            warnings.warn(
                f"{self.task_id}: a deferred paginated pull returns its records in the trigger event, which carries "
                "at most 1 MiB (it is stored in the metadata DB); give output_path for anything larger",
                UserWarning,
                stacklevel=2,
            )

    def _call(self) -> ApiCall:
        """The request arguments as they stand (rendered, once `execute` runs)."""
        return ApiCall.of_task(
            self,
            pagination=self.pagination,
            max_pages=self.max_pages,
            allow_empty_pages=self.allow_empty_pages,
            concurrency=self.concurrency,
            max_requests_per_second=self.max_requests_per_second,
            response_actions=self.response_actions,
            decoder=self.decoder,
            children=self.children,
        )

    def _output(self) -> ObjectStoragePath | None:
        if self.output_path is None or isinstance(self.output_path, ObjectStoragePath):
            return self.output_path
        return ObjectStoragePath(self.output_path, conn_id=self.output_conn_id)

    def execute(self, context: Any) -> Any:
        call = self._call()
        hook = call.hook()
        call = call.with_endpoint_vars(hook.endpoint_vars())
        self._incremental_load = self._begin_incremental(context)
        call = self._incremental_load.apply(call) if self._incremental_load else call
        output = self._output()
        if self.deferrable:
            from airflow_provider_authapi.triggers.authapi import AuthApiTrigger, resume_not_before

            self.defer(
                trigger=AuthApiTrigger(
                    **call.to_dict(),
                    output_path=str(output) if output is not None else None,
                    output_conn_id=getattr(output, "conn_id", None) if output is not None else None,
                    not_before=resume_not_before(),
                ),
                method_name="execute_complete",
            )
        fetcher = call.fetcher(hook, self.log)
        if call.concurrency > 1 or call.children is not None:  # children: `concurrency` at a time, async
            result = asyncio.run(self._run_concurrently(fetcher, hook, output))
        else:
            result = self._run(fetcher, hook, output)
        if fetcher.pages > 1:
            self.log.info("Done: %d pages, %d records", fetcher.pages, fetcher.records)
        return self._finish(context, result, output)

    def _finish(self, context: Any, result: Any, output: ObjectStoragePath | None) -> Any:
        """After every page was fetched (and written): save the incremental mark, then put the record count (and
        path, and mark) in the event of each `Asset` outlet."""
        load = self._incremental_load
        if load is not None:
            result = load.refine(result, output)  # filter / primary_key, where no writer applied them
        mark = load.finish(result, output) if load is not None else None
        if self.outlets:
            extra = (
                dict(result) if is_raw(self.decoder) else load_summary(result, to_file=output is not None, mark=mark)
            )
            add_to_outlet_events(self.outlets, context, extra)
        return result

    def _begin_incremental(self, context: Any) -> IncrementalLoad | None:
        if self.incremental is None:
            return None
        spec = Incremental.of(self.incremental)  # rendered: `initial`, `end`, `partition_key` may be templates
        return IncrementalLoad.begin(spec, self, context)

    def _writer(self, output: ObjectStoragePath) -> JsonLinesWriter:
        load = getattr(self, "_incremental_load", None)
        return load.writer(output) if load else JsonLinesWriter(output)

    def _run(self, fetcher: Fetcher, hook: AuthApiHook, output: ObjectStoragePath | None) -> Any:
        with hook.get_client() as client:
            if self.decoder is not None and is_raw(self.decoder):  # no streamed code without a decoder
                assert output is not None  # refused in __init__
                with RawFileWriter(output) as out:
                    result = fetcher.download(client, out)
                self.log.info("Wrote %d bytes to %s (sha256 %s)", result["bytes"], result["path"], result["sha256"])
            elif output is None:
                result = fetcher.run(client)
            else:
                with self._writer(output) as writer:
                    result = fetcher.run(client, writer)
                self.log.info("Wrote %d records to %s", result["records"], result["path"])
        return result

    async def _run_concurrently(self, fetcher: Fetcher, hook: AuthApiHook, output: ObjectStoragePath | None) -> Any:
        """`concurrency` > 1: the async engine on one async client, in this worker."""
        async with hook.get_async_client() as client:
            if output is None:
                return await fetcher.arun(client)
            with self._writer(output) as writer:

                async def write_page(records: list[Any]) -> None:
                    writer.write_page(records)

                await fetcher.arun(client, write_page)
            self.log.info("Wrote %d records to %s", writer.records, writer.path)
            return {"path": str(writer.path), "records": writer.records}

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """Resume after the trigger: return its result, or fail with its error."""
        result = event_result(event)
        self.log.info("Trigger finished: %d pages, %d records", event.get("pages", 1), event.get("records", 0))
        self._incremental_load = self._begin_incremental(context)
        return self._finish(context, result, self._output())


def _as_data(children: ChildRequests | dict[str, Any] | None) -> ChildRequests | dict[str, Any] | None:
    """`children` as plain JSON data (its rules' statuses as text keys), for Jinja and the rendered-fields record:
    Airflow 3.1 refuses a rendered field holding a dict with a number key (`{404: "empty"}`), failing the task
    before it runs. A spec that is not plain data (a callable filter) stays as given."""
    if children is None:
        return None
    try:
        return ChildRequests.of(children).to_spec()  # type: ignore[union-attr]
    except ConfigError:
        return children
