"""The daily transmission of confirmed sales to the card companies (SPEC §4.2, docs/transmission.md).

A run for business day D has two steps:

1. The claim, in one transaction and under a lock: when neither D nor a later day has been
   transmitted yet, it holds back the due slips that cannot go out (with their reasons), opens one
   batch per card company with the counts and totals of its due slips, marks those slips
   `transmitted_on = D` with their batch, and keeps the store names the files carry.
   A slip is due when its transmission date (the business day after max(registered date,
   confirmed_on)) is D or earlier; earlier means it goes late.
2. The files: each batch of D is streamed from its marked slips into its file.

A re-run of D (or of any earlier day) claims nothing and rebuilds the files from the slips already
marked, so it writes the same bytes and transmits nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from sqlalchemy import BigInteger, Connection, Date, Engine, bindparam, delete, func, select, text, update

from kessai.calendar.business_calendar import BusinessCalendar, check_business_day
from kessai.calendar.store import prepare_calendar
from kessai.db.database import sql_text
from kessai.db.schema import slips, transmission_batches, transmission_holds
from kessai.kinds import ClosedDay, Result, optional
from kessai.settings import (  # noqa: F401 (kessai.transmission.daily's names too)
    DEFAULT_TRANSMISSION_SENDER as DEFAULT_SENDER_CODE,
)
from kessai.settings import (
    environment_setting,
)
from kessai.slips.amounts import DEFAULT_MAX_SLIP_AMOUNT, MAX_SLIP_AMOUNT_VARIABLE
from kessai.transmission.change_notices import notice_count, record_change_notices, write_change_notice_files
from kessai.transmission.files import (
    Destination,
    FileHeader,
    RecordStream,
    TransmissionFileError,
    write_transmission_file,
)
from kessai.transmission.store_names import refresh_file_names

# PostgreSQL advisory lock key of the transmission ("kessaiTX" as a big-endian integer).
LOCK_KEY = int.from_bytes(b"kessaiTX", "big")
# PostgreSQL work_mem of a run: a million-slip day marks and sorts in memory, not in temporary files.
WORK_MEM = "128MB"

HELD_SLIPS_SHOWN = 50


class HoldReason(StrEnum):
    """Why a due slip is held back, as transmission_holds.reason stores it (sql/transmission/holds.*.sql)."""

    UNKNOWN_CARD_COMPANY = "unknown_card_company"
    MERCHANT_WITHOUT_STORE_NAMES = "merchant_without_store_names"
    AMOUNT_OUT_OF_RANGE = "amount_out_of_range"
    STORE_NAME_CONTROL_CHARACTER = "store_name_control_character"
    MERCHANT_ID_CONTROL_CHARACTER = "merchant_id_control_character"
    CARD_COMPANY_FILE_CODE_INVALID = "card_company_file_code_invalid"
    STORE_NAME_KANA_INVALID = "store_name_kana_invalid"
    STORE_NAME_EN_INVALID = "store_name_en_invalid"
    STORE_NAME_TOO_LONG = "store_name_too_long"
    MERCHANT_WITHOUT_CARD_NUMBER = "merchant_without_card_number"
    PAYMENT_KIND_INVALID = "payment_kind_invalid"


# What each hold reason means, and so what fixes it (docs/operations.md).
HOLD_REASONS = {
    HoldReason.UNKNOWN_CARD_COMPANY: "its card company is not in card_companies",
    HoldReason.MERCHANT_WITHOUT_STORE_NAMES: "its merchant lacks a store name (name, name_kana or name_en)",
    HoldReason.AMOUNT_OUT_OF_RANGE: f"its amount is not a whole number of yen in 1..{MAX_SLIP_AMOUNT_VARIABLE}",
    HoldReason.STORE_NAME_CONTROL_CHARACTER: "a store name of its merchant holds a control character (other than a line break)",
    HoldReason.MERCHANT_ID_CONTROL_CHARACTER: "its merchant id holds a control character",
    HoldReason.CARD_COMPANY_FILE_CODE_INVALID: "its card company's file_code is not 1 to 8 letters or digits",
    HoldReason.STORE_NAME_KANA_INVALID: "its merchant's name_kana cannot be written in half-width katakana (JIS X 0201)",
    HoldReason.STORE_NAME_EN_INVALID: "its merchant's name_en cannot be written in ASCII",
    HoldReason.STORE_NAME_TOO_LONG: "a store name of its merchant is longer than its card company accepts",
    HoldReason.MERCHANT_WITHOUT_CARD_NUMBER: "its merchant has no merchant number (加盟店番号) for its card company",
    HoldReason.PAYMENT_KIND_INVALID: "its payment kind (支払区分) or number of installments is not one the file knows",
}


def sender_code() -> str:
    """The sender code the file headers carry (KESSAI_TRANSMISSION_SENDER), for a caller handed no
    Settings (Settings.transmission_sender)."""
    return environment_setting("transmission_sender")


def check_transmission_day(calendar: BusinessCalendar, day: date) -> str | None:
    """None when `day` is a business day; the reason when the operator declared it closed.

    Any other day (weekend, holiday) is refused: the transmission runs on business days only.
    """
    return check_business_day(
        calendar,
        day,
        refused="card_transmission runs only on business days. Slips due by then go out on the next one, {next}.",
        closed="nothing is transmitted on it",
    )


def _statement(connection: Connection, name: str):
    return sql_text(f"transmission/{name}", connection.dialect.name).bindparams(bindparam("business_date", type_=Date))


def hold_back(connection: Connection, business_date: date, max_amount: int) -> None:
    """Record the hold-backs of business_date: every due slip that cannot go out, with its reasons."""
    connection.execute(delete(transmission_holds).where(transmission_holds.c.business_date == business_date))
    connection.execute(
        _statement(connection, "holds").bindparams(bindparam("max_amount", type_=BigInteger)),
        {"business_date": business_date, "max_amount": max_amount},
    )


# -- step 1: the claim --------------------------------------------------------------------------


def last_transmission_day(connection: Connection) -> date | None:
    return connection.execute(select(func.max(transmission_batches.c.business_date))).scalar()


def claim_due_slips(
    connection: Connection, business_date: date, sender: str, max_amount: int = DEFAULT_MAX_SLIP_AMOUNT
) -> bool:
    """Hold back, batch and mark the slips going out on business_date, in the caller's transaction.

    A slip whose amount is outside 1..max_amount (KESSAI_MAX_SLIP_AMOUNT) is held back, as is every
    slip whose data the file cannot carry (HOLD_REASONS): no slip fails the day for the others.

    Claims only when neither business_date nor a later day has a batch: a re-run of a day, or a
    backfill of a day before one already transmitted, sends nothing new (the later day's run took
    every slip that was due). Returns whether it claimed.
    """
    last = last_transmission_day(connection)
    if last is not None and last >= business_date:
        return False
    params = {"business_date": business_date}
    refresh_file_names(connection)  # per merchant: what the holds test and the snapshot keeps
    hold_back(connection, business_date, max_amount)
    connection.execute(
        _statement(connection, "open_batches"),
        {**params, "date_code": business_date.strftime("%Y%m%d"), "sender_code": sender},
    )
    # PostgreSQL plans the day's statements on statistics: those of the batches and hold-backs just
    # written (else it marks through a million index look-ups), and after the marks those of
    # slips.transmitted_on (else it reads the records through each merchant's whole history).
    postgresql = connection.dialect.name == "postgresql"
    if postgresql:
        connection.execute(text("ANALYZE transmission_batches, transmission_holds"))
    connection.execute(_statement(connection, "mark"), params)
    if postgresql:
        connection.execute(text("ANALYZE slips (transmitted_on)"))
    connection.execute(_statement(connection, "snapshot_store_names"), {**params, "cr": "\r", "lf": "\n"})
    record_change_notices(connection, business_date)  # against the batches before this day
    return True


# -- what a day's transmission is ---------------------------------------------------------------


def batches_of(connection: Connection, business_date: date) -> list[dict]:
    b = transmission_batches.c
    rows = connection.execute(
        select(
            b.batch_id,
            b.card_company,
            b.file_name,
            b.sequence_number,
            b.sender_code,
            b.file_code,
            b.record_count,
            b.amount_total,
            b.late_count,
            b.sha256,
        )
        .where(b.business_date == business_date)
        .order_by(b.batch_id)  # the order of the records stream
    ).mappings()
    return [dict(row) for row in rows]


def holds_of(connection: Connection, business_date: date, limit: int | None = None) -> list[dict]:
    """The slips the run of business_date held back (the first `limit` of them, by merchant and
    slip number), and whether they have gone out since."""
    h, s = transmission_holds.c, slips.c
    rows = connection.execute(
        select(s.slip_id, s.merchant_id, s.card_company, s.amount, h.reason, s.transmitted_on)
        .join_from(transmission_holds, slips, h.slip_row_id == s.id)
        .where(h.business_date == business_date)
        .order_by(s.merchant_id, s.slip_id, h.reason)
        .limit(limit)
    ).mappings()
    return [{**row, "transmitted_on": row["transmitted_on"] and row["transmitted_on"].isoformat()} for row in rows]


def held_count(connection: Connection, business_date: date) -> int:
    """How many slips the run of business_date held back (a slip with two reasons counts once)."""
    h = transmission_holds.c
    return connection.execute(
        select(func.count(h.slip_row_id.distinct())).where(h.business_date == business_date)
    ).scalar_one()


def sent_on_later_days(connection: Connection, business_date: date) -> int:
    """Slips that were due by business_date but went out on a later day (late)."""
    s = slips.c
    return connection.execute(
        select(func.count()).where(s.transmitted_on > business_date, s.transmission_due_on <= business_date)
    ).scalar_one()


@dataclass(frozen=True, slots=True)
class TransmissionSummary(Result):
    """The day's batches, hold-backs and late slips, as the task log and XCom show them.

    `batches`, `held` and `files` are JSON rows: a batch's card company, file name, sequence
    number, record count, amount total and late count; a held slip's number, merchant, card
    company, amount, reason (and its text) and the day it went out since; a file's URL, sha256
    and size.
    """

    business_date: date
    claimed: bool
    batches: list[dict]
    record_count: int
    amount_total: int
    late_count: int
    held_count: int
    held: list[dict]
    sent_on_later_days: int
    change_notices: int
    dry_run: bool = optional(False)
    files: list[dict] = optional()  # the files written; None until they are (a dry run: [])


def transmission_summary(connection: Connection, business_date: date, claimed: bool) -> TransmissionSummary:
    """The day's batches, hold-backs and late slips."""
    batches = batches_of(connection, business_date)
    # The first few hold-backs only: a day may hold back hundreds of thousands (a merchant without
    # its store names), and the summary is a log and an XCom, not the list (transmission_holds is).
    holds = holds_of(connection, business_date, limit=HELD_SLIPS_SHOWN)
    return TransmissionSummary(
        business_date=business_date,
        claimed=claimed,
        batches=[
            {
                key: batch[key]
                for key in (
                    "card_company",
                    "file_name",
                    "sequence_number",
                    "record_count",
                    "amount_total",
                    "late_count",
                )
            }
            for batch in batches
        ],
        record_count=sum(batch["record_count"] for batch in batches),
        amount_total=sum(int(batch["amount_total"]) for batch in batches),
        late_count=sum(batch["late_count"] for batch in batches),
        held_count=held_count(connection, business_date),
        held=[{**hold, "reason_text": HOLD_REASONS[hold["reason"]]} for hold in holds],
        sent_on_later_days=sent_on_later_days(connection, business_date),
        change_notices=notice_count(connection, business_date),
    )


