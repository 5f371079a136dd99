"""The transmission files: one per card company and business day (docs/transmission-file.md).

CSV in UTF-8: a header record, the data records, a trailer; every value quoted, LF line ends. The
bytes depend only on the database rows (nothing of "now"), so a rebuild of a day writes the same
files.

The data records of all of a day's batches come from the database in one ordered stream:
PostgreSQL writes the CSV itself (COPY, which produces exactly this CSV), other databases through
Python's csv writer in chunks. The stream is cut into the batches' files by their record counts;
memory stays flat however large the day. Each file is written under a temporary name and
renamed into place, then its SHA-256 sidecar: a consumer that sees the sidecar sees the whole file.

The destination is any fsspec filesystem: a local folder by default, object storage in production.
On a local folder the files are created in KESSAI_FILE_MODE and their folders in KESSAI_DIR_MODE
(kessai.files.output_files); a file name is one plain name (a card company's file code never leads out
of the folder); the `.part` files a killed run left are swept by the next run.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import posixpath
import re
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import islice
from typing import Any

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem
from sqlalchemy import Connection, TextClause

from kessai.errors import Refusal
from kessai.files.output_files import PART_SUFFIX, SWEEP_GRACE_SECONDS, check_name, dir_mode, file_mode, make_folder
from kessai.settings import TRANSMISSION_URL_VARIABLE as URL_VARIABLE  # noqa: F401
from kessai.settings import Settings

ENCODING = "utf-8"
HEADER, TRAILER = "H", "T"
RECORD_CHUNK = 20_000

# The same CSV from both writers: every value quoted, quotes doubled, LF line ends, UTF-8. The
# data records never hold NULL (COPY would leave it unquoted).
CSV_FORMAT: dict[str, Any] = {"quoting": csv.QUOTE_ALL, "lineterminator": "\n", "doublequote": True}
POSTGRES_COPY_FORMAT = "FORMAT csv, FORCE_QUOTE *, ENCODING 'UTF8'"


class TransmissionFileError(RuntimeError):
    """The records read do not match what the batches say."""


# A card company's file code: letters and digits only (also a CHECK of card_companies.file_code).
FILE_CODE = re.compile(r"[A-Za-z0-9]+")


class BadFileCode(Refusal, ValueError):
    """A card company's file code that cannot name a file."""


def check_file_code(file_code: str, *, owner: str) -> str:
    if not (isinstance(file_code, str) and FILE_CODE.fullmatch(file_code)):
        raise BadFileCode(
            f"{owner}: file code {file_code!r} is not letters and digits only, so it cannot "
            "name a transmission file: correct card_companies.file_code, then run again"
        )
    return file_code


def transmission_url(settings: Settings | None = None) -> str:
    """Where the files go: KESSAI_TRANSMISSION_URL (any fsspec URL), else KESSAI_HOME/transmissions;
    of `settings`, else of the environment."""
    settings = settings if settings is not None else Settings.from_environment()
    return settings.transmission_url or str(settings.home / "transmissions")


@dataclass(frozen=True)
class Destination:
    """A folder on some filesystem; each business day's files go into a sub-folder named by it."""

    fs: AbstractFileSystem
    root: str

    @classmethod
    def from_url(cls, url: str) -> Destination:
        fs, root = fsspec.core.url_to_fs(url)
        return cls(fs, root)

    def folder(self, business_date: date) -> str:
        return posixpath.join(self.root, business_date.isoformat())

    def path(self, business_date: date, file_name: str) -> str:
        return posixpath.join(self.folder(business_date), check_name(file_name, what="transmission file name"))

    @property
    def local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def make_folder(self, business_date: date) -> None:
        folder = self.folder(business_date)
        if self.local:
            make_folder(folder, dir_mode())
        else:
            self.fs.makedirs(folder, exist_ok=True)

    def sweep_parts(self, started: float) -> list[str]:
        """Remove the `.part` files in the day folders last written more than the grace before
        `started` (a time.time()): what a killed run left. Where the filesystem tells no time of a
        file, nothing is removed."""
        removed = []
        for path in self.fs.glob(posixpath.join(self.root, "*", f".*{PART_SUFFIX}")):
            try:
                modified = self.fs.modified(path).timestamp()
            except (NotImplementedError, FileNotFoundError, OSError):
                continue
            if modified < started - SWEEP_GRACE_SECONDS:
                self.fs.rm(path)
                removed.append(path)
        return removed

    def url(self, path: str) -> str:
        return self.fs.unstrip_protocol(path)


@dataclass(frozen=True)
class FileHeader:
    """What the header and trailer records of one file say."""

    sender_code: str
    file_code: str
    business_date: date
    sequence_number: int
    record_count: int
    amount_total: int


