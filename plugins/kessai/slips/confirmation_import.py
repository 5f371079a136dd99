"""The bulk confirmation upload of the admin screen (SPEC §4.1): a CSV in, every row applied or
rejected with its line number and reason. The format is in docs/confirmations.md.

The file is streamed: its encoding is told from its first bytes, it is decoded and parsed as it
is read, and its rows go to the batch (kessai.slips.confirmation_batch) BATCH_ROWS at a time, where
everything about slips happens set-based, in the caller's transaction. The rejected rows are
written to the rejects file as a second read of the file meets them. Memory does not grow with
the file; a file larger than KESSAI_IMPORT_MAX_BYTES is refused before it is read.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Connection

from kessai.files.csv_files import csv_text
from kessai.files.output_files import writing
from kessai.settings import (  # noqa: F401 (kessai.slips.confirmation_import's names too)
    DEFAULT_IMPORT_MAX_BYTES as DEFAULT_MAX_BYTES,
)
from kessai.settings import (
    IMPORT_MAX_BYTES_VARIABLE as MAX_BYTES_VARIABLE,
)
from kessai.settings import (
    environment_setting,
)
from kessai.slips.amounts import DEFAULT_MAX_SLIP_AMOUNT
from kessai.slips.confirmation_batch import (
    ConfirmationRequest,
    close_batch,
    open_batch,
    refused_counts,
    refused_rows,
    settle_batch,
    stage,
)

COLUMNS = ("merchant_id", "slip_id", "confirmed_on")
# The admin screen's Japanese column names mean the same.
COLUMN_ALIASES = {"店舗id": "merchant_id", "伝票番号": "slip_id", "決済確定日": "confirmed_on"}

UTF8_BOM = b"\xef\xbb\xbf"
ENCODING_NAMES = {"utf-8-sig": "UTF-8 with BOM", "utf-8": "UTF-8", "cp932": "Shift_JIS (cp932)"}

# Reasons found while reading a row, before the database is asked.
MISSING_COLUMN = "missing_column"
MALFORMED_ROW = "malformed_row"
MALFORMED_SLIP_ID = "malformed_slip_id"
MALFORMED_DATE = "malformed_date"

SLIP_NUMBER = re.compile(r"[0-9]{1,18}")
DATE = re.compile(r"([0-9]{4})([-/])([0-9]{1,2})\2([0-9]{1,2})")  # 2027-01-31, 2027/1/31 (Excel)

BATCH_ROWS = 10_000  # rows staged at a time
PREFIX_BYTES = 65_536  # what the encoding is told from
KEPT_REJECTS = 100  # rejected rows the result keeps for a printout; the rejects file has all
REJECTS_PER_WRITE = 1_000

NUL_BYTES = "the file contains NUL bytes (UTF-16, or not a text file): save it as CSV in UTF-8 or Shift_JIS"
NEITHER_ENCODING = "the file is neither UTF-8 nor Shift_JIS (cp932): save it as CSV in one of them"
CHANGED = "the file changed while it was being imported: nothing was imported; import it again"


class ConfirmationFileError(ValueError):
    """The file as a whole cannot be read: nothing in it was imported."""


@dataclass(frozen=True)
class RejectedRow:
    line_number: int
    reason: str
    message: str
    cells: list[str]


@dataclass(frozen=True)
class ImportResult:
    encoding: str
    header: list[str]
    registered_on: date
    rows: int
    applied: int
    already_confirmed: int  # rows whose slip is already confirmed with the same date: nothing to do
    rejected: list[RejectedRow]  # the first KEPT_REJECTS rejected rows, in line order
    rejected_count: int = 0
    rejected_reasons: Mapping[str, int] | None = None

    def rejected_by_reason(self) -> dict[str, int]:
        return dict(sorted((self.rejected_reasons or Counter(row.reason for row in self.rejected)).items()))


def import_max_bytes(environ: Mapping[str, str] | None = None) -> int:
    """KESSAI_IMPORT_MAX_BYTES (default 500,000,000): the largest file an import reads. A boundary
    holding a Settings passes its import_max_bytes instead."""
    return environment_setting("import_max_bytes", environ)


class _Utf8Failed(Exception):
    """A file taken for UTF-8 from its first bytes is not UTF-8 further on."""


class _NulGuard(io.RawIOBase):
    """The upload's bytes as they are read; a NUL byte refuses the file."""

    def __init__(self, binary: BinaryIO) -> None:
        self._binary = binary

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._binary.read(len(buffer))
        if b"\x00" in chunk:
            raise ConfirmationFileError(NUL_BYTES)
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _detect_encoding(binary: BinaryIO) -> str:
    """UTF-8 with BOM, UTF-8 when the first bytes are, else Shift_JIS (cp932). A file that turns out
    not to be UTF-8 further on is read again as cp932 (see import_confirmations)."""
    binary.seek(0)
    prefix = binary.read(PREFIX_BYTES)
    if b"\x00" in prefix:
        raise ConfirmationFileError(NUL_BYTES)
    if prefix.startswith(UTF8_BOM):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(prefix, final=False)
    except UnicodeDecodeError:
        return "cp932"
    return "utf-8"


