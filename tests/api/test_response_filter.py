from __future__ import annotations

import pytest

from airflow_provider_authapi.api import ResponseFilter, find_path
from airflow_provider_authapi.api.pagination import callable_ref, parse_path, resolve_callable
from airflow_provider_authapi.auth.errors import ConfigError

BODY = {
    "QueryResponse": {"Customer": [{"Id": "1", "Tags": ["a", "b"]}, {"Id": "2", "Tags": []}], "startPosition": 1},
    "meta": {"next": None},
}


def pick_ids(body):
    return [c["Id"] for c in body["QueryResponse"]["Customer"]]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("QueryResponse.Customer[0].Id", "1"),
        ("QueryResponse.Customer[-1].Id", "2"),
        ("QueryResponse.Customer[*].Id", ["1", "2"]),
        ("QueryResponse.Customer.0.Id", "1"),  # the dotted index spelling reads the same values
        ("QueryResponse.Customer.-1.Id", "2"),
        ("QueryResponse.Customer.0.Tags.1", "b"),
        ("QueryResponse.Customer[0].Tags[1]", "b"),
        ("$.QueryResponse.startPosition", 1),
        ("QueryResponse.Invoice", None),  # missing key
        ("QueryResponse.Customer[5]", None),  # missing index
        ("meta.next.url", None),  # through a null
        ("QueryResponse.startPosition.x", None),  # through a scalar
    ],
)
def test_paths(path, expected):
    assert find_path(BODY, path) == expected


@pytest.mark.parametrize("path", ["", "$"])
def test_empty_path_or_dollar_is_the_whole_body(path):
    assert find_path(BODY, path) is BODY


def test_star_maps_over_a_list_at_the_root():
    assert find_path([{"a": 1}, {"a": 2}], "[*].a") == [1, 2]


def test_a_path_parses_into_keys_indexes_and_stars():
    assert parse_path("a.b[0][*].c") == ["a", "b", 0, "*", "c"]


@pytest.mark.parametrize("bad", ["a..b", "a[x]", "a[0", "a]"])
def test_malformed_paths_are_config_errors(bad):
    with pytest.raises(ConfigError, match="cannot parse path"):
        parse_path(bad)


def test_a_path_filter_and_its_spec():
    by_path = ResponseFilter.of("QueryResponse.Customer")
    assert len(by_path(BODY)) == 2
    assert by_path.to_spec() == {"path": "QueryResponse.Customer"}


def test_a_callable_filter_and_its_spec():
    by_callable = ResponseFilter.of(pick_ids)
    assert by_callable(BODY) == ["1", "2"]
    assert by_callable.to_spec() == {"callable": f"{__name__}:pick_ids"}


def test_a_callable_spec_gives_the_callable_back():
    assert ResponseFilter.of({"callable": f"{__name__}:pick_ids"})(BODY) == ["1", "2"]


def test_none_is_no_filter():
    assert ResponseFilter.of(None) is None


def test_anything_else_is_a_config_error():
    with pytest.raises(ConfigError):
        ResponseFilter.of(42)


def test_a_lambda_cannot_be_sent_to_a_trigger():
    with pytest.raises(ConfigError, match="not a module-level function"):
        callable_ref(lambda body: body)


def test_a_nested_function_cannot_be_sent_to_a_trigger():
    def nested(body):
        return body

    with pytest.raises(ConfigError, match="not a module-level function"):
        callable_ref(nested)


def test_a_module_level_function_resolves_back_to_itself():
    assert resolve_callable(callable_ref(pick_ids)) is pick_ids
