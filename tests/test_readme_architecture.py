"""The README's architecture map stays true: every module it names exists, and every core module is named."""

from __future__ import annotations

import re

from tests.conftest import ROOT

PACKAGE = ROOT / "airflow_provider_authapi"


def _architecture() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme[readme.index("<!-- BEGIN architecture -->") : readme.index("<!-- END architecture -->")]


def test_every_module_the_map_names_exists():
    named = set(re.findall(r"\b([a-z_]+/[a-z_]+\.py)\b", _architecture()))
    assert len(named) > 15
    assert [path for path in sorted(named) if not (PACKAGE / path).is_file()] == []


def test_every_module_of_the_core_is_on_the_map():
    named = set(re.findall(r"\b([a-z_]+/[a-z_]+\.py)\b", _architecture()))
    core = {f"{p.parent.name}/{p.name}" for folder in ("auth", "api") for p in (PACKAGE / folder).glob("*.py")}
    assert sorted(core - named - {"auth/__init__.py", "api/__init__.py"}) == []
