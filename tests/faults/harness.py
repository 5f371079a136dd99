"""Running a job in a child process (child.py) on a business database and a KESSAI_HOME of its
own, with or without a fault, and telling what it left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

from world import ZENGIN, outputs

CHILD = Path(__file__).with_name("child.py")
KILLED = -9


@dataclass
class Place:
    """One business database and its KESSAI_HOME (the output files), with the environment of a run."""

    url: str
    home: Path
    extra_env: dict = field(default_factory=dict)

    def env(self, **overrides: str) -> dict:
        env = {**os.environ, **ZENGIN, **self.extra_env, **overrides}
        env.update(KESSAI_DATABASE_URL=self.url, KESSAI_HOME=str(self.home))
        return env

    def outputs(self) -> dict:
        return outputs(self.url, self.home)

    @property
    def database_name(self) -> str:
        return self.url.rsplit("/", 1)[1]


def _spec(job: str, args: dict | None, fault: dict | None, barrier: Path | None) -> str:
    return json.dumps({"job": job, "args": args or {}, "fault": fault, "barrier": str(barrier) if barrier else None})


def start(place: Place, job: str, args: dict | None = None, *, fault: dict | None = None,
          barrier: Path | None = None, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(CHILD), _spec(job, args, fault, barrier)],
        env=place.env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@dataclass
class Finished:
    status: int
    out: str
    err: str


def finish(process: subprocess.Popen, timeout: float = 180) -> Finished:
    out, err = process.communicate(timeout=timeout)
    return Finished(process.returncode, out, err)


def run(place: Place, job: str, args: dict | None = None, *, fault: dict | None = None, **env: str) -> Finished:
    return finish(start(place, job, args, fault=fault, **env))


def run_clean(place: Place, job: str, args: dict | None = None, **env: str) -> Finished:
    """A run that must succeed."""
    done = run(place, job, args, **env)
    assert done.status == 0, f"{job} failed ({done.status}):\n{done.out}\n{done.err[-3000:]}"
    return done


def together(places: list[Place], job: str, args: dict | None, barrier: Path, **env: str) -> list[Finished]:
    """The same job started in several processes that begin their work at the same moment."""
    barrier.mkdir(parents=True, exist_ok=True)
    processes = [start(place, job, args, barrier=barrier, **env) for place in places]
    deadline = time.monotonic() + 120
    while len(list(barrier.glob("ready-*"))) < len(processes):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            break
        time.sleep(0.02)
    (barrier / "go").touch()
    return [finish(p) for p in processes]


def terminate_backends(url: str) -> int:
    """pg_terminate_backend for every other session on the database of `url`: how many."""
    server = url.rsplit("/", 1)[0] + "/postgres"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            return len(connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = :name AND pid <> pg_backend_pid()"),
                {"name": url.rsplit("/", 1)[1]},
            ).all())
    finally:
        engine.dispose()
