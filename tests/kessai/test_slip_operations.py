"""Confirming, cancelling and changing one slip (SPEC §4.1), on SQLite and PostgreSQL.

Most slips are paid on 2026-08-31: 8/31 + 6 months is 2027-02-31, clipped to 2027-02-28, the
confirmation deadline. Japan is UTC+9: 2027-01-31 23:30 in Japan is 14:30 UTC the same day, and
2027-02-01 00:30 in Japan is still 2027-01-31 15:30 UTC.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError

from kessai.calendar.business_calendar import REVIEWED_THROUGH_VARIABLE
from kessai.calendar.rules import closing_date_for
from kessai.calendar.store import prepare_calendar
from kessai.slips.operations import (
    CONFIRMED_SLIP_GUIDANCE,
    SlipOperationError,
    cancel_slip,
    change_amount,
    confirm_slip,
)
from support.slip_builders import add_merchant, add_slip, add_subscription, events, jst, slip

PAID = date(2026, 8, 31)
DEADLINE = "2027-02-28"


@pytest.fixture
def shop(engine):
    """Merchant M1 (monthly payout) and M2 (twice monthly), each with slips 1 to 3 paid 2026-08-31."""
    with engine.begin() as connection:
        for merchant_id, cycle in (("M1", "monthly"), ("M2", "twice_monthly")):
            add_merchant(connection, merchant_id, cycle)
            for number in ("1", "2", "3"):
                add_slip(connection, number, PAID, merchant_id)
    return engine


def refusal(engine, operation, *args) -> SlipOperationError:
    """Run an operation that must be refused; the refused transaction rolls back."""
    with pytest.raises(SlipOperationError) as caught:
        with engine.begin() as connection:
            operation(connection, *args)
    return caught.value


# -- confirmation: registration date in Japan, closing date ---------------------------------


def test_confirmation_late_in_the_evening_in_japan_counts_on_that_japanese_day(shop):
    registered_at = jst("2027-01-31", "23:30")  # 14:30 UTC, the same day
    with shop.begin() as connection:
        done = confirm_slip(connection, "M1", "1", date(2027, 1, 31), registered_at)
        row = slip(connection, "1")
        registered_on = connection.execute(
            text("SELECT registered_on FROM dated_slips WHERE id = :id"), {"id": row.id}
        ).scalar_one()
        history = events(connection, "1")
    assert done.registered_on == date(2027, 1, 31)
    assert done.closing_date == date(2027, 1, 31)  # the January-end closing of a monthly merchant
    assert row.confirmed_on == date(2027, 1, 31)
    assert row.confirmation_registered_at == registered_at
    assert row.closing_date == date(2027, 1, 31) == closing_date_for("monthly", date(2027, 1, 31), date(2027, 1, 31))
    assert str(registered_on) == "2027-01-31"  # the view the batch reads agrees
    assert [(event, day) for event, day, _ in history] == [("confirmed", date(2027, 1, 31))]
    assert json.loads(history[0][2]) == {
        "confirmed_on": "2027-01-31",
        "closing_date": "2027-01-31",
        "source": "operation",
    }


@pytest.mark.parametrize(
    "merchant_id, cycle, closing",
    [
        # The FAQ: on 2/1 confirming with the date 1/31 -> the February-end closing (paid 3/25).
        ("M1", "monthly", date(2027, 2, 28)),
        # Twice monthly: the first closing on or after 2/1 is 2/15.
        ("M2", "twice_monthly", date(2027, 2, 15)),
    ],
)
def test_backdated_confirmation_after_midnight_in_japan_goes_to_the_next_closing(shop, merchant_id, cycle, closing):
    registered_at = jst("2027-02-01", "00:30")  # UTC still says 2027-01-31 15:30
    with shop.begin() as connection:
        done = confirm_slip(connection, merchant_id, "1", date(2027, 1, 31), registered_at)
        stored = slip(connection, "1", merchant_id).closing_date
    assert done.registered_on == date(2027, 2, 1)
    assert done.closing_date == stored == closing == closing_date_for(cycle, date(2027, 2, 1), date(2027, 1, 31))


@pytest.mark.parametrize(
    "merchant_id, confirmed_on, closing",
    [
        # Backdated to 2026-09-10, registered 2027-01-20: counts from the registration.
        ("M1", date(2026, 9, 10), date(2027, 1, 31)),
        ("M2", date(2026, 9, 10), date(2027, 1, 31)),  # 1/20 is after the 15th
        # Future-dated 2027-02-10, registered 2027-01-20: counts from its date.
        ("M1", date(2027, 2, 10), date(2027, 2, 28)),
        ("M2", date(2027, 2, 10), date(2027, 2, 15)),
        # The last allowed date itself.
        ("M1", date(2027, 2, 28), date(2027, 2, 28)),
    ],
)
def test_backdated_and_future_confirmed_on_within_the_window(shop, merchant_id, confirmed_on, closing):
    with shop.begin() as connection:
        done = confirm_slip(connection, merchant_id, "2", confirmed_on, jst("2027-01-20"))
    assert done.closing_date == closing


def test_registration_on_the_deadline_day_in_japan_is_allowed(shop):
    with shop.begin() as connection:
        done = confirm_slip(connection, "M1", "1", date(2027, 2, 28), jst("2027-02-28", "23:30"))
    assert done.registered_on == date(2027, 2, 28)


def test_registration_after_the_deadline_in_japan_is_refused_although_utc_is_still_on_it(shop):
    # 2027-03-01 00:10 in Japan is 2027-02-28 15:10 UTC: the Japanese date is past the deadline.
    error = refusal(shop, confirm_slip, "M1", "1", date(2027, 2, 28), jst("2027-03-01", "00:10"))
    assert error.reason == "past_deadline"
    assert DEADLINE in str(error) and "slip 1 of merchant M1" in str(error)
    with shop.connect() as connection:
        assert slip(connection, "1").confirmed_on is None
        assert events(connection, "1") == []


def test_confirmed_on_after_the_deadline_is_refused_and_the_message_names_it(shop):
    error = refusal(shop, confirm_slip, "M1", "1", date(2027, 3, 1), jst("2027-01-20"))
    assert error.reason == "past_deadline"
    assert f"after the confirmation deadline {DEADLINE}" in str(error)


def test_deadline_in_a_leap_year_is_february_29(shop):
    # Paid 2027-08-31: + 6 months is 2028-02-31, clipped to 2028-02-29 (2028 is a leap year).
    with shop.begin() as connection:
        add_slip(connection, "4", date(2027, 8, 31))
        assert confirm_slip(connection, "M1", "4", date(2028, 2, 29), jst("2028-02-29")).closing_date == date(
            2028, 2, 29
        )


def test_a_date_past_the_business_calendar_is_refused_until_the_calendar_reaches_it(shop, monkeypatch):
    # With holidays reviewed through 2026 only, 2027-01-05 has no closing date yet.
    monkeypatch.setenv(REVIEWED_THROUGH_VARIABLE, "2026")
    with shop.begin() as connection:
        add_slip(connection, "4", date(2026, 12, 1))
    error = refusal(shop, confirm_slip, "M1", "4", date(2027, 1, 5), jst("2026-12-20"))
    assert error.reason == "outside_calendar"
    assert "does not reach 2027-01-05" in str(error)
    monkeypatch.setenv(REVIEWED_THROUGH_VARIABLE, "2027")
    with shop.begin() as connection:
        assert confirm_slip(connection, "M1", "4", date(2027, 1, 5), jst("2026-12-20")).closing_date == date(
            2027, 1, 31
        )


def test_confirmed_on_before_the_payment_date_is_refused(shop):
    error = refusal(shop, confirm_slip, "M1", "1", date(2026, 8, 30), jst("2026-09-01"))
    assert error.reason == "before_payment_date"
    assert "2026-08-30" in str(error) and "2026-08-31" in str(error)


def test_confirmed_on_on_the_payment_date_is_allowed(shop):
    with shop.begin() as connection:
        assert confirm_slip(connection, "M1", "1", PAID, jst("2026-09-01")).closing_date == date(2026, 9, 30)


def test_an_unpaid_recurring_slip_cannot_be_confirmed(shop):
    with shop.begin() as connection:
        add_subscription(connection, "S1")
        add_slip(connection, "10", None, subscription_id="S1", billing_month=date(2027, 1, 1))
    error = refusal(shop, confirm_slip, "M1", "10", date(2027, 1, 28), jst("2027-01-28"))
    assert error.reason == "not_paid"


def test_an_unknown_slip_is_named(shop):
    error = refusal(shop, confirm_slip, "M1", "404", date(2027, 1, 31), jst("2027-01-31"))
    assert error.reason == "unknown_slip"
    assert "slip 404 of merchant M1" in str(error)
    # Slip 1 exists, but of M1 and M2 only.
    assert refusal(shop, confirm_slip, "M3", "1", date(2027, 1, 31), jst("2027-01-31")).reason == "unknown_slip"


def test_a_cancelled_slip_cannot_be_confirmed(shop):
    with shop.begin() as connection:
        cancel_slip(connection, "M1", "1", jst("2026-09-02"))
    assert refusal(shop, confirm_slip, "M1", "1", date(2026, 9, 2), jst("2026-09-02")).reason == "cancelled"


def test_a_second_confirmation_is_refused_whatever_its_date(shop):
    with shop.begin() as connection:
        confirm_slip(connection, "M1", "1", date(2027, 1, 31), jst("2027-01-31"))
    for confirmed_on in (date(2027, 1, 31), date(2027, 2, 5)):
        error = refusal(shop, confirm_slip, "M1", "1", confirmed_on, jst("2027-02-01"))
        assert error.reason == "already_confirmed"
        assert "already confirmed on 2027-01-31" in str(error)
    with shop.connect() as connection:
        assert slip(connection, "1").confirmed_on == date(2027, 1, 31)
        assert len(events(connection, "1")) == 1


# -- cancel and amount change -------------------------------------------------------------


def test_cancel_records_the_time_and_an_event(shop):
    cancelled_at = jst("2026-09-02", "23:50")  # 14:50 UTC: business date 9/2 in Japan
    with shop.begin() as connection:
        cancel_slip(connection, "M1", "1", cancelled_at)
        assert slip(connection, "1").cancelled_at == cancelled_at
        assert events(connection, "1") == [("cancelled", date(2026, 9, 2), json.dumps({"amount": 5000}))]
    assert refusal(shop, cancel_slip, "M1", "1", jst("2026-09-03")).reason == "cancelled"


def test_amount_change_records_both_amounts(shop):
    with shop.begin() as connection:
        change_amount(connection, "M1", "1", 4200, jst("2026-09-01"))
        assert slip(connection, "1").amount == 4200
        assert events(connection, "1") == [("amount_changed", date(2026, 9, 1), json.dumps({"from": 5000, "to": 4200}))]
        change_amount(connection, "M1", "1", 4200, jst("2026-09-02"))  # the same amount: nothing to record
        assert len(events(connection, "1")) == 1


@pytest.mark.parametrize("amount", [10.5, True, "5000"])
def test_amount_must_be_whole_yen(shop, amount):
    assert refusal(shop, change_amount, "M1", "1", amount, jst("2026-09-01")).reason == "invalid_amount"


@pytest.mark.parametrize("amount", [0, -100])
def test_amount_must_be_above_zero(shop, amount):
    assert refusal(shop, change_amount, "M1", "1", amount, jst("2026-09-01")).reason == "amount_out_of_range"


def test_amount_of_a_cancelled_slip_cannot_change(shop):
    with shop.begin() as connection:
        cancel_slip(connection, "M1", "1", jst("2026-09-02"))
    assert refusal(shop, change_amount, "M1", "1", 100, jst("2026-09-03")).reason == "cancelled"


@pytest.mark.parametrize(
    "operation, args", [(cancel_slip, ()), (change_amount, (3000,))], ids=["cancel", "change_amount"]
)
def test_a_confirmed_slip_refuses_with_the_faq_guidance(shop, operation, args):
    with shop.begin() as connection:
        confirm_slip(connection, "M1", "1", date(2027, 1, 31), jst("2027-01-31"))
    error = refusal(shop, operation, "M1", "1", *args, jst("2027-02-01"))
    assert error.reason == "already_confirmed"
    message = str(error)
    assert message.startswith(CONFIRMED_SLIP_GUIDANCE)
    assert (
        "決済確定後は金額変更や決済取消は行えません。差額の請求またはカードを経由しない返金にてご対応ください。"
        in message
    )
    assert "slip 1 of merchant M1 was confirmed on 2027-01-31" in message
    assert "Bill the customer the difference, or refund outside the card." in message
    with shop.connect() as connection:
        row = slip(connection, "1")
        assert (row.amount, row.cancelled_at) == (5000, None)
        assert [event for event, _, _ in events(connection, "1")] == ["confirmed"]


@pytest.mark.parametrize("operation, args", [(cancel_slip, ()), (change_amount, (3000,))])
def test_cancel_and_amount_change_name_an_unknown_slip(shop, operation, args):
    error = refusal(shop, operation, "M1", "404", *args, jst("2026-09-01"))
    assert error.reason == "unknown_slip" and "slip 404 of merchant M1" in str(error)


# -- the schema refuses what the rules forbid, whoever writes the row ----------------------


@pytest.mark.parametrize(
    "columns",
    [
        {"slip_id": "20", "amount": 0},
        {"slip_id": "21", "amount": -1},
        {"slip_id": "1234567890123456789"},  # 19 digits
        {"slip_id": "12A4"},
        {"slip_id": ""},
        {
            "slip_id": "22",
            "confirmed_on": date(2026, 9, 1),
            "confirmation_registered_at": jst("2026-09-01"),
            "cancelled_at": jst("2026-09-02"),
        },
        {"slip_id": "23", "confirmed_on": date(2026, 9, 1)},  # a confirmation without its registration
        {"slip_id": "24", "confirmed_on": date(2026, 8, 30), "confirmation_registered_at": jst("2026-09-01")},
    ],
    ids=[
        "amount_zero",
        "amount_negative",
        "slip_19_digits",
        "slip_not_digits",
        "slip_empty",
        "confirmed_and_cancelled",
        "confirmation_incomplete",
        "confirmed_before_payment",
    ],
)
def test_schema_refuses_invalid_slips(shop, columns):
    values = {"amount": 5000, **columns}
    slip_id = values.pop("slip_id")
    # PostgreSQL refuses a 19-character slip number as too long for varchar(18) before the check.
    with pytest.raises((IntegrityError, DataError)):
        with shop.begin() as connection:
            add_slip(connection, slip_id, PAID, **values)


def test_schema_refuses_two_cycle_slips_for_one_subscription_and_month(shop):
    with shop.begin() as connection:
        add_subscription(connection, "S1")
        add_slip(connection, "30", None, subscription_id="S1", billing_month=date(2027, 1, 1))
        add_slip(connection, "31", None, subscription_id="S1", billing_month=date(2027, 2, 1))  # another month
    with pytest.raises(IntegrityError):
        with shop.begin() as connection:
            add_slip(connection, "32", None, subscription_id="S1", billing_month=date(2027, 1, 1))


# -- two operations at once: at most one wins ----------------------------------------------


def _wait_until_blocked(engine, timeout: float = 60.0) -> None:
    """Until some session of this database waits for a lock (the operation under test)."""
    give_up = time.monotonic() + timeout
    with engine.connect() as watcher:
        while time.monotonic() < give_up:
            waiting = watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            if waiting:
                return
            time.sleep(0.05)
    raise AssertionError("the second operation never waited for the first one's lock")


def _run_while_first_holds_its_lock(engine, first, second) -> SlipOperationError | None:
    """Run `first` in an open transaction, start `second` in a thread (it blocks on the slip),
    commit `first`, and return what `second` raised."""
    outcome: dict = {}

    def run_second():
        try:
            with engine.begin() as connection:
                second(connection)
        except SlipOperationError as error:
            outcome["error"] = error

    with engine.connect() as connection:
        prepare_calendar(connection)
        connection.commit()
        first(connection)
        worker = threading.Thread(target=run_second)
        worker.start()
        _wait_until_blocked(engine)
        connection.commit()
    worker.join()
    return outcome.get("error")


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
def test_cancel_waiting_on_a_confirmation_is_refused_once_it_commits(shop):
    # SQLite lets one writer at a time into the whole database, so only PostgreSQL interleaves.
    error = _run_while_first_holds_its_lock(
        shop,
        lambda c: confirm_slip(c, "M1", "1", date(2027, 1, 31), jst("2027-01-31")),
        lambda c: cancel_slip(c, "M1", "1", jst("2027-01-31", "12:01")),
    )
    assert error is not None and error.reason == "already_confirmed"
    with shop.connect() as connection:
        row = slip(connection, "1")
        assert (row.confirmed_on, row.cancelled_at) == (date(2027, 1, 31), None)
        assert [event for event, _, _ in events(connection, "1")] == ["confirmed"]


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
def test_confirmation_waiting_on_a_cancel_is_refused_once_it_commits(shop):
    # The confirmation checks the slip (not cancelled yet), then its guarded update finds it
    # cancelled: it is checked again and refused for that reason.
    error = _run_while_first_holds_its_lock(
        shop,
        lambda c: cancel_slip(c, "M1", "1", jst("2027-01-31")),
        lambda c: confirm_slip(c, "M1", "1", date(2027, 1, 31), jst("2027-01-31", "12:01")),
    )
    assert error is not None and error.reason == "cancelled"
    with shop.connect() as connection:
        row = slip(connection, "1")
        assert row.confirmed_on is None and row.cancelled_at is not None
        assert [event for event, _, _ in events(connection, "1")] == ["cancelled"]


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
def test_two_amount_changes_at_once_the_second_is_refused(shop):
    error = _run_while_first_holds_its_lock(
        shop,
        lambda c: change_amount(c, "M1", "1", 4000, jst("2026-09-01")),
        lambda c: change_amount(c, "M1", "1", 3000, jst("2026-09-01", "12:01")),
    )
    assert error is not None and error.reason == "concurrent_change"
    with shop.connect() as connection:
        assert slip(connection, "1").amount == 4000
