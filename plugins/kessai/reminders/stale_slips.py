"""Stale-slip reminders (SPEC §4.5): tell merchants about paid slips they have not confirmed.

A slip is open when paid, unconfirmed, uncancelled and not expired; stale when open and its payment
date is 3 months or more before the day (kessai.calendar.rules.stale_from); it expires once the day is past
its confirmation deadline (payment date + 6 months).

A run for business day D:

- expires the open slips past their deadline (expired_on = deadline + 1 day, whichever run notices
  it), each with an event and an 'expired' slip_reminders row without a mail yet: every business
  day, whatever the merchants' periods;
- mails each merchant at most one digest per period (its reminder_period, else the settings'
  default: daily, weekly or monthly). The digest states the merchant's slips as of the period's
  first business day: every open slip stale by then, those whose deadline is within
  FINAL_NOTICE_DAYS first (the final notice), the rest after, soonest deadline first, and the
  expired slips no digest has listed yet. It is a stale_slip_digests row (primary key merchant and
  period), claimed set-based by the first run of the period that finds the merchant something to
  tell, in the transaction that writes its mail: a re-run, a catch-up later in the period or a
  backfill sends nothing twice, and a merchant with nothing open gets nothing. A merchant without a
  mail address is reported to the operators instead.

The expiry also writes a void for what each expired slip's authorizations still hold (with its
idempotency key); kessai.slips.authorizations.release_holds asks the card gateway for them after this
transaction commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from itertools import groupby

from sqlalchemy import BigInteger, Column, Connection, Date, Integer, MetaData, String, Table, bindparam, insert

from kessai.calendar.business_calendar import BusinessCalendar, check_business_day
from kessai.calendar.rules import confirmation_deadline, stale_from
from kessai.calendar.store import prepare_calendar
from kessai.db.database import sql_text
from kessai.files.csv_files import csv_text
from kessai.kinds import ClosedDay, Result
from kessai.mail.operator_alerts import DEFAULT_OPERATOR_EMAIL, OPERATOR_EMAIL_VARIABLE, OPERATOR_NOTICE_KIND
from kessai.mail.outbox import Mail, enqueue_mails
from kessai.mail.templates import render_mail
from kessai.settings import (
    DEFAULT_REMINDER_PERIOD,
    DEFAULT_STALE_SLIP_INLINE_LIMIT,
    Settings,
    environment_setting,
)
from kessai.settings import (
    REMINDER_PERIOD_VARIABLE as PERIOD_VARIABLE,
)
from kessai.settings import (
    STALE_SLIP_INLINE_LIMIT_VARIABLE as INLINE_LIMIT_VARIABLE,
)
from kessai.slips.authorizations import plan_expiry_voids

log = logging.getLogger(__name__)

# What each digest told, for the statements that record it (sql/reminders/stale_slips/mailed*.sql): private
# to the connection, dropped when recorded.
_work = MetaData()
told_digests = Table(
    "told_digests",
    _work,
    Column("merchant_id", String(32), primary_key=True),
    Column("mail_id", BigInteger, nullable=False),
    Column("open_slips", Integer, nullable=False),
    Column("open_amount", BigInteger, nullable=False),
    Column("final_notice_slips", Integer, nullable=False),
    Column("expired_slips", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)
told_expired = Table(
    "told_expired",
    _work,
    Column("slip_row_id", BigInteger, primary_key=True),
    Column("mail_id", BigInteger, nullable=False),
    prefixes=["TEMPORARY"],
)

ONE_DAY = timedelta(days=1)


class ReminderPeriod(StrEnum):
    """How often a merchant gets its digest (merchants.reminder_period, KESSAI_REMINDER_PERIOD)."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


DAILY = ReminderPeriod.DAILY
WEEKLY = ReminderPeriod.WEEKLY
MONTHLY = ReminderPeriod.MONTHLY
PERIODS = tuple(ReminderPeriod)


class ReminderReason(StrEnum):
    """Why a slip was reminded, as slip_reminders.reason stores it: unconfirmed 3 months, its final
    notice before the 6-month deadline, or expired at that deadline."""

    STALE = "stale"
    FINAL_NOTICE = "final_notice"
    EXPIRED = "expired"


# A digest lists first, as its final notice, the open slips whose deadline is at most this many
# days after the digest's day.
FINAL_NOTICE_DAYS = 14

