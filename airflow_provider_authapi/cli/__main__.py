"""`python -m airflow_provider_authapi.cli ...`: the same commands as `airflow-authapi` (see cli.main)."""

from airflow_provider_authapi.cli.main import main

main()
