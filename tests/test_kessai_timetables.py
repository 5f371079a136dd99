"""The business-day timetables: which runs they make, when each starts, what travels to the
scheduler, and what a backfill creates (through the same DAG API the scheduler and backfill use)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pendulum
import pytest
import time_machine
from airflow._shared.timezones.timezone import parse as parse_cli_date
from airflow.models.backfill import _get_info_list
from airflow.sdk import DAG
from airflow.serialization.serialized_objects import DagSerialization
from airflow.timetables.base import DagRunInfo

from kessai import business_days
from kessai_timetables import BusinessDayTimetable, ClosingDateTimetable, RecurringChargeTimetable
from support.japan_time import JAPAN, D, jst


def scheduler_dag(timetable, *, start="2026-01-01", end=None, catchup=True):
    """The DAG as the scheduler and the backfill see it: serialized, then deserialized."""
    dag = DAG(
        "timetable_probe",
        schedule=timetable,
        start_date=pendulum.parse(start, tz="Asia/Tokyo"),
        end_date=pendulum.parse(end, tz="Asia/Tokyo") if end else None,
        catchup=catchup,
    )
    return DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))


def runs(timetable, first: str, last: str) -> list[tuple[datetime, datetime]]:
    """(logical date, run_after) of every run between two dates in Japan, both inclusive."""
    infos = scheduler_dag(timetable).iter_dagrun_infos_between(jst(first), jst(last))
    return [(info.logical_date, info.run_after) for info in infos]


def logical_dates(infos) -> list[date]:
    return [info.logical_date.astimezone(JAPAN).date() for info in infos]


# -- business days ----------------------------------------------------------------------------


def test_business_days_over_the_year_end():
    # 12/28-12/30 (Mon-Wed) run; 12/31-1/3 are bank holidays (1/1 元日, 1/2-1/3 a weekend);
    # 1/4 (Mon) to 1/8 (Fri) run. Each starts at 06:00 on its own date in Japan.
    expected_days = ["2026-12-28", "2026-12-29", "2026-12-30", "2027-01-04", "2027-01-05"]
    expected_days += ["2027-01-06", "2027-01-07", "2027-01-08"]
    assert runs(BusinessDayTimetable(run_at="06:00"), "2026-12-28", "2027-01-08") == [
        (jst(f"{day}T00:00"), jst(f"{day}T06:00")) for day in expected_days
    ]


def test_business_days_in_golden_week_2027():
    # 4/29 (Thu) 昭和の日, 5/1-5/2 weekend, 5/3-5/5 (Mon-Wed) holidays, 5/8-5/9 weekend.
    got = [logical.date() for logical, _ in runs(BusinessDayTimetable(), "2027-04-28", "2027-05-10")]
    assert got == [D("2027-04-28"), D("2027-04-30"), D("2027-05-06"), D("2027-05-07"), D("2027-05-10")]


def test_business_days_2026_to_2028_are_the_calendars():
    got = runs(BusinessDayTimetable(run_at="05:30"), "2026-01-01", "2028-12-31")
    days = business_days(D("2026-01-01"), D("2028-12-31"))
    assert got == [(jst(f"{d}T00:00"), jst(f"{d}T05:30")) for d in days]


# -- recurring charge days --------------------------------------------------------------------

# The 27th of every month 2026-2028, moved where it is no business day (weekdays checked by hand):
CHARGE_DAYS = {
    2026: ["01-27", "02-27", "03-27", "04-27", "05-27",
           "06-29",  # 6/27 Sat
           "07-27", "08-27",
           "09-28",  # 9/27 Sun
           "10-27", "11-27",
           "12-28"],  # 12/27 Sun
    2027: ["01-27",
           "03-01",  # 2/27 Sat, 2/28 Sun: February is charged in March
           "03-29",  # 3/27 Sat
           "04-27", "05-27",
           "06-28",  # 6/27 Sun
           "07-27", "08-27", "09-27", "10-27",
           "11-29",  # 11/27 Sat
           "12-27"],
    2028: ["01-27",
           "02-28",  # 2/27 Sun
           "03-27", "04-27",
           "05-29",  # 5/27 Sat
           "06-27", "07-27",
           "08-28",  # 8/27 Sun
           "09-27", "10-27", "11-27", "12-27"],
}  # fmt: skip


def test_charge_days_2026_to_2028():
    expected = [D(f"{year}-{day}") for year, days in CHARGE_DAYS.items() for day in days]
    got = runs(RecurringChargeTimetable(run_at="10:00"), "2026-01-01", "2028-12-31")
    assert got == [(jst(f"{d}T00:00"), jst(f"{d}T10:00")) for d in expected]


def test_the_february_2027_charge_falls_in_a_range_of_march():
    got = runs(RecurringChargeTimetable(), "2027-02-01", "2027-03-31")
    assert [logical.date() for logical, _ in got] == [D("2027-03-01"), D("2027-03-29")]


# -- closing dates --------------------------------------------------------------------------


def test_closing_dates_2026_to_2028_run_the_day_after():
    got = runs(ClosingDateTimetable(run_at="01:00"), "2026-01-01", "2028-12-31")
    assert len(got) == 3 * 24
    pairs = dict(got)
    # February ends on the 28th, or the 29th in 2028; a closing on 12/31 runs on New Year's Day
    # (closings are calendar days, whatever the holidays).
    for closing, run_after in [
        ("2026-01-15", "2026-01-16T01:00"),
        ("2026-02-28", "2026-03-01T01:00"),
        ("2026-12-31", "2027-01-01T01:00"),
        ("2027-02-28", "2027-03-01T01:00"),
        ("2028-02-15", "2028-02-16T01:00"),
        ("2028-02-29", "2028-03-01T01:00"),
        ("2028-04-30", "2028-05-01T01:00"),
        ("2028-12-31", "2029-01-01T01:00"),
    ]:
        assert pairs[jst(f"{closing}T00:00")] == jst(run_after)
    assert all(logical.day == 15 or (logical + timedelta(days=1)).day == 1 for logical, _ in got)


# -- restrictions: start_date, end_date, catchup ----------------------------------------------


def test_the_first_run_is_on_the_start_date_in_japan():
    # start_date 2027-01-01 (元日): the first business day on or after it is Monday 1/4.
    dag = scheduler_dag(BusinessDayTimetable(), start="2027-01-01")
    first = dag.next_dagrun_info(last_automated_run_info=None)
    assert (first.logical_date, first.run_after) == (jst("2027-01-04T00:00"), jst("2027-01-04T06:00"))
    following = dag.next_dagrun_info(last_automated_run_info=first)
    assert following.logical_date == jst("2027-01-05T00:00")


def test_the_end_date_is_the_last_date_in_japan():
    dag = scheduler_dag(ClosingDateTimetable(), start="2027-01-01", end="2027-01-31")
    first = dag.next_dagrun_info(last_automated_run_info=None)
    second = dag.next_dagrun_info(last_automated_run_info=first)
    assert logical_dates([first, second]) == [D("2027-01-15"), D("2027-01-31")]
    assert dag.next_dagrun_info(last_automated_run_info=second) is None


def test_without_catchup_the_latest_due_run_comes_next():
    dag = scheduler_dag(BusinessDayTimetable(), start="2026-01-01", catchup=False)
    # At 05:00 on Tuesday 2027-01-05, Monday's run (06:00 on 1/4) is the latest that was due.
    with time_machine.travel(jst("2027-01-05T05:00"), tick=False):
        info = dag.next_dagrun_info(last_automated_run_info=None)
    assert info.logical_date == jst("2027-01-04T00:00")
    with time_machine.travel(jst("2027-01-05T07:00"), tick=False):
        info = dag.next_dagrun_info(last_automated_run_info=None)
    assert info.logical_date == jst("2027-01-05T00:00")
    # A run long ago does not make the schedule catch up the days between.
    long_ago = DagRunInfo.interval(*BusinessDayTimetable().data_interval(D("2026-06-01")))
    with time_machine.travel(jst("2027-01-05T07:00"), tick=False):
        info = dag.next_dagrun_info(last_automated_run_info=long_ago)
    assert info.logical_date == jst("2027-01-05T00:00")


def test_without_catchup_a_start_date_ahead_waits_for_it():
    dag = scheduler_dag(ClosingDateTimetable(), start="2027-03-01", catchup=False)
    with time_machine.travel(jst("2027-02-01T00:30"), tick=False):
        info = dag.next_dagrun_info(last_automated_run_info=None)
    assert (info.logical_date, info.run_after) == (jst("2027-03-15T00:00"), jst("2027-03-16T01:00"))


def test_without_catchup_a_closing_runs_once_its_date_has_ended():
    dag = scheduler_dag(ClosingDateTimetable(), start="2026-01-01", catchup=False)
    # At 00:30 on 2/1 the 1/31 closing is not due yet (01:00): the 1/15 closing was the latest.
    with time_machine.travel(jst("2027-02-01T00:30"), tick=False):
        latest = dag.next_dagrun_info(last_automated_run_info=None)
        following = dag.next_dagrun_info(last_automated_run_info=latest)
    assert logical_dates([latest, following]) == [D("2027-01-15"), D("2027-01-31")]


# -- the calendar's horizon -----------------------------------------------------------------


def test_no_run_is_scheduled_past_the_reviewed_holidays(monkeypatch):
    monkeypatch.setenv("KESSAI_HOLIDAYS_REVIEWED_THROUGH", "2028")
    dag = scheduler_dag(BusinessDayTimetable(), start="2028-12-28")
    infos = list(dag.iter_dagrun_infos_between(None, jst("2029-02-01T00:00")))
    # 2028-12-28 (Thu) and 12/29 (Fri); 2029 has not been reviewed, so nothing after.
    assert logical_dates(infos) == [D("2028-12-28"), D("2028-12-29")]
    monkeypatch.setenv("KESSAI_HOLIDAYS_REVIEWED_THROUGH", "2029")
    following = dag.next_dagrun_info(last_automated_run_info=infos[-1])
    assert following.logical_date == jst("2029-01-04T00:00")  # a Thursday


def test_without_catchup_the_last_run_of_the_horizon_still_comes(monkeypatch):
    monkeypatch.setenv("KESSAI_HOLIDAYS_REVIEWED_THROUGH", "2028")
    dag = scheduler_dag(BusinessDayTimetable(), start="2026-01-01", catchup=False)
    thursday = DagRunInfo.interval(*BusinessDayTimetable().data_interval(D("2028-12-28")))
    # At 07:00 on Friday 2028-12-29, the last business day before 2029, its run is due.
    with time_machine.travel(jst("2028-12-29T07:00"), tick=False):
        friday = dag.next_dagrun_info(last_automated_run_info=thursday)
        assert friday.logical_date == jst("2028-12-29T00:00")
        assert dag.next_dagrun_info(last_automated_run_info=friday) is None


# -- manual runs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timetable", "given", "start", "end"),
    [
        # Triggered at 14:00 on 2027-01-05: the run stands for 1/5.
        (BusinessDayTimetable(), "2027-01-05T14:00+09:00", "2027-01-05T00:00", "2027-01-05T06:00"),
        # 20:00 UTC on 1/4 is already 05:00 on 1/5 in Japan.
        (BusinessDayTimetable(), "2027-01-04T20:00+00:00", "2027-01-05T00:00", "2027-01-05T06:00"),
        # A manual closing of 1/31 starts after the date, as the scheduled one does.
        (ClosingDateTimetable(), "2027-01-31T00:00+09:00", "2027-01-31T00:00", "2027-02-01T01:00"),
        # A date that has no scheduled run still names its own date (the tasks check it).
        (RecurringChargeTimetable(), "2027-02-27T09:00+09:00", "2027-02-27T00:00", "2027-02-27T10:00"),
    ],
)
def test_a_manual_run_stands_for_its_date_in_japan(timetable, given, start, end):
    interval = timetable.infer_manual_data_interval(run_after=pendulum.parse(given))
    assert (interval.start, interval.end) == (jst(start), jst(end))


@pytest.mark.parametrize("timetable", [BusinessDayTimetable(), RecurringChargeTimetable(), ClosingDateTimetable()])
def test_a_scheduled_runs_logical_date_infers_its_own_interval(timetable):
    infos = scheduler_dag(timetable).iter_dagrun_infos_between(jst("2027-01-01T00:00"), jst("2027-03-31T00:00"))
    for info in infos:
        assert timetable.infer_manual_data_interval(run_after=info.logical_date) == info.data_interval


# -- serialization and the UI ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("timetable", "run_at"),
    [
        (BusinessDayTimetable(), "06:00"),
        (RecurringChargeTimetable(), "10:00"),
        (ClosingDateTimetable(), "01:00"),
        (ClosingDateTimetable(run_at="02:30"), "02:30"),
    ],
)
def test_only_the_settings_are_serialized(timetable, run_at):
    assert timetable.serialize() == {"run_at": run_at}
    assert type(timetable).deserialize(timetable.serialize()).serialize() == {"run_at": run_at}
    # The scheduler's copy is the plugin's class (the plugin loader imports the file itself).
    assert repr(scheduler_dag(timetable).timetable) == f"{type(timetable).__name__}(run_at={run_at})"
    encoded = DagSerialization.serialize_dag(scheduler_dag(timetable))["timetable"]
    assert encoded == {"__type": f"kessai_timetables.{type(timetable).__name__}", "__var": {"run_at": run_at}}


def test_the_ui_texts():
    assert BusinessDayTimetable().summary == "Business days at 06:00 JST"
    assert RecurringChargeTimetable(run_at="09:30").summary == "Charge days at 09:30 JST"
    assert ClosingDateTimetable().summary == "Day after each closing date (15th, month end) at 01:00 JST"
    assert "next business day" in RecurringChargeTimetable().description


@pytest.mark.parametrize("run_at", ["6", "25:00", "06:00:00", "six"])
def test_a_bad_run_at_is_refused(run_at):
    with pytest.raises(ValueError, match="HH:MM"):
        BusinessDayTimetable(run_at=run_at)


# -- backfill -----------------------------------------------------------------------------------


def backfill(timetable, from_date: str, to_date: str) -> list[date]:
    """The dates `airflow backfill create --from-date A --to-date B` would create runs for.

    The CLI reads its dates as midnight UTC (09:00 in Japan); both ends still count as whole
    dates in Japan."""
    infos = _get_info_list(
        from_date=parse_cli_date(from_date),
        to_date=parse_cli_date(to_date),
        reverse=False,
        dag=scheduler_dag(timetable),
    )
    return logical_dates(infos)


def test_a_backfill_creates_runs_only_for_real_dates():
    with time_machine.travel(jst("2029-06-01T12:00"), tick=False):
        # Golden Week 2027: 4/29 (Thu) 昭和の日, 5/1-5/2 weekend, 5/3-5/5 holidays.
        assert backfill(BusinessDayTimetable(), "2027-04-28", "2027-05-10") == [
            D("2027-04-28"),
            D("2027-04-30"),
            D("2027-05-06"),
            D("2027-05-07"),
            D("2027-05-10"),
        ]
        assert backfill(ClosingDateTimetable(), "2028-02-01", "2028-02-29") == [D("2028-02-15"), D("2028-02-29")]
        assert backfill(ClosingDateTimetable(), "2027-01-31", "2027-01-31") == [D("2027-01-31")]
        # February 2027 is charged on 3/1: no date of February is a charge day.
        assert backfill(RecurringChargeTimetable(), "2027-02-01", "2027-02-28") == []
        assert backfill(RecurringChargeTimetable(), "2027-02-01", "2027-03-01") == [D("2027-03-01")]


def test_a_backfill_leaves_out_runs_that_have_not_started_yet():
    # At 07:00 on Friday 2027-05-07 that day's run (06:00) is due, Monday 5/10's is not.
    with time_machine.travel(jst("2027-05-07T07:00"), tick=False):
        assert backfill(BusinessDayTimetable(), "2027-05-06", "2027-05-10") == [D("2027-05-06"), D("2027-05-07")]