# -- step 2: the files --------------------------------------------------------------------------


def write_batch_files(connection: Connection, business_date: date, destination: Destination) -> list[dict]:
    """(Re)write the file of each batch of business_date from its marked slips; record the hashes.

    One ordered stream of the day's records, cut into the files by the batches' record counts.
    """
    destination.sweep_parts(time.time())  # what a run killed mid-write left
    batches = batches_of(connection, business_date)
    statement = _statement(connection, "records")
    records = RecordStream(connection, statement, {"business_date": business_date})
    files = []
    try:
        for batch in batches:
            header = FileHeader(
                sender_code=batch["sender_code"],
                file_code=batch["file_code"],
                business_date=business_date,
                sequence_number=batch["sequence_number"],
                record_count=batch["record_count"],
                amount_total=int(batch["amount_total"]),
            )
            records_of_batch = records.take(batch["record_count"])
            files.append(write_transmission_file(destination, batch["file_name"], header, records_of_batch))
        left_over = records.rest()
    finally:
        records.close()
    if left_over:
        raise TransmissionFileError(
            f"more slips are marked transmitted on {business_date} than its batches count, so the files "
            f"written for {business_date} do not match them: check slips.transmitted_on and "
            "slips.transmission_batch_id against transmission_batches"
        )
    for batch, file in zip(batches, files, strict=True):  # after the stream: no other statement during a COPY
        connection.execute(
            update(transmission_batches)
            .where(transmission_batches.c.batch_id == batch["batch_id"])
            .values(sha256=file.sha256)
        )
    return [{"file": destination.url(file.path), "sha256": file.sha256, "size": file.size} for file in files]


