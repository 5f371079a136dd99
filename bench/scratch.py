"""The benchmark's own databases: created for a run, copied for every measured step, dropped at the
end. On PostgreSQL they are named kessai_bench_<random>_...; no other database of the server is
read or written (the server URL's database serves only CREATE and DROP DATABASE)."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool


class PostgresScratch:
    """Databases on one PostgreSQL server. A copy is CREATE DATABASE ... TEMPLATE, which copies
    the template's files (FILE_COPY: no write-ahead log of every page), so every measured step
    starts from the same rows, pages and statistics."""

    dialect = "postgresql"

    def __init__(self, server_url: str) -> None:
        self.server_url = make_url(server_url).set(drivername="postgresql+psycopg")
        self.prefix = f"kessai_bench_{secrets.token_hex(4)}"
        self._admin = create_engine(self.server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self._created: list[str] = []

    def create(self, name: str, template: str | None = None) -> str:
        """A new database (empty, or a copy of the database at URL `template`); returns its URL."""
        database = f"{self.prefix}_{name}"
        statement = f'CREATE DATABASE "{database}"'
        if template:
            statement += f' TEMPLATE "{make_url(template).database}" STRATEGY FILE_COPY'
        with self._admin.connect() as connection:
            connection.execute(text(statement))
        self._created.append(database)
        return self.server_url.set(database=database).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        database = make_url(url).database
        with self._admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        self._created.remove(database)

    def server_version(self) -> str:
        with self._admin.connect() as connection:
            return connection.execute(text("SHOW server_version")).scalar_one()

    def close(self) -> None:
        for database in list(self._created):
            self.drop(self.server_url.set(database=database).render_as_string(hide_password=False))
        self._admin.dispose()


class SqliteScratch:
    """Database files in a temporary folder; a copy is a copy of the file."""

    dialect = "sqlite"

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="kessai-bench-"))
        self.prefix = self.directory.name

    def _path(self, url: str) -> Path:
        return Path(make_url(url).database)

    def create(self, name: str, template: str | None = None) -> str:
        path = self.directory / f"{name}.sqlite"
        if template:
            shutil.copyfile(self._path(template), path)  # closed cleanly: no -wal file to copy
        return f"sqlite:///{path}"

    def drop(self, url: str) -> None:
        path = self._path(url)
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)

    def server_version(self) -> str:
        import sqlite3

        return sqlite3.sqlite_version

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
