"""The manual's shape: a short README that links into docs/, and docs whose code samples are files the tests run."""

from __future__ import annotations

import re

from tests import manual
from tests.conftest import ROOT

README = ROOT / "README.md"
INCLUDE = re.compile(r"```\{literalinclude\} (\S+)")


def test_the_readme_stays_short_and_keeps_the_two_commands():
    text = README.read_text()
    assert len(text) <= 12_000, f"README.md is {len(text)} characters; the manual belongs in docs/"
    assert "    bash scripts/demo.sh\n" in text and "    bash scripts/test.sh\n" in text


def test_every_relative_link_of_the_readme_and_the_docs_resolves():
    broken = []
    for page in manual.pages():
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not target.startswith(("http://", "https://", "mailto:")) and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []


def test_no_docs_page_types_a_python_sample_inline():
    pages = [p for p in manual.pages() if p != README]
    typed = [str(p.relative_to(ROOT)) for p in pages if re.search(r"^```(python|py)\s*$", p.read_text(), re.M)]
    assert typed == [], f"inline Python samples (include a tested file instead): {typed}"


def test_every_included_sample_is_a_file_the_tests_run():
    """docs/examples/ runs in tests/airflow/test_docs_examples.py, dags_examples/ in tests/systems."""
    pages = manual.pages()
    included = {(page.parent / target).resolve() for page in pages for target in INCLUDE.findall(page.read_text())}
    assert len(included) >= 4, "the docs include their samples from tested files"
    tested = {
        p.resolve() for folder in (ROOT / "docs" / "examples", ROOT / "dags_examples") for p in folder.glob("*.py")
    }
    assert sorted(str(p) for p in included - tested) == []
