"""Retries against a real local server: 5xx and 429 are retried (honouring Retry-After), other 4xx are not."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from email.utils import formatdate

import httpx
import pytest

from airflow_provider_authapi.api import ApiHTTPError, ApiTransportError, RequestSpec, RetryPolicy, asend, send
from airflow_provider_authapi.auth.retry import retry_after
from tests.api.conftest import TOKEN

FAST = RetryPolicy(attempts=5, backoff=0.01, max_backoff=0.05)


def test_fails_twice_then_succeeds(api, client):
    response = send(client, RequestSpec("GET", "/flaky/a"), FAST)
    assert response.json() == {"key": "a", "attempts": 3}


def test_each_retry_logs_one_warning_without_the_token(api, client, caplog):
    send(client, RequestSpec("GET", "/flaky/a"), FAST)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings[0].startswith("GET /flaky/a answered 503; attempt 1 of 5, retrying in")
    assert len(warnings) == 2
    assert not any(TOKEN in w for w in warnings)


def test_gives_up_after_the_bounded_attempts(api, client):
    with pytest.raises(ApiHTTPError) as caught:
        send(client, RequestSpec("GET", "/flaky/b?fail=9"), RetryPolicy(attempts=3, backoff=0.01))
    assert caught.value.status_code == 503
    assert "GET /flaky/b answered 503 Service Unavailable after 3 attempts" in str(caught.value)
    assert api.hits["flaky:b"] == 3


def test_max_total_counts_the_first_attempt_too(api, client):
    # Each answer takes 1 s; max_total 1.8 s. Counted from the first attempt, the second ends past 1.8 s: 2 attempts.
    # Counted from the retry loop (which starts after the first attempt), a third would go. The 0.8 s of slack
    # covers a first attempt slowed down by a loaded machine.
    policy = RetryPolicy(attempts=10, max_total=1.8, backoff=0.01, max_backoff=0.01)
    with pytest.raises(ApiHTTPError, match="after 2 attempts"):
        send(client, RequestSpec("GET", "/flaky/total?fail=9&delay=1"), policy)
    assert api.hits["flaky:total"] == 2


def test_429_waits_what_retry_after_asks(api, client):
    started = time.monotonic()
    response = send(client, RequestSpec("GET", "/rate-limited/c?after=1"), FAST)
    assert response.json()["attempts"] == 2
    assert response.json()["waited"] >= 1.0  # measured by the server between the 429 and the retry
    assert time.monotonic() - started < 5


def test_retry_after_beyond_the_bound_fails_at_once(api, client):
    with pytest.raises(ApiHTTPError, match="Retry-After 3600 s exceeds max_retry_after 60 s") as caught:
        send(client, RequestSpec("GET", "/rate-limited/d?after=3600"), RetryPolicy(max_retry_after=60))
    assert caught.value.status_code == 429
    assert api.hits["rate:d"] == 1


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422])
def test_other_4xx_fail_at_once_with_a_secret_free_excerpt(api, client, code):
    with pytest.raises(ApiHTTPError) as caught:
        send(client, RequestSpec("GET", f"/status/{code}?api_key=k3y-in-query"), FAST, secrets=[TOKEN, "k3y-in-query"])
    message = str(caught.value)
    assert message.startswith(f"GET /status/{code} answered {code} ")
    assert '"you_sent": "Bearer ***"' in message  # the server echoed our token; the excerpt masks it
    assert TOKEN not in message and "k3y-in-query" not in message
    assert api.count("GET", r"/status/(?P<code>\d{3})") == 1


def test_credentials_the_request_carried_are_scrubbed_even_if_not_listed(api, client):
    with pytest.raises(ApiHTTPError) as caught:
        send(client, RequestSpec("GET", "/status/400?api_key=k3y-in-query"), FAST)
    assert TOKEN not in str(caught.value) and '"you_sent": "Bearer ***"' in str(caught.value)


def test_ok_statuses_are_returned_not_raised(api, client):
    assert send(client, RequestSpec("GET", "/status/404"), FAST, ok_statuses={404}).status_code == 404


def test_connect_errors_are_retried_then_reported():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    slept: list[float] = []
    with (
        httpx.Client(base_url=f"http://127.0.0.1:{port}") as client,
        pytest.raises(ApiTransportError, match="GET /x failed after 3 attempts: ConnectError"),
    ):
        send(client, RequestSpec("GET", "/x?token=abc"), RetryPolicy(attempts=3, backoff=0.01), sleep=slept.append)
    assert len(slept) == 2


def test_timeouts_are_retried(api):
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json={"ok": True})

    with httpx.Client(transport=httpx.MockTransport(handler), base_url="http://api.test") as client:
        assert send(client, RequestSpec("GET", "/slow"), FAST).json() == {"ok": True}
    assert calls == 3


def test_retry_after_is_read_as_delta_seconds():
    assert retry_after(httpx.Response(429, headers={"Retry-After": "7"})) == 7.0


def test_retry_after_is_read_as_an_http_date():
    in_ten = retry_after(httpx.Response(429, headers={"Retry-After": formatdate(time.time() + 10, usegmt=True)}))
    assert in_ten is not None and 8 <= in_ten <= 10


@pytest.mark.parametrize("headers", [{"Retry-After": "soon"}, {}])
def test_a_missing_or_unreadable_retry_after_is_none(headers):
    assert retry_after(httpx.Response(429, headers=headers)) is None


def run_async(api, path: str, policy: RetryPolicy = FAST) -> httpx.Response:
    async def main() -> httpx.Response:
        async with httpx.AsyncClient(base_url=api.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            return await asend(client, RequestSpec("GET", path), policy)

    return asyncio.run(main())


def test_async_retries_5xx(api):
    assert run_async(api, "/flaky/e").json()["attempts"] == 3


def test_async_gives_up_after_the_bounded_attempts_each_logged(api, caplog):
    # the first attempt is made outside the retry loop (a fast path); the loop must still count it
    with pytest.raises(ApiHTTPError) as caught:
        run_async(api, "/flaky/g?fail=9", RetryPolicy(attempts=3, backoff=0.01))
    assert "GET /flaky/g answered 503 Service Unavailable after 3 attempts" in str(caught.value)
    assert api.hits["flaky:g"] == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert [w.split(", retrying")[0] for w in warnings] == [
        "GET /flaky/g answered 503; attempt 1 of 3",
        "GET /flaky/g answered 503; attempt 2 of 3",
    ]


def test_async_waits_what_retry_after_asks(api):
    assert run_async(api, "/rate-limited/e?after=1").json()["waited"] >= 1.0


def test_async_fails_at_once_on_other_4xx(api):
    with pytest.raises(ApiHTTPError, match="answered 400"):
        run_async(api, "/status/400")
    assert api.count("GET", r"/status/(?P<code>\d{3})") == 1


@pytest.fixture
def https_hello(tmp_path):
    from tests.emulators.base import Emulator, Response, self_signed_cert

    class Hello(Emulator):
        def setup_routes(self) -> None:
            self.route("GET", "/hello", lambda _: Response.json({"hello": "world"}))

    with Hello(tls=self_signed_cert(str(tmp_path))) as server:
        yield server, f"{tmp_path}/cert.pem"


def test_untrusted_certificate_fails_at_once_pointing_at_ca_cert_pem(https_hello):
    server, _ = https_hello
    with (
        httpx.Client(base_url=server.url) as untrusting,
        pytest.raises(ApiTransportError, match=r"TLS verification failed .*ca_cert_pem") as caught,
    ):
        send(untrusting, RequestSpec("GET", "/hello"), FAST)
    assert server.count("GET", "/hello") == 0  # the handshake failed: nothing reached the handler
    assert "attempts" not in str(caught.value)  # not retried: no retry cures an untrusted certificate


def test_the_servers_ca_makes_it_trusted(https_hello):
    server, cafile = https_hello
    with httpx.Client(base_url=server.url, verify=ssl.create_default_context(cafile=cafile)) as trusting:
        assert send(trusting, RequestSpec("GET", "/hello"), FAST).json() == {"hello": "world"}


def test_post_is_not_repeated_after_a_5xx(api, client):
    with pytest.raises(ApiHTTPError, match="answered 503"):
        send(client, RequestSpec("POST", "/flaky/post1?fail=1", json={"n": 1}), FAST)
    assert api.hits["flaky:post1"] == 1  # the server may have acted: not repeated


def test_post_is_repeated_after_a_5xx_when_allowed(api, client):
    allowed = RetryPolicy(attempts=3, backoff=0.01, retry_unsafe_methods=True)
    assert send(client, RequestSpec("POST", "/flaky/post2?fail=1"), allowed).json()["attempts"] == 2


def test_post_is_repeated_after_429_which_means_not_processed(api, client):
    response = send(client, RequestSpec("POST", "/rate-limited/post?after=0"), FAST)
    assert response.json()["attempts"] == 2
