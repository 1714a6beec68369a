"""Make the UI's Test button work for this provider's connection types, and tell the hook which connection it tests.

Airflow 3.3.1 and 3.3.2 refuse the Test icon of a connection row with 400 "The host or port to test differs from the
stored connection": the UI sends `port: Number(connection.port)`, which is `0` for a connection without a port
(ours never have one), and the API compares `0` with the stored NULL. apache/airflow#73298 fixes the comparison
upstream (port 0 counts as no port). Until then `ConnectionTestMiddleware`, a root middleware of our plugin,
drops `port: 0` from `POST /api/v2/connections/test` bodies of our types before Airflow reads them: Airflow then
keeps the stored port, so the test still targets the stored host and port, never another destination.

The API runs the test on a copy of the connection under a random temporary id. The middleware also keeps the
`connection_id` the user typed in a context variable, so `AuthApiHook.test_connection` can name it instead.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TEST_PATH = "/api/v2/connections/test"
MAX_BODY_BYTES = 1 << 20  # a connection is a few KB; anything bigger passes through untouched

_TESTED_CONNECTION: ContextVar[str | None] = ContextVar("authapi_tested_connection", default=None)


def tested_connection_id() -> str | None:
    """The connection id the user is testing, when Airflow runs the test under a temporary id; else None.

    Known in the API server's `POST /connections/test` (set by `ConnectionTestMiddleware`) and on a worker
    running a queued connection test (Airflow binds `connection_id` to the log context there).
    """
    value = _TESTED_CONNECTION.get()
    if value:
        return value
    try:
        import structlog

        bound = structlog.contextvars.get_contextvars().get("connection_id")
    except Exception:  # structlog is Airflow's logger; without it there is nothing bound
        return None
    return bound if isinstance(bound, str) and bound else None


def provider_conn_types() -> frozenset[str]:
    """The connection types of this provider (read when asked: another module owns their definitions)."""
    from airflow_provider_authapi.connections.fields import CONNECTION_TYPES

    return frozenset(CONNECTION_TYPES)


def normalize_test_body(raw: bytes) -> tuple[bytes, str | None]:
    """(body to pass on, connection id under test) for a `POST /connections/test` body.

    Bodies of other providers' types, and anything that is not a JSON object, pass through unchanged.
    """
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        return raw, None
    if not isinstance(body, dict) or body.get("conn_type") not in provider_conn_types():
        return raw, None
    conn_id = body.get("connection_id")
    port = body.get("port")
    if type(port) is int and port == 0:  # not `False`, which also equals 0
        del body["port"]
        raw = json.dumps(body).encode()
    return raw, conn_id if isinstance(conn_id, str) and conn_id else None


class ConnectionTestMiddleware:
    """Pure ASGI middleware (no response buffering); only `POST .../api/v2/connections/test` is looked at."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope.get("type") == "http"
            and scope.get("method") == "POST"
            and str(scope.get("path", "")).rstrip("/").endswith(TEST_PATH)
        ):
            await self.app(scope, receive, send)
            return
        messages, complete = await _read_body(receive)
        conn_id = None
        if complete and all(m["type"] == "http.request" for m in messages):
            raw = b"".join(m.get("body", b"") for m in messages)
            body, conn_id = normalize_test_body(raw)
            if body != raw:
                messages = [{"type": "http.request", "body": body, "more_body": False}]
                scope = dict(scope)
                scope["headers"] = [
                    (name, str(len(body)).encode() if name.lower() == b"content-length" else value)
                    for name, value in scope.get("headers", [])
                ]
        token = _TESTED_CONNECTION.set(conn_id)
        try:
            await self.app(scope, _replay(messages, receive), send)
        finally:
            _TESTED_CONNECTION.reset(token)


async def _read_body(receive: Receive) -> tuple[list[Message], bool]:
    """The messages of the request body, and whether they hold all of it (not past `MAX_BODY_BYTES`)."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages, True
        size += len(message.get("body", b""))
        if size > MAX_BODY_BYTES:
            return messages, False


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that hands out the messages already read, then whatever the client sends next."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay
