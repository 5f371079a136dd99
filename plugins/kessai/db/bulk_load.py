"""Loading many rows at once: binary COPY on PostgreSQL, executemany on SQLite.

Rows come as columns in the connection's transaction: numpy arrays or lists of Python values
(None for NULL). Timestamps come as numpy datetime64 in UTC and dates as datetime64[D], NaT for
NULL, so that millions of them never become Python objects twice. On SQLite every value goes
through the column type's own bind processor: a timestamp is stored exactly as SQLAlchemy stores
it, and so compares as text with the ones the batch writes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table, text

SQLITE_BATCH_ROWS = 50_000
TIMESTAMP_OID, TIMESTAMPTZ_OID = 1114, 1184

Column = np.ndarray | Sequence


def insert_columns(connection: Connection, table: Table, columns: dict[str, Column]) -> None:
    """Insert the rows the columns (equally long) hold."""
    if connection.dialect.name == "postgresql":
        _copy(connection, table, columns)
    else:
        _executemany(connection, table, columns)


def _is_moment(values: Column) -> bool:
    return isinstance(values, np.ndarray) and np.issubdtype(values.dtype, np.datetime64) and values.dtype != "M8[D]"


def _copy(connection: Connection, table: Table, columns: dict[str, Column]) -> None:
    type_oids: dict[str, int] = dict(
        connection.execute(
            text(
                "SELECT attname, atttypid FROM pg_attribute "
                "WHERE attrelid = CAST(:table AS regclass) AND attnum > 0 AND NOT attisdropped"
            ),
            {"table": table.name},
        ).all()
    )
    # A timestamptz travels in binary as microseconds since 2000-01-01 UTC, exactly as a timestamp
    # does: UTC moments go as naive datetimes, without a time zone object each.
    types = [
        TIMESTAMP_OID if type_oids[name] == TIMESTAMPTZ_OID and _is_moment(values) else type_oids[name]
        for name, values in columns.items()
    ]
    rows = zip(*(v.tolist() if isinstance(v, np.ndarray) else v for v in columns.values()), strict=True)
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None  # an open connection has its driver's
    with driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)


def _executemany(connection: Connection, table: Table, columns: dict[str, Column]) -> None:
    dialect = connection.dialect
    processed = []
    for name, values in columns.items():
        if _is_moment(values):
            aware = pd.to_datetime(values, utc=True).to_pydatetime()
            values = np.where(np.isnat(values), np.array(None, dtype=object), aware)
        values = values.tolist() if isinstance(values, np.ndarray) else values
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        processed.append([processor(v) for v in values] if processor else values)
    rows = list(zip(*processed, strict=True))
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    for start in range(0, len(rows), SQLITE_BATCH_ROWS):
        connection.exec_driver_sql(statement, rows[start : start + SQLITE_BATCH_ROWS])


@contextmanager
def indexes_deferred(connection: Connection, table: Table) -> Iterator[None]:
    """On PostgreSQL, load `table` without its secondary indexes, foreign keys and unique
    constraints, then build them again from the loaded rows (the PostgreSQL manual's advice for
    populating a database: building an index once is far cheaper than growing it row by row).

    All in the caller's transaction: a failed check on rebuilding rolls the whole load back, and
    other sessions never see the table without them. Unique constraints that a foreign key of
    another table relies on stay in place. Elsewhere this does nothing.
    """
    if connection.dialect.name != "postgresql":
        yield
        return
    table_name = {"table": table.name}
    constraints = connection.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint c "
            "WHERE conrelid = CAST(:table AS regclass) AND (contype = 'f' OR (contype = 'u' AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = c.conindid))) "
            "ORDER BY contype DESC, conname"  # unique constraints ('u') before foreign keys ('f')
        ),
        table_name,
    ).all()
    indexes = connection.execute(
        text(
            "SELECT index_class.relname, pg_get_indexdef(index_class.oid) FROM pg_index i "
            "JOIN pg_class index_class ON index_class.oid = i.indexrelid "
            "WHERE i.indrelid = CAST(:table AS regclass) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
            "ORDER BY index_class.relname"
        ),
        table_name,
    ).all()
    quote = connection.dialect.identifier_preparer.quote
    for name, _ in reversed(constraints):
        connection.exec_driver_sql(f"ALTER TABLE {table.name} DROP CONSTRAINT {quote(name)}")
    for name, _ in indexes:
        connection.exec_driver_sql(f"DROP INDEX {quote(name)}")
    yield
    # Index builds sort in memory up to this much (per build, for this transaction only).
    connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
    for _, definition in indexes:
        connection.exec_driver_sql(definition)  # as PostgreSQL printed it
    for name, definition in constraints:
        connection.exec_driver_sql(f"ALTER TABLE {table.name} ADD CONSTRAINT {quote(name)} {definition}")
