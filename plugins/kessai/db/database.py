"""Where the business database is, and the few SQL pieces that differ between its two dialects."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Date

from kessai.settings import (  # noqa: F401 (kessai.db.database's names too)
    DATABASE_URL_VARIABLE,
    HOME_VARIABLE,
    PROJECT_ROOT,
    SQL_DIR_VARIABLE,
    Settings,
    environment_setting,
)

AIRFLOW_CONNECTION_ID = "kessai_db"


def kessai_home() -> Path:
    """The folder for the embedded database and the output files (transmissions, statements):
    KESSAI_HOME, for a caller handed no Settings (Settings.home)."""
    return environment_setting("home")


def embedded_database_url(home: Path | None = None) -> str:
    return f"sqlite:///{(home or kessai_home()) / 'kessai.sqlite'}"


def database_url(airflow_connection_uri: str | None = None, settings: Settings | None = None) -> str:
    """KESSAI_DATABASE_URL, else the Airflow connection `kessai_db` (passed in), else SQLite in
    KESSAI_HOME; from `settings` when given, else from the environment."""
    if settings is None:
        configured, home = environment_setting("database_url"), None
    else:
        configured, home = settings.database_url, settings.home
    url = configured or airflow_connection_uri or embedded_database_url(home)
    # Airflow's postgres connections say postgres://; SQLAlchemy wants a driver.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA busy_timeout = 30000")
    cursor.close()


def _postgresql_settings(dbapi_connection, _record):
    # No JIT compilation: the batch's statements run a second or two, and compiling one of them
    # took longer than running it (1.6 s of a 5M-slip closing's 1.9 s pass, docs/performance.md).
    cursor = dbapi_connection.cursor()
    cursor.execute("SET jit = off")
    cursor.close()
    dbapi_connection.commit()  # a SET rolled back with its transaction would be undone


def make_engine(url: str | None = None) -> Engine:
    url = url or database_url()
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _postgresql_settings)
    return engine


# -- the date in Japan of a stored timestamp --------------------------------------------------

# Japan keeps no daylight saving, so UTC+9 is exact. SQLite stores our timestamps as UTC text.
JAPAN_DATE_TEMPLATES = {
    "postgresql": "(({}) AT TIME ZONE 'Asia/Tokyo')::date",
    "sqlite": "date({}, '+9 hours')",
}


def japan_date_sql(column: str, dialect: str) -> str:
    """The SQL for the calendar date in Japan of a timestamp column, for SQL text."""
    return JAPAN_DATE_TEMPLATES[dialect].format(column)


class japan_date(FunctionElement):
    """The calendar date in Japan of a timestamp column, for SQLAlchemy expressions."""

    type = Date()
    inherit_cache = True
    name = "japan_date"


@compiles(japan_date)
def _compile_japan_date(element, compiler, **kw):
    return japan_date_sql(compiler.process(element.clauses, **kw), compiler.dialect.name)


# -- SQL files --------------------------------------------------------------------------------


def sql_dir() -> Path:
    """KESSAI_SQL_DIR (Settings.sql_dir): the statements are the code's, not a run's, so each
    lookup reads the setting itself."""
    return environment_setting("sql_dir")


@cache
def _read_sql(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def sql_text(name: str, dialect: str):
    """The statement in sql/NAME.DIALECT.sql if there is one, else sql/NAME.sql, as text().

    Dialect files exist only where the two databases truly need different SQL.
    """
    base = sql_dir()
    for candidate in (base / f"{name}.{dialect}.sql", base / f"{name}.sql"):
        if candidate.exists():
            return text(_read_sql(candidate))
    raise FileNotFoundError(f"no SQL file for {name!r} in {base}")
