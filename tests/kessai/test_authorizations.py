"""Card authorizations (与信) of slips: cancel voids the hold, a decrease voids the difference, an
increase authorizes it first, expiry releases the hold; refusals, declines, timeouts and re-runs.
Every test runs on SQLite and PostgreSQL, through the simulator and a real HTTP gateway
(tests/support/gateway_server.py).

Slips are paid on 2026-08-31: the confirmation deadline is 2027-02-28 (8/31 + 6 months, clipped),
so the stale-slip run of Monday 2027-03-01 expires them (expired_on 2027-03-01).
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, update

from kessai.db.schema import authorization_voids, mail_outbox, merchants, slip_authorizations, slips
from kessai.errors import TransientFault
from kessai.gateway.card_gateway import HTTP, CardGatewaySettings, SimulatorGateway
from kessai.gateway.circuit_breaker import BreakerSettings, CircuitBreaker
from kessai.gateway.configured import open_card_gateway
from kessai.reminders.stale_slips import ReminderSettings, remind_stale_slips
from kessai.slips.authorizations import (
    AUTHORIZATION_DECLINED,
    AUTHORIZATION_UNANSWERED,
    VOID_REFUSED_SENTENCE,
    authorize_slip,
    cancel_with_authorization,
    change_amount_with_authorization,
    plan_voids,
    record_authorization,
    release_holds,
    settle_voids,
)
from kessai.slips.operations import SlipOperationError
from support.gateway_server import API_KEY, running_gateway_server
from support.slip_builders import add_merchant, add_slip, jst, slip

PAID = date(2026, 8, 31)
AT = jst("2027-01-05", "10:00")
OPERATORS = "ops@kessai.example"


class Gateway:
    """One gateway for a test, and what it really executed."""

    def __init__(self, kind: str, server=None, ledger=None) -> None:
        self.kind, self.server = kind, server
        if kind == "simulator":
            self.client = SimulatorGateway(ledger)
        else:
            self.client = open_card_gateway(
                CardGatewaySettings(
                    kind=HTTP, base_url=server.url, api_key=API_KEY, timeout=0.5, max_retries=1, backoff=0.01
                )
            )

    def voids(self) -> list[int]:
        """The amounts actually voided, in order."""
        if self.kind == "simulator":
            return [amount for _, _, amount in self.client.executed_voids()]
        assert all(count == 1 for count in self.server.voids_executed.values())
        return [self.server.voids[key]["amount"] for key in self.server.voids_executed]

    def authorizations(self) -> list[int]:
        if self.kind == "simulator":
            return [amount for _, amount in self.client.executed_authorizations()]
        assert all(count == 1 for count in self.server.authorizations_executed.values())
        return [answer["amount"] for answer in self.server.authorizations.values() if answer["status"] == "approved"]


@pytest.fixture(params=["simulator", "http"])
def gateway(request, tmp_path):
    if request.param == "simulator":
        gateway = Gateway("simulator", ledger=tmp_path / "ledger.sqlite")
        yield gateway
        gateway.client.close()
    else:
        with running_gateway_server(hold_seconds=2.0) as server:
            gateway = Gateway("http", server)
            yield gateway
            gateway.client.close()


@pytest.fixture
def shop(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        connection.execute(update(merchants).values(email="m1@example.jp"))
        for number in ("1", "2", "3"):
            add_slip(connection, number, PAID, amount=3000)
    return engine


def authorized(engine, gateway, slip_id: str, token: str = "tok_ok_1") -> None:
    authorize_slip(engine, gateway.client, "M1", slip_id, token, jst("2026-08-31"))


def recorded(engine, slip_id: str, token: str, amount: int = 3000) -> None:
    """An authorization the online side made (not through this gateway): never voided in these tests."""
    with engine.begin() as connection:
        record_authorization(
            connection,
            slip(connection, slip_id).id,
            amount,
            card_token=token,
            approval_number="000001",
            transaction_id=f"elsewhere-{slip_id}",
            authorized_at=jst("2026-08-31"),
        )


def authorizations(engine, slip_id: str) -> list[tuple]:
    with engine.connect() as connection:
        row_id = slip(connection, slip_id).id
        return [
            tuple(row)
            for row in connection.execute(
                select(
                    slip_authorizations.c.sequence,
                    slip_authorizations.c.amount,
                    slip_authorizations.c.voided_amount,
                    slip_authorizations.c.state,
                )
                .where(slip_authorizations.c.slip_row_id == row_id)
                .order_by(slip_authorizations.c.sequence)
            )
        ]


def voids(engine) -> list[tuple]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(
                    authorization_voids.c.idempotency_key,
                    authorization_voids.c.amount,
                    authorization_voids.c.purpose,
                    authorization_voids.c.outcome,
                ).order_by(authorization_voids.c.void_id)
            )
        ]


def mails(engine, kind: str) -> list:
    with engine.connect() as connection:
        return connection.execute(select(mail_outbox).where(mail_outbox.c.kind == kind)).all()


def amount_of(engine, slip_id: str) -> int:
    with engine.connect() as connection:
        return slip(connection, slip_id).amount


def test_cancel_voids_the_whole_hold_once(shop, gateway):
    authorized(shop, gateway, "1")
    result = cancel_with_authorization(shop, gateway.client, "M1", "1", AT)
    assert result.lines == ["slip 1 of merchant M1: 3,000 yen of its authorization voided"]
    assert authorizations(shop, "1") == [(1, 3000, 3000, "voided")]
    assert [(amount, purpose, outcome) for _, amount, purpose, outcome in voids(shop)] == [(3000, "cancel", "voided")]
    # The daily run finds nothing pending: nothing is voided twice.
    assert settle_voids(shop, gateway.client, AT) == []
    assert gateway.voids() == [3000]
    with pytest.raises(SlipOperationError):  # cancelled already
        cancel_with_authorization(shop, gateway.client, "M1", "1", AT)
    assert gateway.voids() == [3000]


def test_a_decrease_voids_the_difference_and_a_cancel_the_rest(shop, gateway):
    authorized(shop, gateway, "1")
    change_amount_with_authorization(shop, gateway.client, "M1", "1", 1000, AT)
    assert amount_of(shop, "1") == 1000
    assert authorizations(shop, "1") == [(1, 3000, 2000, "held")]
    cancel_with_authorization(shop, gateway.client, "M1", "1", AT)
    assert authorizations(shop, "1") == [(1, 3000, 3000, "voided")]
    assert gateway.voids() == [2000, 1000]
    assert [key.rsplit("-", 1)[1] for key, *_ in voids(shop)] == ["1", "2"]  # one key per void


def test_an_increase_authorizes_the_difference_first(shop, gateway):
    authorized(shop, gateway, "1")
    result = change_amount_with_authorization(shop, gateway.client, "M1", "1", 300_000, AT)
    assert "the increase of 297,000 yen is authorized" in result.lines[0]
    assert amount_of(shop, "1") == 300_000
    assert authorizations(shop, "1") == [(1, 3000, 0, "held"), (2, 297_000, 0, "held")]
    assert gateway.authorizations() == [3000, 297_000]
    # A decrease to 1,000 voids the newest authorization first, then 2,000 of the first.
    change_amount_with_authorization(shop, gateway.client, "M1", "1", 1000, AT)
    assert authorizations(shop, "1") == [(1, 3000, 2000, "held"), (2, 297_000, 297_000, "voided")]
    assert gateway.voids() == [297_000, 2000]


def test_a_declined_increase_leaves_the_amount_and_says_why(shop, gateway):
    recorded(shop, "1", "tok_decline_1")
    with pytest.raises(SlipOperationError) as caught:
        change_amount_with_authorization(shop, gateway.client, "M1", "1", 300_000, AT)
    assert caught.value.reason == AUTHORIZATION_DECLINED
    message = str(caught.value)
    assert "\n" not in message
    assert "declined the authorization of 297,000 yen" in message and "the amount stays 3,000 yen" in message
    assert amount_of(shop, "1") == 3000
    assert authorizations(shop, "1") == [(1, 3000, 0, "held"), (2, 297_000, 0, "declined")]


def test_an_unanswered_increase_leaves_the_amount_and_a_second_try_authorizes_once(shop, gateway):
    recorded(shop, "1", "tok_timeout_1")
    with pytest.raises(SlipOperationError) as caught:
        change_amount_with_authorization(shop, gateway.client, "M1", "1", 5000, AT)
    assert caught.value.reason == AUTHORIZATION_UNANSWERED
    assert amount_of(shop, "1") == 3000
    assert authorizations(shop, "1") == [(1, 3000, 0, "held"), (2, 2000, 0, "pending")]
    # Another amount while it is unanswered is refused: settle that one first.
    with pytest.raises(SlipOperationError, match="run the same command for 5,000 yen first"):
        change_amount_with_authorization(shop, gateway.client, "M1", "1", 9000, AT)
    change_amount_with_authorization(shop, gateway.client, "M1", "1", 5000, AT)  # the same key again
    assert amount_of(shop, "1") == 5000
    assert authorizations(shop, "1") == [(1, 3000, 0, "held"), (2, 2000, 0, "held")]
    assert gateway.authorizations() == [2000]  # executed once


def test_a_refused_void_cancels_on_our_side_and_tells_the_merchant_and_operators_once(shop, gateway):
    authorized(shop, gateway, "1", "tok_void_refused_1")
    authorized(shop, gateway, "2", "tok_void_refused_2")
    first = cancel_with_authorization(shop, gateway.client, "M1", "1", AT)
    assert first.lines[0].startswith(VOID_REFUSED_SENTENCE)
    assert "the customer's hold stays until the card company releases it" in first.lines[0]
    with shop.connect() as connection:
        assert slip(connection, "1").cancelled_at is not None
    change_amount_with_authorization(shop, gateway.client, "M1", "2", 1000, AT)
    assert amount_of(shop, "2") == 1000
    assert authorizations(shop, "1") == [(1, 3000, 3000, "void_refused")]
    assert authorizations(shop, "2") == [(1, 3000, 2000, "held")]  # a partial refusal leaves it held
    assert gateway.voids() == []

    summary = release_holds(shop, gateway.client, date(2027, 1, 6), jst("2027-01-06", "09:00"), OPERATORS)
    assert (summary.merchant_mails, summary.operator_mails, summary.refused) == (1, 1, 0)
    [merchant_mail] = mails(shop, "authorization_void_refused")
    assert merchant_mail.recipient == "m1@example.jp"
    assert merchant_mail.dedupe_key == "authorization_void_refused:M1:2027-01-06"
    assert VOID_REFUSED_SENTENCE in merchant_mail.body
    assert "カード会社が与信を解除するまで確保されたまま" in merchant_mail.body
    assert "伝票番号 1　取消を依頼した金額 3,000円　決済取消（2027-01-05）" in merchant_mail.body
    assert "伝票番号 2　取消を依頼した金額 2,000円　金額変更（減額）（2027-01-05）" in merchant_mail.body
    [operator_mail] = mails(shop, "authorization_void_refused_operators")
    assert operator_mail.recipient == OPERATORS

    # A re-run of the day and the next day: no mail again, no void asked again.
    requests = gateway.server.void_requests if gateway.server else None
    release_holds(shop, gateway.client, date(2027, 1, 6), jst("2027-01-06", "10:00"), OPERATORS)
    release_holds(shop, gateway.client, date(2027, 1, 7), jst("2027-01-07", "09:00"), OPERATORS)
    assert len(mails(shop, "authorization_void_refused")) == 1
    assert len(mails(shop, "authorization_void_refused_operators")) == 1
    if gateway.server:
        assert gateway.server.void_requests == requests


def test_an_unanswered_void_stays_pending_and_the_daily_run_retries_it(shop, gateway):
    authorized(shop, gateway, "1", "tok_void_error_1")
    result = cancel_with_authorization(shop, gateway.client, "M1", "1", AT)
    assert "did not answer the void of 3,000 yen" in result.lines[0]
    with shop.connect() as connection:
        assert slip(connection, "1").cancelled_at is not None
    with pytest.raises(TransientFault, match="1 void"):
        release_holds(shop, gateway.client, date(2027, 1, 6), jst("2027-01-06", "09:00"), OPERATORS)
    [(key, amount, purpose, outcome)] = voids(shop)
    assert (amount, purpose, outcome) == (3000, "cancel", "pending")
    with shop.connect() as connection:
        assert connection.execute(select(authorization_voids.c.attempts)).scalar_one() == 2
    assert gateway.voids() == []


def test_a_void_whose_answer_was_lost_is_settled_by_the_same_key(shop):
    with running_gateway_server(hold_seconds=2.0) as server:
        gateway = Gateway("http", server)
        authorized(shop, gateway, "1", "tok_void_timeout_1")
        result = cancel_with_authorization(shop, gateway.client, "M1", "1", AT)
        assert "did not answer" in result.lines[0]
        server.heal()
        summary = release_holds(shop, gateway.client, date(2027, 1, 6), jst("2027-01-06", "09:00"), OPERATORS)
        assert summary.voided == 1
        assert authorizations(shop, "1") == [(1, 3000, 3000, "voided")]
        assert list(server.voids_executed.values()) == [1]  # executed once, answered twice
        gateway.client.close()


def test_a_slip_without_an_authorization_is_cancelled_and_changed_with_a_note(shop, gateway):
    result = change_amount_with_authorization(shop, gateway.client, "M1", "1", 300_000, AT)
    assert result.lines == ["slip 1 of merchant M1: no authorization on record; nothing to void at the card company"]
    assert amount_of(shop, "1") == 300_000
    cancel_with_authorization(shop, gateway.client, "M1", "1", AT)
    assert gateway.voids() == [] and gateway.authorizations() == []


def run_reminders(engine, day: str):
    with engine.begin() as connection:
        return remind_stale_slips(connection, date.fromisoformat(day), ReminderSettings(operator_email=OPERATORS))


def test_expiry_releases_the_hold_once(shop, gateway):
    authorized(shop, gateway, "1")
    authorized(shop, gateway, "2", "tok_void_refused_2")
    change_amount_with_authorization(shop, gateway.client, "M1", "1", 1000, AT)  # 2,000 voided already
    # Slip 3 has no authorization on record: it expires with nothing to void.
    assert run_reminders(shop, "2027-02-26").expiry_voids_planned == 0  # Friday: not expired yet
    summary = run_reminders(shop, "2027-03-01")
    assert summary.expired_marked == 3 and summary.expiry_voids_planned == 2
    held = release_holds(shop, gateway.client, date(2027, 3, 1), jst("2027-03-01", "09:00"), OPERATORS)
    assert (held.voided, held.refused, held.operator_mails) == (1, 1, 1)
    assert authorizations(shop, "1") == [(1, 3000, 3000, "expired")]
    assert authorizations(shop, "2") == [(1, 3000, 3000, "void_refused")]
    assert gateway.voids() == [2000, 1000]
    [operator_mail] = mails(shop, "authorization_void_refused_operators")
    assert "伝票番号 2  3,000円  expiry  2027-03-01" in operator_mail.body
    # Re-runs of the day, and a backfill of the next: nothing voided or mailed twice.
    run_reminders(shop, "2027-03-01")
    release_holds(shop, gateway.client, date(2027, 3, 1), jst("2027-03-01", "10:00"), OPERATORS)
    assert run_reminders(shop, "2027-03-02").expiry_voids_planned == 0
    release_holds(shop, gateway.client, date(2027, 3, 2), jst("2027-03-02", "09:00"), OPERATORS)
    assert gateway.voids() == [2000, 1000]
    assert len(mails(shop, "authorization_void_refused")) == 1
    assert len(voids(shop)) == 3


def test_a_transmitted_slip_s_authorization_is_captured(shop, gateway):
    authorized(shop, gateway, "1")
    with shop.begin() as connection:
        connection.execute(
            update(slips)
            .where(slips.c.slip_id == "1")
            .values(
                confirmed_on=date(2026, 9, 1),
                confirmation_registered_at=jst("2026-09-01"),
                transmitted_on=date(2026, 9, 2),
            )
        )
    assert release_holds(shop, gateway.client, date(2027, 1, 6), AT, OPERATORS).captured == 1
    assert authorizations(shop, "1") == [(1, 3000, 0, "captured")]


def test_the_charges_circuit_breaker_stops_the_voids_of_a_failing_gateway(shop, gateway):
    for number in ("1", "2", "3"):
        authorized(shop, gateway, number, f"tok_void_error_{number}")
    with shop.begin() as connection:
        for number in ("1", "2", "3"):
            plan_voids(connection, slip(connection, number).id, None, "cancel", date(2027, 1, 6))
    breaker = CircuitBreaker(BreakerSettings(consecutive=2))
    with pytest.raises(TransientFault, match="3 void.*the circuit breaker opened: 2 faults in a row"):
        release_holds(shop, gateway.client, date(2027, 1, 6), jst("2027-01-06", "09:00"), OPERATORS, breaker)
    with shop.connect() as connection:
        attempts = (
            connection.execute(select(authorization_voids.c.attempts).order_by(authorization_voids.c.void_id))
            .scalars()
            .all()
        )
    assert attempts == [1, 1, 0]  # the third never sent
    assert [outcome for *_, outcome in voids(shop)] == ["pending"] * 3


def test_the_daily_run_releases_the_hold_of_an_increase_whose_answer_came_too_late(shop, gateway):
    recorded(shop, "1", "tok_timeout_1")
    with pytest.raises(SlipOperationError):
        change_amount_with_authorization(shop, gateway.client, "M1", "1", 5000, AT)  # held, answer lost
    summary = release_holds(shop, gateway.client, date(2027, 1, 6), jst("2027-01-06", "09:00"), OPERATORS)
    assert (summary.late_authorizations_voided, summary.voided) == (1, 1)
    assert amount_of(shop, "1") == 3000
    assert authorizations(shop, "1") == [(1, 3000, 0, "held"), (2, 2000, 2000, "voided")]
    assert gateway.voids() == [2000]
    # The operator's next try authorizes anew (a new key, whose first answer this token loses too:
    # asked again, it is answered); a re-run of the day does nothing more.
    with pytest.raises(SlipOperationError):
        change_amount_with_authorization(shop, gateway.client, "M1", "1", 5000, AT)
    change_amount_with_authorization(shop, gateway.client, "M1", "1", 5000, AT)
    assert amount_of(shop, "1") == 5000
    assert authorizations(shop, "1")[2] == (3, 2000, 0, "held")
    release_holds(shop, gateway.client, date(2027, 1, 6), jst("2027-01-06", "10:00"), OPERATORS)
    assert gateway.authorizations() == [2000, 2000] and gateway.voids() == [2000]
