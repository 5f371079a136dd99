"""The card companies' answers to the transmission files (受領結果, docs/transmission-file.md
"Acknowledgements"): per record, accepted or rejected with the company's code.

An answer is recorded once per batch and slip (transmission_acknowledgements): a file read twice,
or a second answer for the same record, changes nothing. A line that matches no slip of the named
file changes nothing and is listed. A rejected slip is not paid (the closing holds it back,
sql/payout/closing/held_slips.sql) and the operators get the list by mail; once corrected it is
sent again with `resend` (resend_rejected) by the next transmission day; where a card company
requires acknowledgements (card_companies.requires_acknowledgement), a slip is paid only once
accepted. The day an answer counts from is the business day it was read (received_on: the
DAG's run date, the command's day in Japan), so a closing re-run later reads the same answers.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Connection, Date, Engine, bindparam, select, text, update

from kessai.calendar.business_calendar import BusinessCalendar, check_business_day
from kessai.db.schema import slips, transmission_acknowledgements
from kessai.errors import Refusal
from kessai.files.output_files import make_folder
from kessai.kinds import FolderImport, Result, optional
from kessai.mail.operator_alerts import OPERATOR_ALERT_KIND, operator_email
from kessai.mail.outbox import enqueue_mail
from kessai.mail.templates import render_mail
from kessai.payout.transfer_returns import move_to_done
from kessai.settings import ACKNOWLEDGEMENTS_DIR_VARIABLE as FOLDER_VARIABLE  # noqa: F401
from kessai.settings import Settings

COLUMNS = ("file_name", "merchant_id", "slip_id", "result", "code")


class AcknowledgementResult(StrEnum):
    """A card company's answer about one slip, as transmission_acknowledgements.result stores it."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"


RESULTS = tuple(AcknowledgementResult)
MAX_CODE = 16
INSERT_CHUNK = 5_000


def check_acknowledgements_day(calendar: BusinessCalendar, day: date) -> str | None:
    """None on a business day; the reason on a day the operator declared closed. Refuses any other."""
    return check_business_day(
        calendar,
        day,
        refused="the card companies' answers are read on business days; the next is {next}",
        closed="no answer is read on it (the files wait for the next business day)",
    )


class AcknowledgementsRefused(Refusal):
    """A file of answers that cannot be read, or lines that match no transmitted slip."""


@dataclass(frozen=True, slots=True)
class AcknowledgementFile(Result):
    """One file's import: its lines, the answers recorded, the slips accepted so far, the rejected
    slips (merchant_id, slip_id, card_company, amount, file_name, code) and the lines matching no
    slip; where it was moved once recorded."""

    file: str
    lines: int
    recorded: int
    accepted: int
    rejected: list[dict]
    unmatched: list[str]
    dry_run: bool
    moved_to: str = optional()


@dataclass
class AcknowledgementImport:
    file: str
    sha256: str
    lines: int = 0
    recorded: int = 0
    accepted: int = 0
    rejected: list[dict] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    def result(self, dry_run: bool) -> AcknowledgementFile:
        return AcknowledgementFile(
            self.file, self.lines, self.recorded, self.accepted, self.rejected, self.unmatched, dry_run
        )


def parse_acknowledgements(name: str, data: bytes) -> list[dict]:
    """The lines of a file: UTF-8 (a byte-order mark allowed), a header line naming COLUMNS."""
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise AcknowledgementsRefused(
            f"{name}: not UTF-8 ({error.reason} at byte {error.start}): ask the card company for the file in UTF-8"
        ) from None
    reader = csv.reader(io.StringIO(content, newline=""))
    header = next(reader, None)
    if header is None or tuple(cell.strip() for cell in header) != COLUMNS:
        raise AcknowledgementsRefused(
            f"{name}: the first line must be {','.join(COLUMNS)}, not {header!r}: "
            "check the file's layout (docs/transmission-file.md, Acknowledgements)"
        )
    lines = []
    for number, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        values = dict(zip(COLUMNS, (cell.strip() for cell in row), strict=False))
        if len(row) != len(COLUMNS) or values["result"] not in RESULTS or len(values["code"]) > MAX_CODE:
            raise AcknowledgementsRefused(
                f"{name} line {number}: {row!r} is not {len(COLUMNS)} fields with a result of accepted or "
                f"rejected and a code of up to {MAX_CODE} characters: nothing of the file was recorded; "
                "have the card company correct it"
            )
        lines.append({"line": number, **values})
    return lines


_LINES_TABLE = "acknowledgement_lines"

