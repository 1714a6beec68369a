"""The one path language: response filters, paginators and token responses read JSON the same way."""

from __future__ import annotations

import pytest

from airflow_provider_authapi.auth import ConfigError
from airflow_provider_authapi.auth.json_path import find_path, parse_path

BODY = {"items": [{"id": 1, "tags": ["a", "b"]}, {"id": 2, "tags": []}], "by_key": {"0": "zero"}, "n": None}


@pytest.mark.parametrize(
    ("bracketed", "dotted", "expected"),
    [
        ("items[0].id", "items.0.id", 1),
        ("items[-1].id", "items.-1.id", 2),
        ("items[0].tags[1]", "items.0.tags.1", "b"),
        ("items[5]", "items.5", None),
    ],
)
def test_both_index_spellings_read_the_same_value(bracketed, dotted, expected):
    assert find_path(BODY, bracketed) == expected
    assert find_path(BODY, dotted) == expected


def test_a_dotted_number_still_reads_a_dict_key():
    assert find_path(BODY, "by_key.0") == "zero"


def test_a_bracketed_index_does_not_read_a_dict_key():
    assert find_path(BODY, "by_key[0]") is None


def test_star_maps_the_rest_of_the_path_over_a_list():
    assert find_path(BODY, "items[*].id") == [1, 2]


@pytest.mark.parametrize("path", ["", "$"])
def test_an_empty_path_or_dollar_is_the_whole_body(path):
    assert find_path(BODY, path) is BODY


def test_a_path_through_null_or_a_scalar_gives_none():
    assert find_path(BODY, "n.x") is None
    assert find_path(BODY, "items.0.id.x") is None


def test_parse_path_keeps_a_dotted_number_as_a_key():
    assert parse_path("a.0[1][*]") == ["a", "0", 1, "*"]


def test_a_malformed_path_names_the_field_it_came_from():
    with pytest.raises(ConfigError, match="cannot parse path") as caught:
        parse_path("a[0", field="token_path")
    assert caught.value.field == "token_path"
