"""The payout_closing and payout_transfer_file DAGs end to end: real Airflow task runs (dag.test),
the business database on SQLite and PostgreSQL, hand-worked dates and amounts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

import kessai_tasks
from kessai.db.database import kessai_home
from kessai.db.schema import payout_statements, slips
from kessai.payout.zengin import parse_transfer_file
from support.payout_builders import add_bank_account, add_merchant, add_slip, at, statement

D = date.fromisoformat
REMITTER = {
    "REMITTER_CODE": "1234567890",
    "NAME": "カ）ケッサイ",
    "BANK_CODE": "0005",
    "BANK_NAME": "ミツビシユーエフジェイ",
    "BRANCH_CODE": "001",
    "BRANCH_NAME": "ホンテン",
    "ACCOUNT_TYPE": "ordinary",
    "ACCOUNT_NUMBER": "7777777",
}


@pytest.fixture
def no_retries(monkeypatch):
    """A failing task fails the run at once (the DAG's retries wait minutes between tries)."""
    monkeypatch.setitem(kessai_tasks.DEFAULT_ARGS, "retries", 0)


def run(run_dag, dag_id: str, day: str, expect: str = "success", **params) -> dict:
    """Run a DAG for one date; returns what each task returned (read at once: the run object does
    not outlive the next run)."""
    dag_run = run_dag(dag_id, day, **params)
    assert dag_run.state == expect, f"the run of {dag_id} for {day} ended {dag_run.state}; see its task log"
    return {ti.task_id: ti.xcom_pull(task_ids=ti.task_id) for ti in dag_run.get_task_instances()}


def test_faq_twice_monthly_account_change_and_carry_forward(run_dag, business, tmp_path):
    with business.begin() as connection:
        add_merchant(connection, "M1", "monthly")
        add_merchant(connection, "T1", "twice_monthly")
        add_merchant(connection, "C1", "monthly", transfer_fee=440, minimum_payout=10_000)
        add_bank_account(connection, "M1", at("2026-12-01"))
        t1_old = add_bank_account(connection, "T1", at("2026-12-01"))
        t1_new = add_bank_account(connection, "T1", at("2027-02-05", "12:00"), account_number="7654321")
        add_bank_account(connection, "C1", at("2026-12-01"))
        add_slip(connection, "M1", 10_000, registered_at=at("2027-01-31", "23:30"))
        # The FAQ: confirmed on 2/1 with the date 1/31: February-end closing, paid 3/25.
        faq = add_slip(connection, "M1", 20_000, registered_at=at("2027-02-01", "10:00"), confirmed_on="2027-01-31")
        add_slip(connection, "T1", 1_000, registered_at=at("2027-01-20"))
        add_slip(connection, "T1", 5_000, registered_at=at("2027-02-03"))  # before the account change
        add_slip(connection, "T1", 7_000, registered_at=at("2027-02-10"))  # after it
        add_slip(connection, "C1", 3_000, registered_at=at("2027-01-10"))
        add_slip(connection, "C1", 8_000, registered_at=at("2027-02-20"))

    january = run(run_dag, "payout_closing", "2027-01-31")["close"]
    assert (january["statements"], january["paid"], january["carried"], january["net"]) == (3, 2, 1, 11_000)
    with business.connect() as connection:
        m1, t1, c1 = (statement(connection, m, "2027-01-31") for m in ("M1", "T1", "C1"))
        faq_closing = connection.execute(select(slips.c.closing_date).where(slips.c.slip_id == faq)).scalar()
    # 2027-02-25 is a Thursday, 2027-02-10 a Wednesday.
    assert (m1["slip_count"], m1["gross_amount"], m1["payout_date"]) == (1, 10_000, D("2027-02-25"))
    assert (t1["slip_count"], t1["net_amount"], t1["payout_date"]) == (1, 1_000, D("2027-02-10"))
    assert (c1["net_amount"], c1["transfer_fee"], c1["carried_forward"]) == (0, 0, 3_000)
    assert faq_closing is None  # confirmed after 1/31: its closing date comes with February's closing

    fifteenth = run(run_dag, "payout_closing", "2027-02-15")["close"]
    assert fifteenth["cycles"] == ["twice_monthly"] and fifteenth["statements"] == 1
    with business.connect() as connection:
        t1 = statement(connection, "T1", "2027-02-15")
    assert (t1["slip_count"], t1["gross_amount"], t1["payout_date"]) == (2, 12_000, D("2027-02-25"))
    assert t1["transfers"] == {t1_old: 5_000, t1_new: 7_000}

    tasks = run(run_dag, "payout_closing", "2027-02-28")
    with business.connect() as connection:
        faq_closing = connection.execute(select(slips.c.closing_date).where(slips.c.slip_id == faq)).scalar()
        m1, c1 = (statement(connection, m, "2027-02-28") for m in ("M1", "C1"))
        assert statement(connection, "T1", "2027-02-28") is None  # nothing confirmed 2/16-2/28
    assert (m1["slip_count"], m1["gross_amount"], m1["payout_date"]) == (1, 20_000, D("2027-03-25"))
    assert faq_closing == D("2027-02-28")
    # C1: 8,000 + 3,000 carried in = 11,000; less the transfer fee 10,560 >= 10,000: paid.
    assert (c1["carried_in"], c1["transfer_fee"], c1["net_amount"], c1["payout_date"]) == (
        3_000,
        440,
        10_560,
        D("2027-03-25"),
    )
    folder = Path(tasks["write_statement_files"]["directory"])
    assert folder == tmp_path / "kessai_home" / "statements" / "2027-02-28"
    assert sorted(p.name for p in folder.iterdir()) == [
        "closing-summary.csv",
        "slips-C1.csv",
        "slips-M1.csv",
        "statement-C1.csv",
        "statement-M1.csv",
    ]
    assert "前回繰越" in (folder / "statement-C1.csv").read_text(encoding="utf-8-sig")


def test_leap_day_backfill_dry_run_rerun_and_a_date_that_is_no_closing(run_dag, business, no_retries, capfd):
    with business.begin() as connection:
        add_merchant(connection, "M1", "monthly")
        add_merchant(connection, "T1", "twice_monthly")
        add_bank_account(connection, "M1", at("2027-12-01"))
        add_bank_account(connection, "T1", at("2027-12-01"))
        add_slip(connection, "M1", 5_000, registered_at=at("2028-02-10"))
        add_slip(connection, "M1", 7_000, registered_at=at("2028-02-29", "23:00"))
        add_slip(connection, "T1", 3_000, registered_at=at("2028-02-20"))
        # The backfill runs after these were registered; they belong to March all the same.
        add_slip(connection, "M1", 100_000, registered_at=at("2028-03-01", "09:00"), confirmed_on="2028-02-29")
        add_slip(connection, "T1", 200_000, registered_at=at("2028-03-02"), confirmed_on="2028-02-20")

    dry = run(run_dag, "payout_closing", "2028-02-29", dry_run=True)
    assert (dry["close"]["dry_run"], dry["close"]["statements"], dry["close"]["gross"]) == (True, 2, 15_000)
    assert dry["write_statement_files"]["dry_run"] is True
    with business.connect() as connection:
        assert connection.execute(select(func.count()).select_from(payout_statements)).scalar() == 0

    run(run_dag, "payout_closing", "2028-02-29")
    with business.connect() as connection:
        m1, t1 = (statement(connection, m, "2028-02-29") for m in ("M1", "T1"))
        waiting = connection.execute(select(func.count()).where(slips.c.closing_date.is_(None))).scalar()
    # 2028-03-25 is a Saturday: paid Friday 3/24. 2028-03-10 is a Friday.
    assert (m1["slip_count"], m1["gross_amount"], m1["payout_date"]) == (2, 12_000, D("2028-03-24"))
    assert (t1["slip_count"], t1["gross_amount"], t1["payout_date"]) == (1, 3_000, D("2028-03-10"))
    assert waiting == 2  # the slips registered in March wait for March's closings

    rerun = run(run_dag, "payout_closing", "2028-02-29")["close"]
    assert (rerun["rerun"], rerun["statements_added"], rerun["gross"]) == (True, 0, 15_000)
    with business.connect() as connection:
        assert [statement(connection, m, "2028-02-29") for m in ("M1", "T1")] == [m1, t1]

    tasks = run(run_dag, "payout_closing", "2028-02-28", expect="failed")  # 2028 is a leap year
    assert tasks["close"] is None
    assert "2028-02-28 is not a closing date: closings are on the 15th" in capfd.readouterr().out


def test_golden_week_transfer_file(run_dag, business, monkeypatch):
    for field, value in REMITTER.items():
        monkeypatch.setenv(f"KESSAI_ZENGIN_{field}", value)
    with business.begin() as connection:
        add_merchant(connection, "T1", "twice_monthly", transfer_fee=330)
        add_merchant(connection, "T2", "twice_monthly", fee_rate_bp=250)
        add_bank_account(connection, "T1", at("2026-01-01"), holder_kana="やまだ　たろう")
        add_bank_account(connection, "T1", at("2026-04-20"), account_number="0000001", holder_kana="ヤマダ　タロウ")
        add_bank_account(connection, "T2", at("2026-01-01"), holder_kana="スズキショウテン")
        add_slip(connection, "T1", 50_000, registered_at=at("2026-04-16"))
        add_slip(connection, "T1", 30_000, registered_at=at("2026-04-28"))
        add_slip(connection, "T2", 70_001, registered_at=at("2026-04-30", "23:59"))

    close = run(run_dag, "payout_closing", "2026-04-30")["close"]
    # 2026-05-10 is a Sunday: paid Friday 5/8. T1: 80,000 - 330; T2: 70,001 less 2.5% (1,750.025 -> 1,750).
    assert close["payout_dates"] == {"monthly": "2026-05-25", "twice_monthly": "2026-05-08"}
    assert close["net"] == 79_670 + 68_251

    # 5/8 less two business days: 5/7, then back over Golden Week (5/2-5/6) to Friday 5/1.
    built = run(run_dag, "payout_transfer_file", "2026-05-01")["build_transfer_files"]
    (payout,) = built["payout_dates"]
    assert (payout["payout_date"], payout["statements_net"], payout["in_files"]) == ("2026-05-08", 147_921, 147_921)
    path = kessai_home() / "transfers" / "2026-05-08" / payout["built"]
    parsed = parse_transfer_file(path.read_bytes())
    assert parsed.transfer_date == "0508" and parsed.record_count == 3
    assert [(t.holder_name, t.amount) for t in parsed.transfers] == [
        ("ﾔﾏﾀﾞ ﾀﾛｳ", 50_000),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", 29_670),
        ("ｽｽﾞｷｼﾖｳﾃﾝ", 68_251),
    ]
    assert parsed.amount_total == close["net"]
