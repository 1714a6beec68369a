#!/usr/bin/env bash
# Create .venv (once) and install the provider with its test extras on the newest Airflow 3.
# Sourced by scripts/test.sh and scripts/demo.sh; safe to run again (it only installs what is missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AIRFLOW_VERSION="${AIRFLOW_VERSION:-3.3.2}"
cd "$ROOT"
if ! command -v uv >/dev/null 2>&1; then
    python3 -m pip install --quiet uv
fi
if [ ! -x .venv/bin/python ]; then
    uv venv --quiet --python "$(command -v python3)" .venv
fi
stamp=".venv/.authapi-installed-$(sha1sum pyproject.toml | cut -c1-12)-$AIRFLOW_VERSION"
if [ ! -f "$stamp" ]; then
    VIRTUAL_ENV="$ROOT/.venv" uv pip install --quiet "apache-airflow==$AIRFLOW_VERSION" -e ".[test]"
    touch "$stamp"
fi
# shellcheck disable=SC1091
source .venv/bin/activate
