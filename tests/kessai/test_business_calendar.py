"""The business calendar: its horizon, the operator's closures and re-opened days, and the
vectorised look-ups agreeing with the scalar ones."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from kessai import CalendarHorizonError, default_calendar, next_business_day, recurring_charge_date
from kessai.calendar.business_calendar import BusinessCalendar

D = date.fromisoformat


# -- the horizon --------------------------------------------------------------------------------


def test_a_date_past_the_reviewed_year_names_the_year_and_the_variable():
    calendar = BusinessCalendar(reviewed_through=2028)
    with pytest.raises(CalendarHorizonError) as raised:
        calendar.is_business_day(D("2029-01-05"))
    message = str(raised.value)
    assert "2029" in message and "KESSAI_HOLIDAYS_REVIEWED_THROUGH=2029" in message


def test_an_answer_past_the_reviewed_year_names_the_year_and_the_variable():
    # 2028-12-29 is a Friday; the next business day would be 2029-01-04, past the horizon.
    calendar = BusinessCalendar(reviewed_through=2028)
    assert calendar.business_day_on_or_after(D("2028-12-29")) == D("2028-12-29")
    with pytest.raises(CalendarHorizonError, match="KESSAI_HOLIDAYS_REVIEWED_THROUGH=2029"):
        calendar.next_business_day(D("2028-12-29"))


def test_a_date_before_the_calendar_starts_is_refused():
    with pytest.raises(CalendarHorizonError, match="before the business calendar starts"):
        BusinessCalendar().is_business_day(D("2019-12-31"))


def test_the_horizon_follows_the_environment(monkeypatch):
    monkeypatch.setenv("KESSAI_HOLIDAYS_REVIEWED_THROUGH", "2028")
    with pytest.raises(CalendarHorizonError):
        recurring_charge_date(2029, 1)
    monkeypatch.setenv("KESSAI_HOLIDAYS_REVIEWED_THROUGH", "2029")
    assert default_calendar().reviewed_through == 2029
    # 2029-01-27 is a Saturday: the charge moves to Monday 1/29.
    assert recurring_charge_date(2029, 1) == D("2029-01-29")


# -- closures and re-opened days --------------------------------------------------------------


def test_a_declared_closure_is_no_business_day():
    # 2027-01-05 is a Tuesday; closing it moves the day after Monday 1/4 to Wednesday 1/6.
    calendar = BusinessCalendar(extra_closures=frozenset({D("2027-01-05")}))
    assert not calendar.is_business_day(D("2027-01-05"))
    assert calendar.next_business_day(D("2027-01-04")) == D("2027-01-06")
    assert calendar.previous_business_day(D("2027-01-06")) == D("2027-01-04")
    assert calendar.holiday_name(D("2027-01-05")) == "臨時休業日"
    assert next_business_day(D("2027-01-04")) == D("2027-01-05")  # the default calendar is unchanged


def test_a_reopened_day_is_a_business_day():
    # 2027-01-02 is a Saturday and a bank holiday; re-opened, it follows Thursday 12/30.
    calendar = BusinessCalendar(extra_openings=frozenset({D("2027-01-02")}))
    assert calendar.is_business_day(D("2027-01-02"))
    assert calendar.next_business_day(D("2026-12-30")) == D("2027-01-02")
    assert calendar.next_business_day(D("2027-01-02")) == D("2027-01-04")


def test_holiday_names():
    calendar = default_calendar()
    assert calendar.holiday_name(D("2026-05-06")) == "憲法記念日 振替休日"
    assert calendar.holiday_name(D("2026-09-22")) == "国民の休日"
    assert calendar.holiday_name(D("2026-12-31")) == "銀行休業日（年末）"
    assert calendar.holiday_name(D("2027-01-02")) == "銀行休業日（年始）"
    assert calendar.holiday_name(D("2027-01-05")) is None


def test_business_days_in_a_range():
    # 2026-12-28 (Mon) .. 2027-01-08 (Fri): 12/31-1/3 are closed, 1/2-1/3 also the weekend.
    assert default_calendar().business_days(D("2026-12-28"), D("2027-01-08")) == [
        D("2026-12-28"),
        D("2026-12-29"),
        D("2026-12-30"),
        D("2027-01-04"),
        D("2027-01-05"),
        D("2027-01-06"),
        D("2027-01-07"),
        D("2027-01-08"),
    ]


# -- vectorised look-ups ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "calendar",
    [
        BusinessCalendar(reviewed_through=2028),
        BusinessCalendar(
            reviewed_through=2028,
            extra_closures=frozenset({D("2027-03-01"), D("2027-12-30")}),
            extra_openings=frozenset({D("2027-05-03")}),
        ),
    ],
    ids=["national", "with-overrides"],
)
def test_vectorised_lookups_agree_with_the_scalar_ones_over_a_year(calendar):
    days = [D("2027-01-01") + timedelta(days=i) for i in range(365)]
    values = np.array(days, dtype="datetime64[D]")
    for vectorised, scalar in (
        (calendar.next_business_days, calendar.next_business_day),
        (calendar.business_days_on_or_after, calendar.business_day_on_or_after),
        (calendar.previous_business_days, calendar.previous_business_day),
    ):
        assert list(vectorised(values).astype(object)) == [scalar(d) for d in days], scalar.__name__


def test_vectorised_lookups_give_nat_past_the_horizon_and_for_missing_dates():
    calendar = BusinessCalendar(reviewed_through=2028)
    values = np.array(["2028-12-28", "2028-12-29", "NaT"], dtype="datetime64[D]")
    assert list(calendar.next_business_days(values).astype(str)) == ["2028-12-29", "NaT", "NaT"]
