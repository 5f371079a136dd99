"""The business calendar in the business database: the operator's overrides and the materialised
table the batch SQL joins against (one row per day, with its next business day and closings)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date, timedelta
from importlib.metadata import version
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Connection, delete, insert, select, text

from kessai.calendar.business_calendar import CALENDAR_START, BusinessCalendar, reviewed_through_from_environment
from kessai.calendar.rules import MONTHLY, TWICE_MONTHLY, closing_date_on_or_after
from kessai.db.schema import business_calendar, calendar_overrides, settings

FINGERPRINT_KEY = "business_calendar.fingerprint"
# Raise it whenever a change of the code changes what the table holds (a rule, a column).
CALENDAR_TABLE_VERSION = 2


def load_calendar(connection: Connection, reviewed_through: int | None = None) -> BusinessCalendar:
    """The calendar with the operator's declared closures and re-opened days."""
    rows = connection.execute(select(calendar_overrides.c.day, calendar_overrides.c.is_open)).all()
    return BusinessCalendar(
        reviewed_through=reviewed_through or reviewed_through_from_environment(),
        extra_closures=frozenset(day for day, is_open in rows if not is_open),
        extra_openings=frozenset(day for day, is_open in rows if is_open),
    )


def declare_closure(connection: Connection, day: date, reason: str) -> None:
    """Declare a day closed (an extra closure), or re-declare it."""
    _set_override(connection, day, is_open=False, reason=reason)


def reopen_day(connection: Connection, day: date, reason: str) -> None:
    """Open a day the rules would close (a weekend or holiday declared a business day)."""
    _set_override(connection, day, is_open=True, reason=reason)


def clear_override(connection: Connection, day: date) -> None:
    connection.execute(delete(calendar_overrides).where(calendar_overrides.c.day == day))


def _set_override(connection: Connection, day: date, *, is_open: bool, reason: str) -> None:
    clear_override(connection, day)
    connection.execute(insert(calendar_overrides).values(day=day, is_open=is_open, reason=reason))


def fingerprint(calendar: BusinessCalendar) -> str:
    """What the calendar is computed from: the table's version, jpholiday's, the horizon and the
    overrides. Equal fingerprints, equal tables; computing it needs no holiday."""
    inputs = [
        f"table {CALENDAR_TABLE_VERSION}",
        f"jpholiday {version('jpholiday')}",
        f"reviewed through {calendar.reviewed_through}",
        "closed " + ",".join(sorted(d.isoformat() for d in calendar.extra_closures)),
        "open " + ",".join(sorted(d.isoformat() for d in calendar.extra_openings)),
    ]
    return hashlib.sha256("\n".join(inputs).encode()).hexdigest()


def calendar_frame(calendar: BusinessCalendar) -> pd.DataFrame:
    """One row per day of the horizon, computed column-wise."""
    days = np.arange(
        np.datetime64(CALENDAR_START), np.datetime64(calendar.last_day + timedelta(days=1)), dtype="datetime64[D]"
    )
    is_business = np.isin(days, calendar.business_day_array)
    day_list = days.astype(object)
    frame = pd.DataFrame(
        {
            "day": day_list,
            "is_business_day": is_business,
            "holiday_name": [
                None if b else calendar.holiday_name(d) for d, b in zip(day_list, is_business, strict=True)
            ],
            "next_business_day": calendar.next_business_days(days).astype(object),
            "business_day_on_or_after": calendar.business_days_on_or_after(days).astype(object),
            "previous_business_day": calendar.previous_business_days(days).astype(object),
            "monthly_closing_date": [closing_date_on_or_after(MONTHLY, d) for d in day_list],
            "twice_monthly_closing_date": [closing_date_on_or_after(TWICE_MONTHLY, d) for d in day_list],
        }
    )
    return frame.astype(object).where(frame.notna(), None)


def refresh_calendar_table(connection: Connection, calendar: BusinessCalendar) -> bool:
    """Rewrite business_calendar when the calendar changed; returns whether it did.

    A few thousand rows, rewritten only after an override or a horizon change.
    """
    wanted = fingerprint(calendar)

    def stored() -> str | None:
        return connection.execute(select(settings.c.value).where(settings.c.key == FINGERPRINT_KEY)).scalar()

    if stored() == wanted:  # the usual case: no lock, so confirmations and tasks never queue here
        return False
    if connection.dialect.name == "postgresql":  # two tasks starting together refresh once
        connection.execute(text("LOCK TABLE business_calendar IN SHARE ROW EXCLUSIVE MODE"))
        if stored() == wanted:
            return False
    connection.execute(delete(business_calendar))
    rows = cast(list[dict[str, Any]], calendar_frame(calendar).to_dict("records"))  # the columns are named
    connection.execute(insert(business_calendar), rows)
    connection.execute(delete(settings).where(settings.c.key == FINGERPRINT_KEY))
    connection.execute(insert(settings).values(key=FINGERPRINT_KEY, value=wanted))
    return True


def prepare_calendar(connection: Connection) -> BusinessCalendar:
    """Load the calendar with its overrides and make sure the table the SQL joins is current.

    Every batch task calls this once at its start.
    """
    calendar = load_calendar(connection)
    if refresh_calendar_table(connection, calendar):
        return calendar
    # The table is current: its business days are the calendar's, no holiday to compute.
    days = connection.execute(
        select(business_calendar.c.day).where(business_calendar.c.is_business_day).order_by(business_calendar.c.day)
    ).scalars()
    return replace(calendar, stored_business_days=tuple(day.toordinal() for day in days))
