"""The manual, README.md and the pages of docs/, for the tests that keep it true to the code.

A page marks what a test reads with `<!-- BEGIN name -->` ... `<!-- END name -->`; a topic spread over pages uses
`name` on one page and `name:part` on the others (`connections`, `connections:oauth2`, ...).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT

DOCS = ROOT / "docs"


def pages() -> list[Path]:
    """README.md and every Markdown page of the docs (the built site excluded)."""
    return [ROOT / "README.md", *sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)]


def text() -> str:
    return "\n".join(page.read_text() for page in pages())


def block(name: str) -> str:
    """The text between the `name` markers, wherever in the manual they are."""
    for page in pages():
        found = re.search(
            rf"<!-- BEGIN {re.escape(name)} -->(.*?)<!-- END {re.escape(name)} -->", page.read_text(), re.S
        )
        if found:
            return found.group(1)
    raise LookupError(f"no block {name!r} in the manual")


def topic(name: str) -> str:
    """Every block named `name` or `name:<part>`, in page order."""
    found = [
        m.group(2)
        for page in pages()
        for m in re.finditer(r"<!-- BEGIN ([\w:-]+) -->(.*?)<!-- END \1 -->", page.read_text(), re.S)
        if m.group(1) == name or m.group(1).startswith(f"{name}:")
    ]
    if not found:
        raise LookupError(f"no block {name!r} in the manual")
    return "\n".join(found)
