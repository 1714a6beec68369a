"""`ApiCall`: the request arguments the operator, the sensor and the trigger share, and their trigger form."""

from __future__ import annotations

import pytest

from airflow_provider_authapi.api.pagination import OffsetPaginator
from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.auth.retry import RetryPolicy
from airflow_provider_authapi.hooks.authapi import ApiCall, AuthApiTaskError, event_result


def is_done(body):
    return body.get("status") == "done"


def test_the_endpoint_placeholders_are_filled_from_the_connection_values():
    call = ApiCall("crm", "/v3/company/{realm_id}/query?minorversion=75", query_params={"query": "q"})
    request = call.with_endpoint_vars({"realm_id": "9130"}).request()
    assert (request.url, request.params) == ("/v3/company/9130/query", {"minorversion": "75", "query": "q"})


def test_a_placeholder_the_connection_lacks_names_what_it_provides():
    with pytest.raises(ConfigError, match=r"needs \['realm_id'\]; the connection provides: none"):
        ApiCall("crm", "/v3/company/{realm_id}/query").with_endpoint_vars({})


def test_the_trigger_form_is_plain_data_that_rebuilds_the_same_call():
    call = ApiCall(
        "crm",
        "/jobs/{realm_id}",
        method="post",
        json={"a": 1},
        headers={"X-Trace": "1"},
        response_filter="items[*].id",
        pagination=OffsetPaginator(limit=50),
        response_check=is_done,
        max_pages=3,
        retry=RetryPolicy(attempts=2),
        ok_statuses=(404,),
    ).with_endpoint_vars({"realm_id": "7"})
    kwargs = call.to_dict()
    assert kwargs["request"]["url"] == "/jobs/7" and kwargs["request"]["method"] == "POST"
    assert kwargs["response_check"] == f"{__name__}:is_done"
    assert kwargs["pagination"]["type"] == "offset" and kwargs["pagination"]["limit"] == 50
    assert kwargs["ok_statuses"] == [404]
    again = ApiCall.from_dict(kwargs)
    assert again.response_check is is_done
    assert again.to_dict() == kwargs


def test_a_deferrable_task_refuses_a_lambda_naming_its_field():
    with pytest.raises(ConfigError, match=r"response_check.*by import path"):
        ApiCall("crm", "/jobs", response_check=lambda body: True).validate(deferrable=True)
    ApiCall("crm", "/jobs", response_check=lambda body: True).validate(deferrable=False)


def test_a_failed_trigger_event_raises_its_message():
    assert event_result({"status": "success", "result": [1]}) == [1]
    with pytest.raises(AuthApiTaskError, match="ApiHTTPError: GET /x answered 403"):
        event_result({"status": "error", "error": "ApiHTTPError", "message": "GET /x answered 403"})
