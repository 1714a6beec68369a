"""Parent/child extraction in one run: for every record of a parent request, child requests filled from it.

    projects = Fetcher(RequestSpec("GET", "/rest/api/3/project/search"), paginator=..., response_filter="values")
    issues = ChildRequests(
        "/rest/api/3/search/jql",
        query_params={"jql": "project = {key}"},   # `{path}`: a value of the parent record (the path language)
        pagination={"type": "cursor", "cursor_path": "nextPageToken", "cursor_param": "nextPageToken"},
        response_filter="issues",
        include={"project_key": "key"},             # carried into each child record: child field <- parent path
        concurrency=8,
    )
    records = Nested(projects, issues, make_fetcher).run(client)   # every issue, with its project_key

A placeholder fills the endpoint (percent-encoded as one path segment), query parameters, JSON body and headers;
a value that is nothing but one placeholder keeps its type (`{"id": "{id}"}` sends the number). `{{` and `}}` are
literal braces. Children of children: `ChildRequests(..., children=ChildRequests(...))`, filled from the child
records (their included fields too). Each child runs its own `Fetcher` (its paginator, filter and response rules,
the retry policy): a child answer a rule ignores is no records, one that fails fails the run, as any page.

The children of one parent page run `concurrency` at a time (async); their records come out in parent order, each
child's in page order, and at most `concurrency` children's records are held at once (with `write_page`, memory
stays flat however many parents there are).
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_provider_authapi.api.pagination import PaginatorSpec, RequestSpec, ResponseFilter, get_paginator
from airflow_provider_authapi.api.rules import ResponseActionsSpec, ResponseRules
from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.auth.json_path import MISSING, find_path, parse_path

if TYPE_CHECKING:
    import httpx

    from airflow_provider_authapi.api.fetch import Fetcher

FIELD = "children"  # the argument every refusal here names
MAX_DEPTH = 5  # children of children of ...: deeper is a mistake, not an API
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


@dataclass
class ChildRequests:
    """The request made for each parent record, and how to read its answers (as `ApiCall`'s fields do).

    :param endpoint: a path (or absolute URL on the connection's origins) with `{path}` placeholders.
    :param include: child field -> path in the parent record; added to every child record (a child record that is
        not an object becomes `{"value": record, **included}`).
    :param concurrency: children in flight at once (async runs; a sync `run()` fetches one after another).
    :param children: the requests made for each record of these children, in turn.
    """

    endpoint: str
    method: str = "GET"
    query_params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] | None = None
    response_filter: Any = None
    pagination: PaginatorSpec = None
    include: dict[str, str] | None = None
    concurrency: int = 4
    max_pages: int | None = None
    allow_empty_pages: bool = False
    response_actions: ResponseRules | ResponseActionsSpec = None
    children: ChildRequests | None = None

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self.validate()

    @classmethod
    def of(cls, spec: ChildRequests | Mapping[str, Any] | None, depth: int = 1) -> ChildRequests | None:
        """`spec` as `ChildRequests`: itself, or its dict (`to_spec()`, or as written in a DAG)."""
        if spec is None or isinstance(spec, ChildRequests):
            return spec
        if not isinstance(spec, Mapping):
            raise ConfigError(FIELD, f"give ChildRequests(...) or its dict, not {type(spec).__name__}")
        known = set(cls.__dataclass_fields__)
        if unknown := sorted(set(spec) - known):
            raise ConfigError(FIELD, f"unknown key(s) {unknown}; known: {', '.join(sorted(known))}")
        if "endpoint" not in spec:
            raise ConfigError(FIELD, "needs an endpoint")
        values = dict(spec)
        if depth >= MAX_DEPTH and values.get("children") is not None:
            raise ConfigError(FIELD, f"children nest at most {MAX_DEPTH} deep")
        values["children"] = cls.of(values.get("children"), depth + 1)
        return cls(**values)

    def validate(self) -> None:
        where = f"{FIELD} {self.endpoint!r}"
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int) or self.concurrency < 1:
            raise ConfigError(FIELD, f"{where}: concurrency must be a whole number above 0, not {self.concurrency!r}")
        for child_field, path in (self.include or {}).items():
            if not isinstance(child_field, str) or not isinstance(path, str):
                raise ConfigError(FIELD, f"{where}: include maps a child field to a parent path, both text")
            parse_path(path, f"{FIELD}.include.{child_field}")
        for name, value in self._templated().items():
            for path in placeholders(value):
                parse_path(path, f"{FIELD}.{name}")
        ResponseFilter.of(self.response_filter)
        get_paginator(self.pagination)
        ResponseRules.of(self.response_actions)
        depth, child = 1, self.children
        while child is not None:
            depth, child = depth + 1, child.children
            if depth > MAX_DEPTH:
                raise ConfigError(FIELD, f"children nest at most {MAX_DEPTH} deep")

    def _templated(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "query_params": self.query_params, "json": self.json,
                "headers": self.headers}  # fmt: skip

    def request_for(self, parent: Any) -> RequestSpec:
        """The child request of `parent`: every placeholder filled from it, or ConfigError naming the one missing."""
        return RequestSpec(
            self.method,
            fill(self.endpoint, parent, "endpoint", segment=True),
            params=fill(self.query_params or {}, parent, "query_params"),
            json=fill(self.json, parent, "json"),
            headers={k: str(v) for k, v in fill(self.headers or {}, parent, "headers").items()},
        )

    def included(self, parent: Any) -> dict[str, Any]:
        """The parent's fields carried into its children's records."""
        return {name: find_path(parent, path) for name, path in (self.include or {}).items()}

    def to_spec(self) -> dict[str, Any]:
        """Plain data for the triggerer (paginator and rules as their specs)."""
        paginator = get_paginator(self.pagination)
        response_filter = ResponseFilter.of(self.response_filter)
        rules = ResponseRules.of(self.response_actions)
        spec = {name: getattr(self, name) for name in self.__dataclass_fields__}
        try:
            spec.update(
                pagination=paginator.to_spec() if paginator else None,
                response_filter=response_filter.to_spec() if response_filter else None,
                response_actions=rules.to_spec() if rules else None,
                children=self.children.to_spec() if self.children else None,
            )
        except ConfigError as exc:
            raise ConfigError(FIELD, f"{self.endpoint!r}: {exc} (deferrable=True sends it by import path)") from None
        return spec


def placeholders(value: Any) -> Iterator[str]:
    """The parent paths `value` (text, or lists and dicts of it) names."""
    if isinstance(value, str):
        for match in _PLACEHOLDER.finditer(value):
            if match.group(1) is not None:
                yield match.group(1).strip()
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from placeholders(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from placeholders(item)


def fill(value: Any, parent: Any, name: str, *, segment: bool = False) -> Any:
    """`value` with each `{path}` replaced by the parent record's value there (see the module docstring)."""
    if isinstance(value, Mapping):
        return {key: fill(item, parent, name) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [fill(item, parent, name) for item in value]
    if not isinstance(value, str) or ("{" not in value and "}" not in value):
        return value
    whole = _PLACEHOLDER.fullmatch(value)
    if whole is not None and whole.group(1) is not None and not segment:
        return _value(parent, whole.group(1).strip(), name)

    def one(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(0)[0]  # `{{` -> `{`, `}}` -> `}`
        text = str(_value(parent, match.group(1).strip(), name))
        return quote(text, safe="") if segment else text

    return _PLACEHOLDER.sub(one, value)


def _value(parent: Any, path: str, name: str) -> Any:
    value = find_path(parent, path, missing=MISSING)
    if value is MISSING or value is None:
        keys = ", ".join(map(str, list(parent)[:12])) if isinstance(parent, Mapping) else type(parent).__name__
        raise ConfigError(f"{FIELD}.{name}", f"{{{path}}}: the parent record has no value there (its keys: {keys})")
    return value


class QuietLog:
    """A child fetcher's logger: its per-page progress at debug (a run of 1,000 children would log every page of
    every one), its warnings (retries, rules) as they are."""

    def __init__(self, logger: Any) -> None:
        self._logger = logger

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._logger.debug(msg, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)


def with_included(record: Any, included: dict[str, Any]) -> Any:
    if not included:
        return record
    if isinstance(record, dict):
        return {**record, **included}
    return {"value": record, **included}


MakeFetcher = Callable[[RequestSpec, ChildRequests], "Fetcher"]


@dataclass
class Nested:
    """A parent `Fetcher`'s records, each expanded into its `ChildRequests`' records (and theirs, in turn).

    `make_fetcher(request, children)` builds the `Fetcher` of one child request (the hook's secrets, retry policy
    and logger with the children's paginator, filter and rules). `pages` and `records` count every answer and
    every record that came out, parents' pages included; `children_fetched` counts child requests.
    """

    parent: Fetcher
    children: ChildRequests
    make_fetcher: MakeFetcher
    pages: int = 0
    records: int = 0
    children_fetched: int = field(default=0)

    # -- sync: one child after another ------------------------------------------------------------------------

    def run(self, client: httpx.Client, writer: Any = None) -> Any:
        """Every leaf record (a list), or with `writer` (a `JsonLinesWriter`) each page of them written and a
        summary returned."""
        results: list[Any] = []
        for records in self.iter_pages(client):
            if writer is not None:
                writer.write_page(records)
            else:
                results.extend(records)
        if writer is not None:
            return {"path": str(writer.path), "records": writer.records}
        return results

    def iter_pages(self, client: httpx.Client) -> Iterator[list[Any]]:
        for parents in self._parent_pages(client):
            for parent in parents:
                yield from self._expand(client, parent, self.children)
            self._progress()

    def _progress(self) -> None:
        self.parent.log.info("Children of %d parent pages: %d requests, %d records so far", self.parent.pages,
                             self.children_fetched, self.records)  # fmt: skip

    def _parent_pages(self, client: httpx.Client) -> Iterator[list[Any]]:
        if self.parent.paginator_spec is None:
            from airflow_provider_authapi.api.fetch import as_records

            yield as_records(self.parent.run(client))
        else:
            yield from self.parent.iter_pages(client)
        self.pages += self.parent.pages

    def _expand(self, client: httpx.Client, parent: Any, spec: ChildRequests) -> Iterator[list[Any]]:
        fetcher, included = self._child(parent, spec)
        for records in _pages_of(fetcher, client):
            records = [with_included(record, included) for record in records]
            if spec.children is None:
                self.records += len(records)
                yield records
            else:
                for record in records:
                    yield from self._expand(client, record, spec.children)
        self.pages += fetcher.pages

    def _child(self, parent: Any, spec: ChildRequests) -> tuple[Fetcher, dict[str, Any]]:
        self.children_fetched += 1
        return self.make_fetcher(spec.request_for(parent), spec), spec.included(parent)

    # -- async: `concurrency` children at a time --------------------------------------------------------------

    async def arun(self, client: httpx.AsyncClient, write_page: Callable[[list[Any]], Any] | None = None) -> Any:
        """Async `run()`; `write_page` (an async callable) streams pages of leaf records."""
        results: list[Any] = []
        async for records in self.aiter_pages(client):
            if write_page is not None:
                await write_page(records)
            else:
                results.extend(records)
        return None if write_page is not None else results

    async def aiter_pages(self, client: httpx.AsyncClient) -> AsyncIterator[list[Any]]:
        async for records in self._aexpand_all(client, self._aparents(client), self.children):
            yield records

    async def _aparents(self, client: httpx.AsyncClient) -> AsyncIterator[Any]:
        """The parent records one by one, their next page fetched as the window asks for more: the window of
        children never drains at a parent page's end (it did: about 20% slower over 1,000 children)."""
        if self.parent.paginator_spec is None:
            from airflow_provider_authapi.api.fetch import as_records

            for record in as_records(await self.parent.arun(client)):
                yield record
        else:
            async for records in self.parent.aiter_pages(client):
                for record in records:
                    yield record
                self._progress()
        self.pages += self.parent.pages

    async def _aexpand_all(
        self, client: httpx.AsyncClient, parents: AsyncIterator[Any] | list[Any], spec: ChildRequests
    ) -> AsyncIterator[list[Any]]:
        """The leaf records of `parents`' children, in parent order, `spec.concurrency` children in flight."""
        window: deque[asyncio.Task[list[list[Any]]]] = deque()
        queue = parents if not isinstance(parents, list) else _aiter(parents)
        exhausted = False

        async def fill_window() -> None:  # a parent record that is None is a parent too: its child request refuses it
            nonlocal exhausted
            while not exhausted and len(window) < spec.concurrency:
                try:
                    parent = await anext(queue)
                except StopAsyncIteration:
                    exhausted = True
                    return
                window.append(asyncio.ensure_future(self._achild_pages(client, parent, spec)))

        try:
            await fill_window()
            while window:
                pages = await window.popleft()
                await fill_window()
                for records in pages:
                    if spec.children is None:
                        self.records += len(records)
                        yield records
                    else:
                        async for leaves in self._aexpand_all(client, records, spec.children):
                            yield leaves
        finally:
            for task in window:
                task.cancel()
            await asyncio.gather(*window, return_exceptions=True)
            if not isinstance(parents, list):
                await queue.aclose()  # type: ignore[attr-defined]

    async def _achild_pages(self, client: httpx.AsyncClient, parent: Any, spec: ChildRequests) -> list[list[Any]]:
        """Every page of one child's records (parent fields included): a child is held whole until its turn."""
        fetcher, included = self._child(parent, spec)
        pages: list[list[Any]] = []
        if fetcher.paginator_spec is None:
            from airflow_provider_authapi.api.fetch import as_records

            pages.append(as_records(await fetcher.arun(client)))
        else:
            async for records in fetcher.aiter_pages(client):
                pages.append(records)
        self.pages += fetcher.pages
        return [[with_included(record, included) for record in records] for records in pages]


async def _aiter(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


def _pages_of(fetcher: Fetcher, client: httpx.Client) -> Iterator[list[Any]]:
    if fetcher.paginator_spec is None:
        from airflow_provider_authapi.api.fetch import as_records

        yield as_records(fetcher.run(client))
    else:
        yield from fetcher.iter_pages(client)
