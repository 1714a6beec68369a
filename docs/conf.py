"""Sphinx configuration: MyST Markdown pages, the reference from the code's docstrings, the Furo theme.

Built by `bash scripts/docs.sh`, which treats every warning (a broken link, a missing page, a docstring Sphinx
cannot read) as an error.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airflow_provider_authapi import __version__  # noqa: E402

project = "airflow-provider-authapi"
author = "airflow-provider-authapi developers"
copyright = "2026, airflow-provider-authapi developers"
release = version = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_heading_anchors = 3  # `[text](page.md#a-heading)` links are checked like page links
myst_enable_extensions = ["colon_fence"]
suppress_warnings: list[str] = []

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = False

html_theme = "furo"
html_title = f"airflow-provider-authapi {__version__}"
html_static_path = ["_static"]

# The docstrings write `name` for code, as Markdown does; reStructuredText's default role would try to link it.
default_role = "code"
