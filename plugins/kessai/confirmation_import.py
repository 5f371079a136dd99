"""The bulk confirmation upload of the admin screen (SPEC §4.1): a CSV in, every row applied or
rejected with its line number and reason. The format is in docs/confirmations.md.

Parsing is plain Python over the file; everything about slips happens in one set-based batch
(kessai.confirmation_batch), in the caller's transaction.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Connection

from kessai.confirmation_batch import ConfirmationRequest, register_confirmations
from kessai.csv_files import csv_text
from kessai.output_files import write_path
from kessai.slip_amounts import DEFAULT_MAX_SLIP_AMOUNT

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
    rejected: list[RejectedRow]

    def rejected_by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(row.reason for row in self.rejected).items()))


def decode(content: bytes) -> tuple[str, str]:
    """The text of an upload and its encoding: UTF-8 (BOM or not), else Shift_JIS (cp932)."""
    if b"\x00" in content:
        raise ConfirmationFileError(
            "the file contains NUL bytes (UTF-16, or not a text file): save it as CSV in UTF-8 or Shift_JIS"
        )
    candidates = ("utf-8-sig",) if content.startswith(UTF8_BOM) else ("utf-8", "cp932")
    for encoding in candidates:
        try:
            return content.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ConfirmationFileError("the file is neither UTF-8 nor Shift_JIS (cp932): save it as CSV in one of them")


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


def _records(text: str):
    """(line number where the record starts, cells) for each CSV record; quoted newlines allowed."""
    reader = csv.reader(io.StringIO(text, newline=""))
    last_line = 0
    for cells in reader:
        yield last_line + 1, cells
        last_line = reader.line_num


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


def import_confirmations(
    connection: Connection, content: bytes, registered_at: datetime, max_amount: int = DEFAULT_MAX_SLIP_AMOUNT
) -> ImportResult:
    """Import an uploaded confirmation CSV; every confirmation is registered at `registered_at`.

    A row whose slip's amount is outside 1..max_amount (KESSAI_MAX_SLIP_AMOUNT) is rejected, with
    its line and the limit; the other rows are applied.

    Raises ConfirmationFileError, importing nothing, when the file as a whole is unusable.
    """
    text, encoding = decode(content)
    records = _records(text)
    _, header = next(records, (1, []))
    if not any(cell.strip() for cell in header):
        raise ConfirmationFileError(f"the file has no header row: the first line must name {', '.join(COLUMNS)}")
    positions = _column_positions(header)

    cells_by_line: dict[int, list[str]] = {}
    requests: list[ConfirmationRequest] = []
    rejected: list[RejectedRow] = []
    for line_number, cells in records:
        if not any(cell.strip() for cell in cells):
            continue  # blank lines and Excel's trailing ",,," rows
        cells_by_line[line_number] = cells
        row = _read_row(line_number, cells, len(header), positions)
        (rejected if isinstance(row, RejectedRow) else requests).append(row)

    outcome = register_confirmations(connection, requests, registered_at, source="import", max_amount=max_amount)
    rejected += [
        RejectedRow(row.line_number, row.reason, row.message(outcome.registered_on), cells_by_line[row.line_number])
        for row in outcome.refused
    ]
    return ImportResult(
        encoding=encoding,
        header=header,
        registered_on=outcome.registered_on,
        rows=len(cells_by_line),
        applied=outcome.applied,
        already_confirmed=outcome.repeated,
        rejected=sorted(rejected, key=lambda row: row.line_number),
    )


def _text_code(cell: str) -> str:
    """A code written to stay text in a spreadsheet (="000123", as the rejects file writes it) is
    its digits."""
    return cell[2:-1] if len(cell) > 3 and cell.startswith('="') and cell.endswith('"') and cell[2:-1].isdigit() else cell


def default_rejects_path(csv_path: Path) -> Path:
    """confirmations.csv -> confirmations.rejects.csv, beside it."""
    return csv_path.with_name(f"{csv_path.stem}.rejects.csv")


def write_rejects(result: ImportResult, path: Path) -> None:
    """The rejected rows, in the upload's encoding: line_number, reason, message, then the row as
    it was. The extra columns are ignored on upload, so a corrected file can be imported again.
    A cell that would run as a formula in a spreadsheet comes back with a quote before it."""
    rows = [["line_number", "reason", "message", *result.header]]
    rows += [[row.line_number, row.reason, row.message, *row.cells] for row in result.rejected]
    # The merchant and slip numbers stay text in Excel (="000123"); the upload reads them back.
    names = [COLUMN_ALIASES.get(cell.strip().lower(), cell.strip().lower()) for cell in result.header]
    text_columns = [3 + i for i, name in enumerate(names) if name in ("merchant_id", "slip_id")]
    write_path(path, csv_text(rows, text_columns=text_columns, lineterminator="\r\n").encode(result.encoding))
