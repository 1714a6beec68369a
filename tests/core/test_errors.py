"""One errors module: every exception the provider raises on purpose is an `AuthApiError`."""

from __future__ import annotations

import inspect

import httpx
import pytest

from airflow_provider_authapi import api
from airflow_provider_authapi.auth import errors

EXCEPTIONS = [obj for _, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, Exception)]


def test_the_errors_module_holds_the_api_errors_too():
    names = {cls.__name__ for cls in EXCEPTIONS}
    assert {"ApiHTTPError", "ApiTransportError", "PaginationError", "ResponseCheckError"} <= names


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda cls: cls.__name__)
def test_every_error_is_an_auth_api_error(cls):
    assert issubclass(cls, errors.AuthApiError)


def test_pagination_error_is_still_a_value_error():
    assert issubclass(errors.PaginationError, ValueError)


@pytest.mark.parametrize("name", ["ApiHTTPError", "ApiTransportError", "PaginationError", "ResponseCheckError"])
def test_the_request_layer_exports_the_same_classes(name):
    assert getattr(api, name) is getattr(errors, name)


def test_an_api_http_error_names_the_request_status_attempts_and_note():
    response = httpx.Response(429, text="slow down")
    error = errors.ApiHTTPError("GET /v1/things", response, excerpt="slow down", attempts=3, note="why")
    assert str(error) == "GET /v1/things answered 429 Too Many Requests after 3 attempts (why): slow down"
    assert error.status_code == 429 and error.excerpt == "slow down"
