#!/usr/bin/env bash
# One command for a fresh machine: set up .venv, start a real system's emulator on 127.0.0.1 and run its
# example DAG with `airflow dags test` (real scheduler-less run, real Task SDK, token cached in a Variable).
#
#   bash scripts/demo.sh [dastra|quickbooks|aspire|astera|appsmith|sap_b1|salesforce|google|entra_id|hubspot|stripe
#                         |custom_grant|github_app|netsuite|jira|amazon_sp|zoho|xero]
#   (default: dastra)
#
# Airflow's home for the demo is .airflow-demo/ (delete it to start afresh; DEMO_HOME=dir to put it elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
SYSTEM="${1:-dastra}"
DAG_CONF=""  # the run's conf (-c), for an example that wants one
case "$SYSTEM" in
    dastra) DAG_ID=dastra_workspaces CONN_ID=dastra ;;
    quickbooks) DAG_ID=quickbooks_customers CONN_ID=quickbooks ;;
    aspire) DAG_ID=aspire_properties CONN_ID=aspire ;;
    astera) DAG_ID=astera_server_info CONN_ID=astera ;;
    appsmith) DAG_ID=appsmith_orders CONN_ID=appsmith_api ;;
    sap_b1) DAG_ID=sap_b1_items CONN_ID=sap_b1 ;;
    salesforce) DAG_ID=salesforce_accounts CONN_ID=salesforce ;;
    google) DAG_ID=google_sheets_values CONN_ID=google_sheets ;;
    entra_id) DAG_ID=entra_users CONN_ID=entra ;;
    hubspot) DAG_ID=hubspot_contacts CONN_ID=hubspot ;;
    stripe) DAG_ID=stripe_charges CONN_ID=stripe ;;
    custom_grant) DAG_ID=custom_grant CONN_ID=odd_login ;;
    github_app) DAG_ID=github_app_repositories CONN_ID=github_app ;;
    netsuite) DAG_ID=netsuite_customers CONN_ID=netsuite ;;
    zoho) DAG_ID=zoho_leads CONN_ID=zoho ;;
    xero) DAG_ID=xero_contacts CONN_ID=xero ;;
    amazon_sp) DAG_ID=amazon_sp_reports CONN_ID=amazon_sp DAG_CONF='{"poll_interval": 2}' ;;  # not a minute apart
    jira) DAG_ID=jira_issues CONN_ID=jira ;;
    *) echo "unknown system '$SYSTEM' (dastra, quickbooks, aspire, astera, appsmith, sap_b1, salesforce, google," \
            "entra_id, hubspot, stripe, custom_grant, github_app, netsuite, jira, amazon_sp, zoho, xero)" >&2; exit 2 ;;
esac
source scripts/setup-env.sh

export AIRFLOW_HOME="${DEMO_HOME:-$PWD/.airflow-demo}"
export AIRFLOW__CORE__DAGS_FOLDER="$PWD/dags_examples"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the emulators live in tests/
mkdir -p "$AIRFLOW_HOME"
if [ ! -s "$AIRFLOW_HOME/fernet.key" ]; then  # tokens in Variables are encrypted at rest with this key
    python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())" >"$AIRFLOW_HOME/fernet.key"
fi
AIRFLOW__CORE__FERNET_KEY="$(cat "$AIRFLOW_HOME/fernet.key")"
export AIRFLOW__CORE__FERNET_KEY
echo "== migrating the demo metadata DB in $AIRFLOW_HOME"
airflow db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/migrate.log" >&2; exit 1; }

echo "== starting the $SYSTEM emulator on 127.0.0.1"
rm -f "$AIRFLOW_HOME/conn.env"
python -m tests.emulators "$SYSTEM" --conn-id "$CONN_ID" --env-file "$AIRFLOW_HOME/conn.env" \
    >"$AIRFLOW_HOME/emulator.log" 2>&1 &
EMULATOR=$!
trap 'kill "$EMULATOR" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    [ -s "$AIRFLOW_HOME/conn.env" ] && break
    kill -0 "$EMULATOR" 2>/dev/null || { cat "$AIRFLOW_HOME/emulator.log" >&2; exit 1; }
    sleep 0.2
done
[ -s "$AIRFLOW_HOME/conn.env" ] || { echo "the emulator did not start" >&2; exit 1; }
# shellcheck disable=SC1091
source "$AIRFLOW_HOME/conn.env"  # AIRFLOW_CONN_<CONN_ID>: the connection you would create in the UI

echo "== airflow dags test $DAG_ID"
airflow dags test ${DAG_CONF:+-c "$DAG_CONF"} "$DAG_ID"
echo "== results pushed to XCom"
python - "$DAG_ID" <<'PY'
import json
import sys

from airflow.models.dagrun import DagRun
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

dag_id = sys.argv[1]
with create_session() as session:
    run = session.query(DagRun).filter_by(dag_id=dag_id).order_by(DagRun.id.desc()).first()
    rows = session.query(XComModel).filter_by(dag_id=dag_id, run_id=run.run_id, key="return_value")
    for row in rows.order_by(XComModel.timestamp):
        value = json.dumps(XComModel.deserialize_value(row))
        print(f"{row.task_id}: {value if len(value) <= 300 else value[:300] + ' ...'}")
    print(f"run {run.run_id}: {run.state}")
PY
