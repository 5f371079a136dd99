"""A gateway fault is not a card failure (SPEC §4.6): through the HTTP client against the real test
gateway (tests/support/gateway_server.py) answering 500, unreadable bodies or late answers to every charge
while its lookups answer honestly, on SQLite and PostgreSQL. Faulted slips stay chargeable,
nobody is told anything, the month stays open, the circuit breaker bounds the requests, and the
re-run with the gateway healthy charges each slip once and notifies once."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from kessai.db.schema import recurring_charge_cycles
from kessai.gateway.card_gateway import HTTP, CardGatewaySettings
from kessai.gateway.circuit_breaker import BreakerSettings
from kessai.gateway.http_gateway import HttpCardGateway
from kessai.recurring.charge import ChargeFaults, ChargeOptions, charge_cycle, idempotency_key
from kessai.recurring.cycle import ChargeCycle
from kessai.recurring.failures import notify_failures
from kessai.recurring.slips import create_recurring_slips
from support.gateway_server import API_KEY, gateway_server  # noqa: F401 (a fixture)
from support.recurring_charge_data import (
    add_merchant,
    add_subscription,
    attempt_rows,
    clock,
    japan_time,
    outbox_rows,
    slip_rows,
)

D = date.fromisoformat
FEBRUARY = ChargeCycle(D("2027-02-01"), D("2027-03-01"))  # charged on Monday 2027-03-01
CONCURRENCY = 4
OPTIONS = ChargeOptions(concurrency=CONCURRENCY, batch_size=10)  # the default breaker: 20 in a row, > 5 % of 200


def seed(engine, tokens: list[str]) -> dict[str, str]:
    """M1 (re-payment mails on), a subscription per token, February's slips; returns each
    subscription's idempotency key."""
    with engine.begin() as connection:
        add_merchant(connection, "M1", repayment_mail=True)
        for n, token in enumerate(tokens, start=1):
            add_subscription(
                connection,
                f"S{n:03d}",
                "M1",
                token=token,
                amount=100 * n,
                created_at=japan_time(2027, 1, 1, hour=n // 60, minute=n % 60),
            )
        create_recurring_slips(connection, FEBRUARY)
        return {
            sid: idempotency_key(row["merchant_id"], row["slip_id"], FEBRUARY.billing_month)
            for sid, row in slip_rows(connection, FEBRUARY.billing_month).items()
        }


def gateway(server, api_key: str = API_KEY) -> HttpCardGateway:
    return HttpCardGateway(
        CardGatewaySettings(
            kind=HTTP,
            base_url=server.url,
            api_key=api_key,
            timeout=0.5,
            max_retries=1,
            backoff=0.01,
            concurrency=CONCURRENCY,
        )
    )


def charge(engine, server, options: ChargeOptions = OPTIONS, **gateway_options):
    with engine.connect() as connection:
        return charge_cycle(connection, FEBRUARY, gateway(server, **gateway_options), clock=clock, options=options)


def failed_charge(engine, server, options: ChargeOptions = OPTIONS, **gateway_options) -> str:
    with pytest.raises(ChargeFaults) as raised:
        charge(engine, server, options, **gateway_options)
    return str(raised.value)


def notify(engine):
    with engine.begin() as connection:
        return notify_failures(connection, FEBRUARY, clock=clock)


def assert_nobody_told_and_month_open(engine) -> None:
    with pytest.raises(ChargeFaults, match="before failures are notified; nothing was sent"):
        notify(engine)
    with engine.connect() as connection:
        assert outbox_rows(connection) == []
        assert connection.execute(select(recurring_charge_cycles)).all() == []


def outcomes(engine) -> dict[str, list[str]]:
    with engine.connect() as connection:
        by_slip: dict[str, list[str]] = {}
        for row in attempt_rows(connection):
            by_slip.setdefault(row["subscription_id"], []).append(row["outcome"])
        return by_slip


def unpaid(engine) -> set[str]:
    with engine.connect() as connection:
        return {
            sid for sid, row in slip_rows(connection, FEBRUARY.billing_month).items() if row["payment_date"] is None
        }


@pytest.mark.parametrize("fault", ["server_error_500", "unreadable_answer"])
def test_a_gateway_failing_every_charge_fails_nobody_and_the_breaker_stops_it(engine, gateway_server, fault):
    keys = seed(engine, [f"tok_ok_{n}" for n in range(1, 61)])
    if fault == "server_error_500":
        gateway_server.fail_charges(500)
    else:
        gateway_server.unreadable_answers()
    message = failed_charge(engine, gateway_server)

    # More than 5 % of the first 200 calls: the 11th fault opens the breaker; the charges already
    # in flight (at most CONCURRENCY - 1 more) finish, no other is sent.
    charged_keys = set(gateway_server.seen)
    assert 11 <= len(charged_keys) <= 11 + CONCURRENCY - 1
    # A 500 is repeated once by the client with the same key; an unreadable 200 is not.
    assert gateway_server.charge_requests() == len(charged_keys) * (2 if fault == "server_error_500" else 1)
    assert gateway_server.executed_total() == 0
    assert message.startswith(
        f"billing month 2027-02: 60 slip(s) have no final outcome because of card gateway faults "
        f"({60 - len(charged_keys)} to be charged again, {len(charged_keys)} whose outcome the gateway has not "
        f"confirmed yet). The circuit breaker stopped the charging: 11 faults among the first 200 calls "
        f"(more than 5 %). This run: {len(charged_keys)} charge(s) sent, 0 succeeded, 0 declined, faults: "
        f"{fault} {len(charged_keys)}; "
    )
    # No slip failed: the charged ones wait for their lookup, the rest are still to charge.
    assert unpaid(engine) == set(keys)
    assert sorted(o for attempts in outcomes(engine).values() for o in attempts) == ["unknown"] * len(charged_keys)
    assert_nobody_told_and_month_open(engine)

    # The gateway recovers; the retry settles the faulted charges by lookup (never executed), then
    # charges every slip once.
    gateway_server.heal()
    summary = charge(engine, gateway_server)
    assert (summary.succeeded, summary.failed_by_reason, summary.faults_by_reason) == (60, {}, {})
    assert summary.unknown_resolved == {"not_executed": len(charged_keys)}
    assert (summary.breaker, summary.unresolved, summary.chargeable) == (None, 0, 0)
    assert {key: gateway_server.executed[key] for key in keys.values()} == {key: 1 for key in keys.values()}
    assert unpaid(engine) == set()
    closed = notify(engine)
    assert (closed.paid_count, closed.failed_count, closed.merchant_notices, closed.repayment_requests) == (60, 0, 0, 0)


def test_faults_in_a_row_after_good_charges_open_the_breaker(engine, gateway_server):
    # The first 15 cards are charged; from the 16th on, the gateway fails every charge (one card
    # brand's processor down). The rate rule is switched off: only the run of faults counts.
    tokens = [f"tok_ok_{n}" for n in range(1, 16)] + [f"tok_visa_{n}" for n in range(16, 61)]
    keys = seed(engine, tokens)
    gateway_server.fail_charges(503, prefix="tok_visa_")
    options = ChargeOptions(
        concurrency=CONCURRENCY, batch_size=10, breaker=BreakerSettings(consecutive=20, rate_percent=100, window=200)
    )
    message = failed_charge(engine, gateway_server, options)

    failed_keys = {key for key in gateway_server.seen if not gateway_server.executed[key]}
    # 20 in a row, plus those in flight; a good answer arriving among the first faults restarts the count.
    assert 20 <= len(failed_keys) <= 20 + 2 * (CONCURRENCY - 1)
    assert gateway_server.executed_total() == 15 and unpaid(engine) == set(keys) - {f"S{n:03d}" for n in range(1, 16)}
    assert "The circuit breaker stopped the charging: 20 faults in a row." in message
    assert (
        f"This run: {15 + len(failed_keys)} charge(s) sent, 15 succeeded, 0 declined, faults: server_error_503 {len(failed_keys)}; "
        in message
    )
    assert_nobody_told_and_month_open(engine)


def test_declines_wait_for_the_faulted_slips_and_the_healthy_rerun_notifies_once(engine, gateway_server):
    # 4 good cards, 3 declined, 5 of a brand whose processor fails (500) until it recovers.
    tokens = (
        [f"tok_ok_{n}" for n in range(1, 5)]
        + [f"tok_decline_{n}" for n in range(5, 8)]
        + [f"tok_jcb_{n}" for n in range(8, 13)]
    )
    keys = seed(engine, tokens)
    declined = {f"S{n:03d}" for n in range(5, 8)}
    faulted = {f"S{n:03d}" for n in range(8, 13)}
    gateway_server.fail_charges(500, prefix="tok_jcb_")
    message = failed_charge(engine, gateway_server)
    assert message.startswith(
        "billing month 2027-02: 5 slip(s) have no final outcome because of card gateway faults (5 to be charged "
        "again, 0 whose outcome the gateway has not confirmed yet). This run: 12 charge(s) sent, 4 succeeded, "
        "3 declined, faults: server_error_500 5; 0 held back."
    )
    # The declines are final; the faulted slips were looked up (never executed) and wait.
    assert {sid: attempts for sid, attempts in outcomes(engine).items() if sid not in faulted} == {
        **{f"S{n:03d}": ["succeeded"] for n in range(1, 5)},
        **{sid: ["declined"] for sid in declined},
    }
    assert {sid: outcomes(engine)[sid] for sid in faulted} == {sid: ["not_executed"] for sid in faulted}
    assert unpaid(engine) == declined | faulted
    assert_nobody_told_and_month_open(engine)

    gateway_server.heal()
    summary = charge(engine, gateway_server)
    assert (summary.attempted, summary.succeeded, summary.failed_by_reason) == (5, 5, {})
    assert unpaid(engine) == declined
    # One executed charge per key; the declined cards were not asked again.
    assert {key: gateway_server.executed[key] for key in keys.values()} == {key: 1 for key in keys.values()}
    assert {sid: gateway_server.seen[keys[sid]] for sid in declined} == {sid: 1 for sid in declined}

    closed = notify(engine)
    assert (closed.paid_count, closed.failed_count, closed.failed_by_reason) == (9, 3, {"insufficient_funds": 3})
    assert (closed.merchant_notices, closed.repayment_requests) == (1, 3)
    with engine.connect() as connection:
        mails = outbox_rows(connection)
    assert sorted(m["recipient"] for m in mails) == [
        "m1@merchant.example",
        "s005@customer.example",
        "s006@customer.example",
        "s007@customer.example",
    ]
    # Again: nothing charged, nothing mailed twice.
    requests = gateway_server.charge_requests()
    assert charge(engine, gateway_server).cycle_closed and notify(engine).cycle_closed
    assert gateway_server.charge_requests() == requests
    with engine.connect() as connection:
        assert outbox_rows(connection) == mails


def test_late_answers_are_settled_by_lookup_and_never_charged_twice(engine, gateway_server):
    keys = seed(engine, [f"tok_ok_{n}" for n in range(1, 31)])
    gateway_server.time_out_after_executing()  # every charge executes, its answer comes too late
    message = failed_charge(engine, gateway_server)
    executed = gateway_server.executed_total()
    assert 11 <= executed <= 11 + CONCURRENCY - 1
    assert (
        f"({30 - executed} to be charged again, {executed} whose outcome the gateway has not confirmed yet)" in message
    )
    assert f"faults: timeout {executed};" in message
    assert unpaid(engine) == set(keys)  # charged at the gateway, but nobody knows yet: not failed either
    assert_nobody_told_and_month_open(engine)

    gateway_server.heal()
    summary = charge(engine, gateway_server)
    assert summary.unknown_resolved == {"succeeded": executed}
    assert summary.attempted == 30 - executed
    assert {key: gateway_server.executed[key] for key in keys.values()} == {key: 1 for key in keys.values()}
    assert unpaid(engine) == set() and notify(engine).failed_count == 0


def test_refused_credentials_open_the_breaker_at_once(engine, gateway_server):
    keys = seed(engine, [f"tok_ok_{n}" for n in range(1, 21)])
    message = failed_charge(engine, gateway_server, api_key="expired-key")
    # Only the charges already in flight when the first 401 came back were sent (401 is not repeated).
    assert 1 <= gateway_server.unauthorised <= CONCURRENCY and gateway_server.executed_total() == 0
    assert "The circuit breaker stopped the charging: the card gateway refused the credentials" in message
    sent = gateway_server.unauthorised
    # Held back: the rest of the first batch of 10, and the second batch if it was already written.
    assert any(
        f"This run: {sent} charge(s) sent, 0 succeeded, 0 declined, faults: credentials_refused {sent}; "
        f"{held} held back." in message
        for held in (10 - sent, 20 - sent)
    )
    assert unpaid(engine) == set(keys)
    assert_nobody_told_and_month_open(engine)
