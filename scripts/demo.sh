#!/usr/bin/env bash
# The main job on the embedded default: sets up .venv, creates var/kessai.sqlite with synthetic
# data and runs every kessai DAG through Airflow from 2026-12-01 to 2027-03-01 (scripts/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh
exec .venv/bin/python scripts/demo.py "$@"
