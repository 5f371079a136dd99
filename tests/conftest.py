"""Shared fixtures: a freshly migrated business database on SQLite and on PostgreSQL.

PostgreSQL tests run when KESSAI_TEST_POSTGRES_URL names a server (CI always sets it); each test
gets its own database, cloned from a migrated template, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "plugins"))

from kessai.database import make_engine  # noqa: E402
from kessai.migrations_runner import upgrade  # noqa: E402

POSTGRES_URL_VARIABLE = "KESSAI_TEST_POSTGRES_URL"
DIALECTS = ["sqlite", "postgresql"]


def postgres_server_url() -> str | None:
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url else None


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "kessai.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
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
    upgrade(engine)
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
