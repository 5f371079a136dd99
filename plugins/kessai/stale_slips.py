"""Stale-slip reminders (SPEC §4.5): tell merchants about paid slips they have not confirmed.

A run for business day D tells each open slip (paid, unconfirmed, uncancelled, not expired) the
most advanced of three reasons it has reached and not yet been told:

- `stale`: D is on or after payment date + 3 months (kessai.rules.stale_from);
- `final_notice`: D is on or after its confirmation deadline minus `final_notice_months` months;
- `expired`: D is after its confirmation deadline (payment date + 6 months); the slip is closed
  with expired_on = deadline + 1 day, whichever run notices it, and an event.

Each rule never decreases with the payment date, so the slips a rule has reached on D are exactly
those paid up to one cutoff, computed here once per run, and every query is one range on the
partial index ix_slips_unconfirmed_by_payment_date.

A reminder is a slip_reminders row (primary key slip and reason), claimed set-based by the first
run that sees it due, in the transaction that writes its mail: a re-run, a backfill of an earlier
day or one run after the other claims nothing twice. Each merchant gets one mail per reason per
run; a merchant without a mail address is reported to the operators instead.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import groupby
from typing import Callable, Mapping

from sqlalchemy import BigInteger, Column, Connection, Date, MetaData, String, Table, bindparam, insert

from kessai.business_calendar import BusinessCalendar, check_business_day
from kessai.calendar_store import prepare_calendar
from kessai.csv_files import csv_text
from kessai.database import sql_text
from kessai.mail_templates import render_mail
from kessai.operator_alerts import (
    DEFAULT_OPERATOR_EMAIL,
    OPERATOR_ALERT_KIND,
    OPERATOR_EMAIL_VARIABLE,
    operator_email,
)
from kessai.outbox import Mail, enqueue_mails
from kessai.rules import CONFIRMATION_WINDOW_MONTHS, STALE_AFTER_MONTHS, add_months
from kessai.rules import confirmation_deadline, stale_from

log = logging.getLogger(__name__)

# The mail each merchant was told in, for the one statement that records them on the reminders
# (sql/stale_slips/mailed.sql): private to the connection, dropped when recorded.
_work = MetaData()
told_mails = Table(
    "told_mails",
    _work,
    Column("merchant_id", String(32), primary_key=True),
    Column("reason", String(16), primary_key=True),
    Column("mail_id", BigInteger, nullable=False),
    prefixes=["TEMPORARY"],
)

ONE_DAY = timedelta(days=1)

STALE = "stale"
FINAL_NOTICE = "final_notice"
EXPIRED = "expired"
# In the order a slip reaches them; a reason is never told once a later one has been.
REASONS = (STALE, FINAL_NOTICE, EXPIRED)

# Mail kind (and template name) per reason.
MAIL_KINDS = {
    STALE: "stale_slip_reminder",
    FINAL_NOTICE: "stale_slip_final_notice",
    EXPIRED: "stale_slip_expired",
}
# What the operators' alert about a merchant without an address calls each mail.
REASON_LABELS = {
    STALE: "未確定伝票のお知らせ",
    FINAL_NOTICE: "確定期限が近い伝票のお知らせ",
    EXPIRED: "確定期限切れのお知らせ",
}
UNREACHABLE_TEMPLATE = "stale_slip_unreachable"

INLINE_LIMIT_VARIABLE = "KESSAI_STALE_SLIP_INLINE_LIMIT"
FINAL_NOTICE_MONTHS_VARIABLE = "KESSAI_STALE_SLIP_FINAL_NOTICE_MONTHS"

# Mails written to the outbox per statement.
MAIL_BATCH = 500

CSV_HEADER = ("伝票番号", "金額", "入金日", "確定期限")


# -- settings -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReminderSettings:
    """What an operator may tune, through the environment of the workers."""

    inline_limit: int = 50  # a mail listing more slips than this carries them as a CSV attachment
    final_notice_months: int = 1  # the final notice goes this many months before the deadline
    operator_email: str = DEFAULT_OPERATOR_EMAIL

    def __post_init__(self) -> None:
        if self.inline_limit < 0:
            raise ValueError(f"{INLINE_LIMIT_VARIABLE}={self.inline_limit}: expected 0 or more slips")
        # Not before the slip is stale, not after the deadline.
        latest = CONFIRMATION_WINDOW_MONTHS - STALE_AFTER_MONTHS
        if not 0 <= self.final_notice_months <= latest:
            raise ValueError(
                f"{FINAL_NOTICE_MONTHS_VARIABLE}={self.final_notice_months}: expected 0 to {latest} "
                "months before the confirmation deadline"
            )
        if not self.operator_email.strip():
            raise ValueError(f"{OPERATOR_EMAIL_VARIABLE} is empty: name the operators' mail address")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ReminderSettings:
        environ = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            inline_limit=_integer(environ, INLINE_LIMIT_VARIABLE, defaults.inline_limit),
            final_notice_months=_integer(environ, FINAL_NOTICE_MONTHS_VARIABLE, defaults.final_notice_months),
            operator_email=operator_email(environ),
        )


def _integer(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r}: expected a whole number") from None


# -- the date rules of a reminder ---------------------------------------------------------------


def final_notice_from(payment_date: date, months_before: int) -> date:
    """The first run date of the final notice: the deadline minus `months_before` months."""
    return add_months(confirmation_deadline(payment_date), -months_before)


def expires_on(payment_date: date) -> date:
    """The first day a slip can no longer be confirmed: the day after its deadline."""
    return confirmation_deadline(payment_date) + ONE_DAY


def paid_through(first_run_date: Callable[[date], date], run_date: date) -> date:
    """The last payment date p with first_run_date(p) <= run_date.

    first_run_date never decreases with p, so the payment dates it has reached are exactly those up
    to this cutoff. Month ends make it more than a subtraction: 11/28, 11/29 and 11/30 all reach
    2/28 three months on in a common year, so on 2/28 the cutoff is 11/30, while on 2/28 of a leap
    year it is 11/28. Found by stepping from a guess a few days off.
    """
    guess = run_date - (first_run_date(run_date) - run_date)
    while first_run_date(guess) > run_date:
        guess -= ONE_DAY
    while first_run_date(guess + ONE_DAY) <= run_date:
        guess += ONE_DAY
    return guess


def cutoffs(run_date: date, settings: ReminderSettings) -> dict[str, date]:
    """Per reason, the last payment date whose slips have reached it on run_date."""
    return {
        STALE: paid_through(stale_from, run_date),
        FINAL_NOTICE: paid_through(lambda p: final_notice_from(p, settings.final_notice_months), run_date),
        EXPIRED: paid_through(expires_on, run_date),
    }


def closure_of(calendar: BusinessCalendar, run_date: date) -> str | None:
    """None on a business day; the reason on a day the operator declared closed (the run does
    nothing). Any other day (weekend, holiday) is refused."""
    return check_business_day(
        calendar, run_date,
        refused="stale_slip_reminder runs on business days only; the next one is {next}",
        closed="no reminders today; the next run claims them",
    )


def check_run_date(connection: Connection, run_date: date) -> str | None:
    """closure_of with the business calendar of the database (and its table refreshed)."""
    return closure_of(prepare_calendar(connection), run_date)


# -- the run --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemindedSlip:
    slip_row_id: int
    slip_id: str
    amount: int
    payment_date: date

    @property
    def deadline(self) -> date:
        return confirmation_deadline(self.payment_date)


def remind_stale_slips(
    connection: Connection, run_date: date, settings: ReminderSettings = ReminderSettings()
) -> dict:
    """Claim, mark and mail the reminders due on run_date, in the caller's transaction; returns
    the run's summary (counts and yen totals per reason, merchants reported to the operators)."""
    calendar = prepare_calendar(connection)
    summary: dict = {"business_date": run_date.isoformat()}
    closure = closure_of(calendar, run_date)
    if closure:
        log.info("%s", closure)
        return {**summary, "closed": closure}

    through = cutoffs(run_date, settings)
    log.info(
        "run %s: stale if paid by %s, final notice if paid by %s, expired if paid by %s",
        run_date, through[STALE], through[FINAL_NOTICE], through[EXPIRED],
    )
    # Each slip claimed once, for the most advanced reason it has reached; then the expired close.
    _claim(connection, run_date, through)
    _expire(connection, run_date, through[EXPIRED])

    counts, unreachable, told = _tell(connection, run_date, settings)
    summary.update(counts)
    _record_mails(connection, run_date, told)
    summary["merchants_without_email"] = sorted(unreachable)
    summary["mails"] = sum(summary[reason]["mails"] for reason in REASONS)
    summary["operator_alerts"] = sum(summary[reason]["operator_alerts"] for reason in REASONS)
    for reason in REASONS:
        counts = summary[reason]
        log.info(
            "%s: %d slip(s), %d yen, %d merchant(s), %d mail(s), %d operator alert(s)",
            reason, counts["slips"], counts["amount"], counts["merchants"], counts["mails"], counts["operator_alerts"],
        )
    if unreachable:
        log.warning(
            "merchants without a mail address, reported to %s: %s", settings.operator_email, ", ".join(sorted(unreachable))
        )
    return summary


