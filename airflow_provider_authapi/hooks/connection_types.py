"""One `AuthApiHook` subclass per connection type.

Airflow's hook registry reads `conn_type` and `hook_name` from the hook class. With one class for seven types it
logs "Inconsistency!" for five of them and names every type alike once the hook is imported; a subclass per type
keeps each type's name. Use `AuthApiHook` in code: it serves every type. The seven generic types' classes are written
out; each known system's (`authapi_dastra`: `AuthApiDastraHook`, ...) is generated below from the same table
(connections.fields.SYSTEM_TYPES), at the import path its provider info names.

Airflow 3.2 and later build each type's form from the provider info's `conn-fields` and `ui-field-behaviour`.
Airflow 3.1 ignores both and reads the hook class's own `get_connection_form_widgets()` (wtforms fields, which its
API server turns into the same JSON Schema params) and `get_ui_field_behaviour()`: on 3.1 each class gets both,
made from that same provider info (connections/fields.py, the one field table), so the forms cannot drift apart.
What 3.1 cannot show: collapsible sections (every field is under "Extra Fields"), multi-line text boxes, and
dropdown labels (a dropdown shows the stored values).
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from airflow_provider_authapi.compat import READS_CONN_FIELDS
from airflow_provider_authapi.connections.fields import CONNECTION_TYPES, HOOKS_MODULE, SYSTEM_TYPES, ConnectionType
from airflow_provider_authapi.hooks.authapi import AuthApiHook

HookClass = TypeVar("HookClass", bound=type)


@cache
def _provider_info(conn_type: str) -> dict[str, Any]:
    from airflow_provider_authapi.get_provider_info import get_provider_info

    return next(info for info in get_provider_info()["connection-types"] if info["connection-type"] == conn_type)


def form_widgets(conn_type: str) -> dict[str, Any]:
    """`conn_type`'s `conn-fields` as the wtforms fields Airflow 3.1 reads (its API server mocks wtforms, so the
    import happens here, at call time)."""
    from wtforms import BooleanField, IntegerField, PasswordField, StringField
    from wtforms.validators import Optional, any_of

    widgets: dict[str, Any] = {}
    for name, field in _provider_info(conn_type)["conn-fields"].items():
        schema = field["schema"]
        kinds = set(schema["type"]) if isinstance(schema["type"], list) else {schema["type"]}
        if schema.get("format") == "password":
            field_class: Any = PasswordField
        elif "boolean" in kinds:
            field_class = BooleanField
        elif "integer" in kinds:
            field_class = IntegerField
        else:  # text, number, JSON object, dropdown: Airflow reads the text back (connections.fields)
            field_class = StringField
        validators = [Optional()]
        if "enum" in schema:
            validators.append(any_of(schema["enum"]))
        default = schema.get("default")
        widgets[name] = field_class(
            label=field["label"], validators=validators, description=field["description"], default=default
        )
    return widgets


def field_behaviour(conn_type: str) -> dict[str, Any]:
    """`conn_type`'s `ui-field-behaviour` in the shape of `get_ui_field_behaviour()` (underscored keys)."""
    behaviour = _provider_info(conn_type)["ui-field-behaviour"]
    return {key.replace("-", "_"): value for key, value in behaviour.items()}


def _form_for_airflow_3_1(cls: HookClass) -> HookClass:
    """Give the hook class of one type the form methods Airflow 3.1 reads; 3.2+ read the provider info instead."""
    if READS_CONN_FIELDS:
        return cls
    conn_type = cls.conn_type
    cls.get_connection_form_widgets = classmethod(lambda _cls: form_widgets(conn_type))
    cls.get_ui_field_behaviour = classmethod(lambda _cls: field_behaviour(conn_type))
    return cls


@_form_for_airflow_3_1
class AuthApiOAuth2Hook(AuthApiHook):
    """`AuthApiHook` registered for `authapi_oauth2` connections."""

    conn_type = "authapi_oauth2"
    hook_name = CONNECTION_TYPES[conn_type].hook_name


@_form_for_airflow_3_1
class AuthApiTokenHook(AuthApiHook):
    """`AuthApiHook` registered for `authapi_token` connections."""

    conn_type = "authapi_token"
    hook_name = CONNECTION_TYPES[conn_type].hook_name


@_form_for_airflow_3_1
class AuthApiApiKeyHook(AuthApiHook):
    """`AuthApiHook` registered for `authapi_apikey` connections."""

    conn_type = "authapi_apikey"
    hook_name = CONNECTION_TYPES[conn_type].hook_name


@_form_for_airflow_3_1
class AuthApiBasicHook(AuthApiHook):
    """`AuthApiHook` registered for `authapi_basic` connections."""

    conn_type = "authapi_basic"
    hook_name = CONNECTION_TYPES[conn_type].hook_name


@_form_for_airflow_3_1
class AuthApiBearerHook(AuthApiHook):
    """`AuthApiHook` registered for `authapi_bearer` connections."""

    conn_type = "authapi_bearer"
    hook_name = CONNECTION_TYPES[conn_type].hook_name


@_form_for_airflow_3_1
class AuthApiOAuth1Hook(AuthApiHook):
    """`AuthApiHook` registered for `authapi_oauth1` connections."""

    conn_type = "authapi_oauth1"
    hook_name = CONNECTION_TYPES[conn_type].hook_name


@_form_for_airflow_3_1
class AuthApiNoAuthHook(AuthApiHook):
    """`AuthApiHook` registered for `authapi_none` connections."""

    conn_type = "authapi_none"
    hook_name = CONNECTION_TYPES[conn_type].hook_name


def _system_hook(conn_type: ConnectionType) -> type[AuthApiHook]:
    """The `AuthApiHook` subclass registered for one system type, importable as `HOOKS_MODULE.<hook_class>`."""
    attributes = {
        "__module__": HOOKS_MODULE,
        "__qualname__": conn_type.hook_class,
        "__doc__": f"`AuthApiHook` registered for `{conn_type.conn_type}` connections ({conn_type.hook_name}).",
        "conn_type": conn_type.conn_type,
        "hook_name": conn_type.hook_name,
    }
    return _form_for_airflow_3_1(type(conn_type.hook_class, (AuthApiHook,), attributes))


SYSTEM_HOOKS: dict[str, type[AuthApiHook]] = {name: _system_hook(t) for name, t in SYSTEM_TYPES.items()}
globals().update({hook.__name__: hook for hook in SYSTEM_HOOKS.values()})