def _records(binary: BinaryIO, encoding: str) -> Iterator[tuple[int, list[str]]]:
    """(line number where the record starts, cells) for each CSV record, decoded as read; quoted
    newlines allowed."""
    binary.seek(0)
    text = io.TextIOWrapper(io.BufferedReader(_NulGuard(binary)), encoding=encoding, newline="")
    reader = csv.reader(text)
    last_line = 0
    try:
        for cells in reader:
            yield last_line + 1, cells
            last_line = reader.line_num
    except UnicodeDecodeError:
        if encoding == "utf-8":
            raise _Utf8Failed() from None
        raise ConfirmationFileError(NEITHER_ENCODING) from None


def _blank(cells: list[str]) -> bool:
    return not any(cell.strip() for cell in cells)  # blank lines and Excel's trailing ",,," rows


def _column_positions(header: list[str]) -> dict[str, int]:
    names = [COLUMN_ALIASES.get(cell.strip().lower(), cell.strip().lower()) for cell in header]
    positions = {}
    for column in COLUMNS:
        found = [i for i, name in enumerate(names) if name == column]
        if not found:
            raise ConfirmationFileError(
                f"the header (line 1) has no {column} column: it needs {', '.join(COLUMNS)}; found {', '.join(header)}"
            )
        if len(found) > 1:
            raise ConfirmationFileError(f"the header (line 1) names {column} {len(found)} times")
        positions[column] = found[0]
    return positions


def _read_row(
    line_number: int, cells: list[str], header_width: int, positions: dict[str, int]
) -> ConfirmationRequest | RejectedRow:
    def reject(reason: str, message: str) -> RejectedRow:
        return RejectedRow(line_number, reason, message, cells)

    if len(cells) > header_width and any(cell.strip() for cell in cells[header_width:]):
        return reject(MALFORMED_ROW, f"the row has {len(cells)} cells, the header {header_width}")
    values = {c: _text_code(cells[i].strip()) if i < len(cells) else "" for c, i in positions.items()}
    missing = [c for c in COLUMNS if not values[c]]
    if missing:
        return reject(MISSING_COLUMN, f"no value for {', '.join(missing)}")
    if not SLIP_NUMBER.fullmatch(values["slip_id"]):
        return reject(MALFORMED_SLIP_ID, f"slip_id {values['slip_id']!r} is not a slip number (1 to 18 digits)")
    parts = DATE.fullmatch(values["confirmed_on"])
    try:
        confirmed_on = date(int(parts[1]), int(parts[3]), int(parts[4])) if parts else None
    except ValueError:  # 2027-02-30
        confirmed_on = None
    if confirmed_on is None:
        return reject(
            MALFORMED_DATE, f"confirmed_on {values['confirmed_on']!r} is not a date (YYYY-MM-DD or YYYY/MM/DD)"
        )
    return ConfirmationRequest(line_number, values["merchant_id"], values["slip_id"], confirmed_on)