def _statement(name: str, connection: Connection, **types):
    return sql_text(f"stale_slips/{name}", connection.dialect.name).bindparams(
        *(bindparam(key, type_=type_) for key, type_ in types.items())
    )


def _claim(connection: Connection, run_date: date, through: dict[str, date]) -> None:
    statement = _statement("claim", connection, run_date=Date, **{reason: Date for reason in REASONS})
    claimed = connection.execute(statement, {"run_date": run_date, **through}).rowcount
    log.info("claimed %d slip(s)", claimed)


def _expire(connection: Connection, run_date: date, through: date) -> None:
    """Close the open slips past their deadline, one statement per payment date (each has its own
    expiry date): an event each, then expired_on."""
    payment_dates = connection.execute(
        _statement("expiring_payment_dates", connection, paid_through=Date).columns(payment_date=Date),
        {"paid_through": through},
    ).scalars().all()
    if not payment_dates:
        return
    connection.execute(
        _statement("expire_events", connection, run_date=Date, payment_date=Date),
        [
            {
                "run_date": run_date,
                "payment_date": paid,
                "detail": f"confirmation deadline {confirmation_deadline(paid).isoformat()} passed",
            }
            for paid in payment_dates
        ],
    )
    connection.execute(
        _statement("expire", connection, payment_date=Date, expired_on=Date),
        [{"payment_date": paid, "expired_on": expires_on(paid)} for paid in payment_dates],
    )


