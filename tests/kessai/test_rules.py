"""The rules API of SPEC §6 on dates worked out by hand, then on every date from 2020 to 2035."""

from __future__ import annotations

import calendar as gregorian
from datetime import date, timedelta

import jpholiday
import pytest

from kessai import (
    CalendarHorizonError,
    add_months,
    business_day_on_or_after,
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

D = date.fromisoformat

# -- business days ------------------------------------------------------------------------------


def test_golden_week_2026():
    # 4/29 (Wed) 昭和の日; 5/2 Sat, 5/3 Sun 憲法記念日, 5/4 Mon みどりの日, 5/5 Tue こどもの日,
    # 5/6 Wed 振替休日 (for 5/3, a Sunday).
    assert not is_business_day(D("2026-04-29"))
    assert is_business_day(D("2026-04-30")) and is_business_day(D("2026-05-01"))
    assert [is_business_day(D(f"2026-05-0{day}")) for day in range(2, 8)] == [False] * 5 + [True]
    assert next_business_day(D("2026-04-28")) == D("2026-04-30")
    assert next_business_day(D("2026-05-01")) == D("2026-05-07")
    assert business_day_on_or_after(D("2026-05-03")) == D("2026-05-07")
    assert previous_business_day(D("2026-05-07")) == D("2026-05-01")


def test_silver_week_2026():
    # 9/19 Sat, 9/20 Sun, 9/21 Mon 敬老の日, 9/22 Tue 国民の休日 (between two holidays),
    # 9/23 Wed 秋分の日; 9/18 Fri and 9/24 Thu are business days.
    closed = [D(f"2026-09-{day}") for day in range(19, 24)]
    assert not any(is_business_day(d) for d in closed)
    assert next_business_day(D("2026-09-18")) == D("2026-09-24")
    assert business_day_on_or_after(D("2026-09-22")) == D("2026-09-24")
    assert previous_business_day(D("2026-09-24")) == D("2026-09-18")


def test_year_end_bank_holidays():
    # 12/31-1/3 are bank holidays whatever the weekday: 2027-12-31 is a Friday, 2028-01-03 a
    # Monday (1/1 元日 is a Saturday), so the business day after 12/30 (Thu) is 1/4 (Tue).
    assert is_business_day(D("2027-12-30"))
    assert not is_business_day(D("2027-12-31"))
    assert not is_business_day(D("2028-01-03"))
    assert next_business_day(D("2027-12-30")) == D("2028-01-04")
    assert previous_business_day(D("2028-01-04")) == D("2027-12-30")
    # 2026-12-28 Mon to 12/30 Wed are business days; 1/1 Fri 元日, 1/2-1/3 the weekend.
    assert next_business_day(D("2026-12-30")) == D("2027-01-04")


def test_business_day_on_or_after_keeps_a_business_day():
    assert business_day_on_or_after(D("2026-04-30")) == D("2026-04-30")  # a Thursday


# -- month arithmetic ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        ("2027-08-31", 6, "2028-02-29"),  # 2028 is a leap year
        ("2026-08-31", 6, "2027-02-28"),
        ("2026-11-30", 3, "2027-02-28"),
        ("2027-11-30", 3, "2028-02-29"),
        ("2028-02-29", 12, "2029-02-28"),
        ("2028-03-31", -1, "2028-02-29"),
        ("2026-01-15", 0, "2026-01-15"),
        ("2026-10-31", 3, "2027-01-31"),  # across the year
        ("2027-01-31", -2, "2026-11-30"),
    ],
)
def test_add_months_clips_to_the_month_end(start, months, expected):
    assert add_months(D(start), months) == D(expected)


def test_confirmation_deadline_is_six_months_after_payment():
    assert confirmation_deadline(D("2027-08-31")) == D("2028-02-29")
    assert confirmation_deadline(D("2026-08-31")) == D("2027-02-28")
    assert confirmation_deadline(D("2026-05-01")) == D("2026-11-01")


# -- transmission -------------------------------------------------------------------------------


def test_transmission_is_the_business_day_after_registration():
    # Registered 2026-05-01 (Fri), backdated to 4/30: the next business day is 5/7 (Golden Week).
    assert transmission_date(D("2026-05-01"), D("2026-04-30")) == D("2026-05-07")
    # Registered and dated 2026-04-28 (Tue): 4/29 is 昭和の日, so 4/30 (Thu).
    assert transmission_date(D("2026-04-28"), D("2026-04-28")) == D("2026-04-30")


def test_future_dated_confirmation_transmits_after_its_date():
    # Registered 2027-01-10 (Sun) with date 1/20 (Wed): the business day after 1/20 is 1/21 (Thu).
    assert transmission_date(D("2027-01-10"), D("2027-01-20")) == D("2027-01-21")
    # Dated 2027-01-15 (Fri): the business day after is Monday 1/18.
    assert transmission_date(D("2027-01-14"), D("2027-01-15")) == D("2027-01-18")


# -- recurring charge -------------------------------------------------------------------------