@dataclass(frozen=True)
class _Loaded:
    encoding: str
    header: list[str]
    positions: dict[str, int]
    rows: int
    rejected: Counter  # rows refused while reading, by reason


def _load(connection: Connection, binary: BinaryIO, encoding: str, batch_rows: int) -> _Loaded:
    """Read the file once, staging its readable rows batch_rows at a time into a new batch."""
    records = _records(binary, encoding)
    _, header = next(records, (1, []))
    if _blank(header):
        raise ConfirmationFileError(f"the file has no header row: the first line must name {', '.join(COLUMNS)}")
    positions = _column_positions(header)
    open_batch(connection)
    rows, rejected, batch = 0, Counter[str](), []
    for line_number, cells in records:
        if _blank(cells):
            continue
        rows += 1
        row = _read_row(line_number, cells, len(header), positions)
        if isinstance(row, RejectedRow):
            rejected[row.reason] += 1
            continue
        batch.append(row)
        if len(batch) >= batch_rows:
            stage(connection, batch)
            batch = []
    stage(connection, batch)
    return _Loaded(encoding, header, positions, rows, rejected)


def _rejected_rows(
    connection: Connection, binary: BinaryIO, loaded: _Loaded, registered_on: date, max_amount: int, count: int
) -> Generator[RejectedRow, None, None]:
    """Every rejected row in line order, with its cells as uploaded: a second read of the file,
    in step with the batch's refused rows (streamed in line order). Stops at the last one."""
    refused = refused_rows(connection, max_amount=max_amount)
    try:
        waiting = next(refused, None)
        records = _records(binary, loaded.encoding)
        next(records, None)  # the header
        found = 0
        for line_number, cells in records:
            if found == count:
                return
            if waiting is not None and waiting.line_number == line_number:
                slip_cell = loaded.positions["slip_id"]
                if slip_cell >= len(cells) or _text_code(cells[slip_cell].strip()) != waiting.slip_id:
                    raise ConfirmationFileError(CHANGED)
                found += 1
                yield RejectedRow(line_number, waiting.reason, waiting.message(registered_on), cells)
                waiting = next(refused, None)
            elif loaded.rejected and not _blank(cells):
                row = _read_row(line_number, cells, len(loaded.header), loaded.positions)
                if isinstance(row, RejectedRow):
                    found += 1
                    yield row
        if found < count:
            raise ConfirmationFileError(CHANGED)
    except (_Utf8Failed, UnicodeDecodeError):
        raise ConfirmationFileError(CHANGED) from None
    finally:
        refused.close()


def _write_rejects(rows: Iterator[RejectedRow], header: list[str], encoding: str, path: Path) -> list[RejectedRow]:
    """The rejected rows, in the upload's encoding: line_number, reason, message, then the row as
    it was. The extra columns are ignored on upload, so a corrected file can be imported again.
    A cell that would run as a formula in a spreadsheet comes back with a quote before it.
    Returns the first KEPT_REJECTS rows."""
    kept: list[RejectedRow] = []
    encoder = codecs.getincrementalencoder(encoding)()  # one BOM for utf-8-sig, at the start
    # The merchant and slip numbers stay text in Excel (="000123"); the upload reads them back.
    names = [COLUMN_ALIASES.get(cell.strip().lower(), cell.strip().lower()) for cell in header]
    text_columns = [3 + i for i, name in enumerate(names) if name in ("merchant_id", "slip_id")]
    with writing(path) as out:
        out.write(encoder.encode(csv_text([["line_number", "reason", "message", *header]], lineterminator="\r\n")))
        while chunk := list(islice(rows, REJECTS_PER_WRITE)):
            if len(kept) < KEPT_REJECTS:
                kept += chunk[: KEPT_REJECTS - len(kept)]
            lines = [[row.line_number, row.reason, row.message, *row.cells] for row in chunk]
            out.write(encoder.encode(csv_text(lines, text_columns=text_columns, lineterminator="\r\n")))
        out.write(encoder.encode("", final=True))
    return kept


