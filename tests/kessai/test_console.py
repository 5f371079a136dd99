"""The console's pages on both databases, read as HTML: each figure against the rows the jobs
wrote (tests/support/console_data.py), and the dates worked out by hand from the calendar.

The app runs here without Airflow (no guard, no run links); tests/deploy/test_console_ui.py
serves it from a real API server behind Airflow's login and opens it in Chromium.
"""

from __future__ import annotations

import html
import re
from datetime import date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from kessai.calendar.business_calendar import BusinessCalendar
from kessai.calendar.run_dates import JAPAN
from kessai.console.app import create_app
from kessai.console.pages import RunLink, closings_due
from kessai.db.database import make_engine
from kessai.db.schema import (
    calendar_overrides,
    charge_attempts,
    merchants,
    payout_statement_lines,
    payout_statements,
    recurring_charge_cycles,
    slips,
    stale_slip_digests,
    transmission_batches,
    transmission_holds,
)
from kessai.reminders.stale_slips import stale_through
from kessai.settings import Settings
from support.console_data import CONSOLE_AS_OF, build_world


def text_of(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def rows(page: str, attribute: str) -> dict[str, str]:
    """The text of each <tr data-ATTRIBUTE="key">, by key."""
    return {
        key: text_of(body)
        for key, body in re.findall(rf'<tr[^>]*? data-{attribute}="([^"]*)"[^>]*>(.*?)</tr>', page, re.S)
    }


def cells(page: str) -> dict[str, str]:
    """The text of each day of a calendar page (<td data-day="YYYY-MM-DD">), by date."""
    return {key: text_of(body) for key, body in re.findall(r'<td data-day="([^"]*)"[^>]*>(.*?)</td>', page, re.S)}


def yen(amount) -> str:
    return f"¥{int(amount):,}"


@pytest.fixture
def world(database_url, tmp_path, monkeypatch):
    build_world(database_url, tmp_path / "home")
    monkeypatch.setenv("KESSAI_AS_OF", CONSOLE_AS_OF)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def client(engine, runs=None) -> TestClient:
    kwargs = {"runs": runs} if runs else {}
    return TestClient(create_app(lambda: engine, **kwargs))


def test_today_shows_each_jobs_result_of_the_business_date(world):
    day = date(2027, 2, 1)
    found_runs = []

    def runs(dag_id, days):
        found_runs.append((dag_id, tuple(days)))
        return {d: [RunLink(dag_id, f"scheduled__{d}", "success")] for d in days}

    page = client(world, runs).get("/today").text
    assert 'id="business-date">2027-02-01<' in page  # the clock's date, a Monday

    with world.connect() as connection:
        files = connection.execute(
            select(
                transmission_batches.c.card_company,
                transmission_batches.c.record_count,
                transmission_batches.c.amount_total,
            ).where(transmission_batches.c.business_date == day)
        ).all()
        held = connection.execute(
            select(func.count(), func.sum(slips.c.amount))
            .select_from(transmission_holds.join(slips))
            .where(transmission_holds.c.business_date == day, transmission_holds.c.reason == "unknown_card_company")
        ).one()
        closing = connection.execute(
            select(func.count(), func.sum(payout_statements.c.net_amount)).where(
                payout_statements.c.closing_date == date(2027, 1, 31)
            )
        ).one()
        payout = connection.execute(
            select(func.count(), func.sum(payout_statements.c.net_amount)).where(
                payout_statements.c.payout_date == date(2027, 2, 10)
            )
        ).one()
        digests = connection.execute(select(func.count()).where(stale_slip_digests.c.business_date == day)).scalar_one()
    assert files and held[0] > 0 and closing[0] > 0 and payout[0] > 0 and digests > 0

    shown = rows(page, "card-company")
    assert set(shown) == {company for company, _, _ in files}
    for company, count, total in files:
        assert f" {count:,} {yen(total)} " in f" {shown[company]} ", company
    assert f"{held[0]} {yen(held[1])}" in rows(page, "hold")["unknown_card_company"]

    # 2/1 is the first business day after Friday 1/29: the closing of 1/31 (both cycles) ran since.
    assert list(rows(page, "closing")) == ["2027-01-31"]
    assert f"closed payout_closing run 2027-01-31: success {closing[0]}" in rows(page, "closing")["2027-01-31"]
    assert yen(closing[1]) in rows(page, "closing")["2027-01-31"]

    # Ten business days from 2/1 run to 2/15 (2/11 is a holiday): the twice-monthly month-end
    # payout of 2/10 falls in them; its file is built two business days before, on Monday 2/8.
    assert "Payouts due through 2027-02-15 (Mon)" in page
    payout_row = rows(page, "payout")["2027-02-10"]
    assert f"{payout[0]} {yen(payout[1])} not filed yet" in payout_row
    assert "built on 2027-02-08 (Mon)" in payout_row
    assert ("payout_transfer_file", (date(2027, 2, 1), date(2027, 2, 8))) in found_runs

    assert f'id="digests">{digests}<' in page
    mails = rows(page, "mail")
    assert mails["deferred/stale_slip_digest"].startswith("deferred stale_slip_digest 1 450")
    assert mails["gave_up/stale_slip_digest"].startswith("given up stale_slip_digest 1 550")
    assert "Not a charge day." in page
    assert 'href="/dags/card_transmission/runs/scheduled__2027-02-01"' in page


def test_today_of_the_charge_day(world):
    # 2027-01-27 (Wed) is the charge day of January: the simulator approved or declined each card.
    with world.connect() as connection:
        outcomes = dict(
            connection.execute(
                select(charge_attempts.c.outcome, func.count())
                .where(charge_attempts.c.charge_date == date(2027, 1, 27))
                .group_by(charge_attempts.c.outcome)
            ).all()
        )
        cycle = connection.execute(select(recurring_charge_cycles)).one()
    assert outcomes["succeeded"] > 0 and outcomes["declined"] > 0
    page = client(world).get("/today?date=2027-01-27").text
    assert "Charge day of billing month 2027-01." in page
    shown = rows(page, "outcome")
    assert set(shown) == set(outcomes)
    for outcome, count in outcomes.items():
        assert shown[outcome].startswith(f"{outcome} {count} ¥")
    assert text_of(page.split('id="charge-cycle">')[1].split("</p>")[0]) == (
        f"Closed: {cycle.paid_count} paid ({yen(cycle.paid_amount)}), {cycle.failed_count} failed "
        f"({yen(cycle.failed_amount)}) of {cycle.slip_count} slips."
    )
    assert cycle.failed_count == outcomes["declined"]
    assert "no file sent for this date" in page  # the backlog went out on Friday 1/29
    assert client(world).get("/today?date=2027-13-01").status_code == 400


def test_closings_due_on_a_business_day():
    calendar = BusinessCalendar()
    # Tuesday 2027-02-16 follows Monday 2/15: the 15th closed in the night.
    assert closings_due(calendar, date(2027, 2, 16)) == [date(2027, 2, 15)]
    # Monday 2027-03-01: the month-end closing of Sunday 2/28.
    assert closings_due(calendar, date(2027, 3, 1)) == [date(2027, 2, 28)]
    assert closings_due(calendar, date(2027, 2, 17)) == []


def test_slip_search_and_the_stored_row(world):
    with world.begin() as connection:
        slip = connection.execute(
            select(slips.c.slip_id, slips.c.merchant_id, slips.c.amount, slips.c.transmitted_on)
            .where(slips.c.transmitted_on == date(2027, 1, 29))
            .order_by(slips.c.id)
            .limit(1)
        ).one()
        other = connection.execute(
            select(merchants.c.merchant_id).where(merchants.c.merchant_id != slip.merchant_id).limit(1)
        ).scalar_one()
        connection.execute(
            insert(slips).values(
                slip_id=slip.slip_id, merchant_id=other, card_company="jcb", amount=1234, payment_date=date(2027, 1, 5)
            )
        )

    both = client(world).get(f"/slip?q={slip.slip_id}").text
    assert f"Slip {slip.slip_id} at 2 merchants" in text_of(both)

    page = client(world).get(f"/slip?q={slip.slip_id}&merchant={slip.merchant_id}").text
    fields = rows(page, "field")
    assert fields["amount"] == f"amount {yen(slip.amount)}"
    assert fields["transmitted_on"] == "transmitted_on 2027-01-29 (Fri)"
    try:
        import kessai.explain.explanation  # noqa: F401
    except ImportError:
        assert 'id="explain-unavailable"' in page
    else:
        assert 'data-step="transmission"' in page

    assert "Nothing found" in client(world).get("/slip?q=999999999999999999").text
    by_name = client(world).get("/slip?q=" + other).text
    assert f'href="/merchant/{other}"' in by_name


def test_merchant_statements_lines_transfers_and_stale_slips(world):
    with world.connect() as connection:
        statement = connection.execute(
            select(payout_statements)
            .where(payout_statements.c.closing_date == date(2027, 1, 31))
            .order_by(payout_statements.c.net_amount.desc())
            .limit(1)
        ).one()
        lines = connection.execute(
            select(payout_statement_lines.c.card_company, payout_statement_lines.c.gross_amount).where(
                payout_statement_lines.c.statement_id == statement.statement_id
            )
        ).all()
        # Stale on 2/1: paid three months or more before, on or before 2026-11-01.
        assert stale_through(date(2027, 2, 1)) == date(2026, 11, 1)
        stale = connection.execute(
            select(func.count()).where(
                slips.c.merchant_id == statement.merchant_id,
                slips.c.payment_date <= date(2026, 11, 1),
                slips.c.confirmed_on.is_(None),
                slips.c.cancelled_at.is_(None),
                slips.c.expired_on.is_(None),
            )
        ).scalar_one()

    page = client(world).get(f"/merchant/{statement.merchant_id}").text
    row = rows(page, "statement")["2027-01-31"]
    assert yen(statement.gross_amount) in row and yen(statement.net_amount) in row
    shown_lines = rows(page, "line")
    assert set(shown_lines) == {f"2027-01-31/{company}" for company, _ in lines}
    for company, gross in lines:
        assert yen(gross) in shown_lines[f"2027-01-31/{company}"]
    assert "not in a file yet" in rows(page, "transfer")["2027-01-31"]
    assert f'id="stale-count">{stale}<' in page
    assert len(rows(page, "stale")) == stale
    for shown in rows(page, "stale").values():
        paid, deadline = re.findall(r"\d{4}-\d{2}-\d{2}", shown)
        assert paid <= "2026-11-01"
        # The deadline is six months on, the same day (October has no day April lacks but the 31st).
        paid_on = date.fromisoformat(paid)
        assert date.fromisoformat(deadline) == paid_on.replace(
            year=2027, month=paid_on.month - 6, day=min(paid_on.day, 30)
        )
    assert client(world).get("/merchant/NOPE").status_code == 404


def test_calendar_month_as_an_operator_reads_it(engine, monkeypatch):
    monkeypatch.setenv("KESSAI_AS_OF", CONSOLE_AS_OF)
    with engine.begin() as connection:
        connection.execute(
            insert(calendar_overrides).values(day=date(2027, 2, 26), is_open=False, reason="system move")
        )
    page = client(engine).get("/calendar").text
    assert 'id="month">2027-02<' in page
    days = cells(page)
    assert len(days) == 28 and "business day" in days["2027-02-01"] and "closed" in days["2027-02-06"]
    # 20 weekdays, less 2/11 建国記念の日, 2/23 天皇誕生日 and the declared closure of 2/26.
    assert 'id="business-days">17<' in page
    assert "建国記念の日" in days["2027-02-11"] and "天皇誕生日" in days["2027-02-23"]
    assert "臨時休業日 (declared closed: system move)" in days["2027-02-26"]
    assert "twice_monthly closing" in days["2027-02-15"]
    assert "monthly closing" in days["2027-02-28"] and "twice_monthly closing" in days["2027-02-28"]
    assert "payout of the twice_monthly closing 01-31" in days["2027-02-10"]
    # The 25th: the monthly January closing and the twice-monthly 2/15 closing.
    assert "payout of the monthly closing 01-31" in days["2027-02-25"]
    assert "payout of the twice_monthly closing 02-15" in days["2027-02-25"]
    assert "recurring charge" not in page  # 2/27 is a Saturday: February is charged on 3/1
    march = cells(client(engine).get("/calendar?month=2027-03").text)
    assert "recurring charge for 2027-02" in march["2027-03-01"]
    assert "recurring charge for 2027-03" in march["2027-03-29"]  # 3/27 is a Saturday
    # The monthly closing of 2/28 is paid on the 25th of March, a Thursday.
    assert "payout of the monthly closing 02-28" in march["2027-03-25"]
    assert client(engine).get("/calendar?month=2027-2x").status_code == 400


def test_the_pages_are_drawn_with_the_settings_handed_in(engine, monkeypatch):
    monkeypatch.setenv("KESSAI_AS_OF", "2031-07-01T10:00:00+09:00")
    given = Settings(as_of=datetime(2027, 3, 1, 10, tzinfo=JAPAN))
    app = TestClient(create_app(lambda: engine, configuration=lambda: given))
    assert 'id="month">2027-03<' in app.get("/calendar").text
    assert "2027-03-01T10:00:00+09:00 (Japan; from KESSAI_AS_OF=2027-03-01T10:00:00+09:00)" in app.get("/today").text
