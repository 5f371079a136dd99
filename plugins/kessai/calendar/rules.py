"""The date rules of SPEC §3 and §4: transmission, recurring charge, closing, payout, deadlines.

Every function takes and returns datetime.date. Those that depend on business days take an
optional `calendar`; without one they use the national and bank holidays alone. Batch tasks pass
the calendar they loaded from the business database, with its declared closures.
"""

from __future__ import annotations

import calendar as _gregorian
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from kessai.calendar.business_calendar import BusinessCalendar, default_calendar


class PayoutCycle(StrEnum):
    """A merchant's payout cycle (merchants.payout_cycle): closing at month end, or on the 15th and
    at month end."""

    MONTHLY = "monthly"
    TWICE_MONTHLY = "twice_monthly"


MONTHLY = PayoutCycle.MONTHLY
TWICE_MONTHLY = PayoutCycle.TWICE_MONTHLY
PAYOUT_CYCLES = tuple(PayoutCycle)


class Roll(StrEnum):
    """Where a date that is no business day moves: to the previous business day (前営業日) or the next
    (翌営業日)."""

    PREVIOUS = "previous"
    NEXT = "next"


CONFIRMATION_WINDOW_MONTHS = 6
STALE_AFTER_MONTHS = 3
RECURRING_CHARGE_DAY = 27


def _calendar(calendar: BusinessCalendar | None) -> BusinessCalendar:
    return calendar if calendar is not None else default_calendar()


def month_end(year: int, month: int) -> date:
    return date(year, month, _gregorian.monthrange(year, month)[1])


def add_months(d: date, months: int) -> date:
    """The same day number `months` later, clipped to the end of that month."""
    index = d.year * 12 + (d.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(d.day, _gregorian.monthrange(year, month)[1]))


# -- business days ----------------------------------------------------------------------------


def is_business_day(d: date, calendar: BusinessCalendar | None = None) -> bool:
    return _calendar(calendar).is_business_day(d)


def next_business_day(d: date, calendar: BusinessCalendar | None = None) -> date:
    return _calendar(calendar).next_business_day(d)


def business_day_on_or_after(d: date, calendar: BusinessCalendar | None = None) -> date:
    return _calendar(calendar).business_day_on_or_after(d)


def previous_business_day(d: date, calendar: BusinessCalendar | None = None) -> date:
    return _calendar(calendar).previous_business_day(d)


def business_days(start: date, end: date, calendar: BusinessCalendar | None = None) -> list[date]:
    return _calendar(calendar).business_days(start, end)


# -- confirmation and transmission ----------------------------------------------------------


def confirmation_deadline(payment_date: date) -> date:
    """The last day a confirmation may be registered or dated: payment date + 6 months."""
    return add_months(payment_date, CONFIRMATION_WINDOW_MONTHS)


def stale_from(payment_date: date) -> date:
    """The first run date on which an unconfirmed slip counts as stale: payment date + 3 months."""
    return add_months(payment_date, STALE_AFTER_MONTHS)


def effective_confirmation_date(registered_on: date, confirmed_on: date) -> date:
    """The day a confirmation takes effect: its registration, or its date if that is later."""
    return max(registered_on, confirmed_on)


def transmission_date(registered_on: date, confirmed_on: date, calendar: BusinessCalendar | None = None) -> date:
    """The business day after the registration, or after a future confirmation date arrives."""
    return next_business_day(effective_confirmation_date(registered_on, confirmed_on), calendar)


# -- recurring charge -------------------------------------------------------------------------


def recurring_charge_date(year: int, month: int, calendar: BusinessCalendar | None = None) -> date:
    """The charge day of billing month year-month: the 27th, or the next business day."""
    return business_day_on_or_after(date(year, month, RECURRING_CHARGE_DAY), calendar)


def billing_month_charged_on(d: date, calendar: BusinessCalendar | None = None) -> date | None:
    """The billing month (its first day) whose charge day is d, or None if d is no charge day.

    The charge of a month can fall in the next one (February 2027 is charged on 2027-03-01), so
    both the month of d and the month before are candidates.
    """
    for candidate in (date(d.year, d.month, 1), add_months(date(d.year, d.month, 1), -1)):
        if recurring_charge_date(candidate.year, candidate.month, calendar) == d:
            return candidate
    return None


# -- closing and payout -----------------------------------------------------------------------


def _check_cycle(cycle: str) -> None:
    if cycle not in PAYOUT_CYCLES:
        raise ValueError(f"unknown payout cycle {cycle!r}: expected one of {tuple(map(str, PAYOUT_CYCLES))}")


def closing_date_on_or_after(cycle: str, d: date) -> date:
    """The first closing date of the cycle on or after d (calendar days)."""
    _check_cycle(cycle)
    if cycle == TWICE_MONTHLY and d.day <= 15:
        return date(d.year, d.month, 15)
    return month_end(d.year, d.month)


def is_closing_date(cycle: str, d: date) -> bool:
    return closing_date_on_or_after(cycle, d) == d


def closing_dates(cycle: str, start: date, end: date) -> list[date]:
    """The closing dates of the cycle in [start, end]."""
    _check_cycle(cycle)
    found = []
    d = closing_date_on_or_after(cycle, start)
    while d <= end:
        found.append(d)
        d = closing_date_on_or_after(cycle, date.fromordinal(d.toordinal() + 1))
    return found


def closing_date_for(cycle: str, registered_on: date, confirmed_on: date) -> date:
    """The closing a confirmed slip belongs to.

    A backdated confirmation registered after a closing counts toward the next one (the FAQ:
    registered 2/1 with date 1/31 -> the February-end closing); a future-dated one from its date.
    """
    return closing_date_on_or_after(cycle, effective_confirmation_date(registered_on, confirmed_on))


@dataclass(frozen=True)
class PayoutRule:
    """When one kind of closing is paid: a day of the same or the next month, then rolled."""

    months_after_closing: int
    payout_day: int


# The service's published schedule (SPEC §4.4), keyed by (cycle, closes on the 15th?).
PAYOUT_RULES: dict[tuple[str, bool], PayoutRule] = {
    (MONTHLY, False): PayoutRule(months_after_closing=1, payout_day=25),
    (TWICE_MONTHLY, True): PayoutRule(months_after_closing=0, payout_day=25),
    (TWICE_MONTHLY, False): PayoutRule(months_after_closing=1, payout_day=10),
}

# A payout date that is no business day moves to the previous one (前営業日); "next" for 翌営業日.
PAYOUT_ROLL: dict[str, Roll] = {MONTHLY: Roll.PREVIOUS, TWICE_MONTHLY: Roll.PREVIOUS}


def payout_date(
    cycle: str,
    closing_date: date,
    calendar: BusinessCalendar | None = None,
    roll: str | None = None,
) -> date:
    """The payout date of a closing, rolled to a business day (previous, by default)."""
    if not is_closing_date(cycle, closing_date):
        raise ValueError(f"{closing_date} is not a closing date of the {cycle} cycle")
    rule = PAYOUT_RULES[(cycle, closing_date.day == 15)]
    first_of_month = add_months(date(closing_date.year, closing_date.month, 1), rule.months_after_closing)
    scheduled = first_of_month.replace(day=rule.payout_day)
    cal = _calendar(calendar)
    if cal.is_business_day(scheduled):
        return scheduled
    roll = roll or PAYOUT_ROLL[cycle]
    if roll == Roll.PREVIOUS:
        return cal.previous_business_day(scheduled)
    if roll == Roll.NEXT:
        return cal.next_business_day(scheduled)
    raise ValueError(f"unknown payout roll {roll!r}: expected 'previous' or 'next'")
