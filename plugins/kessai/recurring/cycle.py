"""The recurring charge cycle a run stands for: a billing month and its charge day, kept apart
(the February 2027 charge runs on 2027-03-01), and whether that cycle is over already."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, select

from kessai.calendar.business_calendar import BusinessCalendar
from kessai.calendar.rules import RECURRING_CHARGE_DAY, add_months, billing_month_charged_on, recurring_charge_date
from kessai.calendar.run_dates import BusinessDateError
from kessai.calendar.store import prepare_calendar
from kessai.db.schema import recurring_charge_cycles
from kessai.kinds import Result


class NotAChargeDay(BusinessDateError):
    """A run was asked to charge on a date that is no charge day."""


@dataclass(frozen=True)
class ChargeCycle:
    billing_month: date  # the first day of the month the slips bill
    charge_date: date  # the day they are charged: a paid slip's payment date

    @property
    def month_label(self) -> str:
        return f"{self.billing_month:%Y-%m}"

    def as_dict(self) -> dict[str, str]:
        return {"billing_month": self.month_label, "charge_date": self.charge_date.isoformat()}


@dataclass(frozen=True, slots=True)
class ClosedCycle(Result):
    """A step of a cycle whose failures were notified already: it does nothing."""

    billing_month: str  # YYYY-MM
    charge_date: date
    cycle_closed: bool = True

    @classmethod
    def of(cls, cycle: ChargeCycle) -> ClosedCycle:
        return cls(cycle.month_label, cycle.charge_date)


def charge_cycle_on(business_date: date, calendar: BusinessCalendar) -> ChargeCycle:
    """The cycle charged on business_date; NotAChargeDay names the charge days near it otherwise."""
    month = billing_month_charged_on(business_date, calendar)
    if month is None:
        this_month = business_date.replace(day=1)
        months = (add_months(this_month, -1), this_month)
        days = ", ".join(f"{m:%Y-%m} on {recurring_charge_date(m.year, m.month, calendar)}" for m in months)
        raise NotAChargeDay(f"{business_date} is no recurring charge day (the charges of {days})")
    return ChargeCycle(month, business_date)


def billing_month_due_by(d: date) -> date:
    """The billing month whose 27th is the latest on or before d: the charge a closed day may hold up."""
    this_month = d.replace(day=1)
    return this_month if d.day >= RECURRING_CHARGE_DAY else add_months(this_month, -1)


def closed_at(connection: Connection, cycle: ChargeCycle):
    """When the cycle was closed (its failures notified), or None while it is open."""
    return connection.execute(
        select(recurring_charge_cycles.c.closed_at).where(
            recurring_charge_cycles.c.billing_month == cycle.billing_month
        )
    ).scalar()


def plan_charge_day(connection: Connection, business_date: date) -> dict:
    """What the run for business_date does: charge its cycle, or nothing on a day the operator
    declared closed. Raises NotAChargeDay for any other date. Refreshes the calendar table."""
    calendar = prepare_calendar(connection)
    if business_date in calendar.extra_closures:
        month = billing_month_due_by(business_date)
        moved = recurring_charge_date(month.year, month.month, calendar)
        return {
            "business_date": business_date.isoformat(),
            "closed": True,
            "message": f"{business_date} was declared closed: nothing is charged on it (the charge of "
            f"{month:%Y-%m} falls on {moved}; trigger a run for that date if the schedule has none)",
        }
    cycle = charge_cycle_on(business_date, calendar)
    return {"business_date": business_date.isoformat(), "closed": False, **cycle.as_dict()}