@contextmanager
def _opened(source: bytes | Path | BinaryIO) -> Iterator[BinaryIO]:
    if isinstance(source, (bytes, bytearray)):
        yield io.BytesIO(source)
    elif isinstance(source, (str, Path)):
        with open(source, "rb") as binary:
            yield binary
    else:
        yield source


def _size(binary: BinaryIO) -> int:
    size = binary.seek(0, io.SEEK_END)
    binary.seek(0)
    return size


def import_confirmations(
    connection: Connection,
    source: bytes | Path | BinaryIO,
    registered_at: datetime,
    max_amount: int = DEFAULT_MAX_SLIP_AMOUNT,
    *,
    rejects_path: Path | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    batch_rows: int = BATCH_ROWS,
) -> ImportResult:
    """Import an uploaded confirmation CSV (its bytes, its path, or a seekable binary file): every
    confirmation is registered at `registered_at`. With `rejects_path`, every rejected row is
    written there (a header alone when none is), before the caller's transaction commits.

    A row whose slip's amount is outside 1..max_amount (KESSAI_MAX_SLIP_AMOUNT) is rejected, with
    its line and the limit; the other rows are applied.

    Raises ConfirmationFileError, importing nothing, when the file as a whole is unusable: larger
    than `max_bytes` (KESSAI_IMPORT_MAX_BYTES, read by the caller; refused before it is read), not
    text, neither UTF-8 nor Shift_JIS, without its header, or changed during the import.
    """
    with _opened(source) as binary:
        size = _size(binary)
        if size > max_bytes:
            raise ConfirmationFileError(
                f"the file is {size:,} bytes, more than the {max_bytes:,} an import reads "
                f"({MAX_BYTES_VARIABLE}, default {DEFAULT_MAX_BYTES:,}): split it into smaller files or raise the limit"
            )
        encoding = _detect_encoding(binary)
        try:
            loaded = _load(connection, binary, encoding, batch_rows)
        except _Utf8Failed:  # UTF-8 at first, not further on: the whole file is read as cp932
            loaded = _load(connection, binary, "cp932", batch_rows)
        outcome = settle_batch(connection, registered_at, "import", max_amount=max_amount)
        reasons = loaded.rejected + Counter(refused_counts(connection))
        count = sum(reasons.values())
        rows = _rejected_rows(connection, binary, loaded, outcome.registered_on, max_amount, count)
        try:
            if rejects_path is not None:
                kept = _write_rejects(rows, loaded.header, loaded.encoding, rejects_path)
            else:
                kept = list(islice(rows, KEPT_REJECTS))
        finally:
            rows.close()
        close_batch(connection)
    return ImportResult(
        encoding=loaded.encoding,
        header=loaded.header,
        registered_on=outcome.registered_on,
        rows=loaded.rows,
        applied=outcome.applied,
        already_confirmed=outcome.repeated,
        rejected=kept,
        rejected_count=count,
        rejected_reasons=dict(reasons),
    )


def _text_code(cell: str) -> str:
    """A code written to stay text in a spreadsheet (="000123", as the rejects file writes it) is
    its digits."""
    return (
        cell[2:-1] if len(cell) > 3 and cell.startswith('="') and cell.endswith('"') and cell[2:-1].isdigit() else cell
    )


def default_rejects_path(csv_path: Path) -> Path:
    """confirmations.csv -> confirmations.rejects.csv, beside it."""
    return csv_path.with_name(f"{csv_path.stem}.rejects.csv")