@dataclass(frozen=True)
class WrittenFile:
    path: str
    sha256: str
    size: int


def csv_bytes(rows: Iterable[Sequence]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, **CSV_FORMAT).writerows(rows)
    return buffer.getvalue().encode(ENCODING)


class RecordStream:
    """The rows a statement selects, read as they arrive and handed out n rows at a time as CSV.

    PostgreSQL writes the CSV itself (COPY): its protocol sends each row as one message, so rows
    are counted exactly whatever they contain. Other databases: Python's csv writer over chunks.
    """

    def __init__(self, connection: Connection, statement: TextClause, params: dict) -> None:
        self._rows: Generator[Any, None, None]
        self._encode: Callable[[list[Any]], bytes]
        if connection.dialect.name == "postgresql":
            self._rows, self._encode = self._copied(connection, statement, params), b"".join
        else:
            self._rows, self._encode = self._fetched(connection, statement, params), csv_bytes

    @staticmethod
    def _copied(connection: Connection, statement: TextClause, params: dict) -> Generator[memoryview, None, None]:
        compiled = statement.compile(dialect=connection.dialect)
        driver = connection.connection.driver_connection  # in this connection's transaction
        assert driver is not None  # an open connection has its driver's
        with (
            driver.cursor() as cursor,
            cursor.copy(
                f"COPY ({compiled.string}) TO STDOUT ({POSTGRES_COPY_FORMAT})", compiled.construct_params(params)
            ) as copy,
        ):
            yield from copy

    @staticmethod
    def _fetched(connection: Connection, statement: TextClause, params: dict) -> Generator[Sequence, None, None]:
        result = connection.execute(statement, params, execution_options={"stream_results": True})
        for rows in result.partitions(RECORD_CHUNK):
            yield from rows

    def take(self, count: int) -> Iterator[bytes]:
        """The next `count` rows, as blocks of CSV bytes; raises if the rows end before."""
        remaining = count
        while remaining:
            rows = list(islice(self._rows, min(RECORD_CHUNK, remaining)))
            if not rows:
                raise TransmissionFileError(f"the records ended {remaining} rows short")
            remaining -= len(rows)
            yield self._encode(rows)

    def rest(self) -> int:
        """Reads the stream to its end; the number of rows left (there should be none)."""
        return sum(1 for _ in self._rows)

    def close(self) -> None:
        """Stop reading (a COPY cut short is cancelled), so the connection can go on."""
        self._rows.close()


class _HashingWriter:
    """Bytes to a file, hashed and counted on their way out."""

    def __init__(self, out) -> None:
        self.out = out
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.size += len(data)
        self.out.write(data)


def _replace(fs: AbstractFileSystem, path: str, write) -> None:
    """Write path through a temporary name in the same folder, renamed into place when complete.
    On a local folder the file is made KESSAI_FILE_MODE before a byte is in it."""
    folder, name = posixpath.split(path)
    temporary = posixpath.join(folder, f".{name}.{uuid.uuid4().hex}{PART_SUFFIX}")
    try:
        with fs.open(temporary, "wb") as out:
            if isinstance(fs, LocalFileSystem):
                os.chmod(temporary, file_mode())
            write(out)
        fs.mv(temporary, path)
    finally:
        if fs.exists(temporary):
            fs.rm(temporary)


def write_transmission_file(
    destination: Destination, file_name: str, header: FileHeader, records: Iterable[bytes]
) -> WrittenFile:
    """Write one file (header, the data records given as blocks of CSV bytes, trailer), then its
    sidecar."""
    check_file_code(header.file_code, owner=f"transmission file {file_name!r}")
    path = destination.path(header.business_date, file_name)
    destination.make_folder(header.business_date)
    writer: _HashingWriter | None = None

    def write(out) -> None:
        nonlocal writer
        writer = _HashingWriter(out)
        writer.write(
            csv_bytes(
                [
                    (
                        HEADER,
                        header.sender_code,
                        header.file_code,
                        header.business_date.isoformat(),
                        header.sequence_number,
                    )
                ]
            )
        )
        for block in records:
            writer.write(block)
        writer.write(csv_bytes([(TRAILER, header.record_count, header.amount_total)]))

    _replace(destination.fs, path, write)
    assert writer is not None  # _replace has called write
    sha256 = writer.digest.hexdigest()
    sidecar = f"{sha256}  {file_name}\n".encode(ENCODING)
    _replace(destination.fs, f"{path}.sha256", lambda out: out.write(sidecar))
    return WrittenFile(path=path, sha256=sha256, size=writer.size)
