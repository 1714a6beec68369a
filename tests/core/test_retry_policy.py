"""The one retry policy: its two sets of numbers, its waits and its bounds (end to end: test_token_endpoint_errors
for token requests, tests/api/test_retry.py for API requests)."""

from __future__ import annotations

import pytest

from airflow_provider_authapi.auth.retry import API_RETRY, TOKEN_RETRY, RetryPolicy, TokenRetry


def test_token_requests_give_up_within_a_minute():
    assert RetryPolicy(attempts=5, backoff=0.5, max_backoff=10, max_retry_after=60, max_total=60) == TOKEN_RETRY


def test_api_requests_use_the_documented_defaults():
    assert API_RETRY == RetryPolicy() == RetryPolicy(attempts=5, backoff=0.5, max_backoff=30, max_retry_after=300)
    assert API_RETRY.max_total is None and not API_RETRY.retry_unsafe_methods


def test_token_retry_keeps_its_former_name_and_field_names():
    assert TokenRetry() == TOKEN_RETRY
    former = TokenRetry(attempts=3, max_total=10, initial_wait=0.01, max_wait=0.05, max_retry_after=2)
    assert former == RetryPolicy(attempts=3, max_total=10, backoff=0.01, max_backoff=0.05, max_retry_after=2)


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 1.0, 2.0), (2, 2.0, 3.0), (3, 4.0, 5.0), (4, 5.0, 5.0)])
def test_the_wait_doubles_with_up_to_one_backoff_of_jitter_and_is_capped(attempt, low, high):
    policy = RetryPolicy(backoff=1.0, max_backoff=5.0)
    waits = [policy.wait(attempt) for _ in range(50)]
    assert low <= min(waits) and max(waits) <= high


def test_the_wait_is_never_shorter_than_retry_after():
    assert RetryPolicy(backoff=0.01, max_backoff=0.05).wait(1, asked=7.0) == 7.0


@pytest.mark.parametrize(("asked", "honoured"), [(None, True), (0.0, True), (300.0, True), (300.5, False)])
def test_a_retry_after_beyond_max_retry_after_is_not_waited_out(asked, honoured):
    assert RetryPolicy(max_retry_after=300).honours(asked) is honoured


@pytest.mark.parametrize("spec", [RetryPolicy(attempts=2, max_total=9.5), {"attempts": 2, "max_total": 9.5}])
def test_a_policy_or_its_dict_form_gives_the_same_policy(spec):
    policy = RetryPolicy.of(spec)
    assert policy == RetryPolicy(attempts=2, max_total=9.5) and RetryPolicy.of(policy.to_spec()) == policy


def test_a_number_is_how_many_attempts():
    assert RetryPolicy.of(3) == RetryPolicy(attempts=3)


def test_none_is_the_defaults():
    assert RetryPolicy.of(None) == API_RETRY


def test_fewer_than_one_attempt_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(attempts=0)
