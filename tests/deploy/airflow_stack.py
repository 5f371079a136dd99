"""Real Airflow processes for the tests about them: API server, scheduler, DAG processor, workers.

Each stack has its own AIRFLOW_HOME, ports and metadata database, runs this project's dags/ and
plugins/, and is stopped (process group killed) when the test ends.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AirflowStack:
    def __init__(self, home: Path, *, metadata_url: str, executor: str = "LocalExecutor", extra_env=None):
        self.home = home
        self.port = free_port()
        self.processes: list[subprocess.Popen] = []
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": "kessai-test-secret-" + home.name,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            **(extra_env or {}),
        }
        home.mkdir(parents=True, exist_ok=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def airflow(self, *args: str, timeout: float = 300, env=None) -> subprocess.CompletedProcess:
        """Run an airflow CLI command in this stack's environment (plus `env`); raise with its
        output on failure. A command that met the SQLite metadata database locked by a running
        scheduler wrote nothing (its transaction rolled back) and is run again, up to three times."""
        for _ in range(3):
            result = subprocess.run(
                [sys.executable, "-m", "airflow", *args],
                env={**self.env, **(env or {})},
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            if result.returncode == 0 or "database is locked" not in result.stderr + result.stdout:
                break
            time.sleep(2)
        if result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def start(self, name: str, *args: str) -> subprocess.Popen:
        """Start a long-running airflow component, its output in HOME/NAME.log."""
        log = open(self.home / f"{name}.log", "w")
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.home / f"{name}.log").read_text(errors="replace")

    def start_api_server(self, timeout: float = 120) -> None:
        self.start("api-server", "api-server", "--port", str(self.port))
        self.wait_until(lambda: self.get("/api/v2/version") is not None, timeout, "the API server to answer")

    def get(self, path: str):
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=10) as response:
                return json.load(response)
        except OSError:
            return None

    def wait_until(self, predicate, timeout: float, what: str, interval: float = 1.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{process.args} exited ({process.returncode}) while waiting for {what}")
            time.sleep(interval)
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.home.glob("*.log"))
        raise TimeoutError(f"timed out after {timeout}s waiting for {what}\n{logs}")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
