"""Adjustments (docs/payout-closing.md, "Adjustments"), on SQLite and PostgreSQL, with dates worked
out by hand: a chargeback, reversal or correction goes to the merchant's first closing on or after
its registration's date in Japan; a negative net carries forward as a debt over later closings,
never a negative transfer; a re-run of an earlier closing gives the same statement."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from kessai.calendar.rules import TWICE_MONTHLY, closing_dates
from kessai.cli import main
from kessai.db.schema import payout_adjustments, payout_closings
from kessai.payout.adjustments import AdjustmentRefused, register_adjustment
from kessai.payout.closing import format_summary, run_payout_closing
from kessai.payout.statement_files import statement_files
from support.payout_builders import add_bank_account, add_merchant, add_slip, at, statement

D = date.fromisoformat


def close(engine, *days: str):
    """Run the closings up to each day given, every 15th and month end in order (closings run in
    order); returns the summary of the last."""
    summary = None
    for day in days:
        with engine.connect() as connection:
            last = connection.execute(select(func.max(payout_closings.c.closing_date))).scalar()
        start = last + timedelta(days=1) if last else D(day)
        for closing in closing_dates(TWICE_MONTHLY, start, D(day)):
            summary = run_payout_closing(engine, closing)
    return summary


def adjust(connection, merchant_id: str, amount: int, when, kind: str = "chargeback", reason: str = "case 1"):
    return register_adjustment(connection, merchant_id, amount, kind=kind, reason=reason, created_by="tanaka", now=when)


def amounts(st: dict) -> tuple:
    return (
        st["gross_amount"],
        st["adjustment_amount"],
        st["carried_in"],
        st["transfer_fee"],
        st["net_amount"],
        st["carried_forward"],
    )


def test_a_chargeback_larger_than_the_month_carries_a_debt_over_two_closings(engine):
    """M1 monthly, transfer fee 220. January 100,000 paid 99,780 on 2/25. A chargeback of -130,000
    on 2/10 meets February's 20,000: -110,000 carried as a debt; March's 50,000 leaves -60,000;
    April's 90,000 and a correction of +5,000 on 4/20 pay 35,000 - 220 = 34,780."""
    with engine.begin() as connection:
        add_merchant(connection, "M1", transfer_fee=220)
        account = add_bank_account(connection, "M1", at("2026-12-01"))
        add_slip(connection, "M1", 100_000, registered_at=at("2027-01-12"))
        add_slip(connection, "M1", 20_000, registered_at=at("2027-02-15"))
        add_slip(connection, "M1", 50_000, registered_at=at("2027-03-10"))
        add_slip(connection, "M1", 90_000, registered_at=at("2027-04-12"))
        added = adjust(connection, "M1", -130_000, at("2027-02-10", "10:00"), reason="JCB case 4711")
        adjust(connection, "M1", 5_000, at("2027-04-20"), kind="correction", reason="fee refunded")
    assert (added.effective_on, added.closing_date) == (D("2027-02-10"), D("2027-02-28"))

    close(engine, "2027-01-31", "2027-02-28")
    with engine.connect() as connection:
        assert amounts(statement(connection, "M1", "2027-01-31")) == (100_000, 0, 0, 220, 99_780, 0)
        february = statement(connection, "M1", "2027-02-28")
    assert amounts(february) == (20_000, -130_000, 0, 0, 0, -110_000)
    assert february["transfers"] == {}  # never a negative transfer
    with engine.connect() as connection:
        files = statement_files(connection, D("2027-02-28"))
    rows = list(csv.reader(io.StringIO(files["statement-M1.csv"].decode("utf-8-sig"))))
    column = {name: i for i, name in enumerate(rows[0])}
    adjustment, total = rows[-2], rows[-1]
    assert (adjustment[0], adjustment[column["調整額"]], adjustment[column["調整内容"]]) == (
        "調整",
        "-130000",
        "チャージバック: JCB case 4711",
    )
    assert [total[column[c]] for c in ("区分", "売上金額", "調整額", "前回繰越", "次回繰越", "支払金額")] == [
        "合計",
        "20000",
        "-130000",
        "0",
        "-110000",
        "0",
    ]
    summary_rows = list(csv.reader(io.StringIO(files["closing-summary.csv"].decode("utf-8-sig"))))
    assert summary_rows[1][summary_rows[0].index("status")] == "debt carried forward"

    summary = close(engine, "2027-03-31")
    assert (summary.debts, summary.carried_forward, summary.net, summary.transfers) == (1, -60_000, 0, 0)
    assert "1 carrying a debt" in format_summary(summary)
    april = close(engine, "2027-04-30")
    with engine.connect() as connection:
        assert amounts(statement(connection, "M1", "2027-03-31")) == (50_000, 0, -110_000, 0, 0, -60_000)
        final = statement(connection, "M1", "2027-04-30")
        taken = connection.execute(
            select(payout_adjustments.c.amount, payout_adjustments.c.closing_date).order_by(
                payout_adjustments.c.adjustment_id
            )
        ).all()
    assert amounts(final) == (90_000, 5_000, -60_000, 220, 34_780, 0)
    assert final["transfers"] == {account: 34_780}
    assert april.adjustments == 5_000
    assert [(int(a), c) for a, c in taken] == [(-130_000, D("2027-02-28")), (5_000, D("2027-04-30"))]

    # A backfill (re-run) of February after April ran gives the same statement and changes nothing.
    again = run_payout_closing(engine, D("2027-02-28"))
    assert (again.rerun, again.statements_added, again.carried_forward, again.adjustments) == (
        True,
        0,
        -110_000,
        -130_000,
    )
    with engine.connect() as connection:
        assert statement(connection, "M1", "2027-02-28") == february


