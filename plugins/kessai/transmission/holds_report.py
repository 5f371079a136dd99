"""The operators' daily mail about held-back slips (SPEC §4.6, docs/operations.md).

One mail per business day D while the transmission of D held slips back (kind
`transmission_holds_report`): the new holds of D (slips never held before D) by reason and merchant,
with counts and amounts, and the holds older than 5 business days (first held on a business day
more than 5 business days before D, and held again by D's run: still unsent), with what to do.

The report reads only the hold-backs recorded up to D, so a re-run or a backfill months later
writes the same mail, and the dedupe key on D writes it once. No hold-back on D: no mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, func, select

from kessai.calendar.business_calendar import BusinessCalendar
from kessai.db.schema import merchants, slips, transmission_holds
from kessai.mail.outbox import enqueue_mail
from kessai.mail.templates import render_mail
from kessai.slips.amounts import exact_total, total_parts

HOLDS_REPORT_KIND = "transmission_holds_report"
# A hold is "aged" when it has lasted more than this many business days.
AGED_AFTER_BUSINESS_DAYS = 5


@dataclass(frozen=True)
class HoldGroup:
    """The held slips of one reason and one merchant."""

    reason: str
    merchant_id: str  # as the mail shows them: a control character as '?'
    merchant_name: str
    count: int
    amount: int
    held_since: date  # the earliest first hold-back among them
    business_days_held: int  # business days from held_since to the report's day


@dataclass(frozen=True)
class HoldsReport:
    business_date: date
    # Slips, each counted once (a slip held for two reasons is in two groups).
    held_count: int  # held back by the run of the day
    new_count: int
    aged_count: int
    new: list[HoldGroup]
    aged: list[HoldGroup]
    aged_before: date  # aged holds were first held before this business day
    reasons: list[str]  # every reason of the day's hold-backs, for what to do


def _printable(text: str | None) -> str:
    """A store name or merchant id as a mail line can show it: a control character (the reason it
    may be held) shows as '?'."""
    return "".join(c if c.isprintable() else "?" for c in (text or ""))


def _groups(
    connection: Connection, business_date: date, calendar: BusinessCalendar, *, aged_before: date | None
) -> tuple[int, list[HoldGroup]]:
    """The hold-backs of business_date, counted in slips and grouped by reason and merchant: the
    new ones (aged_before None: first held on business_date) or those first held before aged_before."""
    h, s, m = transmission_holds.c, slips.c, merchants.c
    held_today = select(h.slip_row_id).where(h.business_date == business_date)
    first = (  # when each slip held on business_date was first held
        select(h.slip_row_id, func.min(h.business_date).label("held_since"))
        .where(h.business_date <= business_date, h.slip_row_id.in_(held_today))
        .group_by(h.slip_row_id)
        .subquery()
    )
    which = first.c.held_since == business_date if aged_before is None else first.c.held_since < aged_before
    held = (
        select(h.reason, h.slip_row_id, first.c.held_since)
        .join_from(transmission_holds, first, first.c.slip_row_id == h.slip_row_id)
        .where(h.business_date == business_date, which)
        .subquery()
    )
    slips_held = connection.execute(select(func.count(held.c.slip_row_id.distinct()))).scalar_one()
    high, low = total_parts(s.amount)
    rows = connection.execute(
        select(held.c.reason, s.merchant_id, m.name, func.count(), high, low, func.min(held.c.held_since))
        .join_from(held, slips, s.id == held.c.slip_row_id)
        .join(merchants, m.merchant_id == s.merchant_id)
        .group_by(held.c.reason, s.merchant_id, m.name)
        .order_by(held.c.reason, s.merchant_id)
    ).all()
    return slips_held, [
        HoldGroup(
            reason=reason,
            merchant_id=_printable(merchant_id),
            merchant_name=_printable(name),
            count=slip_count,
            amount=exact_total(high_sum, low_sum),
            held_since=held_since,
            business_days_held=len(calendar.business_days(held_since, business_date)) - 1,
        )
        for reason, merchant_id, name, slip_count, high_sum, low_sum, held_since in rows
    ]


def holds_report(connection: Connection, business_date: date, calendar: BusinessCalendar) -> HoldsReport | None:
    """What the report of business_date says; None when its run held nothing back."""
    h = transmission_holds.c
    held_count = connection.execute(
        select(func.count(h.slip_row_id.distinct())).where(h.business_date == business_date)
    ).scalar_one()
    if not held_count:
        return None
    reasons = (
        connection.execute(select(h.reason).where(h.business_date == business_date).distinct().order_by(h.reason))
        .scalars()
        .all()
    )
    aged_before = business_date
    for _ in range(AGED_AFTER_BUSINESS_DAYS):
        aged_before = calendar.previous_business_day(aged_before)
    new_count, new = _groups(connection, business_date, calendar, aged_before=None)
    aged_count, aged = _groups(connection, business_date, calendar, aged_before=aged_before)
    return HoldsReport(
        business_date=business_date,
        held_count=held_count,
        new_count=new_count,
        aged_count=aged_count,
        new=new,
        aged=aged,
        aged_before=aged_before,
        reasons=list(reasons),
    )


def render_holds_report(report: HoldsReport) -> tuple[str, str]:
    """(subject, body) of the report's mail."""
    return render_mail(
        HOLDS_REPORT_KIND,
        report=report,
        aged_after=AGED_AFTER_BUSINESS_DAYS,
    )


def enqueue_holds_report(
    connection: Connection, business_date: date, calendar: BusinessCalendar, operator_email: str
) -> int | None:
    """Queue the holds report of business_date for the operators, once; returns its mail_id, or
    None when the day's run held nothing back."""
    report = holds_report(connection, business_date, calendar)
    if report is None:
        return None
    subject, body = render_holds_report(report)
    return enqueue_mail(
        connection,
        kind=HOLDS_REPORT_KIND,
        dedupe_key=f"{HOLDS_REPORT_KIND}:{business_date.isoformat()}",
        recipient=operator_email,
        subject=subject,
        body=body,
    )
