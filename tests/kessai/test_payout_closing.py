"""The payout closing as plain functions (kessai.payout.closing), on SQLite and PostgreSQL, with
hand-worked dates and amounts. The calendar is the real one (jpholiday)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, insert, select

from kessai.calendar.business_calendar import default_calendar
from kessai.db.database import make_engine
from kessai.db.schema import payout_closings, payout_statements, payout_transfers, slips
from kessai.payout.closing import (
    ClosingError,
    closing_cycles,
    closing_plan,
    previous_closing_date,
    run_payout_closing,
)
from support.payout_builders import add_bank_account, add_merchant, add_slip, at, statement

D = date.fromisoformat


def close(engine, *days: str, dry_run: bool = False):
    summary = None
    for day in days:
        summary = run_payout_closing(engine, D(day), dry_run=dry_run)
    return summary


def closing_date_of(engine, slip_id: str):
    with engine.connect() as connection:
        return connection.execute(select(slips.c.closing_date).where(slips.c.slip_id == slip_id)).scalar_one()


# -- which dates close which cycles, and when they are paid (no database) -----------------------


def test_closing_dates_and_their_cycles():
    assert closing_cycles(D("2027-01-15")) == ("twice_monthly",)
    assert closing_cycles(D("2027-01-31")) == ("monthly", "twice_monthly")
    assert closing_cycles(D("2027-02-28")) == ("monthly", "twice_monthly")
    assert closing_cycles(D("2028-02-29")) == ("monthly", "twice_monthly")  # leap year
    # 2028-02-28 is no month end: 2028 is a leap year.
    for not_a_closing in ("2027-01-30", "2027-01-16", "2028-02-28", "2027-04-29"):
        with pytest.raises(ClosingError, match="is not a closing date: closings are on the 15th"):
            closing_cycles(D(not_a_closing))


def test_previous_closing_date():
    assert previous_closing_date(D("2027-03-15")) == D("2027-02-28")
    assert previous_closing_date(D("2027-03-31")) == D("2027-03-15")
    assert previous_closing_date(D("2028-03-15")) == D("2028-02-29")
    assert previous_closing_date(D("2027-01-15")) == D("2026-12-31")


def test_payout_dates_on_weekends_and_holidays():
    calendar = default_calendar()
    # The FAQ: February-end closing of a monthly merchant is paid 3/25 (2027-03-25 is a Thursday).
    assert closing_plan(D("2027-02-28"), calendar) == {"monthly": D("2027-03-25"), "twice_monthly": D("2027-03-10")}
    # 2028-03-25 is a Saturday: the leap-day closing is paid on Friday 3/24; twice-monthly on 3/10 (Fri).
    assert closing_plan(D("2028-02-29"), calendar) == {"monthly": D("2028-03-24"), "twice_monthly": D("2028-03-10")}
    # 2028-01-10 is 成人の日 (second Monday of January), 1/8-1/9 a weekend: paid Friday 1/7.
    assert closing_plan(D("2027-12-31"), calendar)["twice_monthly"] == D("2028-01-07")
    # 2027-04-25 is a Sunday: the 4/15 closing is paid Friday 4/23.
    assert closing_plan(D("2027-04-15"), calendar) == {"twice_monthly": D("2027-04-23")}
    # 2026-05-10 is a Sunday after Golden Week: the April-end twice-monthly closing is paid Friday 5/8.
    assert closing_plan(D("2026-04-30"), calendar)["twice_monthly"] == D("2026-05-08")


# -- the FAQ and the closing dates of slips -----------------------------------------------------


def test_faq_backdated_confirmation_goes_to_the_next_closing(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly")
        add_bank_account(connection, "M1", at("2026-12-01"))
        # Registered 1/31 23:30 in Japan (14:30 UTC): registered on 1/31, January closing.
        on_time = add_slip(connection, "M1", 10_000, registered_at=at("2027-01-31", "23:30"))
        # The FAQ: registered 2/1 with the date 1/31: the February-end closing, paid 3/25.
        faq = add_slip(connection, "M1", 20_000, registered_at=at("2027-02-01", "10:00"), confirmed_on="2027-01-31")
        # 2/1 00:10 in Japan is still 1/31 in UTC: February.
        after_midnight = add_slip(
            connection, "M1", 400, registered_at=at("2027-02-01", "00:10"), confirmed_on="2027-01-30"
        )

    summary = close(engine, "2027-01-31")
    # The closing fills the closing dates of what it may pay; the others wait for theirs.
    assert summary.closing_dates_filled == 1
    assert closing_date_of(engine, on_time) == D("2027-01-31")
    assert closing_date_of(engine, faq) is closing_date_of(engine, after_midnight) is None
    with engine.connect() as connection:
        january = statement(connection, "M1", "2027-01-31")
    assert (january["slip_count"], january["gross_amount"], january["payout_date"]) == (1, 10_000, D("2027-02-25"))

    close(engine, "2027-02-15", "2027-02-28")
    assert closing_date_of(engine, faq) == closing_date_of(engine, after_midnight) == D("2027-02-28")
    with engine.connect() as connection:
        assert statement(connection, "M1", "2027-02-15") is None  # monthly merchants close at month end only
        february = statement(connection, "M1", "2027-02-28")
    assert (february["slip_count"], february["gross_amount"], february["payout_date"]) == (2, 20_400, D("2027-03-25"))


def test_twice_monthly_closings_and_future_dated_confirmations(engine):
    with engine.begin() as connection:
        add_merchant(connection, "T1", "twice_monthly")
        add_merchant(connection, "M1", "monthly")
        for merchant in ("T1", "M1"):
            add_bank_account(connection, merchant, at("2026-12-01"))
        add_slip(connection, "T1", 1_000, registered_at=at("2027-01-10"))
        add_slip(connection, "T1", 2_000, registered_at=at("2027-01-15", "23:59"))
        add_slip(connection, "T1", 4_000, registered_at=at("2027-01-16", "00:00"))
        # Registered 1/5, dated 1/20 (future): counts from 1/20, the month-end closing.
        add_slip(connection, "T1", 8_000, registered_at=at("2027-01-05"), confirmed_on="2027-01-20")
        add_slip(connection, "M1", 16_000, registered_at=at("2027-01-10"))

    fifteenth = close(engine, "2027-01-15")
    assert fifteenth.cycles == ["twice_monthly"] and fifteenth.statements == 1
    month_end = close(engine, "2027-01-31")
    with engine.connect() as connection:
        t_15 = statement(connection, "T1", "2027-01-15")
        t_31 = statement(connection, "T1", "2027-01-31")
        m_31 = statement(connection, "M1", "2027-01-31")
    # 2027-01-25 is a Monday; 2027-02-10 a Wednesday; 2027-02-25 a Thursday.
    assert (t_15["slip_count"], t_15["gross_amount"], t_15["payout_date"]) == (2, 3_000, D("2027-01-25"))
    assert (t_31["slip_count"], t_31["gross_amount"], t_31["payout_date"]) == (2, 12_000, D("2027-02-10"))
    assert (m_31["slip_count"], m_31["gross_amount"], m_31["payout_date"]) == (1, 16_000, D("2027-02-25"))
    assert month_end.statements == 2 and month_end.as_dict()["payout_dates"] == {
        "monthly": "2027-02-25",
        "twice_monthly": "2027-02-10",
    }


def test_leap_day_closing(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly")
        add_bank_account(connection, "M1", at("2027-12-01"))
        add_slip(connection, "M1", 5_000, registered_at=at("2028-02-29", "23:00"))
        add_slip(connection, "M1", 7_000, registered_at=at("2028-03-01", "09:00"), confirmed_on="2028-02-29")
    close(engine, "2028-02-29")
    with engine.connect() as connection:
        leap = statement(connection, "M1", "2028-02-29")
    # 2028-03-25 is a Saturday: paid Friday 3/24. The slip registered 3/1 waits for March.
    assert (leap["slip_count"], leap["gross_amount"], leap["payout_date"]) == (1, 5_000, D("2028-03-24"))


# -- amounts: fee, transfer fee, carry-forward --------------------------------------------------


def test_fee_per_line_rounded_down_and_lines_sum_to_the_statement(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly", fee_rate_bp=325, transfer_fee=440)
        add_bank_account(connection, "M1", at("2026-12-01"))
        add_slip(connection, "M1", 5_000, registered_at=at("2027-01-10"))
        add_slip(connection, "M1", 1_001, registered_at=at("2027-01-11"), card_company="jcb")
        add_slip(connection, "M1", 1_999, registered_at=at("2027-01-12"), card_company="jcb")
    close(engine, "2027-01-31")
    with engine.connect() as connection:
        st = statement(connection, "M1", "2027-01-31")
    # 3.25% of each line's gross: visa 162.5 -> 162; jcb 3,000 -> 97.5 -> 97 (not per slip: 32 + 64).
    assert st["lines"] == [("jcb", 1, 2, 3_000, 97), ("visa_master", 1, 1, 5_000, 162)]
    # The statement's fee is the lines' sum, 259 (3.25% of the statement's 8,000 would be 260).
    assert (st["gross_amount"], st["fee"]) == (8_000, 259)
    assert (st["transfer_fee"], st["net_amount"], st["carried_forward"]) == (440, 8_000 - 259 - 440, 0)
    assert st["transfers"] == {1: 7_301}


def test_carry_forward_until_the_minimum_payout_is_reached(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly", transfer_fee=440, minimum_payout=10_000)
        add_bank_account(connection, "M1", at("2026-12-01"))
        add_slip(connection, "M1", 3_000, registered_at=at("2027-01-10"))
        add_slip(connection, "M1", 8_000, registered_at=at("2027-03-10"))
    close(engine, "2027-01-31", "2027-02-15", "2027-02-28", "2027-03-15", "2027-03-31")
    with engine.connect() as connection:
        jan, feb, mar = (statement(connection, "M1", d) for d in ("2027-01-31", "2027-02-28", "2027-03-31"))
        fifteenths = [statement(connection, "M1", d) for d in ("2027-02-15", "2027-03-15")]
    # January: 3,000 - 440 < 10,000: carried whole, no transfer, no transfer fee.
    assert (jan["net_amount"], jan["transfer_fee"], jan["carried_forward"], jan["transfers"]) == (0, 0, 3_000, {})
    # February: no slips, the balance is shown and carried again.
    assert (feb["slip_count"], feb["carried_in"], feb["net_amount"], feb["carried_forward"]) == (0, 3_000, 0, 3_000)
    # March: 8,000 + 3,000 = 11,000; 11,000 - 440 = 10,560 >= 10,000: paid.
    assert (mar["carried_in"], mar["transfer_fee"], mar["net_amount"], mar["carried_forward"]) == (
        3_000,
        440,
        10_560,
        0,
    )
    assert mar["transfers"] == {1: 10_560}
    assert fifteenths == [None, None]


def test_a_net_of_nothing_is_carried_even_without_a_minimum(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly", transfer_fee=440)
        add_bank_account(connection, "M1", at("2026-12-01"))
        add_slip(connection, "M1", 440, registered_at=at("2027-01-10"))
    close(engine, "2027-01-31")
    with engine.connect() as connection:
        st = statement(connection, "M1", "2027-01-31")
    # 440 - 440 = 0: a transfer of nothing is not made and the fee not charged.
    assert (st["net_amount"], st["transfer_fee"], st["carried_forward"]) == (0, 0, 440)


# -- bank accounts ------------------------------------------------------------------------------


def test_an_account_change_mid_period_pays_both_accounts(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly", transfer_fee=500)
        old = add_bank_account(connection, "M1", at("2026-12-01"))
        new = add_bank_account(connection, "M1", at("2027-01-20", "12:00"), account_number="7654321")
        add_slip(connection, "M1", 10_000, registered_at=at("2027-01-20", "11:59"))
        add_slip(connection, "M1", 3_000, registered_at=at("2027-01-20", "12:00"))  # the change's own moment
        add_slip(connection, "M1", 2_000, registered_at=at("2027-01-25"), card_company="jcb")
        # Confirmed (registered) before the change, dated after it: still the old account.
        add_slip(connection, "M1", 1_000, registered_at=at("2027-01-19"), confirmed_on="2027-01-28")
    close(engine, "2027-01-31")
    with engine.connect() as connection:
        st = statement(connection, "M1", "2027-01-31")
    assert st["lines"] == [
        ("jcb", new, 1, 2_000, 0),
        ("visa_master", old, 2, 11_000, 0),
        ("visa_master", new, 1, 3_000, 0),
    ]
    # One transfer fee per payout, taken from the current account's transfer (5,000 - 500).
    assert (st["gross_amount"], st["transfer_fee"], st["net_amount"]) == (16_000, 500, 15_500)
    assert st["transfers"] == {old: 11_000, new: 4_500}


def test_transfer_fee_spills_over_when_the_current_accounts_share_is_smaller(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly", transfer_fee=250)
        old = add_bank_account(connection, "M1", at("2026-12-01"))
        new = add_bank_account(connection, "M1", at("2027-01-20"))
        add_slip(connection, "M1", 300, registered_at=at("2027-01-10"))
        add_slip(connection, "M1", 100, registered_at=at("2027-01-25"))
    close(engine, "2027-01-31")
    with engine.connect() as connection:
        st = statement(connection, "M1", "2027-01-31")
    # 400 - 250 = 150. The new account's 100 all goes to the fee (no transfer of 0), the other 150
    # of the fee comes off the old account's 300.
    assert (st["net_amount"], st["transfer_fee"]) == (150, 250)
    assert st["transfers"] == {old: 150}
    assert new not in st["transfers"]


def test_carried_in_balance_goes_to_the_current_account(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "twice_monthly", minimum_payout=5_000)
        old = add_bank_account(connection, "M1", at("2026-12-01"))
        add_slip(connection, "M1", 3_000, registered_at=at("2027-01-10"))
        add_slip(connection, "M1", 4_000, registered_at=at("2027-01-18"))
    close(engine, "2027-01-15")
    with engine.begin() as connection:
        new = add_bank_account(connection, "M1", at("2027-01-20"))
    close(engine, "2027-01-31")
    with engine.connect() as connection:
        st = statement(connection, "M1", "2027-01-31")
    # The slip of 1/18 was registered before the change: old account. The 3,000 carried from the
    # 15th goes to the account in effect when 1/31 ends: the new one.
    assert (st["carried_in"], st["net_amount"]) == (3_000, 7_000)
    assert st["transfers"] == {old: 4_000, new: 3_000}


def test_a_slip_registered_before_the_first_account_is_paid_to_it(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly")
        first = add_bank_account(connection, "M1", at("2027-01-10"))
        second = add_bank_account(connection, "M1", at("2027-01-20"))
        add_slip(connection, "M1", 1_000, registered_at=at("2027-01-05"))
        add_slip(connection, "M1", 2_000, registered_at=at("2027-01-15"))
        add_slip(connection, "M1", 4_000, registered_at=at("2027-01-25"))
    close(engine, "2027-01-31")
    with engine.connect() as connection:
        assert statement(connection, "M1", "2027-01-31")["transfers"] == {first: 3_000, second: 4_000}


def test_three_accounts_in_one_closing(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly")
        first = add_bank_account(connection, "M1", at("2026-12-01"))
        second = add_bank_account(connection, "M1", at("2027-01-10"))
        third = add_bank_account(connection, "M1", at("2027-01-20"))
        add_slip(connection, "M1", 1, registered_at=at("2026-11-20"), confirmed_on="2027-01-05")  # before any
        add_slip(connection, "M1", 10, registered_at=at("2027-01-05"))
        add_slip(connection, "M1", 100, registered_at=at("2027-01-12"))
        add_slip(connection, "M1", 1_000, registered_at=at("2027-01-20"))
        add_slip(connection, "M1", 10_000, registered_at=at("2027-01-31", "23:59"), card_company="jcb")
    close(engine, "2027-01-31")
    with engine.connect() as connection:
        st = statement(connection, "M1", "2027-01-31")
    assert st["lines"] == [
        ("jcb", third, 1, 10_000, 0),
        ("visa_master", first, 2, 11, 0),
        ("visa_master", second, 1, 100, 0),
        ("visa_master", third, 1, 1_000, 0),
    ]
    assert st["transfers"] == {first: 11, second: 100, third: 11_000}


def test_a_merchant_without_any_bank_account_stops_the_closing(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly")
        add_merchant(connection, "M2", "monthly")
        add_bank_account(connection, "M1", at("2026-12-01"))
        add_slip(connection, "M1", 1_000, registered_at=at("2027-01-10"))
        add_slip(connection, "M2", 2_000, registered_at=at("2027-01-10"))
    with pytest.raises(ClosingError, match=r"without a bank account: M2 \(1 slips, 2,000 yen\)"):
        close(engine, "2027-01-31")
    with engine.connect() as connection:  # nothing issued, the closing not recorded
        assert connection.execute(select(func.count()).select_from(payout_statements)).scalar() == 0
        assert connection.execute(select(func.count()).select_from(payout_closings)).scalar() == 0
    with engine.begin() as connection:
        add_bank_account(connection, "M2", at("2026-12-01"))
    assert close(engine, "2027-01-31").statements == 2


# -- runs, re-runs, order, backfills ------------------------------------------------------------


def test_dry_run_writes_nothing(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly")
        add_bank_account(connection, "M1", at("2026-12-01"))
        slip = add_slip(connection, "M1", 1_000, registered_at=at("2027-01-10"))
    summary = close(engine, "2027-01-31", dry_run=True)
    assert (summary.dry_run, summary.statements, summary.net) == (True, 1, 1_000)
    assert closing_date_of(engine, slip) is None
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(payout_statements)).scalar() == 0
        assert connection.execute(select(func.count()).select_from(payout_closings)).scalar() == 0


def test_a_rerun_finds_the_same_statements_and_changes_nothing(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly", fee_rate_bp=300, transfer_fee=220)
        add_bank_account(connection, "M1", at("2026-12-01"))
        add_bank_account(connection, "M1", at("2027-01-20"))
        for day in ("2027-01-10", "2027-01-22", "2027-01-30"):
            add_slip(connection, "M1", 12_345, registered_at=at(day))
    first = close(engine, "2027-01-31")
    with engine.connect() as connection:
        before = statement(connection, "M1", "2027-01-31")
        ids = connection.execute(select(payout_statements.c.statement_id, payout_statements.c.created_at)).all()
    again = close(engine, "2027-01-31")
    with engine.connect() as connection:
        assert statement(connection, "M1", "2027-01-31") == before
        assert connection.execute(select(payout_statements.c.statement_id, payout_statements.c.created_at)).all() == ids
    assert (again.rerun, again.statements_added, first.statements_added) == (True, 0, 1)
    assert (again.gross, again.fee, again.net) == (first.gross, first.fee, first.net)


def test_a_rerun_refuses_when_the_slips_changed_after_the_closing(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly")
        add_bank_account(connection, "M1", at("2026-12-01"))
        add_slip(connection, "M1", 1_000, registered_at=at("2027-01-10"))
    close(engine, "2027-01-31")
    with engine.begin() as connection:  # written late, dated back into January
        add_slip(connection, "M1", 500, registered_at=at("2027-01-20"), closing_date="2027-01-31")
    with pytest.raises(ClosingError, match=r"M1 \(issued 1 slips, gross 1,000, net 1,000; the slips now give 2 slips"):
        close(engine, "2027-01-31")
    with engine.connect() as connection:
        assert statement(connection, "M1", "2027-01-31")["gross_amount"] == 1_000


def test_closings_run_in_order(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly")
        add_bank_account(connection, "M1", at("2026-12-01"))
    close(engine, "2027-01-31")
    with pytest.raises(
        ClosingError, match="cannot run before closing 2027-02-15: the last closing that ran is 2027-01-31"
    ):
        close(engine, "2027-02-28")
    close(engine, "2027-02-15", "2027-02-28")
    with pytest.raises(ClosingError, match="closings from 2027-01-31 on have run already"):
        close(engine, "2027-01-15")
    with engine.connect() as connection:
        assert connection.execute(
            select(payout_closings.c.closing_date).order_by(payout_closings.c.closing_date)
        ).scalars().all() == [
            D("2027-01-31"),
            D("2027-02-15"),
            D("2027-02-28"),
        ]


def backfill_data(connection, *, with_later_slips: bool) -> None:
    add_merchant(connection, "M1", "monthly", fee_rate_bp=250, transfer_fee=330)
    add_merchant(connection, "T1", "twice_monthly", minimum_payout=3_000)
    add_bank_account(connection, "M1", at("2026-12-01"))
    add_bank_account(connection, "M1", at("2027-01-21"), account_number="2222222")
    add_bank_account(connection, "T1", at("2026-12-01"))
    add_slip(connection, "M1", 10_000, registered_at=at("2027-01-05"))
    add_slip(connection, "M1", 20_000, registered_at=at("2027-01-31", "23:59"), card_company="jcb")
    add_slip(connection, "T1", 2_500, registered_at=at("2027-01-20"))
    if with_later_slips:
        # Registered after 1/31, some dated back into January: later closings, whenever the run.
        add_slip(connection, "M1", 40_000, registered_at=at("2027-02-01", "00:00"), confirmed_on="2027-01-31")
        add_slip(connection, "M1", 80_000, registered_at=at("2027-02-20"), confirmed_on="2027-01-15")
        add_slip(connection, "T1", 160_000, registered_at=at("2027-02-03"), confirmed_on="2027-01-31")


def test_a_backfill_gives_the_statements_of_the_run_on_the_day(database_url_for, dialect):
    statements = {}
    for later in (False, True):
        engine = make_engine(database_url_for(dialect))
        with engine.begin() as connection:
            backfill_data(connection, with_later_slips=later)
        close(engine, "2027-01-31")
        with engine.connect() as connection:
            statements[later] = [statement(connection, m, "2027-01-31") for m in ("M1", "T1")]
            statements[later].append(
                connection.execute(
                    select(func.count()).select_from(slips).where(slips.c.closing_date.is_(None))
                ).scalar()
            )
        engine.dispose()
    on_time, backfilled = statements[False], statements[True]
    assert backfilled[:2] == on_time[:2]
    assert backfilled[2] == 3 and on_time[2] == 0  # the later slips wait for February's closings
    m1, t1 = on_time[:2]
    # M1: 10,000 (old account) + 20,000 (new account, jcb); fee 2.5% per line: 250 + 500.
    assert (m1["gross_amount"], m1["fee"], m1["transfer_fee"], m1["net_amount"]) == (30_000, 750, 330, 28_920)
    assert (t1["net_amount"], t1["carried_forward"]) == (0, 2_500)  # under T1's minimum


def test_misassigned_slips_move_on_to_a_later_closing(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly")
        add_bank_account(connection, "M1", at("2026-12-01"))
        # A monthly merchant's slip written with the 15th (the merchant left the twice-monthly cycle).
        off_cycle = add_slip(connection, "M1", 1_000, registered_at=at("2027-01-10"), closing_date="2027-01-15")
        # Written with the 1/15 closing although registered on 1/20: it cannot be in that closing.
        late = add_slip(connection, "M1", 2_000, registered_at=at("2027-01-20"), closing_date="2027-01-15")
    fifteenth = close(engine, "2027-01-15")
    assert (fifteenth.statements, fifteenth.slips_moved_to_later_closings) == (0, 2)
    assert closing_date_of(engine, off_cycle) == closing_date_of(engine, late) == D("2027-01-31")
    close(engine, "2027-01-31")
    with engine.connect() as connection:
        assert statement(connection, "M1", "2027-01-31")["gross_amount"] == 3_000


def test_a_slip_written_after_its_closing_ran_is_paid_in_the_next_open_one(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly")
        add_merchant(connection, "T1", "twice_monthly")
        for merchant in ("M1", "T1"):
            add_bank_account(connection, merchant, at("2026-12-01"))
        add_slip(connection, "M1", 1_000, registered_at=at("2027-01-10"))
    close(engine, "2027-01-31")
    with engine.begin() as connection:  # the online side writes January slips in February
        late_m = add_slip(connection, "M1", 2_000, registered_at=at("2027-01-20"))
        late_t = add_slip(connection, "T1", 4_000, registered_at=at("2027-01-21"))
    fifteenth = close(engine, "2027-02-15")
    assert (fifteenth.closing_dates_filled, fifteenth.slips_written_after_their_closing) == (2, 2)
    # Not 1/31, which ran: the first closing still open of each cycle.
    assert closing_date_of(engine, late_t) == D("2027-02-15")
    assert closing_date_of(engine, late_m) == D("2027-02-28")
    close(engine, "2027-02-28")
    with engine.connect() as connection:
        assert statement(connection, "T1", "2027-02-15")["gross_amount"] == 4_000
        assert statement(connection, "M1", "2027-02-28")["gross_amount"] == 2_000
        assert statement(connection, "M1", "2027-01-31")["gross_amount"] == 1_000


def test_transfers_total_the_statements_net(engine):
    with engine.begin() as connection:
        for number in range(1, 6):
            merchant = f"M{number}"
            add_merchant(connection, merchant, "monthly", fee_rate_bp=100 * number, transfer_fee=110 * number)
            add_bank_account(connection, merchant, at("2026-12-01"))
            add_bank_account(connection, merchant, at(f"2027-01-{10 + number}"))
            for day in range(5, 30, 4):
                add_slip(connection, merchant, 1_111 * day, registered_at=at(f"2027-01-{day:02d}"))
    summary = close(engine, "2027-01-31")
    with engine.connect() as connection:
        transferred = connection.execute(select(func.sum(payout_transfers.c.amount))).scalar()
        net = connection.execute(select(func.sum(payout_statements.c.net_amount))).scalar()
    assert int(transferred) == int(net) == summary.net == summary.transfer_total
    assert summary.transfers == 10


def test_statements_are_unique_per_merchant_and_closing(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly")
        add_bank_account(connection, "M1", at("2026-12-01"))
        add_slip(connection, "M1", 1_000, registered_at=at("2027-01-10"))
    close(engine, "2027-01-31")
    with engine.connect() as connection:
        row = (
            connection.execute(select(payout_statements).where(payout_statements.c.merchant_id == "M1"))
            .mappings()
            .one()
        )
    duplicate = {k: v for k, v in row.items() if k not in ("statement_id", "created_at")}
    with pytest.raises(Exception, match="(?i)unique"):
        with engine.begin() as connection:
            connection.execute(insert(payout_statements).values(**duplicate))
