#!/usr/bin/env bash
# Create the venv of one Airflow version (once) and install the provider with its test extras beside it.
# Sourced by scripts/test.sh and scripts/demo.sh; safe to run again (it only installs what is missing).
#
#   AIRFLOW_VERSION=3.1.8 source scripts/setup-env.sh   # .venvs/af-3.1.8, activated
#
# The newest Airflow (the default) lives in .venv with today's dependencies. An older one is installed with the
# dependencies of its release, as Airflow's constraint files would pin them: `uv pip install --exclude-newer` a
# date shortly after that release (today's newest pydantic and fastapi break Airflow 3.2.2 in every task).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NEWEST_AIRFLOW=3.3.2
AIRFLOW_VERSION="${AIRFLOW_VERSION:-$NEWEST_AIRFLOW}"

# Airflow version -> the --exclude-newer date of its dependencies (one line per supported older version).
airflow_release_date() {
    case "$1" in
        3.2.2) echo 2026-08-15 ;;
        3.1.8) echo 2026-07-20 ;;
        *) echo "setup-env.sh: no dependency date for Airflow $1 (known: $NEWEST_AIRFLOW 3.2.2 3.1.8)" >&2; return 1 ;;
    esac
}

# Airflow version -> its venv, relative to the checkout.
airflow_venv() {
    if [ "$1" = "$NEWEST_AIRFLOW" ]; then echo .venv; else echo ".venvs/af-$1"; fi
}

cd "$ROOT"
if ! command -v uv >/dev/null 2>&1; then
    python3 -m pip install --quiet uv
fi
VENV="$(airflow_venv "$AIRFLOW_VERSION")"
EXCLUDE_NEWER=()
if [ "$AIRFLOW_VERSION" != "$NEWEST_AIRFLOW" ]; then
    EXCLUDE_NEWER=(--exclude-newer "$(airflow_release_date "$AIRFLOW_VERSION")")
fi
if [ ! -x "$VENV/bin/python" ]; then
    uv venv --quiet --python "$(command -v python3)" "$VENV"
fi
EXTRAS="test,docs"  # the test suite and the docs build (scripts/docs.sh)
stamp="$VENV/.authapi-installed-$(sha1sum pyproject.toml | cut -c1-12)-$AIRFLOW_VERSION-$EXTRAS"
if [ ! -f "$stamp" ]; then
    VIRTUAL_ENV="$ROOT/$VENV" uv pip install --quiet "${EXCLUDE_NEWER[@]}" "apache-airflow==$AIRFLOW_VERSION" -e ".[$EXTRAS]"
    touch "$stamp"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
