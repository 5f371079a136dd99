"""Running a job in a process of its own (child.py) on a business database and a KESSAI_HOME of its
own, with or without a fault, and telling what it left behind.

The processes are forked from a multiprocessing fork server that imported the package once: a job
starts in a few milliseconds instead of the second or two a new interpreter spends importing
pandas and SQLAlchemy, which is most of what the suite would otherwise spend. Each is still a
process of its own: SIGKILL ends it alone, and it shares no thread, connection or file with the
tests (the server is a fresh interpreter, not a fork of pytest)."""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

import child
from world import ZENGIN, outputs

KILLED = -9
# The modules a job uses, imported once by the fork server: each job's process is forked from it
# (a fresh process with no thread, connection or file of the test's), not a new interpreter.
PRELOAD = [
    "child",
    "kessai.cli",
    "kessai.synthetic.generation",
    "kessai.reminders.stale_slips",
    "kessai.transmission.daily",
    "kessai.payout.closing",
    "kessai.payout.transfer_files",
    "kessai.payout.statement_files",
    "kessai.mail.delivery",
    "kessai.recurring.charge",
    "kessai.recurring.failures",
    "kessai.recurring.slips",
    "kessai.gateway.http_gateway",
    "psycopg",
    "smtplib",
    "urllib3",
]
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(PRELOAD)


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


@dataclass
class Finished:
    status: int  # the exit status; KILLED (-9) after SIGKILL
    out: str
    err: str


class Job:
    """A job running in its own process (child.entry)."""

    def __init__(
        self, place: Place, job: str, args: dict | None, fault: dict | None, barrier: Path | None, env: dict
    ) -> None:
        self._output = Path(tempfile.mkdtemp(prefix="kessai-fault-job-"))
        self._process = _context.Process(
            target=child.entry,
            args=(
                _spec(job, args, fault, barrier),
                place.env(**env),
                str(self._output / "out"),
                str(self._output / "err"),
            ),
        )
        self._process.start()

    def poll(self) -> int | None:
        return self._process.exitcode

    def finish(self, timeout: float) -> Finished:
        self._process.join(timeout)
        if self._process.exitcode is None:
            self._process.kill()
            self._process.join()
            raise TimeoutError(f"the job did not end within {timeout} s")

        def read(name: str) -> str:
            path = self._output / name
            return path.read_text(errors="replace") if path.exists() else ""

        return Finished(self._process.exitcode, read("out"), read("err"))


def start(
    place: Place,
    job: str,
    args: dict | None = None,
    *,
    fault: dict | None = None,
    barrier: Path | None = None,
    **env: str,
) -> Job:
    return Job(place, job, args, fault, barrier, env)


def finish(process: Job, timeout: float = 180) -> Finished:
    return process.finish(timeout)


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
            return len(
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": url.rsplit("/", 1)[1]},
                ).all()
            )
    finally:
        engine.dispose()
