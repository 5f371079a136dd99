"""The one writer of the CSV files people open in a spreadsheet: statements (支払明細), the closing
summary, the rejects of a confirmation upload, the lists attached to mails.

A text cell that a spreadsheet would read as a formula (it starts with =, +, -, @, a tab or a
carriage return) is neutralised as OWASP "CSV Injection" describes: a single quote is put before
it, so Excel and LibreOffice show it as text and run nothing. Numbers are written as they are:
Python numbers always, and in the columns a file declares numeric a text cell that is a plain
number (-1500 carried forward). Everything else (quoting, line ends, encoding) is the caller's,
so a file's bytes change only where a cell was dangerous.

Codes stay text (docs/architecture.md, "Files and secrets"). Excel opening a CSV by double-click
reads a cell that looks like a number as one: bank code 0010 becomes 10, account number 0554354
becomes 554354, an 18-digit slip number becomes 9.00000000007203E+17 (15 significant digits) and
is destroyed on save. In the columns a file declares text (bank, branch and account codes, slip
and merchant numbers) a cell of digits only is written as the formula ="0010", which Excel and
LibreOffice show as the text 0010. This is the one formula the writer ever writes: it builds it
itself from digits only, so nothing of the data can run; any other text in such a column is
neutralised as above.

Encoding: UTF-8 with a byte order mark (Excel then reads the Japanese right), or Shift_JIS (cp932)
for accounting software that wants it: KESSAI_CSV_ENCODING=cp932 (a character Shift_JIS lacks is
written as ?). Line ends CRLF. csv_bytes() gives a whole file so.

The transmission files are not written here: they are a fixed machine format for the card
companies' systems, read by no spreadsheet, and their bytes are pinned by their checksums.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import IO

from kessai.settings import environment_setting

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
NEUTRALISER = "'"
PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


DIGITS = re.compile(r"[0-9]+")


def text_code(cell: object) -> object:
    """A code cell of a text column: digits as ="<digits>" (text in a spreadsheet), else neutralised."""
    if isinstance(cell, int) and not isinstance(cell, bool):
        cell = str(cell)
    if isinstance(cell, str) and DIGITS.fullmatch(cell):
        return f'="{cell}"'
    return neutralise(cell)


def neutralise(cell: object, *, numeric: bool = False) -> object:
    """The cell as it may be written: a formula-looking text with a quote before it."""
    if cell is None or not isinstance(cell, str):
        return "" if cell is None else cell  # numbers, dates: written by their str()
    if numeric and PLAIN_NUMBER.fullmatch(cell):
        return cell
    return NEUTRALISER + cell if cell.startswith(FORMULA_PREFIXES) else cell


def safe_rows(
    rows: Iterable[Sequence], numeric_columns: Iterable[int] = (), text_columns: Iterable[int] = ()
) -> Iterable[list]:
    numeric, text = frozenset(numeric_columns), frozenset(text_columns)
    for row in rows:
        yield [text_code(cell) if i in text else neutralise(cell, numeric=i in numeric) for i, cell in enumerate(row)]


def csv_text(
    rows: Iterable[Sequence], *, numeric_columns: Iterable[int] = (), text_columns: Iterable[int] = (), **format_options
) -> str:
    """The rows as CSV text, every text cell neutralised and the codes of `text_columns` kept text
    (see the module's doc). `format_options` go to csv.writer (lineterminator etc.)."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer, **format_options).writerows(safe_rows(rows, numeric_columns, text_columns))
    return buffer.getvalue()


def csv_encoding(environ: Mapping[str, str] | None = None) -> str:
    """The encoding of the files people open: KESSAI_CSV_ENCODING (utf-8-sig, the default, or cp932).
    A boundary holding a Settings passes its csv_encoding instead."""
    return environment_setting("csv_encoding", environ)


def csv_bytes(
    rows: Iterable[Sequence],
    *,
    numeric_columns: Iterable[int] = (),
    text_columns: Iterable[int] = (),
    encoding: str | None = None,
) -> bytes:
    """A whole file: the rows as csv_text with CRLF line ends, in `encoding` (default csv_encoding())."""
    text = csv_text(rows, numeric_columns=numeric_columns, text_columns=text_columns, lineterminator="\r\n")
    return text.encode(encoding or csv_encoding(), errors="replace")


def write_csv_stream(
    out: IO[bytes],
    rows: Iterable[Sequence],
    *,
    numeric_columns: Iterable[int] = (),
    text_columns: Iterable[int] = (),
    encoding: str | None = None,
    chunk: int = 10_000,
) -> None:
    """Rows (an iterator: a query's result) written to a binary stream `chunk` rows at a time, so a
    file of millions of rows never sits in memory."""
    encoding = encoding or csv_encoding()
    if encoding == "utf-8-sig":
        out.write("\ufeff".encode("utf-8"))
        encoding = "utf-8"
    batch: list[Sequence] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            out.write(csv_bytes(batch, numeric_columns=numeric_columns, text_columns=text_columns, encoding=encoding))
            batch = []
    if batch:
        out.write(csv_bytes(batch, numeric_columns=numeric_columns, text_columns=text_columns, encoding=encoding))
