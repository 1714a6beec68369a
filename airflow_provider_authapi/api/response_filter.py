"""Pick the interesting part of a JSON body: a callable, or a path such as `QueryResponse.Customer`.

Paths are the provider's one path language (`auth.json_path`): `items[0].id` or `items.0.id`, `data[*].id`,
`$` for the whole body; a missing key or index gives None.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.auth.json_path import find_path, parse_path

__all__ = ["ResponseFilter", "callable_ref", "find_path", "parse_path", "resolve_callable"]


def callable_ref(func: Callable[..., Any]) -> str:
    """`module:qualname` of a module-level function, checked to resolve back to the same object.

    Deferred tasks send callables to the triggerer this way; lambdas and nested functions cannot go.
    """
    module, qualname = getattr(func, "__module__", None), getattr(func, "__qualname__", "")
    ref = f"{module}:{qualname}"
    if not module or "<" in qualname:
        raise ConfigError("callable", f"{ref} is not a module-level function; a deferrable task needs one")
    try:
        resolved = resolve_callable(ref)
    except (ImportError, AttributeError) as exc:
        raise ConfigError("callable", f"{ref} cannot be imported back ({exc})") from exc
    if resolved is not func:
        raise ConfigError("callable", f"{ref} does not resolve to the same function")
    return ref


def resolve_callable(ref: str) -> Callable[..., Any]:
    """Import `module:qualname` (a module already loaded, e.g. a DAG file under `dag.test()`, is reused)."""
    module_name, _, qualname = ref.partition(":")
    target: Any = sys.modules.get(module_name) or importlib.import_module(module_name)
    for name in qualname.split("."):
        target = getattr(target, name)
    if not callable(target):
        raise ConfigError("callable", f"{ref} is not callable")
    return target


class ResponseFilter:
    """Apply a path or a callable to a parsed JSON body. Build with `ResponseFilter.of(spec)`."""

    def __init__(self, path: str | None = None, func: Callable[[Any], Any] | None = None) -> None:
        if (path is None) == (func is None):
            raise ConfigError("response_filter", "give exactly one of a path or a callable")
        self.path, self.func = path, func
        self._parts = parse_path(path) if path is not None else None

    def __repr__(self) -> str:
        return f"ResponseFilter({self.path!r})" if self.path is not None else f"ResponseFilter({self.func!r})"

    def __call__(self, body: Any) -> Any:
        if self.func is not None:
            return self.func(body)
        return find_path(body, self._parts or [])

    @classmethod
    def of(cls, spec: str | Callable[[Any], Any] | dict[str, str] | ResponseFilter | None) -> ResponseFilter | None:
        """From a path, a callable, a serialised spec (`{"path": ...}` / `{"callable": "mod:fn"}`) or None."""
        if spec is None or isinstance(spec, ResponseFilter):
            return spec
        if isinstance(spec, str):
            return cls(path=spec)
        if isinstance(spec, dict):
            if "path" in spec:
                return cls(path=spec["path"])
            if "callable" in spec:
                return cls(func=resolve_callable(spec["callable"]))
            raise ConfigError("response_filter", f"unknown spec keys {sorted(spec)}")
        if callable(spec):
            return cls(func=spec)
        raise ConfigError("response_filter", f"expected a path or a callable, got {type(spec).__name__}")

    def to_spec(self) -> dict[str, str]:
        """Serialisable form for trigger kwargs."""
        if self.path is not None:
            return {"path": self.path}
        assert self.func is not None
        return {"callable": callable_ref(self.func)}
