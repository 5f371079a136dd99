"""Shared fixtures: a freshly migrated business database on SQLite and on PostgreSQL.

PostgreSQL tests run when KESSAI_TEST_POSTGRES_URL names a server (CI always sets it); each test
gets its own database, cloned from a migrated template, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Airflow reads its configuration when first imported: point it at a throw-away home with this
# project's DAGs and plugins before any test imports it.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="kessai-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
)
os.environ.pop("KESSAI_DATABASE_URL", None)  # tests choose their business database themselves

import pytest  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from kessai.db.database import make_engine  # noqa: E402
from kessai.db.migrations_runner import upgrade  # noqa: E402
from kessai.payout.bank_master import package_master, update_bank_master  # noqa: E402

POSTGRES_URL_VARIABLE = "KESSAI_TEST_POSTGRES_URL"
DIALECTS = ["sqlite", "postgresql"]


def postgres_server_url() -> str | None:
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url else None


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


# The tests' world: unless a test names its own moment, the one clock (KESSAI_AS_OF, SPEC §4.6)
# stands after every date the tests use, so a run for a day in 2027 is not refused as early.
# The tests of the clock and of early runs set KESSAI_AS_OF themselves.
TESTS_AS_OF = "2029-12-31T12:00:00+09:00"


@pytest.fixture(autouse=True)
def tests_clock(monkeypatch):
    monkeypatch.setenv("KESSAI_AS_OF", TESTS_AS_OF)
    return TESTS_AS_OF


# The bank master every test database starts with, as a deployed one has after `python -m kessai
# bank-master update`: the pinned zengin-code package, loaded at this moment.
BANK_MASTER_LOADED_AT = "2026-11-30T09:00:00+09:00"


def _prepare_template(engine) -> None:
    from datetime import datetime

    upgrade(engine)
    loaded_at = datetime.fromisoformat(BANK_MASTER_LOADED_AT)
    with engine.begin() as connection:
        update_bank_master(connection, package_master(), loaded_at, loaded_at.date())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "kessai.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    _prepare_template(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template():
    server = postgres_server_url()
    if not server:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set")
    name = f"kessai_template_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(_with_database(server, name))
    _prepare_template(engine)
    engine.dispose()
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_url_for(request, tmp_path):
    """A function making a fresh, migrated database of a dialect; returns its URL."""
    created: list[str] = []

    def make(dialect: str) -> str:
        if dialect == "sqlite":
            path = tmp_path / f"kessai-{uuid.uuid4().hex[:6]}.sqlite"
            shutil.copy(request.getfixturevalue("sqlite_template"), path)
            return f"sqlite:///{path}"
        template = request.getfixturevalue("postgres_template")
        name = f"kessai_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(postgres_server_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        admin.dispose()
        created.append(name)
        return _with_database(postgres_server_url(), name)

    yield make
    if created:
        admin = create_engine(postgres_server_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for name in created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=DIALECTS)
def dialect(request) -> str:
    return request.param


@pytest.fixture
def database_url(database_url_for, dialect) -> str:
    """A fresh, migrated business database, once on SQLite and once on PostgreSQL."""
    return database_url_for(dialect)


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's own metadata database (SQLite in the session's Airflow home), migrated once."""
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ.copy()
    )
    return _AIRFLOW_HOME


@pytest.fixture
def business_database(database_url, monkeypatch, tmp_path):
    """A fresh business database that DAG runs in this test use (through KESSAI_DATABASE_URL)."""
    monkeypatch.setenv("KESSAI_DATABASE_URL", database_url)
    monkeypatch.setenv("KESSAI_HOME", str(tmp_path / "kessai_home"))
    return database_url


@pytest.fixture
def business(business_database):
    """An engine on this test's business database."""
    engine = make_engine(business_database)
    yield engine
    engine.dispose()


@pytest.fixture
def run_dag(airflow_db, business_database):
    """Run a whole DAG of dags/ through Airflow (dag.test: real task runs, in this process) on this
    test's business database. Give the business date as a param (a manual run without logical date)
    or a logical date; returns the finished DagRun."""
    from airflow.utils.cli import get_bagged_dag

    def run(dag_id: str, business_date=None, *, logical_date=None, **params):
        dag = get_bagged_dag(None, dag_id)
        conf = dict(params)
        if business_date is not None:
            conf["business_date"] = str(business_date)
        return dag.test(logical_date=logical_date, run_conf=conf or None)

    return run


@pytest.fixture
def smtp_server(monkeypatch):
    """A real SMTP server on a free localhost port (tests/support/smtp_server.py) that keeps the mails it
    receives in `.messages`; deliver_outbox() and `python -m kessai deliver-mail` reach it through
    KESSAI_SMTP_URL."""
    from support.smtp_server import SmtpTestServer

    server = SmtpTestServer()
    server.start()
    monkeypatch.setenv("KESSAI_SMTP_URL", server.url)
    yield server
    server.stop()
