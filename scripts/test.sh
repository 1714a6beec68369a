#!/usr/bin/env bash
# One command for a fresh machine: set up .venv, lint, and run the whole test suite.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k dastra`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-env.sh
bash scripts/install-browser.sh  # Debian chromium for tests/browser (no-op when present)
ruff check .
set +e
python -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing on purpose" >&2
    exit 1
fi
exit "$rc"
