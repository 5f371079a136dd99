"""`scripts/ui.sh`, the README's UI command, as a user starts it: from a plain shell (env -i, no
venv on PATH), on a fresh Airflow home. Every component `airflow standalone` starts must come up
and the UI must list the kessai DAGs to a logged-in user."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from deploy.airflow_stack import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
KESSAI_DAGS = {"card_transmission", "payout_closing", "recurring_charge", "stale_slip_reminder"}


def fetch(url: str, *, token: str | None = None, data: dict | None = None):
    request = urllib.request.Request(url, data=json.dumps(data).encode() if data else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except OSError:
        return None


def wait_for(what: str, probe, process: subprocess.Popen, log: Path, timeout: float = 240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        if process.poll() is not None:
            break
        time.sleep(2)
    raise AssertionError(f"waiting for {what}; scripts/ui.sh said:\n{log.read_text(errors='replace')[-4000:]}")


def test_ui_script_serves_the_dags_from_a_plain_shell(tmp_path):
    port = free_port()
    home = tmp_path / "var"
    log = tmp_path / "ui.log"
    environment = {
        "HOME": str(tmp_path),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "KESSAI_HOME": str(home),
        "AIRFLOW__API__PORT": str(port),
    }
    with open(log, "w") as output:
        process = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "ui.sh")],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        health = wait_for(
            "a healthy scheduler and DAG processor",
            lambda: (
                (h := fetch(f"{base}/api/v2/monitor/health"))
                and h["scheduler"]["status"] == "healthy"
                and (h.get("dag_processor") or {}).get("status") == "healthy"
                and h
            ),
            process,
            log,
        )
        assert health["metadatabase"]["status"] == "healthy"
        passwords = home / "airflow" / "simple_auth_manager_passwords.json.generated"
        [(user, password)] = json.loads(passwords.read_text()).items()
        token = fetch(f"{base}/auth/token", data={"username": user, "password": password})["access_token"]
        dags = wait_for(
            "the kessai DAGs in the UI",
            lambda: (
                (d := fetch(f"{base}/api/v2/dags?limit=100", token=token))
                and KESSAI_DAGS <= {dag["dag_id"] for dag in d["dags"]}
                and d
            ),
            process,
            log,
        )
        assert fetch(f"{base}/api/v2/importErrors", token=token)["total_entries"] == 0
        assert KESSAI_DAGS <= {dag["dag_id"] for dag in dags["dags"]}
        assert "FileNotFoundError" not in log.read_text(errors="replace")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
