#!/usr/bin/env bash
# Creates .venv with the pinned development lock (requirements-dev.txt: the runtime lock plus the
# tests and tools) and kessai installed editable from plugins/ (`pip install -e .`, built with the
# locked setuptools), again only when a lock or pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=.venv/.requirements.sha256
wanted=$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "Installing the pinned requirements into .venv (about a minute the first time)..."
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt 2>&1 \
    | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-build-isolation -e . 2>&1 \
    | grep -v '^WARNING: Location' || true
  rm -f "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/kessai.pth"  # older setups
  echo "$wanted" > "$stamp"
fi
