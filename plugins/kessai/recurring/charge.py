"""Charging a billing month's recurring slips through the card gateway, never one twice.

Every charge is first written as a 'pending' attempt and committed (a batch at a time), then sent
with the slip's idempotency key; its outcome is written after. So a crash never loses the
knowledge that a charge was sent: an attempt found pending or unknown is settled by asking the
gateway (lookup by key) before that slip is charged again. A success fills the payment date with
the cycle's charge day.

Only an answer about the card (succeeded, declined) is final. A fault of the gateway leaves the
slip to be charged again by a later run and fails this one (ChargeFaults, a TransientFault); a
circuit breaker (kessai.gateway.circuit_breaker) stops the charging when faults pile up.
docs/recurring-charge.md.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Date, bindparam, delete, func, insert, select, text, update

from kessai.db.database import sql_text
from kessai.db.schema import charge_attempts, slips
from kessai.errors import TransientFault
from kessai.gateway.card_gateway import (
    KIND_DECLINED,
    KIND_FAULT,
    KIND_SUCCEEDED,
    SUCCEEDED,
    UNKNOWN,
    CardGateway,
    ChargeOutcome,
    ChargeResult,
)
from kessai.gateway.circuit_breaker import NOT_SENT, BreakerSettings, CircuitBreaker
from kessai.kinds import Result
from kessai.recurring.cycle import ChargeCycle, ClosedCycle, closed_at
from kessai.recurring.slips import create_recurring_slips

log = logging.getLogger(__name__)

PENDING = ChargeOutcome.PENDING
NOT_EXECUTED = ChargeOutcome.NOT_EXECUTED
UNSETTLED = (PENDING, UNKNOWN)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class ChargeOptions:
    concurrency: int = 32  # charges in flight at once
    batch_size: int = 500  # attempts written 'pending' (and their outcomes) per transaction
    breaker: BreakerSettings = BreakerSettings()  # when the run stops calling a failing gateway


class ChargeFaults(TransientFault):
    """Slips of the month without a final outcome after the run, because of gateway faults: they
    stay chargeable (or wait for a lookup), nobody is told anything, and the month stays open."""


def idempotency_key(merchant_id: str, slip_id: str, billing_month: date) -> str:
    """One key per slip and billing month: every attempt at that charge sends the same one."""
    return f"recurring:{merchant_id}:{slip_id}:{billing_month:%Y-%m}"


@dataclass
class ChargeTally:
    """What one run did: its charges, and the unknown outcomes it settled."""

    attempted: int = 0  # charges sent
    succeeded: int = 0
    succeeded_amount: int = 0
    failed: Counter = field(default_factory=Counter)  # declines (final card failures) by reason
    failed_amount: int = 0
    faults: Counter = field(default_factory=Counter)  # charges answered with a fault, by reason
    not_sent: int = 0  # charges the open circuit breaker held back
    resolved: Counter = field(default_factory=Counter)  # unknown outcomes settled by lookup, by outcome

    def count(self, result: ChargeResult, amount: int) -> None:
        if result.kind == KIND_SUCCEEDED:
            self.succeeded += 1
            self.succeeded_amount += amount
        elif result.kind == KIND_DECLINED:
            self.failed[result.reason or result.outcome] += 1
            self.failed_amount += amount

    def as_dict(self) -> dict:
        return {
            "attempted": self.attempted,
            "succeeded": self.succeeded,
            "succeeded_amount": self.succeeded_amount,
            "failed_by_reason": dict(sorted(self.failed.items())),
            "failed_amount": self.failed_amount,
            "faults_by_reason": dict(sorted(self.faults.items())),
            "not_sent": self.not_sent,
            "unknown_resolved": dict(sorted(self.resolved.items())),
        }


@dataclass(frozen=True, slots=True)
class ChargeSummary(Result):
    """A charge run of a cycle: its tally (ChargeTally.as_dict), why the circuit breaker stopped
    it (None: it did not), and what is left without a final outcome (open_slips)."""

    billing_month: str  # YYYY-MM
    charge_date: date
    attempted: int
    succeeded: int
    succeeded_amount: int
    failed_by_reason: dict[str, int]
    failed_amount: int
    faults_by_reason: dict[str, int]
    not_sent: int
    unknown_resolved: dict[str, int]
    breaker: str | None
    unresolved: int
    chargeable: int


@dataclass(frozen=True, slots=True)
class ChargePreview(Result):
    """What a charge run would do (a dry run)."""

    billing_month: str  # YYYY-MM
    charge_date: date
    slips_to_create: int
    to_look_up: int
    to_charge: int
    to_charge_amount: int


def unsettled_attempts(connection: Connection, billing_month: date) -> int:
    """The month's charge attempts whose outcome is not known (pending or unknown)."""
    return connection.execute(
        select(func.count())
        .select_from(charge_attempts)
        .where(charge_attempts.c.billing_month == billing_month, charge_attempts.c.outcome.in_(UNSETTLED))
    ).scalar_one()