def test_february_2027_is_charged_on_march_1():
    # 2027-02-27 is a Saturday, 2/28 a Sunday: the charge moves into the next month.
    assert recurring_charge_date(2027, 2) == D("2027-03-01")


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        (2026, 1, "2026-01-27"),  # a Tuesday
        (2026, 6, "2026-06-29"),  # 6/27 Saturday -> Monday
        (2026, 9, "2026-09-28"),  # 9/27 Sunday -> Monday
        (2026, 12, "2026-12-28"),  # 12/27 Sunday -> Monday (before the year-end holidays)
        (2027, 11, "2027-11-29"),  # 11/27 Saturday -> Monday
        (2028, 2, "2028-02-28"),  # 2/27 Sunday -> Monday 2/28 (a leap year: 2/29 is a Tuesday)
    ],
)
def test_recurring_charge_date(year, month, expected):
    assert recurring_charge_date(year, month) == D(expected)


# -- closing ------------------------------------------------------------------------------------


def test_closing_dates_monthly_include_february_end():
    assert closing_dates("monthly", D("2028-01-01"), D("2028-03-31")) == [
        D("2028-01-31"),
        D("2028-02-29"),
        D("2028-03-31"),
    ]
    assert closing_dates("monthly", D("2027-02-01"), D("2027-03-30")) == [D("2027-02-28")]


def test_closing_dates_twice_monthly_with_inclusive_ends():
    assert closing_dates("twice_monthly", D("2027-02-15"), D("2027-03-15")) == [
        D("2027-02-15"),
        D("2027-02-28"),
        D("2027-03-15"),
    ]
    assert closing_dates("twice_monthly", D("2027-02-16"), D("2027-02-27")) == []


def test_closing_dates_rejects_an_unknown_cycle():
    with pytest.raises(ValueError, match="weekly"):
        closing_dates("weekly", D("2027-01-01"), D("2027-01-31"))


def test_backdated_confirmation_registered_after_the_closing_counts_toward_the_next():
    # The FAQ: on 2/1 confirming with date 1/31 -> the February-end closing, paid 3/25.
    # 2027-02-28 is a Sunday (closings are calendar days); 2027-03-25 is a Thursday.
    closing = closing_date_for("monthly", D("2027-02-01"), D("2027-01-31"))
    assert closing == D("2027-02-28")
    assert payout_date("monthly", closing) == D("2027-03-25")
    assert closing_date_for("twice_monthly", D("2027-02-01"), D("2027-01-31")) == D("2027-02-15")


def test_confirmation_registered_on_the_closing_date_belongs_to_it():
    assert closing_date_for("monthly", D("2027-01-31"), D("2027-01-31")) == D("2027-01-31")
    assert closing_date_for("twice_monthly", D("2027-01-15"), D("2027-01-10")) == D("2027-01-15")


def test_future_dated_confirmation_counts_from_its_date():
    # Registered 1/10 with date 1/20: after the 15th, so the month-end closing for both cycles.
    assert closing_date_for("twice_monthly", D("2027-01-10"), D("2027-01-20")) == D("2027-01-31")
    assert closing_date_for("monthly", D("2027-01-25"), D("2027-02-03")) == D("2027-02-28")


# -- payout -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cycle", "closing", "expected"),
    [
        ("monthly", "2026-02-28", "2026-03-25"),  # a Wednesday: no roll
        ("monthly", "2026-03-31", "2026-04-24"),  # 4/25 is a Saturday -> Friday 4/24
        ("monthly", "2026-12-31", "2027-01-25"),  # across the year; 1/25 is a Monday
        ("monthly", "2027-11-30", "2027-12-24"),  # 12/25 is a Saturday -> Friday 12/24
        ("twice_monthly", "2026-05-15", "2026-05-25"),  # a Monday
        ("twice_monthly", "2026-05-31", "2026-06-10"),  # a Wednesday
        ("twice_monthly", "2026-04-30", "2026-05-08"),  # 5/10 is a Sunday after Golden Week -> Fri 5/8
        ("twice_monthly", "2026-12-31", "2027-01-08"),  # 1/10 Sunday, 1/9 Saturday -> Fri 1/8
        ("twice_monthly", "2027-12-31", "2028-01-07"),  # 1/10 Monday 成人の日 -> Fri 1/7
        ("twice_monthly", "2027-12-15", "2027-12-24"),  # 12/25 Saturday -> Fri 12/24
        ("twice_monthly", "2028-02-29", "2028-03-10"),  # a leap-year closing; 3/10 is a Friday
    ],
)
def test_payout_date_rolls_to_the_previous_business_day(cycle, closing, expected):
    assert payout_date(cycle, D(closing)) == D(expected)


def test_payout_date_can_roll_forward():
    # 2026-04-25 is a Saturday; 翌営業日 is Monday 4/27.
    assert payout_date("monthly", D("2026-03-31"), roll="next") == D("2026-04-27")


def test_payout_date_refuses_a_date_that_is_no_closing():
    with pytest.raises(ValueError, match="not a closing date"):
        payout_date("monthly", D("2027-01-15"))
    with pytest.raises(ValueError, match="not a closing date"):
        payout_date("twice_monthly", D("2027-01-20"))


