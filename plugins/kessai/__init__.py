"""kessai: the nightly back office of a Japanese card-payment service.

The public rules API (SPEC §6); every date is a datetime.date in Japan.
"""

from kessai.calendar.business_calendar import BusinessCalendar, CalendarHorizonError, default_calendar
from kessai.calendar.rules import (
    add_months,
    business_day_on_or_after,
    business_days,
    closing_date_for,
    closing_dates,
    confirmation_deadline,
    is_business_day,
    next_business_day,
    payout_date,
    previous_business_day,
    recurring_charge_date,
    transmission_date,
)

__all__ = [
    "BusinessCalendar",
    "CalendarHorizonError",
    "add_months",
    "business_day_on_or_after",
    "business_days",
    "closing_date_for",
    "closing_dates",
    "confirmation_deadline",
    "default_calendar",
    "is_business_day",
    "next_business_day",
    "payout_date",
    "previous_business_day",
    "recurring_charge_date",
    "transmission_date",
]