DIGEST_KIND = "stale_slip_digest"
DIGEST_TEMPLATE = "stale_slip_digest"
UNREACHABLE_TEMPLATE = "stale_slip_unreachable"

# Mails written to the outbox per statement.
MAIL_BATCH = 500

CSV_HEADER = ("区分", "伝票番号", "金額", "入金日", "確定期限")
FINAL_NOTICE_LABEL = f"確定期限まで{FINAL_NOTICE_DAYS}日以内"
OPEN_LABEL = "未確定"
EXPIRED_LABEL = "確定期限切れ"


# -- settings -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReminderSettings:
    """What an operator may tune (kessai.settings: the environment of the workers)."""

    inline_limit: int = (
        DEFAULT_STALE_SLIP_INLINE_LIMIT  # a digest listing more slips than this carries them as a CSV attachment
    )
    period: str = DEFAULT_REMINDER_PERIOD  # the digest period of a merchant without its own reminder_period
    operator_email: str = DEFAULT_OPERATOR_EMAIL

    def __post_init__(self) -> None:
        if self.inline_limit < 0:
            raise ValueError(f"{INLINE_LIMIT_VARIABLE}={self.inline_limit}: expected 0 or more slips")
        if self.period not in PERIODS:
            raise ValueError(f"{PERIOD_VARIABLE}={self.period!r}: expected one of {', '.join(PERIODS)}")
        if not self.operator_email.strip():
            raise ValueError(f"{OPERATOR_EMAIL_VARIABLE} is empty: name the operators' mail address")

    @classmethod
    def of(cls, settings: Settings) -> ReminderSettings:
        return cls(settings.stale_slip_inline_limit, settings.reminder_period, settings.operator_email)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ReminderSettings:
        names = ("stale_slip_inline_limit", "reminder_period", "operator_email")
        return cls(*(environment_setting(name, environ) for name in names))


# -- the date rules of a reminder ---------------------------------------------------------------


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


def stale_through(day: date) -> date:
    """The last payment date of the slips stale on `day`."""
    return paid_through(stale_from, day)


def expired_through(day: date) -> date:
    """The last payment date of the slips past their deadline on `day`."""
    return paid_through(expires_on, day)


@dataclass(frozen=True)
class Period:
    """One digest period of a run: its name, its key (2027-01-18, 2027-W03, 2027-01) and its first
    business day, the day every digest of the period states."""

    name: str
    key: str
    as_of: date

    @property
    def paid_through(self) -> date:
        return stale_through(self.as_of)


def period_of(calendar: BusinessCalendar, name: str, day: date) -> Period:
    """The period `name` that business day `day` falls in (weeks are ISO weeks, Monday first)."""
    if name == DAILY:
        return Period(name, day.isoformat(), day)
    if name == WEEKLY:
        year, week, weekday = day.isocalendar()
        return Period(name, f"{year}-W{week:02d}", calendar.business_day_on_or_after(day - timedelta(days=weekday - 1)))
    if name == MONTHLY:
        return Period(name, f"{day:%Y-%m}", calendar.business_day_on_or_after(day.replace(day=1)))
    raise ValueError(f"unknown reminder period {name!r}: expected one of {', '.join(PERIODS)}")


