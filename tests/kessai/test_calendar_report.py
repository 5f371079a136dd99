"""`python -m kessai calendar YYYY-MM`: the month as an operator reads it, through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


@pytest.fixture
def kessai_cli(database_url):
    def run(*args: str) -> str:
        environment = {**os.environ, "KESSAI_DATABASE_URL": database_url}
        environment.pop("KESSAI_HOLIDAYS_REVIEWED_THROUGH", None)
        environment["PYTHONPATH"] = str(PLUGINS)
        done = subprocess.run(
            [sys.executable, "-m", "kessai", *args], env=environment, capture_output=True, text=True, check=True
        )
        return done.stdout

    return run


def line_of(report: str, day: str) -> str:
    return next(line for line in report.splitlines() if line.startswith(day))


def test_february_2027(kessai_cli):
    report = kessai_cli("calendar", "2027-02")
    # 2/11 (Thu) 建国記念の日 and 2/23 (Tue) 天皇誕生日 are holidays; 2/27-2/28 the weekend.
    assert "建国記念の日" in line_of(report, "2027-02-11")
    assert "天皇誕生日" in line_of(report, "2027-02-23")
    assert line_of(report, "2027-02-10").split()[:3] == ["2027-02-10", "Wed", "yes"]
    assert line_of(report, "2027-02-27").split()[:3] == ["2027-02-27", "Sat", "-"]
    # The twice-monthly 15th closing is paid on the 25th (a Thursday); the month-end closing
    # (a Sunday) on 3/25 (monthly, a Thursday) and 3/10 (twice-monthly, a Wednesday).
    assert "twice_monthly closing, paid 2027-02-25" in line_of(report, "2027-02-15")
    month_end = line_of(report, "2027-02-28")
    assert "monthly closing, paid 2027-03-25" in month_end
    assert "twice_monthly closing, paid 2027-03-10" in month_end
    # February 2027 has 20 weekdays (it starts on a Monday), less the two holidays.
    assert "18 business days." in report
    assert "Recurring charge for 2027-02: 2027-03-01 (Mon), in the next month" in report


def test_a_declared_closure_shows_in_the_report(kessai_cli):
    kessai_cli("calendar-override", "close", "2027-02-22", "--reason", "system migration")
    report = kessai_cli("calendar", "2027-02")
    assert line_of(report, "2027-02-22").split() == ["2027-02-22", "Mon", "-", "臨時休業日"]
    assert "17 business days." in report


def test_a_month_with_the_charge_on_the_27th(kessai_cli):
    # 2027-01-27 is a Wednesday.
    report = kessai_cli("calendar", "2027-01")
    assert "recurring charge for 2027-01" in line_of(report, "2027-01-27")
    assert "Recurring charge for 2027-01: 2027-01-27 (Wed)" in report.splitlines()[-1]


def test_december_at_the_horizon_names_the_year_to_review():
    from kessai.calendar.business_calendar import BusinessCalendar
    from kessai.calendar.report import month_report

    # Month-end closings of December are paid in January, past a horizon of 2028; the 15th
    # closing is paid on 12/25 (a Monday).
    report = month_report(2028, 12, BusinessCalendar(reviewed_through=2028))
    month_end = line_of(report, "2028-12-31")
    assert "monthly closing, paid after 2028-12-31 (holidays of 2029 not reviewed)" in month_end
    assert "twice_monthly closing, paid 2028-12-25" in line_of(report, "2028-12-15")
