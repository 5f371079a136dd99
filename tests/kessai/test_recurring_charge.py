"""Charging a billing month's recurring slips (SPEC §4.3): through the simulator and through the
HTTP client against a real HTTP gateway, with runs killed half-way and run again, on SQLite and
PostgreSQL. A slip is never charged twice: the gateway's ledger shows one executed charge per key."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import update

from kessai.db.schema import slips, subscriptions
from kessai.gateway.card_gateway import HTTP, CardGatewaySettings, SimulatorGateway
from kessai.gateway.http_gateway import HttpCardGateway
from kessai.recurring.charge import (
    ChargeFaults,
    ChargeOptions,
    charge_cycle,
    idempotency_key,
    preview_charges,
)
from kessai.recurring.cycle import ChargeCycle
from kessai.recurring.slips import create_recurring_slips
from support.gateway_server import API_KEY, gateway_server  # noqa: F401 (a fixture)
from support.recurring_charge_data import add_merchant, add_subscription, attempt_rows, clock, japan_time, slip_rows

D = date.fromisoformat
# 2027-02-27 is a Saturday: February 2027 is charged on Monday 2027-03-01.
FEBRUARY = ChargeCycle(D("2027-02-01"), D("2027-03-01"))
# Small batches and few threads, so a dozen slips take several batches running concurrently.
OPTIONS = ChargeOptions(concurrency=4, batch_size=3)


def seed(engine, tokens: dict[str, str], amount: int = 1000) -> None:
    """One merchant, a subscription per token (all started in January), February's slips."""
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        for number, (subscription_id, token) in enumerate(tokens.items(), start=1):
            add_subscription(
                connection,
                subscription_id,
                "M1",
                token=token,
                amount=amount * number,
                created_at=japan_time(2027, 1, number),
            )
        create_recurring_slips(connection, FEBRUARY)


def charge(engine, gateway, options: ChargeOptions = OPTIONS):
    with engine.connect() as connection:
        return charge_cycle(connection, FEBRUARY, gateway, clock=clock, options=options)


def paid(engine) -> dict[str, date | None]:
    with engine.connect() as connection:
        return {sid: row["payment_date"] for sid, row in slip_rows(connection, FEBRUARY.billing_month).items()}


def http_gateway(server) -> HttpCardGateway:
    return HttpCardGateway(
        CardGatewaySettings(kind=HTTP, base_url=server.url, api_key=API_KEY, timeout=0.5, max_retries=1, backoff=0.01)
    )


def keys_by_subscription(engine) -> dict[str, str]:
    with engine.connect() as connection:
        return {
            sid: idempotency_key(row["merchant_id"], row["slip_id"], FEBRUARY.billing_month)
            for sid, row in slip_rows(connection, FEBRUARY.billing_month).items()
        }