def closure_of(calendar: BusinessCalendar, run_date: date) -> str | None:
    """None on a business day; the reason on a day the operator declared closed (the run does
    nothing). Any other day (weekend, holiday) is refused."""
    return check_business_day(
        calendar,
        run_date,
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


@dataclass
class Digest:
    """One merchant's digest: its slips by section, soonest deadline first."""

    merchant_id: str
    merchant_name: str
    email: str | None
    period: Period
    final_notice: list[RemindedSlip] = field(default_factory=list)
    others: list[RemindedSlip] = field(default_factory=list)
    expired: list[RemindedSlip] = field(default_factory=list)

    @property
    def open_slips(self) -> list[RemindedSlip]:
        return self.final_notice + self.others

    def listed(self) -> list[tuple[str, RemindedSlip]]:
        """Every slip with its section's label, in the mail's order."""
        return (
            [(FINAL_NOTICE_LABEL, slip) for slip in self.final_notice]
            + [(OPEN_LABEL, slip) for slip in self.others]
            + [(EXPIRED_LABEL, slip) for slip in self.expired]
        )


@dataclass(frozen=True, slots=True)
class ReminderSummary(Result):
    """A reminder run: the slips it expired and the voids it planned for them, each period's
    digest key, the digests' counts and yen totals (`digests`: merchants, mails, operator_alerts,
    open_slips, open_amount, final_notice_slips, expired_slips, ...), and the merchants reported
    to the operators for want of an address."""

    business_date: date
    expired_marked: int
    expiry_voids_planned: int
    periods: dict[ReminderPeriod, str]
    digests: dict[str, int]
    merchants_without_email: list[str]
    mails: int
    operator_alerts: int


def remind_stale_slips(
    connection: Connection, run_date: date, settings: ReminderSettings = ReminderSettings()
) -> ReminderSummary | ClosedDay:
    """Expire the slips past their deadline and mail the digests due on run_date, in the caller's
    transaction; returns the run's summary (counts and yen totals, merchants reported to the
    operators)."""
    calendar = prepare_calendar(connection)
    closure = closure_of(calendar, run_date)
    if closure:
        log.info("%s", closure)
        return ClosedDay(run_date, closure)

    expired_marked = _expire(connection, run_date, expired_through(run_date))
    # Their authorizations' voids, written here with their keys and asked of the card gateway by
    # the next step once this transaction has committed (kessai.slips.authorizations.release_holds).
    expiry_voids_planned = plan_expiry_voids(connection, run_date)
    periods: dict[str, Period] = {name: period_of(calendar, name, run_date) for name in PERIODS}
    for period in periods.values():
        log.info(
            "%s digests: %s, as of %s, stale if paid by %s", period.name, period.key, period.as_of, period.paid_through
        )
    claimed = _claim_digests(connection, run_date, periods, settings)

    counts, unreachable = _tell(connection, run_date, settings, claimed)
    log.info(
        "%d slip(s) expired; %d digest(s) (%d mail(s), %d operator alert(s)): %d open slip(s), %d yen, "
        "%d of them final notices; %d expired slip(s) listed",
        expired_marked,
        counts["merchants"],
        counts["mails"],
        counts["operator_alerts"],
        counts["open_slips"],
        counts["open_amount"],
        counts["final_notice_slips"],
        counts["expired_slips"],
    )
    if unreachable:
        log.warning(
            "merchants without a mail address, reported to %s: %s",
            settings.operator_email,
            ", ".join(sorted(unreachable)),
        )
    return ReminderSummary(
        business_date=run_date,
        expired_marked=expired_marked,
        expiry_voids_planned=expiry_voids_planned,
        periods={ReminderPeriod(name): period.key for name, period in periods.items()},
        digests=counts,
        merchants_without_email=sorted(unreachable),
        mails=counts["mails"],
        operator_alerts=counts["operator_alerts"],
    )


def _statement(name: str, connection: Connection, **types):
    return sql_text(f"reminders/stale_slips/{name}", connection.dialect.name).bindparams(
        *(bindparam(key, type_=type_) for key, type_ in types.items())
    )


def _expire(connection: Connection, run_date: date, through: date) -> int:
    """Close the open slips past their deadline, one statement per payment date (each has its own
    expiry date): an event and an 'expired' reminder each (listed by the next digest), then
    expired_on. Returns the number of slips closed."""
    payment_dates = (
        connection.execute(
            _statement("expiring_payment_dates", connection, paid_through=Date).columns(payment_date=Date),
            {"paid_through": through},
        )
        .scalars()
        .all()
    )
    if not payment_dates:
        return 0
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
        _statement("expire_reminders", connection, run_date=Date, payment_date=Date),
        [{"run_date": run_date, "payment_date": paid} for paid in payment_dates],
    )
    result = connection.execute(
        _statement("expire", connection, payment_date=Date, expired_on=Date),
        [{"payment_date": paid, "expired_on": expires_on(paid)} for paid in payment_dates],
    )
    return result.rowcount


def _claim_digests(
    connection: Connection, run_date: date, periods: dict[str, Period], settings: ReminderSettings
) -> int:
    """Claim the digests due on run_date (claim_digests.sql), the three periods' keys, days and
    cutoffs bound; returns how many."""
    types: dict = {"run_date": Date, "default_period": String}
    values: dict = {"run_date": run_date, "default_period": settings.period}
    for name, period in periods.items():
        types.update({f"{name}_key": String, f"{name}_as_of": Date, f"{name}_paid_through": Date})
        values.update(
            {f"{name}_key": period.key, f"{name}_as_of": period.as_of, f"{name}_paid_through": period.paid_through}
        )
    claimed = connection.execute(_statement("claim_digests", connection, **types), values).rowcount
    log.info("claimed %d digest(s)", claimed)
    return claimed


