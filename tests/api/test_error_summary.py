"""API errors lead with the message of a well-known error body (QuickBooks Fault, OAuth, RFC 9457), secret-free."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_authapi.api import ApiHTTPError, RequestSpec, RetryPolicy, send
from tests.emulators.base import Emulator, Request, Response

SECRET = "sk-live-0123456789abcdef"
LONG_DETAIL = 'QueryParserError: Encountered " <IDENTIFIER> "Customers "" at line 1, column 15.\n' + "x" * 300

BODIES = {
    "fault": {
        "Fault": {
            "Error": [{"Message": "Error parsing query", "Detail": LONG_DETAIL, "code": "4000", "element": ""}],
            "type": "ValidationFault",
        },
        "time": "2026-01-05T10:11:12.345-08:00",
    },
    "auth-fault": {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": f"Token {SECRET} expired",
                    "code": "3200",
                }
            ],
            "type": "AUTHENTICATION",
        },
    },
    "oauth": {"error": "insufficient_scope", "error_description": "needs com.intuit.quickbooks.accounting"},
    "problem": {"type": "about:blank", "title": "Unprocessable Entity", "detail": "name is required"},
    "other": {"weird": "shape", "padding": "p" * 300},
}


class ErrorBodies(Emulator):
    def setup_routes(self) -> None:
        self.route("GET", r"/errors/(\w[\w-]*)", self.error)

    def error(self, request: Request) -> Response:
        assert request.match is not None
        return Response.json(BODIES[request.match.group(1)], status=400)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with ErrorBodies() as server, httpx.Client(base_url=server.url) as http:
        yield http


def failure(client: httpx.Client, name: str) -> str:
    with pytest.raises(ApiHTTPError) as caught:
        send(client, RequestSpec("GET", f"/errors/{name}"), RetryPolicy(attempts=1), secrets=[SECRET])
    return str(caught.value)


def test_quickbooks_fault_message_and_long_detail_survive_the_excerpt_cut(client):
    message = failure(client, "fault")
    assert message.startswith(
        "GET /errors/fault answered 400 Bad Request: ValidationFault: Error parsing query: QueryParserError: "
        'Encountered " <IDENTIFIER> "Customers "" at line 1, column 15.'
    )
    assert "(code 4000)" not in message  # the 300-character detail is cut at the summary's limit...
    assert "; body: {" in message  # ...and the raw body excerpt follows


def test_lower_case_auth_fault_is_summarised_and_scrubbed(client):
    message = failure(client, "auth-fault")
    assert (
        "AUTHENTICATION: message=AuthenticationFailed; errorCode=003200; statusCode=401: Token *** expired" in message
    )
    assert "(code 3200)" in message and SECRET not in message


@pytest.mark.parametrize(
    ("name", "summary"),
    [
        ("oauth", "insufficient_scope: needs com.intuit.quickbooks.accounting; body: "),
        ("problem", "Unprocessable Entity: name is required; body: "),
    ],
)
def test_oauth_and_problem_details_are_summarised(client, name, summary):
    assert f"answered 400 Bad Request: {summary}" in failure(client, name)


def test_unknown_shapes_keep_the_plain_excerpt(client):
    message = failure(client, "other")
    assert (
        message.startswith('GET /errors/other answered 400 Bad Request: {"weird": "shape"') and "body:" not in message
    )