def chargeable_slips(connection: Connection, cycle: ChargeCycle) -> tuple[int, int]:
    """How many of the month's slips are left to charge now, and their amount."""
    chargeable = sql_text("recurring/charge/chargeable_slips", connection.dialect.name).text
    count, amount = connection.execute(
        text(f"SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM ({chargeable}) c").bindparams(
            bindparam("billing_month", cycle.billing_month, type_=Date), after_id=0, batch_size=2**62
        )
    ).one()
    return count, int(amount)


def open_slips(connection: Connection, cycle: ChargeCycle) -> dict[str, int]:
    """The month's slips without a final outcome: those whose charge has an unknown outcome (to be
    looked up) and those left to charge. Failures are notified only once both are 0."""
    return {
        "unresolved": unsettled_attempts(connection, cycle.billing_month),
        "chargeable": chargeable_slips(connection, cycle)[0],
    }


class _ChargeRun:
    def __init__(self, connection, cycle, gateway, pool, clock, options) -> None:
        self.connection = connection
        self.cycle = cycle
        self.gateway = gateway
        self.pool = pool
        self.clock = clock
        self.options = options
        self.tally = ChargeTally()
        self.breaker = CircuitBreaker(options.breaker)
        self.month = bindparam("billing_month", cycle.billing_month, type_=Date)
        self.chargeable = sql_text("recurring/charge/chargeable_slips", connection.dialect.name)

    # -- settling unknown outcomes by lookup ---------------------------------------------------

    def settle_unknown(self) -> None:
        """Look up every pending or unknown attempt of the cycle (while the breaker is closed): a
        charge found is recorded as the gateway says; one never executed makes its slip
        chargeable again; no answer leaves the attempt unknown."""
        after_id = 0
        while not self.breaker.is_open:
            rows = self.connection.execute(
                select(charge_attempts.c.attempt_id, charge_attempts.c.idempotency_key, slips.c.id, slips.c.amount)
                .join(slips, slips.c.id == charge_attempts.c.slip_row_id)
                .where(
                    charge_attempts.c.billing_month == self.cycle.billing_month,
                    charge_attempts.c.outcome.in_(UNSETTLED),
                    charge_attempts.c.attempt_id > after_id,
                )
                .order_by(charge_attempts.c.attempt_id)
                .limit(self.options.batch_size)
            ).all()
            if not rows:
                return
            after_id = rows[-1].attempt_id
            found = list(self.pool.map(self._lookup, [row.idempotency_key for row in rows]))
            now = self.clock()
            changes, paid = [], []
            for row, result in zip(rows, found, strict=True):
                if result is NOT_SENT:
                    continue  # the breaker opened meanwhile: a later run looks it up
                if result is None:
                    outcome, reason, charge_id, settled = NOT_EXECUTED, None, None, now
                elif result.is_final:
                    outcome, reason, charge_id, settled = result.outcome, result.reason, result.charge_id, now
                    self.tally.count(result, row.amount)
                    if result.outcome == SUCCEEDED:
                        paid.append(row.id)
                else:  # the gateway cannot tell yet: the attempt stays unknown (a first reason kept)
                    outcome, reason, charge_id, settled = UNKNOWN, result.reason, None, None
                if settled is not None:
                    self.tally.resolved[outcome] += 1
                changes.append(
                    {
                        "b_attempt_id": row.attempt_id,
                        "b_outcome": outcome,
                        "b_reason": reason,
                        "b_charge_id": charge_id,
                        "b_resolved_at": settled,
                        "b_now": now,
                    }
                )
            if not changes:
                continue
            self.connection.execute(
                update(charge_attempts)
                .where(charge_attempts.c.attempt_id == bindparam("b_attempt_id"))
                .values(
                    outcome=bindparam("b_outcome"),
                    reason=func.coalesce(bindparam("b_reason"), charge_attempts.c.reason),
                    gateway_charge_id=bindparam("b_charge_id"),
                    resolved_at=bindparam("b_resolved_at"),
                    finished_at=func.coalesce(charge_attempts.c.finished_at, bindparam("b_now")),
                ),
                changes,
            )
            self._mark_paid(paid)
            self.connection.commit()

    # -- charging -------------------------------------------------------------------------------

    def _lookup(self, key: str):
        return self.breaker.call(self.gateway.lookup, key)

    def _charge(self, key: str, card_token: str, amount: int, reference: str):
        return self.breaker.call(self.gateway.charge, key, card_token, amount, reference=reference)

    def charge_all(self) -> None:
        """Charge every chargeable slip of the cycle once, a batch at a time, until the breaker opens.

        The next batch is written pending and handed to the pool before the current one's outcomes
        are recorded, so the charges in flight never wait for the database between batches. A slip
        whose charge faults is not charged again by this run.
        """
        after_id = 0
        unrecorded: list[tuple] = []  # batches handed to the pool, oldest first
        try:
            while True:
                rows = (
                    []
                    if self.breaker.is_open
                    else self.connection.execute(
                        self.chargeable.bindparams(self.month, after_id=after_id, batch_size=self.options.batch_size)
                    ).all()
                )
                if rows:
                    after_id = rows[-1].slip_row_id
                    unrecorded.append(self._send_batch(rows))
                if len(unrecorded) > (1 if rows else 0):
                    self._record_batch(*unrecorded.pop(0))
                if not unrecorded:
                    return
        except BaseException:
            for _, futures in unrecorded:
                for future in futures:
                    future.cancel()  # not sent yet; those sent stay pending, settled by lookup
            raise

    def _send_batch(self, rows) -> tuple:
        keys = [idempotency_key(row.merchant_id, row.slip_id, self.cycle.billing_month) for row in rows]
        started = self.clock()
        # Written and committed before any call: a crash from here on leaves them pending.
        self.connection.execute(
            insert(charge_attempts),
            [
                {
                    "slip_row_id": row.slip_row_id,
                    "billing_month": self.cycle.billing_month,
                    "charge_date": self.cycle.charge_date,
                    "attempt_number": row.attempts + 1,
                    "idempotency_key": key,
                    "outcome": PENDING,
                    "started_at": started,
                }
                for row, key in zip(rows, keys, strict=True)
            ],
        )
        self.connection.commit()
        futures = [
            self.pool.submit(self._charge, key, row.card_token, row.amount, row.slip_id)
            for row, key in zip(rows, keys, strict=True)
        ]
        return rows, futures

    def _record_batch(self, rows, futures) -> None:
        answered = [(row, future.result()) for row, future in zip(rows, futures, strict=True)]
        held = [row.slip_row_id for row, result in answered if result is NOT_SENT]
        answered = [(row, result) for row, result in answered if result is not NOT_SENT]
        finished = self.clock()
        paid = []
        for row, result in answered:
            self.tally.attempted += 1
            self.tally.count(result, row.amount)
            if result.kind == KIND_FAULT:
                self.tally.faults[result.reason or result.outcome] += 1
            if result.kind == KIND_SUCCEEDED:
                paid.append(row.slip_row_id)
        if held:
            # Never sent (the breaker was open before the call): as if never attempted.
            self.tally.not_sent += len(held)
            self.connection.execute(
                delete(charge_attempts).where(
                    charge_attempts.c.slip_row_id.in_(held), charge_attempts.c.outcome == PENDING
                )
            )
        if not answered:
            self.connection.commit()
            return
        self.connection.execute(
            update(charge_attempts)
            .where(
                charge_attempts.c.slip_row_id == bindparam("b_slip_row_id"),
                charge_attempts.c.attempt_number == bindparam("b_attempt_number"),
            )
            .values(
                outcome=bindparam("b_outcome"),
                reason=bindparam("b_reason"),
                gateway_charge_id=bindparam("b_charge_id"),
                finished_at=finished,
            ),
            [
                {
                    "b_slip_row_id": row.slip_row_id,
                    "b_attempt_number": row.attempts + 1,
                    "b_outcome": result.outcome,
                    "b_reason": result.reason,
                    "b_charge_id": result.charge_id,
                }
                for row, result in answered
            ],
        )
        self._mark_paid(paid)
        self.connection.commit()
        log.info(
            "billing month %s: %d charge(s) sent, %d succeeded so far",
            self.cycle.month_label,
            self.tally.attempted,
            self.tally.succeeded,
        )

    def _mark_paid(self, slip_row_ids: list[int]) -> None:
        if slip_row_ids:
            self.connection.execute(
                update(slips)
                .where(slips.c.id.in_(slip_row_ids), slips.c.payment_date.is_(None))
                .values(payment_date=self.cycle.charge_date)
            )