def test_the_simulator_charges_pays_on_the_charge_day_and_records_every_attempt(engine):
    seed(
        engine,
        {
            "S-OK1": "tok_ok_1",
            "S-OK2": "tok_ok_2",
            "S-DECLINE": "tok_decline_1",
            "S-TIMEOUT": "tok_timeout_1",
            "S-STOPPED": "tok_ok_3",
            "S-CANCELLED": "tok_ok_4",
        },
    )
    with engine.begin() as connection:
        # Stopped after its slip was made; a slip cancelled by the merchant: neither is charged.
        connection.execute(
            update(subscriptions).where(subscriptions.c.subscription_id == "S-STOPPED").values(status="stopped")
        )
        connection.execute(
            update(slips).where(slips.c.subscription_id == "S-CANCELLED").values(cancelled_at=japan_time(2027, 2, 20))
        )
    summary = charge(engine, SimulatorGateway())

    # Amounts are 1000 x the subscription's position: OK1 1000, OK2 2000, DECLINE 3000, TIMEOUT 4000.
    assert summary.as_dict() == {
        "billing_month": "2027-02",
        "charge_date": "2027-03-01",
        "attempted": 4,
        "succeeded": 3,
        "succeeded_amount": 1000 + 2000 + 4000,
        "failed_by_reason": {"card_declined": 1},
        "failed_amount": 3000,
        # S-TIMEOUT's answer was lost (a fault), and its lookup found it charged.
        "faults_by_reason": {"timeout": 1},
        "not_sent": 0,
        "unknown_resolved": {"succeeded": 1},
        "breaker": None,
        "unresolved": 0,
        "chargeable": 0,
    }
    charged_on = D("2027-03-01")
    assert paid(engine) == {
        "S-OK1": charged_on,
        "S-OK2": charged_on,
        "S-TIMEOUT": charged_on,
        "S-DECLINE": None,
        "S-STOPPED": None,
        "S-CANCELLED": None,
    }
    with engine.connect() as connection:
        attempts = attempt_rows(connection)
    by_slip: dict[str, list] = {}
    for row in attempts:
        by_slip.setdefault(row["subscription_id"], []).append(row)
    assert {sid: [(a["attempt_number"], a["outcome"], a["reason"]) for a in rows] for sid, rows in by_slip.items()} == {
        "S-OK1": [(1, "succeeded", None)],
        "S-OK2": [(1, "succeeded", None)],
        "S-DECLINE": [(1, "declined", "card_declined")],
        "S-TIMEOUT": [(1, "succeeded", "timeout")],  # settled by lookup; the reason says why it had to be
    }
    for row in attempts:
        assert (row["billing_month"], row["charge_date"]) == (FEBRUARY.billing_month, charged_on)
        assert row["finished_at"] is not None
        assert (row["resolved_at"] is not None) == (row["subscription_id"] == "S-TIMEOUT")
    # One key per slip and month: the slip number and the billing month.
    assert by_slip["S-OK1"][0]["idempotency_key"] == "recurring:M1:900000000001202702:2027-02"
    assert by_slip["S-TIMEOUT"][0]["idempotency_key"] == "recurring:M1:900000000004202702:2027-02"

    # A re-run changes nothing: nothing is left to charge or settle.
    again = charge(engine, SimulatorGateway())
    assert (again.attempted, again.unknown_resolved, again.unresolved) == (0, {}, 0)
    with engine.connect() as connection:
        assert attempt_rows(connection) == attempts


def test_http_gateway_charges_each_slip_exactly_once(engine, gateway_server):
    tokens = {f"S{n:02d}": f"tok_ok_{n}" for n in range(1, 9)}
    tokens.update(
        {
            "S-FLAKY": "tok_flaky_1",
            "S-SLOW": "tok_slow_1",
            "S-TIMEOUT": "tok_timeout_1",
            "S-DECLINE": "tok_decline_1",
            "S-REJECT": "tok_reject_1",
        }
    )
    seed(engine, tokens)
    summary = charge(engine, http_gateway(gateway_server))

    keys = keys_by_subscription(engine)
    executed = {sid: gateway_server.executed[key] for sid, key in keys.items()}
    # Every key charged at most once; the rejected card never executed.
    assert executed == {**{sid: 1 for sid in tokens}, "S-REJECT": 0}
    assert (summary.succeeded, summary.unresolved, summary.chargeable) == (8 + 3, 0, 0)
    # An invalid card token is an answer about the card: final, like the issuer's decline.
    assert summary.failed_by_reason == {"insufficient_funds": 1, "rejected_422_invalid_card_token": 1}
    # S-FLAKY's 503 was repeated by the client and charged: not a fault; S-TIMEOUT's was.
    assert summary.faults_by_reason == {"timeout": 1}
    state = paid(engine)
    assert {sid for sid, day in state.items() if day is None} == {"S-DECLINE", "S-REJECT"}
    assert set(state.values()) == {None, D("2027-03-01")}

    requests_before = sum(gateway_server.seen.values())
    assert charge(engine, http_gateway(gateway_server)).attempted == 0
    assert sum(gateway_server.seen.values()) == requests_before


class ProcessKilled(BaseException):
    """The batch process dies (BaseException: nothing in the run may catch it)."""