# -- every date from 2020 to 2035 against a naive restatement of SPEC §3 ------------------------

FIRST, LAST = date(2020, 1, 1), date(2035, 12, 31)
ONE_DAY = timedelta(days=1)


def naive_business_day(d: date) -> bool:
    """SPEC §3, word for word: not Saturday or Sunday, no national holiday, not 12/31-1/3."""
    bank_holiday = (d.month, d.day) == (12, 31) or (d.month == 1 and d.day <= 3)
    return d.weekday() < 5 and not jpholiday.is_holiday(d) and not bank_holiday


def naive_add_months(d: date, months: int) -> date:
    month_index = d.month - 1 + months
    year, month = d.year + month_index // 12, month_index % 12 + 1
    day = d.day
    while True:  # clip to the end of the month by trying the day number, then the ones before
        try:
            return date(year, month, day)
        except ValueError:
            day -= 1


@pytest.fixture
def horizon_2035(monkeypatch):
    monkeypatch.setenv("KESSAI_HOLIDAYS_REVIEWED_THROUGH", "2035")


def test_rules_answer_as_the_spec_says_for_every_date_2020_to_2035(horizon_2035):
    days = [FIRST + i * ONE_DAY for i in range((LAST - FIRST).days + 1)]
    # The answers that lie past 2035 are unknown to the calendar; look a little further naively.
    business = {d for d in days + [LAST + i * ONE_DAY for i in range(1, 15)] if naive_business_day(d)}

    def step(d: date, direction: int) -> date:
        d += direction * ONE_DAY
        while d not in business:
            d += direction * ONE_DAY
        return d

    for d in days:
        assert is_business_day(d) == (d in business), d
        following = step(d, 1)
        if following > LAST:
            with pytest.raises(CalendarHorizonError, match="KESSAI_HOLIDAYS_REVIEWED_THROUGH=2036"):
                next_business_day(d)
        else:
            assert next_business_day(d) == following, d
            assert business_day_on_or_after(d) == (d if d in business else following), d
            assert transmission_date(d, d - 3 * ONE_DAY) == following, d  # backdated
            assert transmission_date(d - 3 * ONE_DAY, d) == following, d  # future-dated
        if d > date(2020, 1, 6):  # 2020-01-06 is the first business day of the calendar
            assert previous_business_day(d) == step(d, -1), d
        for months in (1, 3, 6, -1, 12):
            assert add_months(d, months) == naive_add_months(d, months), (d, months)
        assert confirmation_deadline(d) == naive_add_months(d, 6), d
        month_end = date(d.year, d.month, gregorian.monthrange(d.year, d.month)[1])
        twice_monthly = date(d.year, d.month, 15) if d.day <= 15 else month_end
        assert closing_date_for("monthly", d, d - ONE_DAY) == month_end, d
        assert closing_date_for("twice_monthly", d - ONE_DAY, d) == twice_monthly, d

    for year in range(2020, 2036):
        for month in range(1, 13):
            twenty_seventh = date(year, month, 27)
            charge_day = twenty_seventh if twenty_seventh in business else step(twenty_seventh, 1)
            assert recurring_charge_date(year, month) == charge_day, (year, month)
            month_end = date(year, month, gregorian.monthrange(year, month)[1])
            first = date(year, month, 1)
            assert closing_dates("monthly", first, month_end) == [month_end]
            assert closing_dates("twice_monthly", first, month_end) == [date(year, month, 15), month_end]
            for cycle, closing, scheduled in (
                ("twice_monthly", date(year, month, 15), date(year, month, 25)),
                ("twice_monthly", month_end, naive_add_months(first, 1).replace(day=10)),
                ("monthly", month_end, naive_add_months(first, 1).replace(day=25)),
            ):
                if scheduled > LAST:
                    continue
                expected = scheduled if scheduled in business else step(scheduled, -1)
                assert payout_date(cycle, closing) == expected, (cycle, closing)


def test_algebraic_properties_over_the_horizon(horizon_2035):
    d = FIRST
    while d < date(2035, 12, 20):
        following = next_business_day(d)
        assert following > d and is_business_day(following)
        assert not any(is_business_day(d + i * ONE_DAY) for i in range(1, (following - d).days))
        assert business_day_on_or_after(d) in (d, following)
        assert (business_day_on_or_after(d) == d) == is_business_day(d)
        if d.day in (15, gregorian.monthrange(d.year, d.month)[1]):
            for cycle in ("monthly", "twice_monthly"):
                if cycle == "twice_monthly" or d.day != 15:
                    paid = payout_date(cycle, d)
                    assert d < paid and is_business_day(paid)
        d += ONE_DAY
    assert closing_dates("twice_monthly", FIRST, LAST)[:2] == [date(2020, 1, 15), date(2020, 1, 31)]
    assert len(closing_dates("twice_monthly", FIRST, LAST)) == 16 * 24
    assert len(closing_dates("monthly", FIRST, LAST)) == 16 * 12
