"""The stale-slip reminder of REMINDER_DAY (dags/stale_slip_reminder.py), the day after the run of
REMINDED_ON, against one indexed SELECT of the stale slips it must tell: the open slips paid by
the stale cutoff that have not been told the most advanced reason they have reached (or a later
one)."""

from __future__ import annotations

import time
from collections import defaultdict

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bench.datasets import REMINDER_DAY
from bench.harness import Bench, Row, compare
from bench.measure import Context, Step, statement_time
from bench.orm import Merchant, Slip, SlipEvent, SlipReminder
from bench.outcomes import SlipSet, slip_set_of
from kessai.database import make_engine, sql_text
from kessai.mail_templates import render_mail
from kessai.outbox import enqueue_mail
from kessai.rules import confirmation_deadline, stale_from
from kessai.stale_slips import (
    EXPIRED,
    FINAL_NOTICE,
    MAIL_KINDS,
    STALE,
    ReminderSettings,
    RemindedSlip,
    check_run_date,
    cutoffs,
    expires_on,
    final_notice_from,
    remind_stale_slips,
    slips_csv,
)

NAME = "reminder"

# The open slips paid by the stale cutoff (a range of the partial index
# ix_slips_unconfirmed_by_payment_date) not told their reason yet, with what the mails list.
FLOOR_SQL = text(
    """
    SELECT s.id, s.merchant_id, s.slip_id, s.amount, s.payment_date
    FROM slips AS s
    WHERE s.payment_date <= :stale AND s.confirmed_on IS NULL AND s.cancelled_at IS NULL AND s.expired_on IS NULL
      AND NOT EXISTS (
          SELECT 1 FROM slip_reminders AS r
          WHERE r.slip_row_id = s.id
            AND (r.reason = 'expired'
                 OR (r.reason = 'final_notice' AND s.payment_date > :expired)
                 OR (r.reason = 'stale' AND s.payment_date > :final_notice))
      )
    """
)
CLAIMED_SQL = text(
    "SELECT s.id, s.amount FROM slip_reminders r JOIN slips s ON s.id = r.slip_row_id WHERE r.business_date = :day"
)


# The statement of the run that selects the slips to tell: the claim, the SELECT written down as
# reminders (what keeps a re-run from telling a slip twice). The rest of the run closes the
# expired slips (an UPDATE of each, every index of the slips) and writes the mails.
SELECTION = ("claim",)


def _work(context: Context) -> dict:
    """The DAG's tasks resolve_business_date and remind (the mail delivery aside)."""
    engine = make_engine(context.url)
    # the selection's statements, known by the first line of their SQL files
    heads = tuple(sql_text(f"stale_slips/{name}", engine.dialect.name).text.splitlines()[0] for name in SELECTION)
    selection = statement_time(engine, heads)
    try:
        with engine.begin() as connection:
            check_run_date(connection, context.day)
        with engine.connect() as connection:
            summary = remind_stale_slips(connection, context.day, ReminderSettings.from_environment())
            connection.commit()
    finally:
        engine.dispose()
    return {"mails": summary["mails"], "selection_seconds": selection["seconds"]}


def _claimed(context: Context) -> SlipSet:
    engine = make_engine(context.url)
    try:
        with engine.connect() as connection:
            return slip_set_of(connection, CLAIMED_SQL, {"day": context.day})
    finally:
        engine.dispose()


def _cutoffs(context: Context) -> dict:
    return cutoffs(context.day, ReminderSettings())


def _floor_work(context: Context) -> dict:
    engine = make_engine(context.url)
    try:
        with engine.connect() as connection:
            started = time.perf_counter()
            connection.execute(FLOOR_SQL, _cutoffs(context)).all()
            return {"statement_seconds": time.perf_counter() - started}
    finally:
        engine.dispose()


def _floor_outcome(context: Context) -> SlipSet:
    engine = make_engine(context.url)
    try:
        with engine.connect() as connection:
            query = text(f"SELECT id, amount FROM ({FLOOR_SQL.text}) AS due")
            return slip_set_of(connection, query, _cutoffs(context))
    finally:
        engine.dispose()


def _reason(payment_date, day, settings: ReminderSettings) -> str:
    if expires_on(payment_date) <= day:
        return EXPIRED
    if final_notice_from(payment_date, settings.final_notice_months) <= day:
        return FINAL_NOTICE
    return STALE


def _naive_work(context: Context) -> None:
    """Every open slip as an object, checked in Python, its reminder looked up and saved one by one,
    then a mail per merchant and reason. (Reasons only advance: a slip due one was never told a
    later one.)"""
    day, settings = context.day, ReminderSettings()
    engine = make_engine(context.url)
    try:
        with Session(engine) as session:
            told: dict[tuple[str, str], list[RemindedSlip]] = defaultdict(list)
            open_slips = select(Slip).where(
                Slip.payment_date.is_not(None), Slip.confirmed_on.is_(None),
                Slip.cancelled_at.is_(None), Slip.expired_on.is_(None),
            )
            for slip in session.scalars(open_slips).all():
                if stale_from(slip.payment_date) > day:
                    continue
                reason = _reason(slip.payment_date, day, settings)
                if session.get(SlipReminder, (slip.id, reason)) is not None:
                    continue
                session.add(SlipReminder(slip_row_id=slip.id, reason=reason, business_date=day))
                if reason == EXPIRED:
                    slip.expired_on = expires_on(slip.payment_date)
                    deadline = confirmation_deadline(slip.payment_date)
                    session.add(SlipEvent(slip_row_id=slip.id, event="expired", business_date=day,
                                          detail=f"confirmation deadline {deadline.isoformat()} passed"))
                session.flush()
                told[(slip.merchant_id, reason)].append(RemindedSlip(slip.id, slip.slip_id, slip.amount, slip.payment_date))
            for (merchant_id, reason), slips in sorted(told.items()):
                merchant = session.get(Merchant, merchant_id)
                slips.sort(key=lambda slip: (slip.payment_date, len(slip.slip_id), slip.slip_id))
                kind = MAIL_KINDS[reason]
                attachment = f"{kind}_{merchant_id}_{day:%Y%m%d}.csv" if len(slips) > settings.inline_limit else None
                subject, body = render_mail(kind, merchant_id=merchant_id, merchant_name=merchant.name, business_date=day,
                                            slips=slips, attachment_name=attachment)
                mail_id = enqueue_mail(
                    session.connection(), kind=kind, dedupe_key=f"{kind}:{merchant_id}:{day.isoformat()}",
                    recipient=merchant.email or settings.operator_email, subject=subject, body=body,
                    attachment_name=attachment, attachment_content=slips_csv(slips) if attachment else None,
                )
                for slip in slips:
                    session.get(SlipReminder, (slip.slip_row_id, reason)).mail_id = mail_id
                    session.flush()
            session.commit()
    finally:
        engine.dispose()


MEASURED = Step(_work, _claimed)
FLOOR = Step(_floor_work, _floor_outcome)
NAIVE = Step(_naive_work, _claimed)


def run(bench: Bench, size: int) -> list[Row]:
    """The remind task, and within it the selection: the claim against the SELECT (the statements'
    own time, both)."""
    row = compare(bench, NAME, size, bench.dataset("slips", size), REMINDER_DAY, MEASURED, FLOOR, NAIVE)
    selection = Row(f"{NAME} selection", row.database, size, row.rows, row.details["measured"]["selection_seconds"],
                    row.details["floor"]["statement_seconds"], row.peak_rss, outcomes=row.outcomes)
    return [row, selection]