def _tell(connection: Connection, run_date: date, settings: ReminderSettings, claimed: int) -> tuple[dict, set[str]]:
    """Compose and write the mail of each of the `claimed` digests of this run, record them on the
    digests and on the expired slips they list. Returns the counts and the merchants without a
    mail address. Streams the digests' slips, holding one merchant's slips and up to MAIL_BATCH
    mails at a time."""
    counts = {
        "merchants": 0,
        "mails": 0,
        "operator_alerts": 0,
        "attachments": 0,
        "open_slips": 0,
        "open_amount": 0,
        "final_notice_slips": 0,
        "expired_slips": 0,
        "expired_amount": 0,
    }
    unreachable: set[str] = set()
    if not claimed:  # most days of a week: nothing to read
        return counts, unreachable
    told: list[dict] = []
    expired: list[dict] = []
    composed: list[tuple[Digest, Mail]] = []  # written a batch at a time

    def write_composed() -> None:
        mail_ids = enqueue_mails(connection, [mail for _, mail in composed])
        for (digest, _), mail_id in zip(composed, mail_ids, strict=True):
            told.append(
                {
                    "merchant_id": digest.merchant_id,
                    "mail_id": mail_id,
                    "open_slips": len(digest.open_slips),
                    "open_amount": sum(slip.amount for slip in digest.open_slips),
                    "final_notice_slips": len(digest.final_notice),
                    "expired_slips": len(digest.expired),
                }
            )
            expired.extend({"slip_row_id": slip.slip_row_id, "mail_id": mail_id} for slip in digest.expired)
        composed.clear()

    listed = _statement("digest_slips", connection, run_date=Date, default_period=String).columns(
        as_of=Date, payment_date=Date
    )
    rows = connection.execute(
        listed.execution_options(yield_per=1000), {"run_date": run_date, "default_period": settings.period}
    )
    for merchant_id, group in groupby(rows, key=lambda row: row.merchant_id):
        digest = _digest(list(group))
        mail = digest_mail(digest, settings)
        composed.append((digest, mail))
        if len(composed) == MAIL_BATCH:
            write_composed()
        counts["merchants"] += 1
        counts["open_slips"] += len(digest.open_slips)
        counts["open_amount"] += sum(slip.amount for slip in digest.open_slips)
        counts["final_notice_slips"] += len(digest.final_notice)
        counts["expired_slips"] += len(digest.expired)
        counts["expired_amount"] += sum(slip.amount for slip in digest.expired)
        counts["attachments"] += mail["attachment_name"] is not None
        if digest.email:
            counts["mails"] += 1
        else:
            counts["operator_alerts"] += 1
            unreachable.add(merchant_id)
            log.warning(
                "merchant %s (%s) has no mail address: its digest of %s (%d open, %d expired slip(s)) was "
                "reported to the operators (%s)",
                merchant_id,
                digest.merchant_name,
                digest.period.key,
                len(digest.open_slips),
                len(digest.expired),
                settings.operator_email,
            )
    write_composed()
    _record_mails(connection, run_date, told, expired)
    return counts, unreachable


def _digest(rows: list) -> Digest:
    """One merchant's digest from its rows of digest_slips.sql (in the mail's order)."""
    first = rows[0]
    period = Period(first.period_name, first.period, first.as_of)
    digest = Digest(first.merchant_id, first.merchant_name, first.email, period)
    final_notice_until = period.as_of + timedelta(days=FINAL_NOTICE_DAYS)
    for row in rows:
        slip = RemindedSlip(row.slip_row_id, row.slip_id, row.amount, row.payment_date)
        if row.part == 1:
            digest.expired.append(slip)
        elif slip.deadline <= final_notice_until:
            digest.final_notice.append(slip)
        else:
            digest.others.append(slip)
    return digest


def _record_mails(connection: Connection, run_date: date, told: list[dict], expired: list[dict]) -> None:
    """Record each digest's mail and counts, and on each expired slip listed the mail that listed it,
    one statement each (after every row was read: SQLite must not change rows a running query
    reads). A digest claimed with nothing left to list by the time it was read is let go."""
    if told:
        told_digests.create(connection)
        connection.execute(insert(told_digests), told)
        connection.execute(_statement("mailed", connection, run_date=Date), {"run_date": run_date})
        told_digests.drop(connection)
    if expired:
        told_expired.create(connection)
        connection.execute(insert(told_expired), expired)
        connection.execute(_statement("mailed_expired", connection))
        told_expired.drop(connection)
    connection.execute(_statement("unmailed_digests", connection, run_date=Date), {"run_date": run_date})