def _tell(connection: Connection, run_date: date, settings: ReminderSettings) -> tuple[dict, set[str], list[dict]]:
    """Mail this run's claims, one mail per merchant and reason, the most urgent reason first.
    Returns the counts per reason, the merchants without a mail address, and each merchant's mail
    per reason (for _record_mails). Streams the claims, holding one merchant's slips and up to
    MAIL_BATCH composed mails at a time."""
    counts = {
        reason: {"slips": 0, "amount": 0, "merchants": 0, "mails": 0, "operator_alerts": 0, "attachments": 0}
        for reason in REASONS
    }
    unreachable: set[str] = set()
    told: list[dict] = []
    composed: list[tuple[str, str, Mail]] = []  # reason, merchant and mail, written a batch at a time

    def write_composed() -> None:
        mail_ids = enqueue_mails(connection, [mail for _, _, mail in composed])
        told.extend(
            {"merchant_id": merchant_id, "reason": reason, "mail_id": mail_id}
            for (reason, merchant_id, _), mail_id in zip(composed, mail_ids)
        )
        composed.clear()

    claimed = _statement("claimed", connection, run_date=Date).columns(payment_date=Date)
    rows = connection.execute(claimed.execution_options(yield_per=1000), {"run_date": run_date})
    for (reason, merchant_id), group in groupby(rows, key=lambda row: (row.reason, row.merchant_id)):
        group = list(group)
        merchant_name, email = group[0].merchant_name, group[0].email
        slips = [RemindedSlip(row.slip_row_id, row.slip_id, row.amount, row.payment_date) for row in group]
        mail = _mail(reason, run_date, merchant_id, merchant_name, email, slips, settings)
        composed.append((reason, merchant_id, mail))
        if len(composed) == MAIL_BATCH:
            write_composed()
        of_reason = counts[reason]
        of_reason["slips"] += len(slips)
        of_reason["amount"] += sum(slip.amount for slip in slips)
        of_reason["merchants"] += 1
        of_reason["attachments"] += mail["attachment_name"] is not None
        if email:
            of_reason["mails"] += 1
        else:
            of_reason["operator_alerts"] += 1
            unreachable.add(merchant_id)
            log.warning(
                "merchant %s (%s) has no mail address: %d %s slip(s) reported to the operators (%s)",
                merchant_id, merchant_name, len(slips), reason, settings.operator_email,
            )
    write_composed()
    return counts, unreachable, told


