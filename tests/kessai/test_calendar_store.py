"""The operator's closures and re-opened days in the business database, and the materialised
business_calendar table the batch SQL joins (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from kessai.calendar.store import (
    clear_override,
    declare_closure,
    load_calendar,
    prepare_calendar,
    refresh_calendar_table,
    reopen_day,
)
from kessai.db.schema import business_calendar

D = date.fromisoformat


def calendar_row(connection, day: date) -> dict:
    row = connection.execute(select(business_calendar).where(business_calendar.c.day == day)).mappings().one()
    return dict(row)


def test_prepare_calendar_materialises_every_day_of_the_horizon(engine):
    with engine.begin() as connection:
        calendar = prepare_calendar(connection)
        count = connection.execute(select(func.count()).select_from(business_calendar)).scalar()
        # 2020-01-01 .. 2028-12-31: 9 years, of which 2020, 2024 and 2028 are leap years.
        assert count == 9 * 365 + 3
        assert calendar.last_day == D("2028-12-31")
        # 2026-05-01 is a Friday before Golden Week: its next business day is Thursday 5/7.
        assert calendar_row(connection, D("2026-05-01")) == {
            "day": D("2026-05-01"),
            "is_business_day": True,
            "holiday_name": None,
            "next_business_day": D("2026-05-07"),
            "business_day_on_or_after": D("2026-05-01"),
            "previous_business_day": D("2026-04-30"),
            "monthly_closing_date": D("2026-05-31"),
            "twice_monthly_closing_date": D("2026-05-15"),
        }
        # 2026-05-06 is the 振替休日 for 5/3.
        row = calendar_row(connection, D("2026-05-06"))
        assert (row["is_business_day"], row["holiday_name"]) == (False, "憲法記念日 振替休日")
        assert row["business_day_on_or_after"] == D("2026-05-07")
        assert row["previous_business_day"] == D("2026-05-01")
        # 2028-02-29 closes both cycles' February; 2028-12-29 (Fri) has no next day in the horizon.
        row = calendar_row(connection, D("2028-02-29"))
        assert row["monthly_closing_date"] == row["twice_monthly_closing_date"] == D("2028-02-29")
        assert calendar_row(connection, D("2028-12-29"))["next_business_day"] is None


def test_a_declared_closure_and_a_reopened_day_reach_the_calendar_and_the_table(engine):
    with engine.begin() as connection:
        prepare_calendar(connection)
        # 2027-01-05 (Tue) closed for a system migration; Saturday 2027-01-09 opened instead.
        declare_closure(connection, D("2027-01-05"), "system migration")
        reopen_day(connection, D("2027-01-09"), "make-up day")
        calendar = prepare_calendar(connection)

        assert not calendar.is_business_day(D("2027-01-05"))
        assert calendar.next_business_day(D("2027-01-04")) == D("2027-01-06")
        assert calendar.next_business_day(D("2027-01-08")) == D("2027-01-09")
        closed = calendar_row(connection, D("2027-01-05"))
        assert (closed["is_business_day"], closed["holiday_name"]) == (False, "臨時休業日")
        assert calendar_row(connection, D("2027-01-04"))["next_business_day"] == D("2027-01-06")
        opened = calendar_row(connection, D("2027-01-09"))
        assert opened["is_business_day"] and opened["holiday_name"] is None
        assert calendar_row(connection, D("2027-01-08"))["next_business_day"] == D("2027-01-09")
        # 1/11 (Mon) is 成人の日, so the day after the re-opened Saturday is Tuesday 1/12.
        assert opened["next_business_day"] == D("2027-01-12")


def test_declaring_again_replaces_and_clearing_restores(engine):
    with engine.begin() as connection:
        declare_closure(connection, D("2027-01-05"), "first reason")
        declare_closure(connection, D("2027-01-05"), "second reason")
        assert not prepare_calendar(connection).is_business_day(D("2027-01-05"))
        clear_override(connection, D("2027-01-05"))
        assert prepare_calendar(connection).is_business_day(D("2027-01-05"))
        assert calendar_row(connection, D("2027-01-05"))["is_business_day"] is True


def test_the_table_is_rewritten_only_when_the_calendar_changes(engine):
    with engine.begin() as connection:
        assert refresh_calendar_table(connection, load_calendar(connection)) is True
        assert refresh_calendar_table(connection, load_calendar(connection)) is False
        declare_closure(connection, D("2027-01-05"), "system migration")
        assert refresh_calendar_table(connection, load_calendar(connection)) is True
