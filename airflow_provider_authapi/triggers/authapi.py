"""`AuthApiTrigger`: the operator's and the sensor's requests, run in the triggerer on `httpx.AsyncClient`.

It carries only the connection id and the request spec (method, URL, params, body, headers, paginator and
filter specs, retry policy), never a token or secret: the triggerer builds its own `AuthApiHook`, with the
same auth and the same Variable-backed token store as the workers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_authapi.api import Fetcher, JsonLinesWriter, RequestSpec, RetryPolicy
from airflow_provider_authapi.api.response_filter import resolve_callable


def redacted(text: str) -> str:
    """`text` with every secret registered with Airflow's masker (connection secrets, tokens) as `***`.

    Our own errors are already secret-free; this covers a third-party exception quoting a URL or a header.
    """
    from airflow.sdk.log import redact

    return str(redact(text))


class AuthApiTrigger(BaseTrigger):
    """Fetch (all pages of) a request, or with `poke_interval` poll it until `response_check` passes.

    Fires one event: `{"status": "success", "result": ..., "pages": n, "records": n}` or
    `{"status": "error", "error": <type>, "message": <secret-free text>}`.
    """

    def __init__(
        self,
        *,
        authapi_conn_id: str,
        request: dict[str, Any],
        pagination: dict[str, Any] | None = None,
        response_filter: dict[str, str] | None = None,
        response_check: str | None = None,
        max_pages: int | None = None,
        retry: dict[str, Any] | None = None,
        output_path: str | None = None,
        output_conn_id: str | None = None,
        poke_interval: float | None = None,
        ok_statuses: list[int] | None = None,
    ) -> None:
        super().__init__()
        self.authapi_conn_id = authapi_conn_id
        self.request = request
        self.pagination = pagination
        self.response_filter = response_filter
        self.response_check = response_check
        self.max_pages = max_pages
        self.retry = retry
        self.output_path = output_path
        self.output_conn_id = output_conn_id
        self.poke_interval = poke_interval
        self.ok_statuses = ok_statuses

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "authapi_conn_id": self.authapi_conn_id,
                "request": self.request,
                "pagination": self.pagination,
                "response_filter": self.response_filter,
                "response_check": self.response_check,
                "max_pages": self.max_pages,
                "retry": self.retry,
                "output_path": self.output_path,
                "output_conn_id": self.output_conn_id,
                "poke_interval": self.poke_interval,
                "ok_statuses": self.ok_statuses,
            },
        )

    async def _hook(self) -> Any:
        from airflow_provider_authapi.hooks.authapi import AuthApiHook

        connection = await AuthApiHook.aget_connection(self.authapi_conn_id)
        hook = AuthApiHook(self.authapi_conn_id, connection=connection)
        # building the config registers its secrets with the masker, a sync Task SDK call: not on the loop
        await asyncio.to_thread(getattr, hook, "config")
        return hook

    def _fetcher(self, hook: Any) -> Fetcher:
        from airflow_provider_authapi.operators.common import hook_secrets

        return Fetcher(
            RequestSpec.from_dict(self.request),
            paginator=self.pagination,
            response_filter=self.response_filter,
            response_check=resolve_callable(self.response_check) if self.response_check else None,
            retry=RetryPolicy.of(self.retry),
            max_pages=self.max_pages,
            secrets=hook_secrets(hook),
            logger=self.log,
            ok_statuses=tuple(self.ok_statuses or ()),
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            hook = await self._hook()
            fetcher = self._fetcher(hook)
            async with hook.get_async_client() as client:
                if self.poke_interval is not None:
                    payload = {"result": await self._poll(fetcher, client)}
                elif self.output_path is not None:
                    payload = {"result": await self._write(fetcher, client)}
                else:
                    payload = {"result": await fetcher.arun(client)}
            payload.update(status="success", pages=fetcher.pages, records=fetcher.records)
        except Exception as exc:  # reported to the task, which raises it there
            payload = {"status": "error", "error": type(exc).__name__, "message": redacted(str(exc))}
        yield TriggerEvent(payload)

    async def _poll(self, fetcher: Fetcher, client: Any) -> Any:
        assert self.poke_interval is not None
        while True:
            done, value = await fetcher.apoke(client)
            if done:
                return value
            self.log.info("Not done yet; next poke in %.0f s", self.poke_interval)
            await asyncio.sleep(self.poke_interval)

    async def _write(self, fetcher: Fetcher, client: Any) -> dict[str, Any]:
        from airflow.sdk import ObjectStoragePath

        path = ObjectStoragePath(self.output_path, conn_id=self.output_conn_id)
        writer = JsonLinesWriter(path)
        await asyncio.to_thread(writer.__enter__)
        try:
            await fetcher.arun(client, lambda records: asyncio.to_thread(writer.write_page, records))
        except BaseException as exc:
            await asyncio.to_thread(writer.__exit__, type(exc), exc, exc.__traceback__)
            raise
        await asyncio.to_thread(writer.__exit__, None, None, None)
        return {"path": str(path), "records": writer.records}