class DiesAfter:
    """A gateway wrapper: the n-th charge reaches the gateway but its answer is lost as the process
    dies; the charges started after it never leave."""

    def __init__(self, inner, charges: int) -> None:
        self.inner, self.limit, self.count, self.lock = inner, charges, 0, threading.Lock()

    def charge(self, *args, **kwargs):
        with self.lock:
            self.count += 1
            number = self.count
        if number > self.limit:
            raise ProcessKilled("killed before sending")
        result = self.inner.charge(*args, **kwargs)
        if number == self.limit:
            raise ProcessKilled("killed before the answer was written")
        return result

    def lookup(self, key):
        return self.inner.lookup(key)


def test_a_run_killed_between_pending_and_outcome_is_settled_by_lookup_and_never_charges_twice(engine, gateway_server):
    tokens = {f"S{n:02d}": f"tok_ok_{n}" for n in range(1, 13)}
    seed(engine, tokens)
    with pytest.raises(ProcessKilled):
        charge(engine, DiesAfter(http_gateway(gateway_server), charges=5))
    with engine.connect() as connection:
        outcomes = [row["outcome"] for row in attempt_rows(connection)]
    # Batches of 3: the first recorded; the second died in, and the third was written pending as
    # the second was charged (each batch goes to the pool before the one before it is recorded).
    assert outcomes.count("pending") == 6 and outcomes.count("succeeded") == 3
    executed_before = gateway_server.executed_total()
    assert 4 <= executed_before <= 6  # the answered ones, the lost one, maybe one of its batch

    summary = charge(engine, http_gateway(gateway_server))
    assert summary.unknown_resolved.get("succeeded", 0) >= 1
    keys = keys_by_subscription(engine)
    assert {sid: gateway_server.executed[key] for sid, key in keys.items()} == {sid: 1 for sid in tokens}
    assert set(paid(engine).values()) == {D("2027-03-01")}
    with engine.connect() as connection:
        attempts = attempt_rows(connection)
    # The pending attempts the dead run never sent were found not executed and charged again.
    never_sent = [a for a in attempts if a["outcome"] == "not_executed"]
    assert all(a["attempt_number"] == 1 for a in never_sent)
    assert len([a for a in attempts if a["outcome"] == "succeeded"]) == len(tokens)


def test_a_gateway_outage_leaves_outcomes_unknown_until_a_later_run_settles_them(engine, gateway_server):
    tokens = {f"S{n:02d}": f"tok_ok_{n}" for n in range(1, 10)}
    seed(engine, tokens)
    gateway_server.outage_after(4)  # the 4th charge executes, then every connection drops
    with pytest.raises(ChargeFaults, match=r"^billing month 2027-02: 6 slip\(s\) have no final outcome"):
        charge(engine, http_gateway(gateway_server))
    assert gateway_server.executed_total() == 4
    with engine.connect() as connection:
        outcomes = sorted(row["outcome"] for row in attempt_rows(connection))
    # 3 answered; the 4th lost its answer; the rest of its batch and the later batches got no
    # answer either (connections dropped): unknown, not failed.
    assert outcomes.count("succeeded") == 3 and "declined" not in outcomes
    assert set(outcomes) == {"succeeded", "unknown"}

    gateway_server.heal()
    summary = charge(engine, http_gateway(gateway_server))
    assert summary.unresolved == 0
    assert summary.unknown_resolved["succeeded"] == 1  # the charge whose answer was lost
    keys = keys_by_subscription(engine)
    assert {sid: gateway_server.executed[key] for sid, key in keys.items()} == {sid: 1 for sid in tokens}
    assert set(paid(engine).values()) == {D("2027-03-01")}


def test_a_dry_run_preview_counts_and_changes_nothing(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_subscription(connection, "S1", "M1", amount=700)
        add_subscription(connection, "S2", "M1", amount=300)
    with engine.connect() as connection:
        preview = preview_charges(connection, FEBRUARY)
        connection.rollback()
    assert preview.as_dict() == {
        "billing_month": "2027-02",
        "charge_date": "2027-03-01",
        "slips_to_create": 2,
        "to_look_up": 0,
        "to_charge": 2,
        "to_charge_amount": 1000,
    }
    assert paid(engine) == {}
