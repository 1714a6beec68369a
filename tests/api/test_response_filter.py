from __future__ import annotations

import pytest

from airflow_provider_authapi.api import ResponseFilter, find_path
from airflow_provider_authapi.api.response_filter import callable_ref, parse_path, resolve_callable
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


def test_whole_body_and_list_roots():
    assert find_path(BODY, "") is BODY and find_path(BODY, "$") is BODY
    assert find_path([{"a": 1}, {"a": 2}], "[*].a") == [1, 2]
    assert parse_path("a.b[0][*].c") == ["a", "b", 0, "*", "c"]


@pytest.mark.parametrize("bad", ["a..b", "a[x]", "a[0", "a]"])
def test_malformed_paths_are_config_errors(bad):
    with pytest.raises(ConfigError, match="cannot parse path"):
        parse_path(bad)


def test_filter_of_each_kind_and_its_spec():
    by_path = ResponseFilter.of("QueryResponse.Customer")
    assert len(by_path(BODY)) == 2 and by_path.to_spec() == {"path": "QueryResponse.Customer"}
    by_callable = ResponseFilter.of(pick_ids)
    assert by_callable(BODY) == ["1", "2"]
    spec = by_callable.to_spec()
    assert spec == {"callable": f"{__name__}:pick_ids"}
    assert ResponseFilter.of(spec)(BODY) == ["1", "2"]
    assert ResponseFilter.of(None) is None
    with pytest.raises(ConfigError):
        ResponseFilter.of(42)


def test_only_module_level_callables_can_be_sent_to_a_trigger():
    with pytest.raises(ConfigError, match="not a module-level function"):
        callable_ref(lambda body: body)

    def nested(body):
        return body

    with pytest.raises(ConfigError, match="not a module-level function"):
        callable_ref(nested)
    assert resolve_callable(callable_ref(pick_ids)) is pick_ids
