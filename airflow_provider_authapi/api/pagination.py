"""Paginators, one small class per style, in the spirit of dlt's REST client.

A paginator sees each page and edits the next request:

    paginator.init_request(request)                 # before the first page
    paginator.update_state(response, body, records) # after each page; sets `has_next_page`
    paginator.update_request(request)               # before the next page

Pick one by instance (`OffsetPaginator(limit=100)`), by name (`"offset"`) or by a dict
(`{"type": "offset", "limit": 100}`); `paginator.to_spec()` gives that dict back, so a trigger can carry it.

Where a paginator writes a value (its `*_param` options) is a `RequestTarget`: a query parameter by default,
`body:<path>` in the JSON body, `header:<name>`. Where it reads one (`cursor_path`, `has_more_path`) is a
`ResponseSource`: a path in the JSON body by default, `header:<name>`, `last_record:<path>`.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

from airflow_provider_authapi.auth.client import NO_CREDENTIALS, credentials_guarded
from airflow_provider_authapi.auth.config import import_object
from airflow_provider_authapi.auth.errors import ConfigError, PaginationError
from airflow_provider_authapi.auth.json_path import MISSING, find_path, parse_path, set_path
from airflow_provider_authapi.auth.retry import asend_bounded, send_bounded

# -- A request as plain data ----------------------------------------------------------------------------------------

log = logging.getLogger(__name__)

Params = dict[str, Any]


def split_query(url: str) -> tuple[str, Params]:
    """Split `url` into (url without query, query as a dict; repeated keys become lists).

    httpx replaces a URL's own query whenever the client has default params (the connection's
    `extra_query_params`), so queries are always carried in `params` instead.
    """
    parts = urlsplit(url)
    params: Params = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in params:
            previous = params[key]
            params[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            params[key] = value
    return urlunsplit(parts._replace(query="")), params


@dataclass
class RequestSpec:
    """Method, URL (relative to the client's base URL, or absolute) and the request's body and options."""

    method: str = "GET"
    url: str = ""
    params: Params = field(default_factory=dict)
    json: Any = None
    data: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    authenticate: bool = True  # False: no credential of any kind goes with it (`auth.client.NO_CREDENTIALS`)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self.url, url_params = split_query(self.url)
        self.params = {**url_params, **(self.params or {})}
        self.headers = dict(self.headers or {})

    def copy(self) -> RequestSpec:
        """A copy a paginator may edit: the JSON body too (body pagination writes into it)."""
        return replace(self, params=dict(self.params), headers=dict(self.headers), json=copy.deepcopy(self.json))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequestSpec:
        return cls(**data)

    @property
    def label(self) -> str:
        """`METHOD path` for logs and errors: no query string (it may hold an API key), no host."""
        return f"{self.method} {urlsplit(self.url).path or '/'}"

    def httpx_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"params": self.params or None, "headers": self.headers or None}
        if not self.authenticate:
            kwargs["extensions"] = dict(NO_CREDENTIALS)
        if self.json is not None:
            kwargs["json"] = self.json
        if isinstance(self.data, str | bytes):
            kwargs["content"] = self.data
        elif self.data is not None:
            kwargs["data"] = self.data
        return kwargs

    def send(self, client: httpx.Client) -> httpx.Response:
        """One attempt, bounded in time and body size (`retry.send_bounded`)."""
        return send_bounded(client, client.build_request(self.method, self.url, **self.httpx_kwargs()))

    async def asend(self, client: httpx.AsyncClient) -> httpx.Response:
        return await asend_bounded(client, client.build_request(self.method, self.url, **self.httpx_kwargs()))


# -- Where a value goes in a request, and where one comes from in an answer -----------------------------------------


class RequestTarget:
    """Where a paginator (or a mark) puts a value: `name` or `query:name` (a query parameter), `body:path` (the JSON
    body, e.g. `body:paging.after`; HubSpot, Jira and Notion search page through a POST body) or `header:Name`."""

    PLACES: ClassVar[tuple[str, ...]] = ("query", "body", "header")

    def __init__(self, spec: str, field: str = "pagination") -> None:
        place, sep, name = str(spec).partition(":")
        if not sep or place not in self.PLACES:
            place, name = "query", str(spec)
        if not name:
            raise ConfigError(field, f"{spec!r} names no {place} value")
        self.spec, self.place, self.name, self.field = spec, place, name, field
        if place == "body":
            parse_path(name, field)

    def __repr__(self) -> str:
        return f"RequestTarget({self.spec!r})"

    def set(self, request: RequestSpec, value: Any) -> None:
        if self.place == "query":
            request.params[self.name] = value
        elif self.place == "header":
            request.headers[self.name] = str(value)
        else:
            if request.json is not None and not isinstance(request.json, dict | list):
                raise ConfigError(self.field, f"{self.spec!r}: the request body is not a JSON object")
            request.json = set_path(request.json, self.name, value, self.field)

    def get(self, request: RequestSpec) -> Any:
        if self.place == "query":
            return request.params.get(self.name)
        if self.place == "header":
            return request.headers.get(self.name)
        return find_path(request.json, self.name)


class ResponseSource:
    """Where a paginator reads a value: `path` or `body:path` (the JSON body), `header:Name` (a response header,
    e.g. a next cursor some APIs send there) or `last_record:path` (the page's last record: Stripe's
    `starting_after` is the last object's `id`)."""

    PLACES: ClassVar[tuple[str, ...]] = ("body", "header", "last_record")

    def __init__(self, spec: str, field: str = "pagination") -> None:
        place, sep, name = str(spec).partition(":")
        if not sep or place not in self.PLACES:
            place, name = "body", str(spec)
        self.spec, self.place, self.name = spec, place, name
        if place != "header":
            parse_path(name, field)

    def __repr__(self) -> str:
        return f"ResponseSource({self.spec!r})"

    def read(self, response: httpx.Response, body: Any, records: list[Any]) -> Any:
        if self.place == "header":
            return response.headers.get(self.name)
        if self.place == "last_record":
            return find_path(records[-1], self.name) if records else None
        return find_path(body, self.name)


def _no_more(source: ResponseSource | None, response: httpx.Response, body: Any, records: list[Any]) -> bool:
    """Whether a `has_more_path` says the pages are done: its value false, `"false"` or missing."""
    if source is None:
        return False
    value = source.read(response, body, records)
    return value is None or value is False or str(value).strip().lower() in ("false", "0", "")


# -- The records of a page ------------------------------------------------------------------------------------------


def callable_ref(func: Callable[..., Any]) -> str:
    """`module:qualname` of a module-level function, checked to resolve back to the same object.

    Deferred tasks send callables to the triggerer this way; lambdas and nested functions cannot go.
    """
    module, qualname = getattr(func, "__module__", None), getattr(func, "__qualname__", "")
    ref = f"{module}:{qualname}"
    if not module or "<" in qualname:
        raise ConfigError("callable", f"{ref} is not a module-level function; a deferrable task needs one")
    try:
        resolved = resolve_callable(ref)
    except ConfigError as exc:
        raise ConfigError("callable", f"{ref} cannot be imported back ({exc.problem})") from exc
    if resolved is not func:
        raise ConfigError("callable", f"{ref} does not resolve to the same function")
    return ref


def resolve_callable(ref: str) -> Callable[..., Any]:
    """Import `module:qualname` (or `module.name`) by `auth.config.import_object`, checked to be callable."""
    target = import_object("callable", ref)
    if not callable(target):
        raise ConfigError("callable", f"{ref} is not callable")
    return target


class ResponseFilter:
    """Apply a path or a callable to a parsed JSON body. Build with `ResponseFilter.of(spec)`."""

    def __init__(self, path: str | None = None, func: Callable[[Any], Any] | None = None) -> None:
        if (path is None) == (func is None):
            raise ConfigError("response_filter", "give exactly one of a path or a callable")
        self.path, self.func = path, func
        self._parts = parse_path(path) if path is not None else None

    def __repr__(self) -> str:
        return f"ResponseFilter({self.path!r})" if self.path is not None else f"ResponseFilter({self.func!r})"

    def __call__(self, body: Any) -> Any:
        if self.func is not None:
            return self.func(body)
        return find_path(body, self._parts or [])

    def pick(self, body: Any) -> Any:
        """Like calling it, but a path that is not in `body` gives `MISSING` (a callable decides for itself)."""
        if self.func is not None:
            return self.func(body)
        return find_path(body, self._parts or [], missing=MISSING)

    def parent_is_empty(self, body: Any) -> bool:
        """Whether the path's last key is missing from an empty object (`{"QueryResponse": {}}`): no records."""
        parts = self._parts or []
        return len(parts) > 1 and find_path(body, parts[:-1], missing=MISSING) == {}

    @classmethod
    def of(cls, spec: str | Callable[[Any], Any] | dict[str, str] | ResponseFilter | None) -> ResponseFilter | None:
        """From a path, a callable, a serialised spec (`{"path": ...}` / `{"callable": "mod:fn"}`) or None."""
        if spec is None or isinstance(spec, ResponseFilter):
            return spec
        if isinstance(spec, str):
            return cls(path=spec)
        if isinstance(spec, dict):
            if "path" in spec:
                return cls(path=spec["path"])
            if "callable" in spec:
                return cls(func=resolve_callable(spec["callable"]))
            raise ConfigError("response_filter", f"unknown spec keys {sorted(spec)}")
        if callable(spec):
            return cls(func=spec)
        raise ConfigError("response_filter", f"expected a path or a callable, got {type(spec).__name__}")

    def to_spec(self) -> dict[str, str]:
        """Serialisable form for trigger kwargs."""
        if self.path is not None:
            return {"path": self.path}
        assert self.func is not None
        return {"callable": callable_ref(self.func)}


# -- Paginators: the request of the next page -----------------------------------------------------------------------


class BasePaginator:
    """Base class. Subclasses declare their options as dataclass fields and keep state in `_` attributes."""

    name: ClassVar[str] = ""
    # True when the request of page k+1 follows from page k's request alone (offsets, page numbers), so that
    # later pages can be requested before earlier ones answer (`AuthApiOperator(concurrency=N)`).
    predictable: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget any state from a previous run."""
        self.has_next_page = True

    def init_request(self, request: RequestSpec) -> None:
        """Edit the first request (e.g. add `offset=0`)."""

    def update_state(self, response: httpx.Response, body: Any, records: list[Any]) -> None:
        """Read a page; set `has_next_page`."""
        raise NotImplementedError

    def update_request(self, request: RequestSpec) -> None:
        """Edit `request` in place into the request for the next page."""
        raise NotImplementedError

    # -- planning ahead (predictable paginators only) --------------------------------------------------------------

    def advance(self) -> None:
        """Move on to the next page without reading one (what `update_state` does besides reading)."""
        raise NotImplementedError

    def pages_left(self) -> int | None:
        """How many pages follow, when the pages read so far tell (a total); None when they do not."""
        return None

    def count_request(self, request: RequestSpec) -> RequestSpec | None:
        """A request whose answer gives the total (QuickBooks' `COUNT(*)`), for planning; None if there is none."""
        return None

    def read_count(self, body: Any) -> None:
        """Read the answer to `count_request`."""

    def plan(self, request: RequestSpec, pages: int) -> Iterator[RequestSpec]:
        """The requests of the next `pages` pages after `request`, from a copy of this paginator's state."""
        planner = copy.deepcopy(self)
        for _ in range(pages):
            request = request.copy()
            planner.update_request(request)
            yield request
            planner.advance()

    def to_spec(self) -> dict[str, Any]:
        kind = self.name if PAGINATORS.get(self.name) is type(self) else callable_ref(type(self))
        return {"type": kind, **{f.name: getattr(self, f.name) for f in fields(self) if f.init}}


def _same_origin(url: httpx.URL, reference: httpx.URL) -> bool:
    return (url.scheme, url.host, url.port) == (reference.scheme, reference.host, reference.port)


@dataclass
class _NextUrlPaginator(BasePaginator):
    """Follows an absolute or relative next URL. One on another origin is refused, unless the client's auth rules on
    where credentials go (`auth.client.OriginBoundAuth`: the next request is refused there, or let through to an
    origin the connection allows)."""

    def reset(self) -> None:
        super().reset()
        self._next_url: httpx.URL | None = None

    def next_reference(self, response: httpx.Response, body: Any) -> str | None:
        raise NotImplementedError

    def update_state(self, response: httpx.Response, body: Any, records: list[Any]) -> None:
        reference = self.next_reference(response, body)
        if not reference:
            self._next_url, self.has_next_page = None, False
            return
        next_url = response.request.url.join(str(reference))
        if not credentials_guarded(response.request) and not _same_origin(next_url, response.request.url):
            raise PaginationError(
                f"{self.name}: the next page is on another origin ({next_url.scheme}://{next_url.host}); "
                "refusing to send credentials there"
            )
        self._next_url, self.has_next_page = next_url, True

    def update_request(self, request: RequestSpec) -> None:
        assert self._next_url is not None
        request.url, request.params = split_query(str(self._next_url))


@dataclass
class JSONLinkPaginator(_NextUrlPaginator):
    """The next page's URL is in the JSON body, at `next_url_path` (e.g. `next` or `links.next`)."""

    name: ClassVar[str] = "json_link"
    next_url_path: str = "next"

    def next_reference(self, response: httpx.Response, body: Any) -> str | None:
        return find_path(body, self.next_url_path)


@dataclass
class HeaderLinkPaginator(_NextUrlPaginator):
    """The next page's URL is in the `Link` header (RFC 8288), relation `links_next_key` (GitHub style)."""

    name: ClassVar[str] = "header_link"
    links_next_key: str = "next"

    def next_reference(self, response: httpx.Response, body: Any) -> str | None:
        return response.links.get(self.links_next_key, {}).get("url")


@dataclass
class OffsetPaginator(BasePaginator):
    """`offset`/`limit` query params; stops when the offset reaches the total at `total_path`, or on an empty page.

    `stop_after_short_page` also stops on a page with fewer than `limit` records (saves the last, empty request;
    only for APIs that never return fewer than asked mid-way, e.g. by capping `limit`). OData: `offset_param="$skip"`,
    `limit_param="$top"`; Jira's POST search: `offset_param="body:startAt"`, `limit_param="body:maxResults"`.
    `has_more_path` also stops when the answer's flag there is false (`has_more`).
    """

    name: ClassVar[str] = "offset"
    limit: int = 100
    offset: int = 0
    offset_param: str = "offset"
    limit_param: str = "limit"
    total_path: str | None = "total"
    maximum_offset: int | None = None
    stop_after_empty_page: bool = True
    stop_after_short_page: bool = False
    has_more_path: str | None = None

    predictable: ClassVar[bool] = True

    def __post_init__(self) -> None:
        self._offset_to, self._limit_to = RequestTarget(self.offset_param), RequestTarget(self.limit_param)
        self._has_more = ResponseSource(self.has_more_path) if self.has_more_path else None
        super().__post_init__()

    def reset(self) -> None:
        super().reset()
        self._offset = self.offset
        self._limit = self.limit  # what the server serves a page: `limit`, or less where it caps the page size
        self._total: int | None = None

    def init_request(self, request: RequestSpec) -> None:
        self._offset_to.set(request, self._offset)
        self._limit_to.set(request, self._limit)

    def advance(self) -> None:
        self._offset += self._limit

    def pages_left(self) -> int | None:
        ends = [x for x in (self._total, self.maximum_offset) if x is not None]
        return max(0, -(-(min(ends) - self._offset) // self._limit)) if ends else None

    def update_state(self, response: httpx.Response, body: Any, records: list[Any]) -> None:
        total = find_path(body, self.total_path) if self.total_path else None
        if total is not None:
            self._total = int(total)
        # Fewer records than asked while the answer says more follow (a total beyond them, a has_more flag): the
        # server caps the page size (Jira serves 50 when 100 are asked). Stepping by `limit` would skip what it did
        # not send (half of every project's issues were lost so), so step by what it serves, and ask for that.
        # Without a total or a flag a short page is the last one, as before.
        more = (total is not None and self._offset + len(records) < int(total)) or (
            self._has_more is not None and not _no_more(self._has_more, response, body, records)
        )
        if 0 < len(records) < self._limit and more and not self.stop_after_short_page:
            log.warning("A page of %d records, fewer than limit=%d, and more follow: the server serves at most %d a "
                        "page; paging by %d", len(records), self._limit, len(records), len(records))  # fmt: skip
            self._limit = len(records)
        short = len(records) < self._limit
        self.advance()
        self.has_next_page = not (
            (self.stop_after_empty_page and not records)
            or (self.stop_after_short_page and short)
            or (total is not None and self._offset >= int(total))
            or (self.maximum_offset is not None and self._offset >= self.maximum_offset)
            or _no_more(self._has_more, response, body, records)
        )

    def update_request(self, request: RequestSpec) -> None:
        self._offset_to.set(request, self._offset)
        self._limit_to.set(request, self._limit)


@dataclass
class PageNumberPaginator(BasePaginator):
    """A page number query param; stops on an empty page, or when a total (of pages or records) is reached."""

    name: ClassVar[str] = "page_number"
    base_page: int = 1
    page: int | None = None
    page_param: str = "page"
    page_size: int | None = None
    page_size_param: str = "per_page"
    total_pages_path: str | None = None
    total_records_path: str | None = None
    maximum_page: int | None = None
    stop_after_empty_page: bool = True
    has_more_path: str | None = None

    predictable: ClassVar[bool] = True

    def __post_init__(self) -> None:
        self._page_to, self._size_to = RequestTarget(self.page_param), RequestTarget(self.page_size_param)
        self._has_more = ResponseSource(self.has_more_path) if self.has_more_path else None
        super().__post_init__()

    def reset(self) -> None:
        super().reset()
        self._page = self.base_page if self.page is None else self.page
        self._records_seen = 0
        self._last_page: int | None = None

    def advance(self) -> None:
        self._page += 1

    def pages_left(self) -> int | None:
        ends = [x for x in (self._last_page, self.maximum_page) if x is not None]
        return max(0, min(ends) - self._page + 1) if ends else None

    def init_request(self, request: RequestSpec) -> None:
        self._page_to.set(request, self._page)
        if self.page_size is not None:
            self._size_to.set(request, self.page_size)

    def update_state(self, response: httpx.Response, body: Any, records: list[Any]) -> None:
        self._records_seen += len(records)
        pages_done = self._page - self.base_page + 1
        self.advance()
        total_pages = find_path(body, self.total_pages_path) if self.total_pages_path else None
        total_records = find_path(body, self.total_records_path) if self.total_records_path else None
        if total_pages is not None:
            self._last_page = self.base_page + int(total_pages) - 1
        elif total_records is not None and self.page_size:
            self._last_page = self.base_page + -(-int(total_records) // self.page_size) - 1
        self.has_next_page = not (
            (self.stop_after_empty_page and not records)
            or (total_pages is not None and pages_done >= int(total_pages))
            or (total_records is not None and self._records_seen >= int(total_records))
            or (self.maximum_page is not None and self._page > self.maximum_page)
            or _no_more(self._has_more, response, body, records)
        )

    def update_request(self, request: RequestSpec) -> None:
        self._page_to.set(request, self._page)


@dataclass
class CursorPaginator(BasePaginator):
    """An opaque cursor read from the answer (`cursor_path`: a body path, `header:Name` or `last_record:path`) is
    sent back as `cursor_param` (a query param, `body:path` or `header:Name`). Stops when there is no cursor, or
    when `has_more_path` says so (Stripe: `cursor_path="last_record:id"`, `cursor_param="starting_after"`,
    `has_more_path="has_more"`; HubSpot search: `cursor_path="paging.next.after"`, `cursor_param="body:after"`)."""

    name: ClassVar[str] = "cursor"
    cursor_path: str = "next_cursor"
    cursor_param: str = "cursor"
    has_more_path: str | None = None

    def __post_init__(self) -> None:
        self._cursor_from, self._cursor_to = ResponseSource(self.cursor_path), RequestTarget(self.cursor_param)
        self._has_more = ResponseSource(self.has_more_path) if self.has_more_path else None
        super().__post_init__()

    def reset(self) -> None:
        super().reset()
        self._cursor: Any = None

    def update_state(self, response: httpx.Response, body: Any, records: list[Any]) -> None:
        self._cursor = self._cursor_from.read(response, body, records)
        self.has_next_page = self._cursor not in (None, "") and not _no_more(self._has_more, response, body, records)

    def update_request(self, request: RequestSpec) -> None:
        self._cursor_to.set(request, self._cursor)


@dataclass
class SortKeySplitPaginator(BasePaginator):
    """Out of a result cap: HubSpot's search stops at 10,000 results per query, whatever its cursor says. With the
    query sorted ascending by a unique key and filtered on `key > bound`, this runs `paginator` (the API's own
    paging) until the next page would pass `cap` results, then starts the query again from the page's first
    request with the bound raised to the last record's key (`sort_key_path`), written at `bound_param` (usually
    `body:filterGroups[0].filters[0].value`, a filter the body already holds). Like Airbyte, it splits the query by
    its cursor field; the API must sort by that key, or records are missed."""

    name: ClassVar[str] = "sort_key_split"
    paginator: Any = "cursor"
    cap: int = 10_000
    sort_key_path: str = "id"
    bound_param: str = "body:filterGroups[0].filters[0].value"

    def __post_init__(self) -> None:
        if isinstance(self.paginator, BasePaginator):
            self.paginator = self.paginator.to_spec()
        inner = get_paginator(self.paginator)
        if inner is None or isinstance(inner, SortKeySplitPaginator | AutoPaginator):
            raise ConfigError("pagination", "sort_key_split: `paginator` must name the API's own paginator")
        if not isinstance(self.cap, int) or self.cap < 1:
            raise ConfigError("pagination", f"sort_key_split: cap must be a positive number, not {self.cap!r}")
        self._inner = inner
        self._key_from = ResponseSource(f"last_record:{self.sort_key_path}")
        self._bound_to = RequestTarget(self.bound_param)
        super().__post_init__()

    def reset(self) -> None:
        super().reset()
        self._inner.reset()
        self._first: RequestSpec | None = None
        self._in_query = 0  # records of the current query
        self._largest_page = 0
        self._bound: Any = None
        self._restart = False
        self.queries = 1

    def init_request(self, request: RequestSpec) -> None:
        self._first = request.copy()  # before the inner paginator writes its first values
        self._inner.init_request(request)

    def update_state(self, response: httpx.Response, body: Any, records: list[Any]) -> None:
        self._inner.update_state(response, body, records)
        self._in_query += len(records)
        self._largest_page = max(self._largest_page, len(records))
        key = self._key_from.read(response, body, records)
        if key is not None:
            self._bound = key
        self._restart = self._inner.has_next_page and self._in_query + self._largest_page > self.cap
        if self._restart and self._bound is None:
            raise PaginationError(
                f"sort_key_split: the records have no {self.sort_key_path!r} to start the next query from"
            )
        self.has_next_page = self._inner.has_next_page

    def update_request(self, request: RequestSpec) -> None:
        if not self._restart:
            self._inner.update_request(request)
            return
        assert self._first is not None
        fresh = self._first.copy()
        self._bound_to.set(fresh, self._bound)
        self._inner.reset()
        self._inner.init_request(fresh)
        for f in fields(request):
            setattr(request, f.name, getattr(fresh, f.name))
        self._in_query, self._restart = 0, False
        self.queries += 1
        log.info("sort_key_split: query %d starts after %s=%s", self.queries, self.sort_key_path, self._bound)


_START = re.compile(r"\s+STARTPOSITION\s+\d+", re.IGNORECASE)
_MAX = re.compile(r"\s+MAXRESULTS\s+(\d+)", re.IGNORECASE)
_SELECT = re.compile(r"\s*select\s+\*\s+from\s+(\w+)(.*?)(?:\s+order\s+by\s+.*)?$", re.IGNORECASE | re.DOTALL)


@dataclass
class QuickBooksPaginator(BasePaginator):
    """QuickBooks Online query API: `STARTPOSITION s MAXRESULTS n` inside the `query` text.

    The clauses are rewritten (or appended) on every page; stops when a page has fewer than `page_size`
    records. `page_size` defaults to the query's own MAXRESULTS, else 1000 (the API's maximum). The query is
    read from the `query_param` query param, or from the body when it is sent as text (POST).
    """

    name: ClassVar[str] = "quickbooks"
    predictable: ClassVar[bool] = True
    page_size: int | None = None
    query_param: str = "query"
    start_position: int = 1

    def reset(self) -> None:
        super().reset()
        self._position = self.start_position
        self._size = self.page_size or 1000
        self._query: str | None = None
        self._total: int | None = None

    def advance(self) -> None:
        self._position += self._size

    def pages_left(self) -> int | None:
        if self._total is None:
            return None
        return max(0, -(-(self._total - self._position + 1) // self._size))

    def count_request(self, request: RequestSpec) -> RequestSpec | None:
        """`select count(*) from <Entity> [where ...]`: QuickBooks answers `{"QueryResponse": {"totalCount": n}}`."""
        found = _SELECT.match(self._query or "")
        if not found:
            return None
        counting = request.copy()
        text = f"select count(*) from {found.group(1)}{found.group(2)}"  # noqa: S608 - the user's own query, counted
        if self.query_param in counting.params or not isinstance(counting.data, str):
            counting.params[self.query_param] = text
        else:
            counting.data = text
        return counting

    def read_count(self, body: Any) -> None:
        total = find_path(body, "QueryResponse.totalCount")
        if isinstance(total, int) and not isinstance(total, bool):
            self._total = total

    def init_request(self, request: RequestSpec) -> None:
        query = request.params.get(self.query_param)
        if query is None and isinstance(request.data, str):
            query = request.data
        if not isinstance(query, str):
            raise ConfigError("pagination", f"quickbooks: no {self.query_param!r} query param or text body")
        found = _MAX.search(query)
        if self.page_size is None and found:
            self._size = int(found.group(1))
        self._query = _MAX.sub("", _START.sub("", query)).rstrip()
        self._write(request)

    def _write(self, request: RequestSpec) -> None:
        text = f"{self._query} STARTPOSITION {self._position} MAXRESULTS {self._size}"
        if self.query_param in request.params or not isinstance(request.data, str):
            request.params[self.query_param] = text
        else:
            request.data = text

    def update_state(self, response: httpx.Response, body: Any, records: list[Any]) -> None:
        self.advance()
        self.has_next_page = len(records) >= self._size and (self._total is None or self._position <= self._total)

    def update_request(self, request: RequestSpec) -> None:
        self._write(request)


@dataclass
class AutoPaginator(BasePaginator):
    """Picks the paginator from the first answer, as dlt's REST client does: a `Link: rel="next"` header, a next
    URL in the body (`next`, `links.next`, `@odata.nextLink`...), a cursor (`next_cursor`, `nextPageToken`...),
    a total of pages (page numbers) or of records (offsets, the first page's size as the limit). None of them:
    one page. What it picked is logged; name that paginator instead to skip the guess."""

    name: ClassVar[str] = "auto"
    NEXT_URL_PATHS: ClassVar[tuple[str, ...]] = (
        "next",
        "next_url",
        "nextUrl",
        "links.next",
        "_links.next.href",
        "paging.next",
        '["@odata.nextLink"]',
        '["odata.nextLink"]',
        "nextRecordsUrl",
    )
    CURSORS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("next_cursor", "cursor"),
        ("nextCursor", "cursor"),
        ("next_page_token", "page_token"),
        ("nextPageToken", "pageToken"),
        ("cursor", "cursor"),
        ("paging.cursors.after", "after"),
    )
    TOTAL_PAGES: ClassVar[tuple[str, ...]] = ("total_pages", "totalPages", "pages", "page_count")
    TOTAL_RECORDS: ClassVar[tuple[str, ...]] = ("total", "total_count", "totalCount", "count")

    def reset(self) -> None:
        super().reset()
        self.chosen: BasePaginator | None = None
        self._primed = False

    def update_state(self, response: httpx.Response, body: Any, records: list[Any]) -> None:
        if self.chosen is None:
            self.chosen = self._detect(response, body, records)
            if self.chosen is None:
                log.info("pagination='auto': no next link, cursor or total in the first answer; one page")
                self.has_next_page = False
                return
            log.info("pagination='auto' picked %s", self.chosen.to_spec())
        self.chosen.update_state(response, body, records)
        self.has_next_page = self.chosen.has_next_page

    def update_request(self, request: RequestSpec) -> None:
        assert self.chosen is not None
        if not self._primed:  # the first request went out plain: add what the picked paginator always sends
            self._primed = True
            saved = dict(request.params)
            self.chosen.init_request(request)
            request.params = {**request.params, **{k: v for k, v in saved.items() if k not in request.params}}
        self.chosen.update_request(request)

    def _detect(self, response: httpx.Response, body: Any, records: list[Any]) -> BasePaginator | None:
        if response.links.get("next", {}).get("url"):
            return HeaderLinkPaginator()
        for path in self.NEXT_URL_PATHS:
            if isinstance(find_path(body, path), str):
                return JSONLinkPaginator(next_url_path=path)
        for path, param in self.CURSORS:
            if isinstance(find_path(body, path), str | int) and not isinstance(find_path(body, path), bool):
                return CursorPaginator(cursor_path=path, cursor_param=param)
        for path in self.TOTAL_PAGES:
            if _count(find_path(body, path)):
                return PageNumberPaginator(total_pages_path=path)
        for path in self.TOTAL_RECORDS:
            if _count(find_path(body, path)) and records:
                return OffsetPaginator(limit=len(records), total_path=path, stop_after_short_page=True)
        return None


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


PAGINATORS: dict[str, type[BasePaginator]] = {
    cls.name: cls
    for cls in (
        JSONLinkPaginator,
        HeaderLinkPaginator,
        OffsetPaginator,
        PageNumberPaginator,
        CursorPaginator,
        QuickBooksPaginator,
        SortKeySplitPaginator,
        AutoPaginator,
    )
}

PaginatorSpec = BasePaginator | str | dict[str, Any] | None


def get_paginator(spec: PaginatorSpec) -> BasePaginator | None:
    """A fresh paginator from an instance (copied), a name, a `{"type": name, **options}` dict, or None."""
    if spec is None or isinstance(spec, BasePaginator):
        paginator = copy.deepcopy(spec)
        if paginator is not None:
            paginator.reset()
        return paginator
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError("pagination", f"expected a paginator, a name or a dict with 'type', got {spec!r}")
    options = dict(spec)
    kind = options.pop("type")
    cls: Any = PAGINATORS.get(kind)
    if cls is None and ":" in kind:
        cls = resolve_callable(kind)
    if cls is None or not (isinstance(cls, type) and issubclass(cls, BasePaginator)):
        raise ConfigError("pagination", f"unknown paginator {kind!r}; known: {', '.join(PAGINATORS)}")
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError("pagination", f"{kind}: {exc}") from exc


__all__ = [
    "PAGINATORS",
    "AutoPaginator",
    "BasePaginator",
    "CursorPaginator",
    "HeaderLinkPaginator",
    "JSONLinkPaginator",
    "OffsetPaginator",
    "PageNumberPaginator",
    "PaginationError",
    "QuickBooksPaginator",
    "RequestTarget",
    "ResponseSource",
    "SortKeySplitPaginator",
    "get_paginator",
]