def _record_mails(connection: Connection, run_date: date, told: list[dict]) -> None:
    """Record on each of the run's reminders the mail that told it, in one statement (after every
    claim was read: SQLite must not change rows a running query reads)."""
    if told:
        told_mails.create(connection)
        connection.execute(insert(told_mails), told)
        connection.execute(_statement("mailed", connection, run_date=Date), {"run_date": run_date})
        told_mails.drop(connection)


def _mail(
    reason: str,
    run_date: date,
    merchant_id: str,
    merchant_name: str,
    email: str | None,
    slips: list[RemindedSlip],
    settings: ReminderSettings,
) -> Mail:
    """The mail telling one merchant's slips (to the operators when the merchant has no address);
    the list goes as a CSV attachment past the inline limit."""
    kind = MAIL_KINDS[reason]
    attachment_name = attachment_content = None
    if len(slips) > settings.inline_limit:
        attachment_name = f"{kind}_{merchant_id}_{run_date:%Y%m%d}.csv"
        attachment_content = slips_csv(slips)
    values = {
        "merchant_id": merchant_id,
        "merchant_name": merchant_name,
        "business_date": run_date,
        "slips": slips,
        "attachment_name": attachment_name,
    }
    # The slips of one claim are told nowhere else, so its first slip tells this mail apart from
    # one for slips the same run of the same day claims later (a slip loaded late, then a re-run).
    key = f"{merchant_id}:{run_date.isoformat()}:{min(slip.slip_row_id for slip in slips)}"
    if email:
        subject, body = render_mail(kind, **values)
        kind_of_mail, dedupe_key, recipient = kind, f"{kind}:{key}", email
    else:
        subject, body = render_mail(UNREACHABLE_TEMPLATE, what=REASON_LABELS[reason], **values)
        kind_of_mail, dedupe_key, recipient = OPERATOR_ALERT_KIND, f"{OPERATOR_ALERT_KIND}:{kind}:{key}", settings.operator_email
    return Mail(kind=kind_of_mail, dedupe_key=dedupe_key, recipient=recipient, subject=subject, body=body,
                attachment_name=attachment_name, attachment_content=attachment_content)


def slips_csv(slips: list[RemindedSlip]) -> str:
    """The slip list as CSV: slip number, amount in yen, payment date, deadline (ISO dates)."""
    rows = [(slip.slip_id, slip.amount, slip.payment_date.isoformat(), slip.deadline.isoformat()) for slip in slips]
    # The slip number stays text in Excel (kessai.csv_files).
    return csv_text([CSV_HEADER, *rows], numeric_columns=(1,), text_columns=(0,), lineterminator="\r\n")


# -- after delivery -----------------------------------------------------------------------------


def reminder_delivery(connection: Connection, run_date: date) -> dict:
    """How the mails of run_date's reminders fared at delivery, for the run's summary: sent,
    waiting (deferred or not tried yet), and given up (a bounce, a refused address) with the
    merchant and reason; the delivery itself mailed the operators an alert for each give-up."""
    rows = connection.execute(_statement("run_mails", connection, run_date=Date), {"run_date": run_date}).all()
    given_up = [
        {
            "mail_id": row.mail_id,
            "kind": row.kind,
            "merchant_id": row.merchant_id,
            "reason": row.reason,
            "recipient": row.recipient,
            "slips": row.slip_count,
            "error": row.last_error,
        }
        for row in rows
        if row.gave_up_at is not None
    ]
    mails = {row.mail_id: row for row in rows}
    report = {
        "business_date": run_date.isoformat(),
        "sent": sum(1 for row in mails.values() if row.sent_at is not None),
        "waiting": sum(1 for row in mails.values() if row.sent_at is None and row.gave_up_at is None),
        "given_up": given_up,
    }
    log.info("reminder mails of %s: %d sent, %d waiting", run_date, report["sent"], report["waiting"])
    for failure in given_up:
        log.warning(
            "the %s mail %s to merchant %s (%r, %d slip(s)) was given up: %s; the operators were alerted",
            failure["reason"], failure["mail_id"], failure["merchant_id"], failure["recipient"], failure["slips"],
            failure["error"],
        )
    return report