def test_an_adjustment_belongs_to_the_closing_of_its_date_in_japan(engine):
    """Registered Sunday 2/28 23:30 JST (14:30 UTC): February. Registered 3/1 00:30 JST, before the
    closing of 2/28 ran at 01:00: March. A twice-monthly merchant's 3/3 chargeback: the 3/15 closing."""
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_merchant(connection, "T1", "twice_monthly")
        add_bank_account(connection, "M1", at("2026-12-01"))
        add_bank_account(connection, "T1", at("2026-12-01"))
        add_slip(connection, "M1", 30_000, registered_at=at("2027-02-10"))
        add_slip(connection, "T1", 8_000, registered_at=at("2027-02-20"))
        add_slip(connection, "T1", 4_000, registered_at=at("2027-03-02"))
        adjust(connection, "M1", -1_000, at("2027-02-28", "23:30"))
        late = adjust(connection, "M1", -2_000, at("2027-03-01", "00:30"))
        march = adjust(connection, "T1", -3_000, at("2027-03-03"), kind="reversal")
    assert (late.closing_date, march.closing_date) == (D("2027-03-31"), D("2027-03-15"))
    close(engine, "2027-02-15", "2027-03-31")
    with engine.connect() as connection:
        assert amounts(statement(connection, "M1", "2027-02-28")) == (30_000, -1_000, 0, 0, 29_000, 0)
        assert amounts(statement(connection, "M1", "2027-03-31")) == (0, -2_000, 0, 0, 0, -2_000)
        assert amounts(statement(connection, "T1", "2027-02-28")) == (8_000, 0, 0, 0, 8_000, 0)
        assert amounts(statement(connection, "T1", "2027-03-15")) == (4_000, -3_000, 0, 0, 1_000, 0)
        assert statement(connection, "M1", "2027-03-15") is None  # a monthly merchant does not close on the 15th


def test_a_chargeback_beyond_the_current_accounts_share_comes_off_the_other_account(engine):
    """M3 changed accounts on 1/20: 50,000 registered 1/10 is paid to the first, 10,000 of 1/25 to
    the second (current). A chargeback of -30,000 takes the current account's 10,000 and 20,000 off
    the first: one transfer of 30,000 to the first account, the net."""
    with engine.begin() as connection:
        add_merchant(connection, "M3")
        first = add_bank_account(connection, "M3", at("2026-12-01"))
        add_bank_account(connection, "M3", at("2027-01-20"), account_number="7654321")
        add_slip(connection, "M3", 50_000, registered_at=at("2027-01-10"))
        add_slip(connection, "M3", 10_000, registered_at=at("2027-01-25"))
        adjust(connection, "M3", -30_000, at("2027-01-28"))
    close(engine, "2027-01-31")
    with engine.connect() as connection:
        st = statement(connection, "M3", "2027-01-31")
    assert amounts(st) == (60_000, -30_000, 0, 0, 30_000, 0)
    assert st["transfers"] == {first: 30_000}


@pytest.mark.parametrize(
    "merchant, amount, kind, reason, message",
    [
        ("M1", 5_000, "chargeback", "x", "give the amount as negative (-5000)"),
        ("M1", 0, "correction", "x", "not 0"),
        ("M1", -10_000_000_000, "correction", "x", "between -9,999,999,999 and 9,999,999,999"),
        ("M1", -100, "chargeback", "  ", "give the reason"),
        ("M1", -100, "returned_transfer", "x", "python -m kessai import-transfer-results"),
        ("NOPE", -100, "chargeback", "x", "merchant 'NOPE' is not registered"),
    ],
)
def test_adjustments_refused(engine, merchant, amount, kind, reason, message):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
    with (
        pytest.raises(AdjustmentRefused, match=message.replace("(", r"\(").replace(")", r"\)")),
        engine.begin() as connection,
    ):
        adjust(connection, merchant, amount, at("2027-02-10"), kind=kind, reason=reason)


def test_the_adjust_command(business, capsys, monkeypatch):
    monkeypatch.setenv("KESSAI_AS_OF", "2027-02-10T09:00:00+09:00")
    with business.begin() as connection:
        add_merchant(connection, "M1", "twice_monthly")
    assert main(["adjust", "M1", "-12000", "--kind", "chargeback", "--reason", "VISA 0815", "--by", "sato"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == (
        "adjustment 1: chargeback of -12,000 yen for merchant M1 (by sato: VISA 0815), effective 2027-02-10: "
        "the closing of 2027-02-15 takes it"
    )
    assert main(["adjust", "M1", "12000", "--kind", "chargeback", "--reason", "VISA 0815"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: a chargeback takes money back from merchant M1: give the amount as negative (-12000); "
        "to pay a merchant more, register a correction"
    ]
    with business.connect() as connection:
        row = connection.execute(select(payout_adjustments)).mappings().one()
    assert (row["amount"], row["kind"], row["created_by"], row["effective_on"], row["closing_date"]) == (
        -12_000,
        "chargeback",
        "sato",
        D("2027-02-10"),
        None,
    )
