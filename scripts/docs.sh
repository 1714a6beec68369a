#!/usr/bin/env bash
# Build the documentation site (docs/ -> docs/_build/html) and fail on any warning: a broken internal link, a
# missing page, a heading out of order, a docstring the reference cannot read. CI runs it from scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-env.sh
rm -rf docs/_build
# The reference imports the provider, and so Airflow: give it a throwaway home, never ~/airflow.
AIRFLOW_HOME="$(mktemp -d)"
export AIRFLOW_HOME
trap 'rm -rf "$AIRFLOW_HOME"' EXIT
python -m sphinx -W --keep-going -q -b html docs docs/_build/html
echo "docs built: docs/_build/html/index.html"
