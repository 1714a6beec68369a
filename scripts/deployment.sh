#!/usr/bin/env bash
# The deployment tests by hand (issue 11): PostgreSQL, api-server, scheduler (LocalExecutor), dag-processor and
# triggerer as real processes on 127.0.0.1, two concurrent runs of shared_cache_load per scenario against strict
# OAuth 2.0 emulators. About 11 minutes on 2 cores; as root it installs PostgreSQL with apt-get when missing.
#
#   bash scripts/deployment.sh                   # the tests, against the provider in the working tree
#   bash scripts/deployment.sh --rev bf3436c     # against that git revision of the provider (compare designs)
#   bash scripts/deployment.sh --up              # an idle deployment (AIRFLOW_CONN_* passed on) until Ctrl-C
#
# Figures per scenario: test-artifacts/deployment-<scenario>.json. Knobs: AUTHAPI_DEPLOYMENT_HOOK_TASKS (18 per
# run), AUTHAPI_DEPLOYMENT_OPERATOR_TASKS (3 sync + 3 deferrable per run), AUTHAPI_DEPLOYMENT_PARALLELISM (64),
# AUTHAPI_DEPLOYMENT_KEEP=1 keeps the temporary folders. Other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-env.sh
if [ "${1:-}" = "--up" ]; then
    exec python -m tests.deployment.harness
fi
if [ "${1:-}" = "--rev" ]; then
    export AUTHAPI_DEPLOYMENT_PROVIDER_REV="$2"
    shift 2
fi
exec python -m pytest tests/deployment -q -p no:xdist -s "$@"
