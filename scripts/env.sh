# Sourced by demo.sh and ui.sh: one Airflow home and one business database under var/, so the UI
# shows the demo's runs. Any variable already set wins.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export KESSAI_HOME=${KESSAI_HOME:-$root/var}
export KESSAI_DATABASE_URL=${KESSAI_DATABASE_URL:-sqlite:///$KESSAI_HOME/kessai.sqlite}
export AIRFLOW_HOME=${AIRFLOW_HOME:-$KESSAI_HOME/airflow}
export AIRFLOW__CORE__DAGS_FOLDER=${AIRFLOW__CORE__DAGS_FOLDER:-$root/dags}
export AIRFLOW__CORE__PLUGINS_FOLDER=${AIRFLOW__CORE__PLUGINS_FOLDER:-$root/plugins}
export AIRFLOW__CORE__LOAD_EXAMPLES=${AIRFLOW__CORE__LOAD_EXAMPLES:-False}
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}
mkdir -p "$KESSAI_HOME" "$AIRFLOW_HOME"
# `airflow standalone` starts its components as `airflow` found on PATH: the venv's first.
export PATH="$root/.venv/bin:$PATH"
