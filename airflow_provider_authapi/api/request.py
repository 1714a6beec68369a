"""`RequestSpec`: one API request as plain data, so paginators can edit it and triggers can serialise it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

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

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self.url, url_params = split_query(self.url)
        self.params = {**url_params, **(self.params or {})}
        self.headers = dict(self.headers or {})

    def copy(self) -> RequestSpec:
        return replace(self, params=dict(self.params), headers=dict(self.headers))

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
        if self.json is not None:
            kwargs["json"] = self.json
        if isinstance(self.data, str | bytes):
            kwargs["content"] = self.data
        elif self.data is not None:
            kwargs["data"] = self.data
        return kwargs

    def send(self, client: httpx.Client) -> httpx.Response:
        return client.request(self.method, self.url, **self.httpx_kwargs())

    async def asend(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.request(self.method, self.url, **self.httpx_kwargs())
