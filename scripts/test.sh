#!/usr/bin/env bash
# Runs the test suite. PostgreSQL tests run when KESSAI_TEST_POSTGRES_URL is set, e.g.
#   KESSAI_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
