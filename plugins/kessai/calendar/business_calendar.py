"""The Japanese business calendar (SPEC §3).

A business day is not a Saturday or Sunday, not a national holiday (as jpholiday computes them,
振替休日 and 国民の休日 included), not a bank holiday (12/31 to 1/3) and not a day the operator
declared closed. The operator may also re-open a day that would otherwise be closed.

The calendar is materialised once: a sorted array of business days from CALENDAR_START to the end
of the last reviewed year. Scalar look-ups bisect it; whole columns of dates go through
numpy.searchsorted, so millions of slips never cost a Python call each.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache, cached_property
from typing import Literal

import jpholiday
import numpy as np

from kessai.calendar.run_dates import BusinessDateError
from kessai.settings import (  # noqa: F401 (kessai.calendar.business_calendar's names too)
    HOLIDAYS_REVIEWED_THROUGH,
    environment_setting,
)
from kessai.settings import (
    HOLIDAYS_REVIEWED_THROUGH_VARIABLE as REVIEWED_THROUGH_VARIABLE,
)

CALENDAR_START = date(2020, 1, 1)

YEAR_END_BANK_HOLIDAY = "銀行休業日（年末）"
NEW_YEAR_BANK_HOLIDAY = "銀行休業日（年始）"
DECLARED_CLOSURE = "臨時休業日"


class CalendarHorizonError(LookupError):
    """A date lies outside the years whose holidays have been reviewed."""


def reviewed_through_from_environment() -> int:
    """KESSAI_HOLIDAYS_REVIEWED_THROUGH (Settings.holidays_reviewed_through), for a caller handed none."""
    return environment_setting("holidays_reviewed_through")


def bank_holiday_name(d: date) -> str | None:
    if (d.month, d.day) == (12, 31):
        return YEAR_END_BANK_HOLIDAY
    if d.month == 1 and d.day <= 3:
        return NEW_YEAR_BANK_HOLIDAY
    return None


@cache
def national_holidays(year: int) -> dict[date, str]:
    """The national holidays of one year, by jpholiday, computed once per process (its per-day
    check costs half a millisecond: a thousand of them a task otherwise)."""
    return dict(jpholiday.year_holidays(year))


def national_holiday_name(d: date) -> str | None:
    return national_holidays(d.year).get(d)


def _dates(values) -> np.ndarray:
    return np.asarray(values, dtype="datetime64[D]")


@dataclass(frozen=True)
class BusinessCalendar:
    """Business days of Japan, with the operator's declared closures and re-opened days."""

    reviewed_through: int = field(default_factory=reviewed_through_from_environment)
    extra_closures: frozenset[date] = frozenset()
    extra_openings: frozenset[date] = frozenset()
    # The business days (ordinals) as the business database's calendar table holds them, when it
    # was built from these same inputs (kessai.calendar.store): spares a task computing every
    # year's holidays (jpholiday takes ~40 ms a year).
    stored_business_days: tuple[int, ...] | None = field(default=None, compare=False, repr=False)

    @property
    def first_day(self) -> date:
        return CALENDAR_START

    @property
    def last_day(self) -> date:
        return date(self.reviewed_through, 12, 31)

    def check_horizon(self, d: date) -> date:
        if d > self.last_day:
            raise CalendarHorizonError(
                f"{d.isoformat()} is past the business calendar's horizon: Japanese holidays are "
                f"reviewed through {self.reviewed_through}. Check the {d.year} national holidays "
                f"(the Cabinet Office announces a year's holidays in the February before) against "
                f"jpholiday's, upgrade jpholiday if they differ, then set "
                f"{REVIEWED_THROUGH_VARIABLE}={d.year}."
            )
        if d < CALENDAR_START:
            raise CalendarHorizonError(f"{d.isoformat()} is before the business calendar starts ({CALENDAR_START}).")
        return d

    # -- what a single day is -------------------------------------------------------------

    def holiday_name(self, d: date) -> str | None:
        """The reason a weekday is closed (national holiday, bank holiday, declared closure)."""
        if d in self.extra_closures:
            return DECLARED_CLOSURE
        return national_holiday_name(d) or bank_holiday_name(d)

    def _closed_by_rule(self, d: date) -> bool:
        return d.weekday() >= 5 or national_holiday_name(d) is not None or bank_holiday_name(d) is not None

    def is_business_day(self, d: date) -> bool:
        self.check_horizon(d)
        return d.toordinal() in self._business_day_ordinals_set

    # -- the materialised calendar ---------------------------------------------------------

    @cached_property
    def _business_day_ordinals(self) -> list[int]:
        if self.stored_business_days is not None:
            return list(self.stored_business_days)
        days = []
        d = CALENDAR_START
        one = timedelta(days=1)
        while d <= self.last_day:
            closed = self._closed_by_rule(d)
            if d in self.extra_openings:
                closed = False
            if d in self.extra_closures:
                closed = True
            if not closed:
                days.append(d.toordinal())
            d += one
        return days

    @cached_property
    def _business_day_ordinals_set(self) -> frozenset[int]:
        return frozenset(self._business_day_ordinals)

    @cached_property
    def business_day_array(self) -> np.ndarray:
        """Every business day of the horizon, sorted, as numpy datetime64[D]."""
        return _dates([date.fromordinal(o) for o in self._business_day_ordinals])

    def _at(self, index: int, asked: date) -> date:
        ordinals = self._business_day_ordinals
        if index >= len(ordinals):
            raise CalendarHorizonError(
                f"the business day after {asked.isoformat()} lies past the calendar's horizon "
                f"({self.last_day}); review the {self.reviewed_through + 1} national holidays and set "
                f"{REVIEWED_THROUGH_VARIABLE}={self.reviewed_through + 1}."
            )
        if index < 0:
            raise CalendarHorizonError(f"the business day before {asked.isoformat()} is before the calendar starts.")
        return date.fromordinal(ordinals[index])

    # -- scalar rules ----------------------------------------------------------------------

    def next_business_day(self, d: date) -> date:
        """The first business day strictly after d."""
        self.check_horizon(d)
        return self._at(bisect.bisect_right(self._business_day_ordinals, d.toordinal()), d)

    def business_day_on_or_after(self, d: date) -> date:
        self.check_horizon(d)
        return self._at(bisect.bisect_left(self._business_day_ordinals, d.toordinal()), d)

    def previous_business_day(self, d: date) -> date:
        """The last business day strictly before d."""
        self.check_horizon(d)
        return self._at(bisect.bisect_left(self._business_day_ordinals, d.toordinal()) - 1, d)

    def business_day_on_or_before(self, d: date) -> date:
        self.check_horizon(d)
        return self._at(bisect.bisect_right(self._business_day_ordinals, d.toordinal()) - 1, d)

    def business_days(self, start: date, end: date) -> list[date]:
        """The business days in [start, end], both inclusive."""
        self.check_horizon(start)
        self.check_horizon(end)
        ordinals = self._business_day_ordinals
        low = bisect.bisect_left(ordinals, start.toordinal())
        high = bisect.bisect_right(ordinals, end.toordinal())
        return [date.fromordinal(o) for o in ordinals[low:high]]

    # -- vectorised rules, for pandas and numpy columns -----------------------------------

    def _vector_lookup(self, values, side: Literal["left", "right"], shift: int) -> np.ndarray:
        days = _dates(values)
        business = self.business_day_array
        positions = np.searchsorted(business, days, side=side) + shift
        result = np.full(days.shape, np.datetime64("NaT"), dtype="datetime64[D]")
        inside = (positions >= 0) & (positions < len(business)) & ~np.isnat(days)
        result[inside] = business[positions[inside]]
        return result

    def next_business_days(self, values) -> np.ndarray:
        """next_business_day over an array of dates; NaT where it lies past the horizon."""
        return self._vector_lookup(values, "right", 0)

    def business_days_on_or_after(self, values) -> np.ndarray:
        return self._vector_lookup(values, "left", 0)

    def previous_business_days(self, values) -> np.ndarray:
        return self._vector_lookup(values, "left", -1)


