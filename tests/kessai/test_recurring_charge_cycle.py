"""The charge day a run stands for, and the recurring slips of a billing month (SPEC §4.3), on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import insert, select

from kessai.calendar.store import declare_closure, prepare_calendar
from kessai.db.schema import recurring_charge_cycles, slips, subscriptions
from kessai.recurring.cycle import ChargeCycle, NotAChargeDay, charge_cycle_on, plan_charge_day
from kessai.recurring.slips import create_recurring_slips
from support.recurring_charge_data import add_merchant, add_subscription, japan_time, slip_rows

D = date.fromisoformat
# 2027-02-27 is a Saturday: February 2027 is charged on Monday 2027-03-01.
FEBRUARY = ChargeCycle(D("2027-02-01"), D("2027-03-01"))


def test_the_charge_day_names_its_billing_month(engine):
    with engine.begin() as connection:
        calendar = prepare_calendar(connection)
    assert charge_cycle_on(D("2027-03-01"), calendar) == FEBRUARY
    # 2027-01-27 is a Wednesday: January is charged on its 27th.
    assert charge_cycle_on(D("2027-01-27"), calendar) == ChargeCycle(D("2027-01-01"), D("2027-01-27"))
    # 2026-12-27 is a Sunday: December 2026 is charged on Monday 12/28.
    assert charge_cycle_on(D("2026-12-28"), calendar).billing_month == D("2026-12-01")


def test_a_date_that_is_no_charge_day_is_refused_naming_the_charge_days(engine):
    with engine.begin() as connection:
        calendar = prepare_calendar(connection)
        # Saturday 2027-02-27: February's charge moved to 3/1.
        with pytest.raises(NotAChargeDay, match=r"2027-02-27 is no recurring charge day.*2027-02 on 2027-03-01"):
            charge_cycle_on(D("2027-02-27"), calendar)
        # 2027-03-02: February was charged the day before; March's 27th is a Saturday, so 3/29.
        with pytest.raises(NotAChargeDay, match=r"2027-02 on 2027-03-01, 2027-03 on 2027-03-29"):
            plan_charge_day(connection, D("2027-03-02"))


def test_a_declared_closed_charge_day_does_nothing_and_says_where_the_charge_went(engine):
    with engine.begin() as connection:
        declare_closure(connection, D("2027-03-01"), "system migration")
        plan = plan_charge_day(connection, D("2027-03-01"))
        assert plan["closed"] is True
        # With 3/1 closed, February's charge falls on Tuesday 3/2.
        assert "the charge of 2027-02 falls on 2027-03-02" in plan["message"]
        assert plan_charge_day(connection, D("2027-03-02")) == {
            "business_date": "2027-03-02",
            "closed": False,
            "billing_month": "2027-02",
            "charge_date": "2027-03-02",
        }


def test_slips_of_active_subscriptions_started_before_the_billing_month(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_merchant(connection, "M2")
        add_subscription(connection, "S-JAN", "M1", amount=980, created_at=japan_time(2027, 1, 10))
        # 2027-01-31 23:30 in Japan is 14:30 UTC the same day: started in January.
        add_subscription(connection, "S-LATE-JAN", "M1", amount=1500, created_at=japan_time(2027, 1, 31, 23, 30))
        # 2027-02-01 00:30 in Japan is still January 31 in UTC: started in February, whose slip is
        # the online side's first one.
        add_subscription(connection, "S-FEB", "M1", created_at=japan_time(2027, 2, 1, 0, 30))
        add_subscription(connection, "S-STOPPED", "M1", status="stopped", created_at=japan_time(2026, 12, 1))
        # Created in January but starting in March (set by the online side).
        add_subscription(connection, "S-MARCH", "M1", created_at=japan_time(2027, 1, 5), started_on=D("2027-03-01"))
        add_subscription(connection, "S-OTHER", "M2", amount=3000, created_at=japan_time(2026, 11, 3))

        summary = create_recurring_slips(connection, FEBRUARY)
        assert (summary.created, summary.created_amount) == (3, 980 + 1500 + 3000)
        assert summary.numbered_subscriptions == 6
        created = slip_rows(connection, FEBRUARY.billing_month)
        assert set(created) == {"S-JAN", "S-LATE-JAN", "S-OTHER"}
        # Each merchant numbers its subscriptions in order of creation, stopped ones included. M1's:
        # S-STOPPED (2026-12-01) 1, S-MARCH (1/5) 2, S-JAN (1/10) 3, S-LATE-JAN (1/31) 4, S-FEB (2/1) 5.
        numbers = dict(
            connection.execute(select(subscriptions.c.subscription_id, subscriptions.c.subscription_number)).all()
        )
        assert numbers == {"S-STOPPED": 1, "S-MARCH": 2, "S-JAN": 3, "S-LATE-JAN": 4, "S-FEB": 5, "S-OTHER": 1}
        # 9, the number in 11 digits, the billing month: 18 digits, unique per merchant and month.
        assert created["S-JAN"]["slip_id"] == "900000000003202702"
        assert created["S-LATE-JAN"]["slip_id"] == "900000000004202702"
        assert created["S-OTHER"]["slip_id"] == "900000000001202702"
        for row in created.values():
            assert row["payment_date"] is None
            assert row["card_company"] == "visa_master"
            assert row["card_reference"] == "************4242"
        assert (created["S-JAN"]["amount"], created["S-JAN"]["merchant_id"]) == (980, "M1")
        # started_on filled from created_at in Japan where the online side left it empty.
        started = dict(connection.execute(select(subscriptions.c.subscription_id, subscriptions.c.started_on)).all())
        assert (started["S-LATE-JAN"], started["S-FEB"], started["S-MARCH"]) == (
            D("2027-01-31"),
            D("2027-02-01"),
            D("2027-03-01"),
        )


def test_a_rerun_creates_no_slip_twice(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_subscription(connection, "S1", "M1")
        assert create_recurring_slips(connection, FEBRUARY).created == 1
        again = create_recurring_slips(connection, FEBRUARY)
        assert (again.created, again.numbered_subscriptions) == (0, 0)
        # The next month gets its own slip with the same subscription number.
        march = ChargeCycle(D("2027-03-01"), D("2027-03-29"))
        assert create_recurring_slips(connection, march).created == 1
        numbers = [
            row["slip_id"] for row in connection.execute(select(slips.c.slip_id).order_by(slips.c.id)).mappings()
        ]
        assert numbers == ["900000000001202702", "900000000001202703"]


def test_a_slip_number_the_merchant_already_uses_is_never_reused(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_merchant(connection, "M2")
        add_subscription(connection, "S1", "M1", created_at=japan_time(2027, 1, 5))
        add_subscription(connection, "S2", "M1", created_at=japan_time(2027, 1, 6))
        add_subscription(connection, "S3", "M2", created_at=japan_time(2027, 1, 6))
        # M1's own order numbers happen to be S2's February number and the next free one (3).
        for own_number in ("900000000002202702", "900000000003202702"):
            connection.execute(
                insert(slips).values(slip_id=own_number, merchant_id="M1", card_company="jcb", amount=500)
            )
        summary = create_recurring_slips(connection, FEBRUARY)
        # S2 is renumbered to 3 (M1's highest + 1), still taken, then to 4.
        assert summary.renumbered_subscriptions == ["S2", "S2"]
        assert {k: v["slip_id"] for k, v in slip_rows(connection, FEBRUARY.billing_month).items()} == {
            "S1": "900000000001202702",
            "S2": "900000000004202702",
            "S3": "900000000001202702",
        }


def test_a_closed_cycle_gets_no_new_slip(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_subscription(connection, "S1", "M1")
        connection.execute(
            insert(recurring_charge_cycles).values(
                billing_month=FEBRUARY.billing_month,
                charge_date=FEBRUARY.charge_date,
                slip_count=0,
                paid_count=0,
                paid_amount=0,
                failed_count=0,
                failed_amount=0,
                closed_at=japan_time(2027, 3, 1, 10, 30),
            )
        )
        assert create_recurring_slips(connection, FEBRUARY).cycle_closed is True
        assert slip_rows(connection, FEBRUARY.billing_month) == {}
