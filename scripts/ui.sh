#!/usr/bin/env bash
# Starts Airflow (standalone: API server with the UI, scheduler, DAG processor, triggerer) on the
# same business database and Airflow home as scripts/demo.sh. Open http://localhost:8080; the
# admin password is printed at start and kept in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh
.venv/bin/python -m kessai db upgrade
exec .venv/bin/airflow standalone
