"""The stale-slip reminder of REMINDER_DAY (dags/stale_slip_reminder.py), a Monday: every merchant's
weekly digest, the day after the run of REMINDED_ON. Against one SELECT of the slips the digests
must list: the open slips stale by then, and the expired slips no digest has listed."""

from __future__ import annotations

import time
from collections import defaultdict

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bench.datasets import REMINDER_DAY
from bench.harness import Bench, Row, compare
from bench.measure import Context, Step, statement_time
from bench.orm import Merchant, Slip, SlipEvent, SlipReminder, StaleSlipDigest
from bench.outcomes import SlipSet, slip_set_of
from kessai.calendar.rules import confirmation_deadline, stale_from
from kessai.calendar.store import prepare_calendar
from kessai.db.database import make_engine, sql_text
from kessai.mail.outbox import enqueue_mail
from kessai.reminders.stale_slips import (
    FINAL_NOTICE_DAYS,
    WEEKLY,
    Digest,
    Period,
    RemindedSlip,
    ReminderSettings,
    check_run_date,
    digest_mail,
    expires_on,
    period_of,
    remind_stale_slips,
)

NAME = "reminder"

# What the digests list, read with the rules of the day they state (the week's first business day):
# the open slips paid by its stale cutoff (a range of the partial index
# ix_slips_unconfirmed_by_payment_date; those past their deadline are closed by the run and listed
# as expired), and the expired slips no digest has listed (the partial index ix_slip_reminders_untold).
FLOOR_SQL = text(
    """
    SELECT s.id, s.amount
    FROM slips AS s
    WHERE s.payment_date <= :paid_through AND s.confirmed_on IS NULL AND s.cancelled_at IS NULL
      AND s.expired_on IS NULL
    UNION ALL
    SELECT s.id, s.amount
    FROM slip_reminders AS r JOIN slips AS s ON s.id = r.slip_row_id
    WHERE r.reason = 'expired' AND r.mail_id IS NULL AND s.expired_on <= :as_of
    """
)
# What the run's digests listed: the open slips of each digest's merchant paid by its cutoff, and the
# expired slips naming its mail.
LISTED_SQL = text(
    """
    SELECT s.id, s.amount
    FROM stale_slip_digests AS d JOIN slips AS s ON s.merchant_id = d.merchant_id
    WHERE d.business_date = :day AND s.payment_date <= d.paid_through
      AND s.confirmed_on IS NULL AND s.cancelled_at IS NULL AND s.expired_on IS NULL
    UNION ALL
    SELECT s.id, s.amount
    FROM stale_slip_digests AS d
    JOIN slip_reminders AS r ON r.mail_id = d.mail_id AND r.reason = 'expired'
    JOIN slips AS s ON s.id = r.slip_row_id
    WHERE d.business_date = :day
    """
)


# The statements of the run that select what to mail: the digests' claim and the read of what they
# list. The rest of the run closes the expired slips (an UPDATE of each, every index of the slips)
# and writes the mails.
SELECTION = ("claim_digests", "digest_slips")


def _work(context: Context) -> dict:
    """The DAG's tasks resolve_business_date and remind (the mail delivery aside)."""
    engine = make_engine(context.url)
    # the selection's statements, known by the first line of their SQL files
    heads = tuple(
        sql_text(f"reminders/stale_slips/{name}", engine.dialect.name).text.splitlines()[0] for name in SELECTION
    )
    selection = statement_time(engine, heads)
    try:
        with engine.begin() as connection:
            check_run_date(connection, context.day)
        with engine.connect() as connection:
            summary = remind_stale_slips(connection, context.day, ReminderSettings(period=WEEKLY))
            connection.commit()
    finally:
        engine.dispose()
    return {"mails": summary.mails, "selection_seconds": selection["seconds"]}


def _listed(context: Context) -> SlipSet:
    engine = make_engine(context.url)
    try:
        with engine.connect() as connection:
            return slip_set_of(connection, LISTED_SQL, {"day": context.day})
    finally:
        engine.dispose()


def _week(connection, day) -> Period:
    return period_of(prepare_calendar(connection), WEEKLY, day)


def _floor_params(connection, day) -> dict:
    week = _week(connection, day)
    return {"paid_through": week.paid_through, "as_of": week.as_of}


def _floor_work(context: Context) -> dict:
    engine = make_engine(context.url)
    try:
        with engine.connect() as connection:
            params = _floor_params(connection, context.day)
            started = time.perf_counter()
            connection.execute(FLOOR_SQL, params).all()
            return {"statement_seconds": time.perf_counter() - started}
    finally:
        engine.dispose()


def _floor_outcome(context: Context) -> SlipSet:
    engine = make_engine(context.url)
    try:
        with engine.connect() as connection:
            query = text(f"SELECT id, amount FROM ({FLOOR_SQL.text}) AS due")
            return slip_set_of(connection, query, _floor_params(connection, context.day))
    finally:
        engine.dispose()