_RECORD = text(f"""
INSERT INTO transmission_acknowledgements (batch_id, slip_row_id, result, code, received_on, source_file)
SELECT b.batch_id, s.id, l.result, l.code, :received_on, :source_file
FROM {_LINES_TABLE} l
JOIN transmission_batches b ON b.file_name = l.file_name
JOIN slips s ON s.merchant_id = l.merchant_id AND s.slip_id = l.slip_id AND s.transmission_batch_id = b.batch_id
WHERE TRUE  -- SQLite reads ON CONFLICT after a join's ON only past a WHERE
ON CONFLICT (batch_id, slip_row_id) DO NOTHING
""")

_UNMATCHED = text(f"""
SELECT l.line, l.file_name, l.merchant_id, l.slip_id
FROM {_LINES_TABLE} l
LEFT JOIN transmission_batches b ON b.file_name = l.file_name
LEFT JOIN slips s ON s.merchant_id = l.merchant_id AND s.slip_id = l.slip_id AND s.transmission_batch_id = b.batch_id
WHERE s.id IS NULL
ORDER BY l.line
""")

_REJECTED_NOW = text(f"""
SELECT DISTINCT s.merchant_id, s.slip_id, s.card_company, s.amount, b.file_name, a.code
FROM {_LINES_TABLE} l
JOIN transmission_batches b ON b.file_name = l.file_name
JOIN slips s ON s.merchant_id = l.merchant_id AND s.slip_id = l.slip_id AND s.transmission_batch_id = b.batch_id
JOIN transmission_acknowledgements a ON a.batch_id = b.batch_id AND a.slip_row_id = s.id
WHERE a.result = 'rejected' AND a.source_file = :source_file
ORDER BY b.file_name, s.merchant_id, s.slip_id
""")


def import_acknowledgements(
    connection: Connection, name: str, data: bytes, *, received_on: date, alert_recipient: str | None = None
) -> AcknowledgementImport:
    """Record one file's answers in the caller's transaction as read on the business day
    received_on (the DAG's run date; the command's day in Japan); mail the operators its rejections
    (alert_recipient, default KESSAI_OPERATOR_EMAIL)."""
    run = AcknowledgementImport(file=name, sha256=hashlib.sha256(data).hexdigest())
    lines = parse_acknowledgements(name, data)
    run.lines = len(lines)
    connection.execute(text(f"DROP TABLE IF EXISTS {_LINES_TABLE}"))
    connection.execute(
        text(
            f"CREATE TEMPORARY TABLE {_LINES_TABLE} (line INTEGER, file_name TEXT, merchant_id TEXT, slip_id TEXT, "
            "result TEXT, code TEXT)"
        )
    )
    insert_lines = text(
        f"INSERT INTO {_LINES_TABLE} VALUES (:line, :file_name, :merchant_id, :slip_id, :result, :code)"
    )
    for start in range(0, len(lines), INSERT_CHUNK):
        connection.execute(insert_lines, lines[start : start + INSERT_CHUNK])
    params = {"received_on": received_on, "source_file": name}
    run.recorded = connection.execute(_RECORD.bindparams(bindparam("received_on", type_=Date)), params).rowcount
    run.unmatched = [
        f"line {row.line}: slip {row.slip_id} of {row.merchant_id} in {row.file_name}"
        for row in connection.execute(_UNMATCHED)
    ]
    run.rejected = [dict(row._mapping) for row in connection.execute(_REJECTED_NOW, params)]
    run.accepted = connection.execute(
        text(
            "SELECT COUNT(*) FROM transmission_acknowledgements WHERE source_file = :source_file "
            "AND result = 'accepted'"
        ),
        params,
    ).scalar_one()
    connection.execute(text(f"DROP TABLE {_LINES_TABLE}"))
    if run.rejected or run.unmatched:
        subject, body = render_mail("card_acknowledgements", file=name, rejected=run.rejected, unmatched=run.unmatched)
        enqueue_mail(
            connection,
            kind=OPERATOR_ALERT_KIND,
            dedupe_key=f"card_acknowledgements:{run.sha256}",
            recipient=alert_recipient or operator_email(),
            subject=subject,
            body=body,
        )
    return run


def run_import(
    engine: Engine, path: Path, *, received_on: date, dry_run: bool = False, alert_recipient: str | None = None
) -> AcknowledgementFile:
    """Import one file in one transaction (a dry run rolls it back). Returns the summary."""
    data = path.read_bytes()
    with engine.connect() as connection:
        try:
            run = import_acknowledgements(
                connection, path.name, data, received_on=received_on, alert_recipient=alert_recipient
            )
        except BaseException:
            connection.rollback()
            raise
        if dry_run:
            connection.rollback()
        else:
            connection.commit()
    return run.result(dry_run)


