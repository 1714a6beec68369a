#!/usr/bin/env bash
# One command for a fresh machine: set up the venvs, lint, and run the tests on every supported Airflow.
#
#   bash scripts/test.sh                          # CI: the whole suite on Airflow 3.3.2, then the unit and
#                                                 # Airflow-level tests on each version of AIRFLOW_MATRIX
#   AIRFLOW_VERSION=3.1.8 bash scripts/test.sh    # one version only (its venv: .venvs/af-3.1.8)
#
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k dastra`). AIRFLOW_MATRIX="" skips older versions.
set -euo pipefail
cd "$(dirname "$0")/.."
NEWEST_AIRFLOW=3.3.2
AIRFLOW_MATRIX="${AIRFLOW_MATRIX-3.2.2 3.1.8}"
LOWEST_AIRFLOW=3.1.8
# What runs on an older version: the Airflow-level tests (not the browser tests: 3.3's form is the one they drive;
# not tests/systems: the example DAGs run the same code paths as tests/airflow, and CI's hour is short).
OLDER_VERSION_TESTS=(tests/connections tests/airflow)
# The Airflow-free core's tests (no Airflow import) run once more on the lowest version only: what differs there is
# the libraries Airflow's constraints pin (httpx 0.28 / pendulum 3.2 / tenacity 9.1 on 3.1.8 and 3.2.2 alike,
# against httpx 0.29 / pendulum 3.3 on 3.3.2), not Airflow.
CORE_TESTS=(tests/core tests/api)

run_pytest() {
    set +e
    python -m pytest -n "${PYTEST_WORKERS:-2}" --durations=15 "$@"
    local rc=$?
    set -e
    if [ "$rc" -eq 5 ]; then
        echo "pytest collected no tests: failing on purpose" >&2
        return 1
    fi
    return "$rc"
}

if [ -n "${AIRFLOW_VERSION:-}" ]; then  # one version, in its own venv (set up on first use)
    source scripts/setup-env.sh
    if [ "$AIRFLOW_VERSION" = "$NEWEST_AIRFLOW" ]; then  # the whole suite
        bash scripts/install-browser.sh  # Debian chromium for tests/browser (no-op when present)
        ruff check .
        bash scripts/docs.sh  # the docs site, warnings as errors
        if [ $# -eq 0 ]; then
            # The deployment tests run here under Celery (separate workers, the bakery queue) and on the lowest
            # version under the LocalExecutor (the lease and refresh claim): CI's hour has room for two, not three.
            run_pytest -k "not LocalExecutor"
        else
            run_pytest "$@"
        fi
    elif [ $# -gt 0 ]; then  # what the arguments name (browser tests drive 3.3's form; deployment: see below)
        run_pytest -m "not browser and not deployment" "$@"
    elif [ "$AIRFLOW_VERSION" != "$LOWEST_AIRFLOW" ]; then  # the Airflow-level tests
        run_pytest -m "not browser and not deployment" "${OLDER_VERSION_TESTS[@]}"
    else  # the unit and Airflow-level tests, and the deployment and 3.1 form
        run_pytest -m "not browser and not deployment" "${CORE_TESTS[@]}" "${OLDER_VERSION_TESTS[@]}"
        # The shared cache in a real deployment on the lowest version too: there the refresh queue is the lease
        # (no key listing) and the triggerer is 3.1's (LocalExecutor; Celery runs on the newest).
        python -m pytest -p no:xdist -m deployment -k LocalExecutor tests/deployment
        # 3.1's connection form is its own (hook widgets, not conn-fields): typed in Chromium here.
        bash scripts/install-browser.sh
        python -m pytest -p no:xdist -m browser tests/browser/test_connection_form_airflow31.py
    fi
    exit
fi

# Every version, each in a child run of this script; a failure in one still runs the others, then fails.
status=0
for version in "$NEWEST_AIRFLOW" $AIRFLOW_MATRIX; do
    started=$SECONDS
    rc=0
    AIRFLOW_VERSION="$version" bash scripts/test.sh "$@" || rc=$?
    echo "Airflow $version: setup and tests took $((SECONDS - started)) s (exit $rc)"
    [ "$rc" -eq 0 ] || status=1
done
exit "$status"
