"""`AuthApiSensor`: poke an authenticated endpoint until `response_check` says done (e.g. a job status)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_authapi.api import RetryPolicy
from airflow_provider_authapi.compat import conf
from airflow_provider_authapi.hooks.authapi import (
    REQUEST_TEMPLATE_FIELDS,
    REQUEST_TEMPLATE_RENDERERS,
    ApiCall,
    event_result,
)

NOT_YET_STATUSES = (404,)


class AuthApiSensor(BaseSensorOperator):
    """Poke `endpoint` until `response_check(body)` is true; push the (filtered) final body to XCom.

    Without `response_check` any 2xx answer is done. A 404 means "not yet"; other 4xx fail the task;
    connect errors, timeouts, 429 and 5xx are retried within a poke (`request_retry`). Works in `poke` and
    `reschedule` mode; with `deferrable=True` it pokes once, then waits in the triggerer (`AuthApiTrigger`),
    every `poke_interval` seconds, until done or `timeout` (default `[operators] default_deferrable`). Then
    `response_check` and a callable `response_filter` must be importable module-level functions.
    `authenticate=False` pokes with no credential of any kind (see `AuthApiOperator`).
    """

    template_fields: Sequence[str] = REQUEST_TEMPLATE_FIELDS
    template_fields_renderers = dict(REQUEST_TEMPLATE_RENDERERS)
    ui_color = "#e8f5e9"

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
        response_check: Callable[[Any], bool] | None = None,
        response_filter: str | Callable[[Any], Any] | None = None,
        request_retry: RetryPolicy | dict[str, Any] | int | None = None,
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
        self.response_check = response_check
        self.response_filter = response_filter
        self.request_retry = RetryPolicy.of(request_retry)
        self.authenticate = authenticate
        self.deferrable = deferrable
        self._call().validate(deferrable=deferrable)

    def _call(self) -> ApiCall:
        """The request arguments as they stand (rendered, once `execute` runs)."""
        return ApiCall.of_task(self, ok_statuses=NOT_YET_STATUSES)

    def poke(self, context: Any) -> PokeReturnValue:
        call = self._call()
        hook = call.hook()
        fetcher = call.with_endpoint_vars(hook.endpoint_vars()).fetcher(hook, self.log)
        with hook.get_client() as client:
            done, value = fetcher.poke(client)
        self.log.info("Poke %s: %s", fetcher.request.label, "done" if done else "not yet")
        return PokeReturnValue(is_done=done, xcom_value=value)

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        from airflow_provider_authapi.triggers.authapi import AuthApiTrigger, resume_not_before

        call = self._call()
        call = call.with_endpoint_vars(call.hook().endpoint_vars())
        self.defer(
            trigger=AuthApiTrigger(
                **call.to_dict(), poke_interval=float(self.poke_interval), not_before=resume_not_before()
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)),
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        return event_result(event)