def acknowledgements_folder(home: Path, configuration: Settings | None = None) -> Path:
    """Where the card companies' answers are put for the card_acknowledgements DAG:
    KESSAI_ACKNOWLEDGEMENTS_DIR (the configuration's acknowledgements_dir; default: the
    environment's), else KESSAI_HOME/acknowledgements."""
    configured = (configuration or Settings.from_environment()).acknowledgements_dir
    return configured if configured is not None else home / "acknowledgements"


def import_folder(
    engine: Engine, folder: Path, *, received_on: date, dry_run: bool = False, alert_recipient: str | None = None
) -> FolderImport:
    """Import every file in folder (not hidden ones, not done/), oldest name first, each in its own
    transaction, moving each to done/ once recorded. Refuses at the end, naming them, when lines
    matched no slip (their files are in done/: a re-import changes nothing)."""
    folder = make_folder(folder) if not dry_run else folder
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) if folder.exists() else []
    summaries = []
    for path in files:
        summary = run_import(engine, path, received_on=received_on, dry_run=dry_run, alert_recipient=alert_recipient)
        if not dry_run:
            summary = replace(summary, moved_to=str(move_to_done(path)))
        summaries.append(summary)
    result = FolderImport(str(folder), summaries, dry_run)
    refuse_unmatched(result)
    return result


def refuse_unmatched(result: FolderImport) -> None:
    unmatched = [f"{s.file} {u}" for s in result.files for u in s.unmatched]
    if unmatched:
        raise AcknowledgementsRefused(
            f"{len(unmatched)} lines of the acknowledgements match no transmitted slip and changed nothing: "
            + "; ".join(unmatched[:20])
            + ("; ..." if len(unmatched) > 20 else "")
            + ". Check them with the card company (operators mailed); the other answers were recorded"
        )


def format_summary(result: FolderImport) -> str:
    lines = []
    for s in result.files:
        lines.append(
            f"{s.file}{' (dry run: nothing recorded)' if s.dry_run else ''}: {s.lines} lines, "
            f"{s.recorded} answers recorded ({s.accepted} accepted so far), {len(s.rejected)} rejected, "
            f"{len(s.unmatched)} matching no slip"
        )
        for r in s.rejected:
            lines.append(
                f"  rejected: slip {r['slip_id']} of {r['merchant_id']} ({r['card_company']}, "
                f"{r['amount']:,} yen) in {r['file_name']}, code {r['code'] or '-'}"
            )
        for u in s.unmatched:
            lines.append(f"  no slip: {u}")
    if not result.files:
        lines.append(f"no acknowledgement file in {result.folder}")
    return "\n".join(lines)


# -- sending a rejected slip again ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resent(Result):
    """A rejected slip made due again: the day of the file that carried it, and the rejection's code."""

    merchant_id: str
    slip_id: str
    rejected_on: date
    code: str | None


def resend_rejected(connection: Connection, merchant_id: str, slip_id: str) -> Resent:
    """Make a slip its card company rejected due again: the next transmission day sends it (late) in
    that day's batch. Its first batch keeps it as a record (and the rejection), so that day's file
    rebuilds with every record it had. Refuses a slip whose last sending was not rejected."""
    s, a = slips.c, transmission_acknowledgements.c
    row = connection.execute(
        select(s.id, s.transmission_batch_id, s.transmitted_on, a.result, a.code)
        .outerjoin_from(
            slips, transmission_acknowledgements, (a.slip_row_id == s.id) & (a.batch_id == s.transmission_batch_id)
        )
        .where(s.merchant_id == merchant_id, s.slip_id == slip_id)
    ).first()
    if row is None:
        raise AcknowledgementsRefused(
            f"slip {slip_id} of {merchant_id} does not exist: check the merchant and slip number"
        )
    if row.result != AcknowledgementResult.REJECTED:
        state = (
            f"its sending of {row.transmitted_on} was {row.result or 'not answered'}"
            if row.transmitted_on
            else "it has not been sent"
        )
        raise AcknowledgementsRefused(
            f"slip {slip_id} of {merchant_id} cannot be sent again: {state}; only a slip its card company "
            "rejected is sent again"
        )
    connection.execute(
        update(slips)
        .where(s.id == row.id)
        .values(transmitted_on=None, transmission_batch_id=None, transmission_due_on=None)
    )
    return Resent(merchant_id, slip_id, row.transmitted_on, row.code)