def charge_cycle(
    connection: Connection,
    cycle: ChargeCycle,
    gateway: CardGateway,
    *,
    clock: Clock,
    options: ChargeOptions = ChargeOptions(),
) -> ChargeSummary | ClosedCycle:
    """Charge the cycle's slips: settle unknown outcomes first (a charge the gateway never executed
    makes its slip chargeable again), charge every chargeable slip once, then settle what this
    run could not tell. The circuit breaker stops the calls when the faults pass its threshold.

    Commits as it goes. Raises ChargeFaults, after committing everything it learnt, when a slip of
    the month is left without a final outcome (its charge faulted, or its outcome is unknown): no
    failure may be announced, and the month may not close, before every slip has one.
    """
    if (closed := closed_at(connection, cycle)) is not None:
        log.info("billing month %s was closed at %s: nothing is charged", cycle.month_label, closed)
        return ClosedCycle.of(cycle)
    connection.commit()
    with ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="charge") as pool:
        run = _ChargeRun(connection, cycle, gateway, pool, clock, options)
        run.settle_unknown()
        run.charge_all()
        run.settle_unknown()
    remaining: dict[str, Any] = dict(open_slips(connection, cycle))
    connection.commit()
    summary = ChargeSummary(
        billing_month=cycle.month_label,
        charge_date=cycle.charge_date,
        **run.tally.as_dict(),
        breaker=run.breaker.reason,
        **remaining,
    )
    if not any(remaining.values()):
        log.info("recurring charge of %s on %s: %s", cycle.month_label, cycle.charge_date, summary.as_dict())
        return summary
    log.warning(
        "recurring charge of %s on %s, gateway faults: %s", cycle.month_label, cycle.charge_date, summary.as_dict()
    )
    raise ChargeFaults(fault_message(cycle, summary))


