"""Presets for real systems: pick one in the connection form and only credentials remain to fill in.

A profile supplies defaults beneath the connection: any field set on the connection wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Profile:
    """Defaults for one system: its connection type, base URL and extra fields."""

    name: str
    label: str
    conn_type: str
    host: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    description: str = ""


PROFILES: dict[str, Profile] = {}


def get_profile(name: str) -> Profile:
    """The profile called `name`; a KeyError names the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(sorted(PROFILES)) or 'none'}") from None
