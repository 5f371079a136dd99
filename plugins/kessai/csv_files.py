"""The one writer of the CSV files people open in a spreadsheet: statements (支払明細), the closing
summary, the rejects of a confirmation upload, the lists attached to mails.

A text cell that a spreadsheet would read as a formula (it starts with =, +, -, @, a tab or a
carriage return) is neutralised as OWASP "CSV Injection" describes: a single quote is put before
it, so Excel and LibreOffice show it as text and run nothing. Numbers are written as they are:
Python numbers always, and in the columns a file declares numeric a text cell that is a plain
number (-1500 carried forward). Everything else (quoting, line ends, encoding) is the caller's,
so a file's bytes change only where a cell was dangerous.

The transmission files are not written here: they are a fixed machine format for the card
companies' systems, read by no spreadsheet, and their bytes are pinned by their checksums.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
NEUTRALISER = "'"
PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def neutralise(cell: object, *, numeric: bool = False) -> object:
    """The cell as it may be written: a formula-looking text with a quote before it."""
    if cell is None or not isinstance(cell, str):
        return "" if cell is None else cell  # numbers, dates: written by their str()
    if numeric and PLAIN_NUMBER.fullmatch(cell):
        return cell
    return NEUTRALISER + cell if cell.startswith(FORMULA_PREFIXES) else cell


def safe_rows(rows: Iterable[Sequence], numeric_columns: Iterable[int] = ()) -> Iterable[list]:
    numeric = frozenset(numeric_columns)
    for row in rows:
        yield [neutralise(cell, numeric=i in numeric) for i, cell in enumerate(row)]


def csv_text(rows: Iterable[Sequence], *, numeric_columns: Iterable[int] = (), **format_options) -> str:
    """The rows as CSV text, every text cell neutralised (see the module's doc). `format_options`
    go to csv.writer (lineterminator etc.)."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer, **format_options).writerows(safe_rows(rows, numeric_columns))
    return buffer.getvalue()