def fault_message(cycle: ChargeCycle, summary: ChargeSummary) -> str:
    """One line for the task log and the operators' alert: what is left open, and the counts."""
    left = summary.unresolved + summary.chargeable
    faults = ", ".join(f"{reason} {count}" for reason, count in summary.faults_by_reason.items()) or "none"
    stopped = f" The circuit breaker stopped the charging: {summary.breaker}." if summary.breaker else ""
    return (
        f"billing month {cycle.month_label}: {left} slip(s) have no final outcome because of card gateway "
        f"faults ({summary.chargeable} to be charged again, {summary.unresolved} whose outcome the "
        f"gateway has not confirmed yet).{stopped} This run: {summary.attempted} charge(s) sent, "
        f"{summary.succeeded} succeeded, {sum(summary.failed_by_reason.values())} declined, faults: "
        f"{faults}; {summary.not_sent} held back. No customer or merchant was told anything and the month "
        f"stays open: the task is retried; if the retries run out, clear `charge` with downstream once the "
        f"gateway answers (docs/operations.md)."
    )


def preview_charges(connection: Connection, cycle: ChargeCycle) -> ChargePreview | ClosedCycle:
    """What a charge run would do, for a dry run: creates the month's slips inside the caller's
    transaction (which the caller rolls back), counts, and calls no gateway."""
    if closed_at(connection, cycle) is not None:
        return ClosedCycle.of(cycle)
    created = create_recurring_slips(connection, cycle).created
    count, amount = chargeable_slips(connection, cycle)
    return ChargePreview(
        billing_month=cycle.month_label,
        charge_date=cycle.charge_date,
        slips_to_create=created,
        to_look_up=unsettled_attempts(connection, cycle.billing_month),
        to_charge=count,
        to_charge_amount=amount,
    )
