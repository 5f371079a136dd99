"""The recurring charge against a real HTTP card gateway (tests/support/gateway_server.py) that fails:
down, answering 500 to everything, answering what cannot be read, answering after the client gave
up (the charge executed). And the charge's process killed with charges in flight.

What holds, whatever a fault does (SPEC §4.3, §4.6): the gateway never executes a key twice; no
slip is announced as failed, and no customer or merchant is mailed, while the outcome of a charge
is unknown; the run fails (for the operators and the retries) instead of finishing; and once the
gateway is back, a re-run gives the undisturbed run's result: every slip charged exactly once or
declined, the same notices. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, update

from charging import assert_like_undisturbed, charge_args
from harness import KILLED, run
from kessai.db.database import make_engine
from kessai.db.schema import slips, subscriptions
from servers import closed_url, faulty_gateway
from world import diff


def assert_nobody_told(place) -> None:
    outputs = place.outputs()["tables"]
    assert outputs["recurring_charge_cycles"] == []  # the month stays open
    assert [row for row in outputs["mail_outbox"] if dict(row)["kind"] != "operator_alert"] == []
    assert place.smtp.messages == []


@pytest.mark.parametrize("fault", ["down", "error_500", "unreadable", "hold"])
def test_a_failing_gateway_fails_the_run_tells_no_one_and_a_rerun_after_it_recovers_charges_each_slip_once(
    fault, dialect, world, undisturbed
):
    expected = undisturbed(dialect, "recurring_charge")
    place = world(dialect, "recurring_charge")
    with faulty_gateway() as gateway:
        gateway.fault = None if fault == "down" else fault
        failed = run(place, "recurring_charge", charge_args(gateway, closed_url("http") if fault == "down" else None))
        assert failed.status == 1, f"the run did not fail:\n{failed.out}\n{failed.err[-2000:]}"
        assert "ChargeFaults" in failed.err  # a transient fault: the task is retried, nobody is told
        assert_nobody_told(place)
        assert max(gateway.executed.values(), default=0) <= 1
        if fault in ("unreadable", "hold"):
            assert gateway.executed  # the charges went through; only their answers were lost
        else:
            assert not gateway.executed

        gateway.fault = None  # the gateway recovers
        again = run(place, "recurring_charge", charge_args(gateway))
        assert again.status == 0, f"the re-run failed:\n{again.out}\n{again.err[-3000:]}"
        assert_like_undisturbed(place, gateway, expected)


# (point, nth, before/after): where the charge's process dies.
CHARGE_KILLS = [
    ("commit", 3, "before"),  # the month's slips created; the pending attempts never commit
    ("commit", 3, "after"),  # attempts recorded pending, no charge sent yet
    ("charge", 3, "after"),  # charges in flight, the third executed: no outcome recorded
    ("commit", 6, "after"),  # charged, outcomes recorded; the failures not yet notified
]


@pytest.mark.parametrize("case", CHARGE_KILLS, ids=lambda case: f"{case[2]}-{case[0]}-{case[1]}")
def test_a_charge_killed_with_charges_in_flight_then_run_again_charges_each_slip_once(
    case, dialect, world, undisturbed
):
    point, nth, when = case
    expected = undisturbed(dialect, "recurring_charge")
    place = world(dialect, "recurring_charge")
    with faulty_gateway() as gateway:
        killed = run(place, "recurring_charge", charge_args(gateway), fault={"point": point, "nth": nth, "when": when})
        assert killed.status == KILLED, f"the fault point was not reached:\n{killed.out}\n{killed.err[-2000:]}"
        assert place.smtp.messages == []
        assert diff(expected, place.outputs()) != [], "nothing was interrupted"
        again = run(place, "recurring_charge", charge_args(gateway))
        assert again.status == 0, f"the re-run failed:\n{again.out}\n{again.err[-3000:]}"
        assert_like_undisturbed(place, gateway, expected)


@pytest.mark.parametrize("dialect", ["sqlite"])
def test_a_card_the_gateway_answers_500_for_ever_is_not_announced_as_failed(dialect, world):
    place = world(dialect, "recurring_charge")
    engine = make_engine(place.url)
    with engine.begin() as connection:
        connection.execute(
            update(subscriptions)
            .where(subscriptions.c.subscription_id == "S00000001")
            .values(card_token="tok_error_0000000000000001")  # the test gateway: HTTP 500 every time
        )
        customer = connection.execute(
            select(subscriptions.c.customer_email).where(subscriptions.c.subscription_id == "S00000001")
        ).scalar_one()
    engine.dispose()
    with faulty_gateway() as gateway:
        done = run(place, "recurring_charge", charge_args(gateway))
    engine = make_engine(place.url)
    with engine.connect() as connection:
        merchant_id, slip_number = connection.execute(
            select(slips.c.merchant_id, slips.c.slip_id).where(
                slips.c.subscription_id == "S00000001", slips.c.billing_month == date(2027, 2, 1)
            )
        ).one()
    engine.dispose()
    assert gateway.seen[f"recurring:{merchant_id}:{slip_number}:2027-02"] >= 1  # it reached the gateway
    assert f"recurring:{merchant_id}:{slip_number}:2027-02" not in gateway.executed

    assert not any(
        slip_number in m.text or slip_number.encode() in b"".join(m.attachments().values()) for m in place.smtp.messages
    ), "a mail announces the slip as failed"
    assert place.smtp.messages_to(customer) == []
    assert place.outputs()["tables"]["recurring_charge_cycles"] == []  # the month stays open
    assert done.status == 1  # the run fails, for the operators
