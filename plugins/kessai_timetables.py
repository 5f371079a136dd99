"""Timetables that know the Japanese business calendar (SPEC §5), registered as an Airflow plugin.

This module sits at the top of plugins/ on purpose: Airflow imports every plugin file as a
top-level module named by its bare file name and registers timetables under that import path, so
DAGs must import them as `from kessai_timetables import ...` (see docs/calendar.md).

Each run stands for one date in Japan. Its logical date is that date at 00:00 Asia/Tokyo, so the
run's business date (kessai.calendar.run_dates) is the date it stands for; it starts at `run_at` Japan time,
on that date or, for a closing, the day after. The dates come from kessai.calendar.rules with the national
and bank holidays only: the scheduler does not read the business database, so a day the operator
declared closed still gets its run, and the tasks, which load the calendar with its closures,
decide what to do on it. Past the reviewed holiday horizon no run is scheduled.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any

import pendulum
from airflow.plugins_manager import AirflowPlugin
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable

from kessai.calendar.business_calendar import CalendarHorizonError
from kessai.calendar.rules import (
    TWICE_MONTHLY,
    add_months,
    business_day_on_or_after,
    closing_date_on_or_after,
    recurring_charge_date,
)
from kessai.calendar.run_dates import japan_date_of

log = logging.getLogger(__name__)

JAPAN = pendulum.timezone("Asia/Tokyo")
ONE_DAY = timedelta(days=1)
# Longer than the longest gap between two runs (a November charge day can move to early January).
LOOKBACK = timedelta(days=62)


def japan_time(d: date, at: time) -> pendulum.DateTime:
    return pendulum.datetime(d.year, d.month, d.day, at.hour, at.minute, tz=JAPAN)


class JapanDateTimetable(Timetable):
    """One run per date that `date_on_or_after` yields, starting `run_days_after` days after that
    date at `run_at` Japan time. Subclasses only say which dates, when, and how they read."""

    default_run_at = "00:00"
    run_days_after = 0
    title = ""
    rule = ""

    def __init__(self, run_at: str | None = None) -> None:
        run_at = run_at or self.default_run_at
        try:
            self.run_at = datetime.strptime(run_at, "%H:%M").time()
        except (TypeError, ValueError):
            raise ValueError(f"run_at {run_at!r}: expected a time of day in Japan as HH:MM") from None
        self.description = f"{self.rule}; starts at {run_at} Japan time"

    def date_on_or_after(self, d: date) -> date:
        """The first date on or after d that gets a run."""
        raise NotImplementedError

    # -- one run ---------------------------------------------------------------------------

    def data_interval(self, d: date) -> DataInterval:
        """The run for date d: from d 00:00 in Japan (its logical date) to the moment it starts."""
        starts = japan_time(d + self.run_days_after * ONE_DAY, self.run_at)
        return DataInterval(japan_time(d, time.min), starts)

    def infer_manual_data_interval(self, *, run_after: pendulum.DateTime) -> DataInterval:
        # A manual run stands for the date in Japan it was given (or triggered on), whether or not
        # the schedule has a run that day: the tasks check what the date is.
        return self.data_interval(japan_date_of(run_after))

    # -- the schedule ----------------------------------------------------------------------

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        # start_date, end_date and backfill bounds are read as dates in Japan: a bound of
        # 2027-01-31 (midnight UTC or JST alike) includes the run for 2027-01-31.
        candidates = []
        if last_automated_data_interval is not None:
            candidates.append(japan_date_of(last_automated_data_interval.start) + ONE_DAY)
        if restriction.earliest is not None:
            candidates.append(japan_date_of(restriction.earliest))
        try:
            if not restriction.catchup or not candidates:
                candidates.append(self.latest_due(pendulum.now(JAPAN)))
            d = self.date_on_or_after(max(candidates))
        except CalendarHorizonError as error:
            log.error("%s: no further run scheduled: %s", type(self).__name__, error)
            return None
        if restriction.latest is not None and d > japan_date_of(restriction.latest):
            return None
        return DagRunInfo.interval(*self.data_interval(d))

    def latest_due(self, now: datetime) -> date:
        """The latest date whose run should have started by now (where catchup=False starts)."""
        d = self.date_on_or_after(japan_date_of(now) - LOOKBACK)
        while True:
            try:
                following = self.date_on_or_after(d + ONE_DAY)
            except CalendarHorizonError:  # d is the last date of the horizon
                return d
            if self.data_interval(following).end > now:
                return d
            d = following

    # -- what travels to the scheduler and the UI --------------------------------------------

    def serialize(self) -> dict[str, Any]:
        return {"run_at": self.run_at.strftime("%H:%M")}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> JapanDateTimetable:
        return cls(run_at=data["run_at"])

    @property
    def summary(self) -> str:
        return f"{self.title} at {self.run_at:%H:%M} JST"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(run_at={self.run_at:%H:%M})"


class BusinessDayTimetable(JapanDateTimetable):
    default_run_at = "06:00"
    title = "Business days"
    rule = "Every business day in Japan (no weekends, national holidays or 12/31-1/3)"

    def date_on_or_after(self, d: date) -> date:
        return business_day_on_or_after(d)


class RecurringChargeTimetable(JapanDateTimetable):
    default_run_at = "10:00"
    title = "Charge days"
    rule = "The recurring charge day of every month: the 27th, or the next business day"

    def date_on_or_after(self, d: date) -> date:
        # The charge of the month before d may still be ahead (February 2027 is charged 3/1).
        month = add_months(d.replace(day=1), -1)
        while (charge_day := recurring_charge_date(month.year, month.month)) < d:
            month = add_months(month, 1)
        return charge_day


class ClosingDateTimetable(JapanDateTimetable):
    default_run_at = "01:00"
    run_days_after = 1
    title = "Day after each closing date (15th, month end)"
    rule = "Every closing date, the 15th and the last day of the month, run the day after it ends"

    def date_on_or_after(self, d: date) -> date:
        # The twice-monthly closings include the monthly ones.
        return closing_date_on_or_after(TWICE_MONTHLY, d)


class KessaiTimetablesPlugin(AirflowPlugin):
    name = "kessai_timetables"
    timetables = [BusinessDayTimetable, RecurringChargeTimetable, ClosingDateTimetable]