def digest_mail(digest: Digest, settings: ReminderSettings) -> Mail:
    """The digest's mail (to the operators when the merchant has no address); the list goes as a
    CSV attachment past the inline limit."""
    listed = digest.listed()
    attachment_name = attachment_content = None
    if len(listed) > settings.inline_limit:
        attachment_name = f"{DIGEST_KIND}_{digest.merchant_id}_{digest.period.key}.csv"
        attachment_content = slips_csv(listed)
    values = {
        "merchant_id": digest.merchant_id,
        "merchant_name": digest.merchant_name,
        "as_of": digest.period.as_of,
        "period": digest.period.name,
        "final_notice": digest.final_notice,
        "others": digest.others,
        "expired": digest.expired,
        "final_notice_days": FINAL_NOTICE_DAYS,
        "attachment_name": attachment_name,
    }
    # One digest per merchant and period: the key a re-run of the period writes again, a no-op.
    key = f"{DIGEST_KIND}:{digest.merchant_id}:{digest.period.key}"
    if digest.email:
        subject, body = render_mail(DIGEST_TEMPLATE, **values)
        kind, dedupe_key, recipient = DIGEST_KIND, key, digest.email
    else:
        subject, body = render_mail(UNREACHABLE_TEMPLATE, **values)
        # Held for the operators' daily digest: one mail a day, not one per merchant and period.
        kind, dedupe_key, recipient = OPERATOR_NOTICE_KIND, f"{OPERATOR_NOTICE_KIND}:{key}", settings.operator_email
    return Mail(
        kind=kind,
        dedupe_key=dedupe_key,
        recipient=recipient,
        subject=subject,
        body=body,
        attachment_name=attachment_name,
        attachment_content=attachment_content,
    )


def slips_csv(listed: list[tuple[str, RemindedSlip]]) -> str:
    """The digest's slips as CSV: section, slip number, amount in yen, payment date, deadline (ISO
    dates)."""
    rows = [
        (label, slip.slip_id, slip.amount, slip.payment_date.isoformat(), slip.deadline.isoformat())
        for label, slip in listed
    ]
    # The slip number stays text in Excel (kessai.files.csv_files).
    return csv_text([CSV_HEADER, *rows], numeric_columns=(2,), text_columns=(1,), lineterminator="\r\n")


# -- after delivery -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReminderDelivery(Result):
    """How the mails of a day's digests fared: sent, waiting (deferred or not tried yet), and the
    given-up ones (mail_id, kind, merchant_id, period, recipient, slips, error)."""

    business_date: date
    sent: int
    waiting: int
    given_up: list[dict]


def reminder_delivery(connection: Connection, run_date: date) -> ReminderDelivery:
    """How the mails of run_date's digests fared at delivery, for the run's summary: sent,
    waiting (deferred or not tried yet), and given up (a bounce, a refused address) with the
    merchant and period; the delivery itself wrote a notice for the operators' digest for each give-up."""
    rows = connection.execute(_statement("run_mails", connection, run_date=Date), {"run_date": run_date}).all()
    given_up = [
        {
            "mail_id": row.mail_id,
            "kind": row.kind,
            "merchant_id": row.merchant_id,
            "period": row.period,
            "recipient": row.recipient,
            "slips": row.slip_count,
            "error": row.last_error,
        }
        for row in rows
        if row.gave_up_at is not None
    ]
    mails = {row.mail_id: row for row in rows}
    report = ReminderDelivery(
        business_date=run_date,
        sent=sum(1 for row in mails.values() if row.sent_at is not None),
        waiting=sum(1 for row in mails.values() if row.sent_at is None and row.gave_up_at is None),
        given_up=given_up,
    )
    log.info("digest mails of %s: %d sent, %d waiting", run_date, report.sent, report.waiting)
    for failure in given_up:
        log.warning(
            "the digest of %s, mail %s to merchant %s (%r, %d slip(s)), was given up: %s; the operators get a notice in their daily digest",
            failure["period"],
            failure["mail_id"],
            failure["merchant_id"],
            failure["recipient"],
            failure["slips"],
            failure["error"],
        )
    return report
