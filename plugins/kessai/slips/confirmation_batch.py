"""Registering settlement confirmations, set-based (SPEC §4.1): the one place the rules live.

A batch of (merchant, slip, confirmed_on) rows is staged in a temporary table (in one go, or in
pieces for a large upload: open_batch, stage, settle_batch, refused_rows, close_batch), classified
against slips, merchants and business_calendar by the SQL in sql/slips/confirmation/*.sql, and the
acceptable rows are confirmed with one guarded UPDATE. A single confirmation is a batch of one row, so the
admin screen's button and the CSV upload cannot disagree.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    CursorResult,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    false,
    func,
    select,
    text,
    update,
)

from kessai.calendar.rules import CONFIRMATION_WINDOW_MONTHS
from kessai.calendar.run_dates import japan_date_of
from kessai.calendar.store import prepare_calendar
from kessai.db.bulk_load import insert_columns
from kessai.db.database import sql_text
from kessai.db.schema import Timestamp
from kessai.slips.amounts import DEFAULT_MAX_SLIP_AMOUNT, out_of_range


class RowRefusal(StrEnum):
    """Why a confirmation row is not applied. The first group comes from sql/slips/confirmation/verdict.sql."""

    UNKNOWN_SLIP = "unknown_slip"
    CANCELLED = "cancelled"
    ALREADY_CONFIRMED = "already_confirmed"
    NOT_PAID = "not_paid"
    PAST_DEADLINE = "past_deadline"
    BEFORE_PAYMENT_DATE = "before_payment_date"
    OUTSIDE_CALENDAR = "outside_calendar"
    AMOUNT_OUT_OF_RANGE = "amount_out_of_range"
    DUPLICATE_ROW = "duplicate_row"
    # The slip changed between the check and the update, in a way the check cannot name again.
    CONCURRENT_CHANGE = "concurrent_change"


UNKNOWN_SLIP = RowRefusal.UNKNOWN_SLIP
CANCELLED = RowRefusal.CANCELLED
ALREADY_CONFIRMED = RowRefusal.ALREADY_CONFIRMED
NOT_PAID = RowRefusal.NOT_PAID
PAST_DEADLINE = RowRefusal.PAST_DEADLINE
BEFORE_PAYMENT_DATE = RowRefusal.BEFORE_PAYMENT_DATE
OUTSIDE_CALENDAR = RowRefusal.OUTSIDE_CALENDAR
AMOUNT_OUT_OF_RANGE = RowRefusal.AMOUNT_OUT_OF_RANGE
DUPLICATE_ROW = RowRefusal.DUPLICATE_ROW
CONCURRENT_CHANGE = RowRefusal.CONCURRENT_CHANGE

# The batch, as a temporary table: private to the connection, gone with it.
confirmation_rows = Table(
    "confirmation_rows",
    MetaData(),
    Column("line_number", Integer, primary_key=True),
    Column("merchant_id", Text, nullable=False),
    Column("slip_id", Text, nullable=False),
    Column("confirmed_on", Date, nullable=False),
    Column("slip_row_id", BigInteger),
    Column("payment_date", Date),
    Column("amount", BigInteger),
    Column("deadline", Date),
    Column("existing_confirmed_on", Date),
    Column("cancelled_at", Timestamp),
    Column("closing_date", Date),
    Column("duplicate_of", Integer),
    Column("reason", String(32)),
    Column("held_back", Boolean, nullable=False, server_default=false()),
    Index("ix_confirmation_rows_slip_row_id", "slip_row_id"),
    prefixes=["TEMPORARY"],
)

TEMPORARY_SCHEMA = {"postgresql": "pg_temp", "sqlite": "temp"}

PARAMETER_TYPES = {
    "registered_on": Date(),
    "registered_at": Timestamp(),
    "window_months": Integer(),
    "max_amount": BigInteger(),
    "source": Text(),
    "recheck": Boolean(),
}


@dataclass(frozen=True)
class ConfirmationRequest:
    line_number: int
    merchant_id: str
    slip_id: str
    confirmed_on: date


@dataclass(frozen=True)
class RefusedRow:
    """A row the batch did not apply, with what the message about it needs."""

    line_number: int
    merchant_id: str
    slip_id: str
    confirmed_on: date
    reason: str
    payment_date: date | None
    deadline: date | None
    existing_confirmed_on: date | None
    duplicate_of: int | None
    amount: int | None = None
    max_amount: int = DEFAULT_MAX_SLIP_AMOUNT

    def message(self, registered_on: date) -> str:
        return f"slip {self.slip_id} of merchant {self.merchant_id}: {self._explanation(registered_on)}"

    def _explanation(self, registered_on: date) -> str:
        window = f"payment date {self.payment_date} + {CONFIRMATION_WINDOW_MONTHS} months"
        if self.reason == UNKNOWN_SLIP:
            return "no such slip"
        if self.reason == CANCELLED:
            return "the slip is cancelled; a cancelled slip cannot be confirmed"
        if self.reason == ALREADY_CONFIRMED:
            asked = "" if self.existing_confirmed_on == self.confirmed_on else f" (asked for {self.confirmed_on})"
            return f"already confirmed on {self.existing_confirmed_on}{asked}; a confirmation cannot be changed"
        if self.reason == AMOUNT_OUT_OF_RANGE:
            assert self.amount is not None  # the rule that refuses it read it
            return f"{out_of_range(self.amount, self.max_amount)}: correct the amount, then confirm again"
        if self.reason == NOT_PAID:
            return "not paid yet (no payment date): a recurring slip can be confirmed once its charge succeeded"
        if self.reason == PAST_DEADLINE and self.deadline is not None and registered_on > self.deadline:
            return (
                f"the confirmation deadline {self.deadline} ({window}) has passed "
                f"(registered on {registered_on}); the slip can no longer be confirmed"
            )
        if self.reason == PAST_DEADLINE:
            return f"confirmed_on {self.confirmed_on} is after the confirmation deadline {self.deadline} ({window})"
        if self.reason == BEFORE_PAYMENT_DATE:
            return f"confirmed_on {self.confirmed_on} is before the payment date {self.payment_date}"
        if self.reason == OUTSIDE_CALENDAR:
            return (
                f"the business calendar does not reach {max(registered_on, self.confirmed_on)}, so its "
                "closing date is unknown; extend the calendar (KESSAI_HOLIDAYS_REVIEWED_THROUGH) and retry"
            )
        if self.reason == DUPLICATE_ROW:
            return f"the slip was already named on line {self.duplicate_of} of this file; this row is ignored"
        # CONCURRENT_CHANGE
        return "the slip changed while the confirmation was being registered; check it and try again"


@dataclass(frozen=True)
class BatchOutcome:
    registered_on: date
    applied: int
    repeated: int  # already confirmed with the very date asked: a repeat of an earlier registration
    refused: list[RefusedRow]


def _execute(connection: Connection, name: str, **parameters) -> CursorResult:
    statement = sql_text(name, connection.dialect.name).bindparams(
        *(bindparam(key, value, type_=PARAMETER_TYPES[key]) for key, value in parameters.items())
    )
    return connection.execute(statement)


def _rows_table(connection: Connection) -> str:
    return f"{TEMPORARY_SCHEMA[connection.dialect.name]}.{confirmation_rows.name}"


def _drop_rows_table(connection: Connection) -> None:
    connection.execute(text(f"DROP TABLE IF EXISTS {_rows_table(connection)}"))


def _analyze_rows_table(connection: Connection) -> None:
    """Give the planner the batch's real size and contents: nothing analyzes a temporary table
    by itself, and a join planned for one row but run on 100,000 would take hours."""
    connection.execute(text(f"ANALYZE {_rows_table(connection)}"))


def _classify(connection: Connection, registered_on: date, recheck: bool, max_amount: int) -> None:
    """Give each row still without a reason its reason, if the rules refuse it: all of them, or
    (recheck) those the apply step held back."""
    _execute(connection, "slips/confirmation/lookup", window_months=CONFIRMATION_WINDOW_MONTHS, recheck=recheck)
    _execute(connection, "slips/confirmation/closing", registered_on=registered_on, recheck=recheck)
    _execute(
        connection, "slips/confirmation/verdict", registered_on=registered_on, recheck=recheck, max_amount=max_amount
    )


def _count_acceptable(connection: Connection) -> int:
    return connection.execute(
        select(func.count()).select_from(confirmation_rows).where(confirmation_rows.c.reason.is_(None))
    ).scalar_one()


def open_batch(connection: Connection) -> None:
    """An empty batch (the temporary table) on this connection, for `stage` to fill."""
    prepare_calendar(connection)
    _drop_rows_table(connection)  # a failed batch on this pooled SQLite connection may have left it
    confirmation_rows.create(connection)


def stage(connection: Connection, requests: list[ConfirmationRequest]) -> None:
    """Add rows to the open batch: one COPY on PostgreSQL, executemany on SQLite. A large upload
    comes in several calls of a bounded size each."""
    if requests:
        insert_columns(
            connection,
            confirmation_rows,
            {
                "line_number": [r.line_number for r in requests],
                "merchant_id": [r.merchant_id for r in requests],
                "slip_id": [r.slip_id for r in requests],
                "confirmed_on": [r.confirmed_on for r in requests],
            },
        )


def _repeat(refuse_repeats: bool):
    columns = confirmation_rows.c
    if refuse_repeats:
        return false()
    return and_(columns.reason == ALREADY_CONFIRMED, columns.existing_confirmed_on == columns.confirmed_on)


def settle_batch(
    connection: Connection,
    registered_at: datetime,
    source: str,
    *,
    refuse_repeats: bool = False,
    max_amount: int = DEFAULT_MAX_SLIP_AMOUNT,
) -> BatchOutcome:
    """Classify the staged rows and confirm the acceptable ones (see register_confirmations).
    The outcome's `refused` is left empty: `refused_rows` streams them, `refused_counts` counts
    them; `close_batch` ends the batch."""
    registered_on = japan_date_of(registered_at)
    _analyze_rows_table(connection)
    _execute(connection, "slips/confirmation/duplicates")
    _classify(connection, registered_on, recheck=False, max_amount=max_amount)
    _analyze_rows_table(connection)
    acceptable = _count_acceptable(connection)
    applied = _execute(connection, "slips/confirmation/apply", registered_at=registered_at).rowcount
    if applied < acceptable:
        # A concurrent operation changed some of the slips after they were checked: the guard
        # held them back. Check those again, so each gets the reason the other operation left.
        _execute(connection, "slips/confirmation/held_back", registered_at=registered_at)
        _classify(connection, registered_on, recheck=True, max_amount=max_amount)
        connection.execute(
            update(confirmation_rows)
            .where(confirmation_rows.c.reason.is_(None), confirmation_rows.c.held_back)
            .values(reason=CONCURRENT_CHANGE)
        )
    _execute(
        connection, "slips/confirmation/events", registered_on=registered_on, registered_at=registered_at, source=source
    )
    repeated = connection.execute(
        select(func.count()).select_from(confirmation_rows).where(_repeat(refuse_repeats))
    ).scalar_one()
    return BatchOutcome(registered_on, applied, repeated, [])


def refused_counts(connection: Connection, *, refuse_repeats: bool = False) -> dict[str, int]:
    """How many rows of the settled batch were refused, by reason."""
    columns = confirmation_rows.c
    return dict(
        connection.execute(
            select(columns.reason, func.count())
            .where(columns.reason.is_not(None), ~_repeat(refuse_repeats))
            .group_by(columns.reason)
        ).all()
    )


# Refused rows travel from the database this many at a time (a server-side cursor on PostgreSQL).
REFUSED_ROWS_PER_FETCH = 10_000


def refused_rows(
    connection: Connection, *, refuse_repeats: bool = False, max_amount: int = DEFAULT_MAX_SLIP_AMOUNT
) -> Generator[RefusedRow, None, None]:
    """The refused rows of the settled batch in line order, streamed: memory stays bounded
    however many there are. Read them to the end (or close the iterator) before the next statement."""
    columns = confirmation_rows.c
    result = connection.execute(
        select(
            columns.line_number,
            columns.merchant_id,
            columns.slip_id,
            columns.confirmed_on,
            columns.reason,
            columns.payment_date,
            columns.deadline,
            columns.existing_confirmed_on,
            columns.duplicate_of,
            columns.amount,
        )
        .where(columns.reason.is_not(None), ~_repeat(refuse_repeats))
        .order_by(columns.line_number),
        execution_options={"yield_per": REFUSED_ROWS_PER_FETCH},
    )
    with result:
        for row in result:
            yield RefusedRow(**row._asdict(), max_amount=max_amount)


def close_batch(connection: Connection) -> None:
    _drop_rows_table(connection)


def register_confirmations(
    connection: Connection,
    requests: list[ConfirmationRequest],
    registered_at: datetime,
    source: str,
    *,
    refuse_repeats: bool = False,
    max_amount: int = DEFAULT_MAX_SLIP_AMOUNT,
) -> BatchOutcome:
    """Confirm every acceptable request, registered at `registered_at`; report the rest.

    A repeat (the slip is already confirmed with the date asked) is counted apart, unless
    `refuse_repeats`. Runs in the caller's transaction. `source` ("import" or "operation") goes
    into the events. A slip whose amount is outside 1..max_amount (KESSAI_MAX_SLIP_AMOUNT, read by
    the caller) is refused: it could never be transmitted.
    """
    open_batch(connection)
    stage(connection, requests)
    outcome = settle_batch(connection, registered_at, source, refuse_repeats=refuse_repeats, max_amount=max_amount)
    refused = list(refused_rows(connection, refuse_repeats=refuse_repeats, max_amount=max_amount))
    close_batch(connection)
    return BatchOutcome(outcome.registered_on, outcome.applied, outcome.repeated, refused)