def _naive_work(context: Context) -> None:
    """Every open slip as an object, checked in Python: closed and saved one by one if past its
    deadline, else kept for its merchant's digest if stale; then the unlisted expired slips looked
    up one by one; then a digest per merchant, its mail and its row."""
    day, settings = context.day, ReminderSettings(period=WEEKLY)
    engine = make_engine(context.url)
    try:
        with Session(engine) as session:
            week = _week(session.connection(), day)
            open_by_merchant: dict[str, list[RemindedSlip]] = defaultdict(list)
            expired_by_merchant: dict[str, list[tuple[SlipReminder, RemindedSlip]]] = defaultdict(list)
            open_slips = select(Slip).where(
                Slip.payment_date.is_not(None),
                Slip.confirmed_on.is_(None),
                Slip.cancelled_at.is_(None),
                Slip.expired_on.is_(None),
            )
            for slip in session.scalars(open_slips).all():
                if expires_on(slip.payment_date) <= day:
                    slip.expired_on = expires_on(slip.payment_date)
                    deadline = confirmation_deadline(slip.payment_date)
                    session.add(
                        SlipEvent(
                            slip_row_id=slip.id,
                            event="expired",
                            business_date=day,
                            detail=f"confirmation deadline {deadline.isoformat()} passed",
                        )
                    )
                    session.add(SlipReminder(slip_row_id=slip.id, reason="expired", business_date=day))
                    session.flush()
                elif stale_from(slip.payment_date) <= week.as_of:
                    open_by_merchant[slip.merchant_id].append(
                        RemindedSlip(slip.id, slip.slip_id, slip.amount, slip.payment_date)
                    )
            unlisted = select(SlipReminder).where(SlipReminder.reason == "expired", SlipReminder.mail_id.is_(None))
            for reminder in session.scalars(unlisted).all():
                slip = session.get(Slip, reminder.slip_row_id)
                if slip.expired_on <= week.as_of:
                    expired_by_merchant[slip.merchant_id].append(
                        (reminder, RemindedSlip(slip.id, slip.slip_id, slip.amount, slip.payment_date))
                    )
            final_notice_until = week.as_of.toordinal() + FINAL_NOTICE_DAYS
            for merchant_id in sorted(set(open_by_merchant) | set(expired_by_merchant)):
                earlier = select(StaleSlipDigest).where(
                    StaleSlipDigest.merchant_id == merchant_id, StaleSlipDigest.as_of >= week.as_of
                )
                if session.scalars(earlier).first() is not None:
                    continue
                merchant = session.get(Merchant, merchant_id)
                email = (merchant.email or "").strip() or None
                order = lambda slip: (slip.payment_date, len(slip.slip_id), slip.slip_id)  # noqa: E731
                open_slips_of = sorted(open_by_merchant[merchant_id], key=order)
                expired = sorted(expired_by_merchant[merchant_id], key=lambda pair: order(pair[1]))
                digest = Digest(
                    merchant_id,
                    merchant.name,
                    email,
                    week,
                    final_notice=[s for s in open_slips_of if s.deadline.toordinal() <= final_notice_until],
                    others=[s for s in open_slips_of if s.deadline.toordinal() > final_notice_until],
                    expired=[slip for _, slip in expired],
                )
                mail = digest_mail(digest, settings)
                mail_id = enqueue_mail(session.connection(), **mail)
                session.add(
                    StaleSlipDigest(
                        merchant_id=merchant_id,
                        period=week.key,
                        as_of=week.as_of,
                        paid_through=week.paid_through,
                        business_date=day,
                        mail_id=mail_id,
                        open_slips=len(digest.open_slips),
                        open_amount=sum(slip.amount for slip in digest.open_slips),
                        final_notice_slips=len(digest.final_notice),
                        expired_slips=len(digest.expired),
                    )
                )
                for reminder, _ in expired:
                    reminder.mail_id = mail_id
                session.flush()
            session.commit()
    finally:
        engine.dispose()


MEASURED = Step(_work, _listed)
FLOOR = Step(_floor_work, _floor_outcome)
NAIVE = Step(_naive_work, _listed)


def run(bench: Bench, size: int) -> list[Row]:
    """The remind task, and within it the selection: the digests' claim and read against the
    SELECT (the statements' own time, both)."""
    row = compare(bench, NAME, size, bench.dataset("slips", size), REMINDER_DAY, MEASURED, FLOOR, NAIVE)
    selection = Row(
        f"{NAME} selection",
        row.database,
        size,
        row.rows,
        row.details["measured"]["selection_seconds"],
        row.details["floor"]["statement_seconds"],
        row.peak_rss,
        outcomes=row.outcomes,
    )
    return [row, selection]
