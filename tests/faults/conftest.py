"""Fixtures of the fault suite: worlds to disturb, real servers for them, and the outputs of an
undisturbed run to compare with (computed once a session per job and database)."""

from __future__ import annotations

from pathlib import Path

import pytest

# The suite's helpers (world, harness, servers, charging, child) are on the path through pytest.ini.
from charging import charge_args, final_outcomes
from harness import Place, run_clean
from servers import FaultySmtpServer, faulty_gateway, received
from world import JOBS, prepare, seed_world

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def smtp_servers():
    """A function starting a real SMTP server (tests/support/smtp_server.py, with the faults of
    servers.py); every one is stopped after the test."""
    started = []

    def start() -> FaultySmtpServer:
        server = FaultySmtpServer()
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def world(database_url_for, smtp_servers, tmp_path):
    """A function making a seeded world on a fresh database of a dialect, brought to where a job
    starts, with its own KESSAI_HOME and SMTP server (`place.smtp`)."""
    count = [0]

    def make(dialect: str, job: str) -> Place:
        count[0] += 1
        url = database_url_for(dialect)
        seed_world(url)
        home = tmp_path / f"home-{count[0]}"
        prepare(url, home, job)
        smtp = smtp_servers()
        place = Place(url, home, {"KESSAI_SMTP_URL": smtp.url})
        place.smtp = smtp
        return place

    return make


_BASELINES: dict[tuple[str, str], dict] = {}


@pytest.fixture
def undisturbed(world):
    """The outputs (rows, files, mails received) of one clean run of a job on a fresh world."""

    def outputs(dialect: str, job: str) -> dict:
        if (dialect, job) not in _BASELINES:
            place = world(dialect, job)
            if job == "recurring_charge":
                with faulty_gateway() as gateway:
                    run_clean(place, job, charge_args(gateway))
                    executed = dict(gateway.executed)
                extra = {"executed": executed, "outcomes": final_outcomes(place.url)}
            else:
                run_clean(place, job, JOBS[job])
                extra = {}
            _BASELINES[dialect, job] = {**place.outputs(), "mails": received(place.smtp), **extra}
        return _BASELINES[dialect, job]

    return outputs