# -- the run ------------------------------------------------------------------------------------


@contextmanager
def _exclusive(connection: Connection) -> Iterator[None]:
    """One transmission at a time, from the claim to the last file.

    PostgreSQL: a session advisory lock, released when the run ends (or its connection dies); and
    the memory of a batch job for its sorts and hashes (the day's slips), reset after.
    SQLite: the claim's transaction begins IMMEDIATE, taking the database's writer lock at once; a
    second run waits, then finds the claim done. Two runs writing the same day's files at the same
    time write the same bytes under different temporary names.
    """
    if connection.dialect.name != "postgresql":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        yield
        return
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
    connection.execute(text(f"SET work_mem = '{WORK_MEM}'"))
    try:
        yield
    finally:
        connection.rollback()
        connection.execute(text("RESET work_mem"))
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
        connection.commit()


def run_transmission(
    engine: Engine,
    business_date: date,
    destination: Destination,
    *,
    sender: str | None = None,
    dry_run: bool = False,
    max_amount: int = DEFAULT_MAX_SLIP_AMOUNT,
) -> TransmissionSummary | ClosedDay:
    """The transmission of business_date: claim, then write the files. Returns the summary.

    A dry run computes the claim and its summary in a transaction it rolls back, and writes no file.
    A day the operator declared closed does nothing; any other non-business day is refused.
    `max_amount` is KESSAI_MAX_SLIP_AMOUNT, read by the caller (slip_amounts.max_slip_amount).
    """
    with engine.connect() as connection, _exclusive(connection):
        calendar = prepare_calendar(connection)
        closed = check_transmission_day(calendar, business_date)
        if closed:
            connection.commit()
            return ClosedDay(business_date, closed)
        claimed = claim_due_slips(connection, business_date, sender or sender_code(), max_amount)
        summary = transmission_summary(connection, business_date, claimed)
        if dry_run:
            connection.rollback()
            return replace(summary, dry_run=True, files=[])
        connection.commit()
        files = write_batch_files(connection, business_date, destination)
        files += write_change_notice_files(connection, business_date, destination)
        connection.commit()
    return replace(summary, files=files)


