"""The month's recurring slips exist from its first business day, so a merchant can cancel one or
change its amount before the charge day; the charge day charges the slips as they are then."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import update

from kessai.calendar.business_calendar import default_calendar
from kessai.calendar.run_dates import BusinessDateError
from kessai.db.schema import slips, subscriptions
from kessai.gateway.card_gateway import SimulatorGateway
from kessai.recurring.charge import ChargeOptions, charge_cycle
from kessai.recurring.cycle import ChargeCycle
from kessai.recurring.failures import notify_failures
from kessai.recurring.slips import create_recurring_slips, create_slips_ahead
from support.recurring_charge_data import add_merchant, add_subscription, clock, japan_time, slip_rows

D = date.fromisoformat
CALENDAR = default_calendar()
# 2027-02-27 is a Saturday: February 2027 is charged on Monday 2027-03-01.
FEBRUARY = ChargeCycle(D("2027-02-01"), D("2027-03-01"))


def seed(engine) -> None:
    with engine.begin() as connection:
        add_merchant(connection, "M1", repayment_mail=True)
        add_subscription(connection, "S-KEEP", "M1", token="tok_ok_1", amount=1000, created_at=japan_time(2027, 1, 5))
        add_subscription(connection, "S-CHANGE", "M1", token="tok_ok_2", amount=2000, created_at=japan_time(2027, 1, 6))
        add_subscription(connection, "S-CANCEL", "M1", token="tok_ok_3", amount=3000, created_at=japan_time(2027, 1, 7))
        add_subscription(connection, "S-STOP", "M1", token="tok_ok_4", amount=4000, created_at=japan_time(2027, 1, 8))
        # Started mid-February: its first batch slip is March's (the rule of every start date).
        add_subscription(connection, "S-LATE", "M1", token="tok_ok_5", amount=5000, created_at=japan_time(2027, 2, 10))
        add_subscription(connection, "S-OFF", "M1", token="tok_ok_6", amount=6000, status="stopped")


def test_the_slips_of_february_exist_from_its_first_business_day_and_once(engine):
    seed(engine)
    with engine.begin() as connection:
        # 2027-02-01 is a Monday: February's first business day.
        first = create_slips_ahead(connection, D("2027-02-01"), CALENDAR)
        again = create_slips_ahead(connection, D("2027-02-02"), CALENDAR)
        february = slip_rows(connection, FEBRUARY.billing_month)
    assert first.created == 4 and first.created_amount == 1000 + 2000 + 3000 + 4000
    assert first.billing_month == "2027-02" and first.charge_date == D("2027-03-01")
    assert again.created == 0
    assert sorted(february) == ["S-CANCEL", "S-CHANGE", "S-KEEP", "S-STOP"]
    assert all(row["payment_date"] is None for row in february.values())


def test_a_weekend_is_refused_and_the_charge_day_leaves_the_month_to_the_charge_run(engine):
    seed(engine)
    with engine.begin() as connection:
        with pytest.raises(BusinessDateError, match=r"2027-01-31 is not a business day.*next one is 2027-02-01"):
            create_slips_ahead(connection, D("2027-01-31"), CALENDAR)
        # 2027-01-27 (Wednesday) is January's charge day, and the 28th is after it.
        for day in ("2027-01-27", "2027-01-28"):
            summary = create_slips_ahead(connection, D(day), CALENDAR)
            assert summary.charge_day_reached is True and summary.created == 0
        assert slip_rows(connection, D("2027-01-01")) == {}


def test_the_charge_day_charges_the_slips_as_the_merchant_left_them(engine):
    seed(engine)
    with engine.begin() as connection:
        create_slips_ahead(connection, D("2027-02-01"), CALENDAR)
        # Before the charge day: the merchant changes one slip's amount and cancels another; a
        # customer stops a subscription.
        rows = slip_rows(connection, FEBRUARY.billing_month)
        connection.execute(update(slips).where(slips.c.id == rows["S-CHANGE"]["id"]).values(amount=2500))
        connection.execute(
            update(slips).where(slips.c.id == rows["S-CANCEL"]["id"]).values(cancelled_at=japan_time(2027, 2, 15))
        )
        connection.execute(
            update(subscriptions).where(subscriptions.c.subscription_id == "S-STOP").values(status="stopped")
        )
    with engine.begin() as connection:
        # The charge run on 2027-03-01 first creates what is missing: nothing.
        assert create_recurring_slips(connection, FEBRUARY).created == 0
    with engine.connect() as connection:
        charged = charge_cycle(
            connection, FEBRUARY, SimulatorGateway(), clock=clock, options=ChargeOptions(concurrency=2)
        )
    assert charged.succeeded == 2 and charged.succeeded_amount == 1000 + 2500
    with engine.begin() as connection:
        closed = notify_failures(connection, FEBRUARY, clock=clock)
        after = slip_rows(connection, FEBRUARY.billing_month)
    assert after["S-KEEP"]["payment_date"] == D("2027-03-01")
    assert after["S-CHANGE"]["payment_date"] == D("2027-03-01") and after["S-CHANGE"]["amount"] == 2500
    assert after["S-CANCEL"]["payment_date"] is None
    assert after["S-STOP"]["payment_date"] is None
    # The cancelled slip is no failure; the stopped subscription's slip is listed as not charged.
    assert closed.failed_by_reason == {"subscription_stopped": 1}
    assert closed.repayment_requests == 0


def test_march_is_created_on_the_day_february_is_charged_and_includes_the_mid_month_start(engine):
    seed(engine)
    with engine.begin() as connection:
        create_slips_ahead(connection, D("2027-02-01"), CALENDAR)
        march = create_slips_ahead(connection, D("2027-03-01"), CALENDAR)
        rows = slip_rows(connection, D("2027-03-01"))
    # 2027-03-27 is a Saturday: March is charged on Monday 2027-03-29.
    assert march.billing_month == "2027-03" and march.charge_date == D("2027-03-29")
    assert sorted(rows) == ["S-CANCEL", "S-CHANGE", "S-KEEP", "S-LATE", "S-STOP"]
    assert rows["S-LATE"]["slip_id"].endswith("202703")
