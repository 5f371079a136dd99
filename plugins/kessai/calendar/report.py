"""A month of the business calendar as an operator reads it (`python -m kessai calendar 2027-02`)."""

from __future__ import annotations

from datetime import date, timedelta

from kessai.calendar.business_calendar import BusinessCalendar, CalendarHorizonError
from kessai.calendar.rules import PAYOUT_CYCLES, is_closing_date, month_end, payout_date, recurring_charge_date

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _paid_on(cycle: str, closing: date, calendar: BusinessCalendar) -> str:
    # December's month-end payouts fall in January, which may not be reviewed yet.
    try:
        return payout_date(cycle, closing, calendar).isoformat()
    except CalendarHorizonError:
        return f"after {calendar.last_day} (holidays of {calendar.reviewed_through + 1} not reviewed)"


def month_report(year: int, month: int, calendar: BusinessCalendar) -> str:
    first, last = date(year, month, 1), month_end(year, month)
    charge_day = recurring_charge_date(year, month, calendar)
    lines = [f"Business calendar {year}-{month:02d} (Japan)", "", "date        day  business  notes"]
    d = first
    while d <= last:
        notes = []
        name = calendar.holiday_name(d)
        if name:
            notes.append(name)
        if d == charge_day:
            notes.append(f"recurring charge for {year}-{month:02d}")
        for cycle in PAYOUT_CYCLES:
            if is_closing_date(cycle, d):
                notes.append(f"{cycle} closing, paid {_paid_on(cycle, d, calendar)}")
        business = "yes" if calendar.is_business_day(d) else "-"
        lines.append(f"{d.isoformat()}  {WEEKDAYS[d.weekday()]}  {business:<8}  {'; '.join(notes)}".rstrip())
        d += timedelta(days=1)
    business_days = calendar.business_days(first, last)
    lines += [
        "",
        f"{len(business_days)} business days.",
        f"Recurring charge for {year}-{month:02d}: {charge_day} ({WEEKDAYS[charge_day.weekday()]})"
        + ("" if charge_day.month == month else ", in the next month"),
    ]
    return "\n".join(lines)