def _yen(amount) -> str:
    """An amount for the log: with thousands separators, or as stored when it is no number (SQLite
    keeps a text written into an integer column; such a slip is held back, and the log must not fail)."""
    return f"{amount:,}" if isinstance(amount, (int, float)) else repr(amount)


def format_summary(summary: TransmissionSummary | ClosedDay) -> str:
    """The summary as the lines the task log shows."""
    if isinstance(summary, ClosedDay):
        return summary.closed
    day = summary.business_date.isoformat()
    lines = [
        f"transmission of {day}{' (dry run: nothing written)' if summary.dry_run else ''}: "
        f"{summary.record_count} slips, {summary.amount_total:,} yen in {len(summary.batches)} "
        f"files; {summary.late_count} late; {summary.held_count} held back",
    ]
    if not summary.claimed:
        lines.append(
            f"  {day} or a later day was already transmitted: nothing new is claimed; the files of {day} "
            "come from the slips marked then"
        )
    for batch in summary.batches:
        lines.append(
            f"  {batch['card_company']:<12} {batch['file_name']:<20} #{batch['sequence_number']:<5} "
            f"{batch['record_count']:>9} slips {int(batch['amount_total']):>15,} yen  "
            f"{batch['late_count']} late"
        )
    if summary.change_notices:
        lines.append(f"  {summary.change_notices} store-change notices (merchants renamed) to the card companies")
    if summary.sent_on_later_days:
        lines.append(f"  {summary.sent_on_later_days} slips due by {day} went out late on later days")
    for hold in summary.held:
        lines.append(
            f"  held back: slip {hold['slip_id']} of {hold['merchant_id']} ({hold['card_company']}, "
            f"{_yen(hold['amount'])} yen): {hold['reason_text']}"
            + (f"; went out on {hold['transmitted_on']}" if hold["transmitted_on"] else "")
        )
    if summary.held_count > len({(h["merchant_id"], h["slip_id"]) for h in summary.held}):
        lines.append(f"  ... see transmission_holds for all {summary.held_count} held-back slips of {day}")
    for file in summary.files or []:
        lines.append(f"  wrote {file['file']} ({file['size']} bytes, sha256 {file['sha256']})")
    return "\n".join(lines)
