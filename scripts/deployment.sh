#!/usr/bin/env bash
# The deployment tests by hand (issues 11, 21): PostgreSQL, api-server, scheduler, dag-processor and triggerer as
# real processes on 127.0.0.1, two concurrent runs of shared_cache_load per scenario against strict OAuth 2.0
# emulators, once with the LocalExecutor (about 11 minutes on 2 cores) and once with the CeleryExecutor (Redis,
# two Celery workers of concurrency 8 named worker-1 and worker-2; about 8 minutes). As root it installs
# PostgreSQL and Redis with apt-get when missing.
#
#   bash scripts/deployment.sh                       # the tests, against the provider in the working tree
#   bash scripts/deployment.sh --executor celery     # only the CeleryExecutor test (or: --executor local)
#   bash scripts/deployment.sh --rev bf3436c         # against that git revision of the provider (compare designs)
#   bash scripts/deployment.sh --up                  # an idle deployment (AIRFLOW_CONN_* passed on) until Ctrl-C
#   bash scripts/deployment.sh --up --executor celery  # the same with Redis and two Celery workers
#
# Figures per scenario: test-artifacts/deployment-[celery-]<scenario>.json. Knobs: AUTHAPI_DEPLOYMENT_HOOK_TASKS (18
# per run), AUTHAPI_DEPLOYMENT_OPERATOR_TASKS (3 sync + 3 deferrable per run), AUTHAPI_DEPLOYMENT_PARALLELISM (64)
# for the LocalExecutor scenarios; AUTHAPI_DEPLOYMENT_AIRFLOW_BIN=<venv>/bin runs another venv's Airflow (e.g.
# /work/venvs/af-3.2.2/bin); AUTHAPI_DEPLOYMENT_KEEP=1 keeps the temporary folders. Other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-env.sh
up=""
select=()
while [ $# -gt 0 ]; do
    case "$1" in
        --up) up=1; shift ;;
        --rev) export AUTHAPI_DEPLOYMENT_PROVIDER_REV="$2"; shift 2 ;;
        --executor)
            case "$2" in
                celery|CeleryExecutor) export AUTHAPI_DEPLOYMENT_EXECUTOR=CeleryExecutor ;;
                local|LocalExecutor) export AUTHAPI_DEPLOYMENT_EXECUTOR=LocalExecutor ;;
                *) echo "--executor: local or celery, not '$2'" >&2; exit 2 ;;
            esac
            select=(-k "$AUTHAPI_DEPLOYMENT_EXECUTOR")
            shift 2 ;;
        *) break ;;
    esac
done
if [ -n "$up" ]; then
    exec python -m tests.deployment.harness
fi
exec python -m pytest tests/deployment -q -p no:xdist -s "${select[@]}" "$@"