_default_calendars: dict[int, BusinessCalendar] = {}


def default_calendar() -> BusinessCalendar:
    """The calendar of national and bank holidays, without declared closures (cached)."""
    reviewed_through = reviewed_through_from_environment()
    if reviewed_through not in _default_calendars:
        _default_calendars[reviewed_through] = BusinessCalendar(reviewed_through=reviewed_through)
    return _default_calendars[reviewed_through]


def check_business_day(calendar: BusinessCalendar, day: date, *, refused: str, closed: str) -> str | None:
    """The check a business-day job's run starts with.

    None on a business day. On a day the operator declared closed the schedule, which does not
    read the closures, still has a run: it does nothing, and this returns the sentence to log,
    "<day> was declared closed (<reason>): <closed>". Any other day (a weekend, a holiday) has no
    run, and a manual run for one is refused with BusinessDateError: "<day> is not a business day
    in Japan (<holiday or weekday>): <refused>", where `refused` may name {next}, the next
    business day.
    """
    if calendar.is_business_day(day):
        return None
    why = calendar.holiday_name(day) or day.strftime("%A")
    if day in calendar.extra_closures:
        return f"{day.isoformat()} was declared closed ({why}): {closed}"
    refusal = refused.format(next=calendar.next_business_day(day).isoformat())
    raise BusinessDateError(f"{day.isoformat()} is not a business day in Japan ({why}): {refusal}")
