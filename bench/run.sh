#!/usr/bin/env bash
# The benchmarks (docs/performance.md), e.g.
#   bench/run.sh --sizes 100k,1m,5m --database postgresql
#   bench/run.sh --sizes 100k --only closing,reminder --database sqlite
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m bench "$@"
