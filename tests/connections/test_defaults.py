"""One copy of every default: the field table reads it from the config attribute each field fills, and the form,
the mapping and the config dataclass must all show that one value (and a dropdown the attribute's choices)."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_authapi.auth.config import AuthConfig
from airflow_provider_authapi.connections import auth_config_from_connection, connection_value
from airflow_provider_authapi.connections.fields import GENERIC_TYPES as CONNECTION_TYPES  # systems: their profile's
from airflow_provider_authapi.connections.fields import FieldSpec, config_attribute, config_choices, too_short_to_mask

# The least each type needs to map; none of these sets a field with a default.
MINIMAL: dict[str, dict[str, Any]] = {
    "authapi_oauth2": {"login": "cid", "password": "client-secret", "extra": {"login_url": "/oauth/token"}},
    "authapi_token": {"login": "user", "password": "user-secret", "extra": {"login_url": "/api/login"}},
    "authapi_apikey": {"password": "api-key-secret"},
    "authapi_basic": {"login": "user", "password": "user-secret"},
    "authapi_bearer": {"password": "bearer-secret"},
    "authapi_oauth1": {
        "login": "ck",
        "password": "consumer-secret",
        "extra": {"token_id": "token-id-0123", "token_secret": "token-secret-0123"},
    },
    "authapi_none": {},
}
FIELDS = [(conn_type, spec) for conn_type, t in CONNECTION_TYPES.items() for spec in t.fields]
FILLED = [(conn_type, spec) for conn_type, spec in FIELDS if spec.fills]


def minimal_connection(conn_type: str) -> SimpleNamespace:
    given = MINIMAL[conn_type]
    return SimpleNamespace(
        conn_id="defaults",
        conn_type=conn_type,
        host="https://api.example.com",
        login=given.get("login"),
        password=given.get("password"),
        extra=json.dumps(given.get("extra", {})),
    )


def dataclass_default(spec: FieldSpec) -> Any:
    """The default the config dataclass itself declares (its factory's value for `{}`), read without the table."""
    cls, attribute = config_attribute(spec.fills)
    declared = next(f for f in dataclasses.fields(cls) if f.name == attribute)
    if declared.default_factory is not dataclasses.MISSING:
        return declared.default_factory()
    return declared.default


def filled_object(config: AuthConfig, cls: type) -> Any:
    """The instance of `cls` inside `config` (the scheme, its placement, common, tls ...); None if absent."""
    pending: list[Any] = [config]
    while pending:
        item = pending.pop()
        if isinstance(item, cls):
            return item
        if dataclasses.is_dataclass(item):
            pending.extend(getattr(item, f.name) for f in dataclasses.fields(item))
    return None


WITH_DEFAULT = [(t, spec) for t, spec in FILLED if dataclass_default(spec) is not dataclasses.MISSING]


def shown(value: Any) -> Any:
    """What the form shows for a default: nothing for an empty one, 3600 for 3600.0."""
    if value in (None, "", (), {}):
        return None
    return int(value) if isinstance(value, float) and value.is_integer() else value


@pytest.mark.parametrize(("conn_type", "spec"), WITH_DEFAULT, ids=[f"{t}.{s.name}" for t, s in WITH_DEFAULT])
def test_form_mapping_and_config_share_the_fields_default(conn_type, spec):
    declared = dataclass_default(spec)
    schema = CONNECTION_TYPES[conn_type].provider_info()["conn-fields"][spec.name]["schema"]
    # A default too short for the masker is not saved by the form (FieldSpec.schema): the mapping applies it.
    form = None if too_short_to_mask(declared) else shown(declared)
    assert schema.get("default") == form, f"the form's default of {spec.name} is not {spec.fills}'s"

    config = auth_config_from_connection(minimal_connection(conn_type))
    cls, attribute = config_attribute(spec.fills)
    holder = filled_object(config, cls)
    assert holder is not None, f"{conn_type} maps to no {cls.__name__}"
    mapped = getattr(holder, attribute)
    assert mapped == declared, f"{spec.name} unset maps to {mapped!r}, but {spec.fills} defaults to {declared!r}"
    assert form == (None if too_short_to_mask(mapped) else shown(mapped)), f"{spec.name} unset maps to {mapped!r}"


@pytest.mark.parametrize(("conn_type", "spec"), FILLED, ids=[f"{t}.{s.name}" for t, s in FILLED])
def test_a_dropdown_offers_exactly_the_config_choices(conn_type, spec):
    schema = spec.schema()
    choices = config_choices(spec.fills)
    assert (spec.kind == "choice") == bool(choices), f"{spec.name}: a Literal attribute is a dropdown, nothing else"
    if choices:
        assert schema["enum"] == list(choices) and list(schema["values_display"]) == list(choices)
        assert spec.default in choices, spec.name


def test_a_field_outside_the_config_keeps_its_own_default():
    """`test_endpoint` fills no config attribute: `connection_value` gives the table's "/" (which the form does not
    save: too short for the masker, it made every read of the connection warn)."""
    for conn_type in CONNECTION_TYPES:
        spec = next(s for s in CONNECTION_TYPES[conn_type].fields if s.name == "test_endpoint")
        assert "default" not in spec.schema()
        assert spec.default == connection_value(minimal_connection(conn_type), "test_endpoint") == "/"


def test_a_field_filling_a_config_attribute_cannot_carry_a_second_default():
    with pytest.raises(ValueError, match=r"its default is the one of CommonConfig\.timeout"):
        FieldSpec("timeout", "Timeout", "number", "Seconds.", "CommonConfig.timeout", own_default=25)
    with pytest.raises(ValueError, match="not an attribute of a config class"):
        FieldSpec("timeout", "Timeout", "number", "Seconds.", "CommonConfig.time_out")
    with pytest.raises(ValueError, match=r"label every choice of TokenPlacement\.location"):
        FieldSpec("auth_location", "In", "choice", "Where.", "TokenPlacement.location", (("header", "Header"),))
