"""Charging a billing month's recurring slips through the card gateway, never one twice.

Every charge is first written as a 'pending' attempt and committed (a batch at a time), then sent
with the slip's idempotency key; its outcome is written after. So a crash never loses the
knowledge that a charge was sent: an attempt found pending or unknown is settled by asking the
gateway (lookup by key) before that slip is charged again. A success fills the payment date with
the cycle's charge day. docs/recurring-charge.md.
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable

from sqlalchemy import Connection, Date, bindparam, func, insert, select, text, update

from kessai.card_gateway import SUCCEEDED, UNKNOWN, CardGateway, ChargeResult
from kessai.charge_cycle import ChargeCycle, closed_at
from kessai.database import sql_text
from kessai.recurring_slips import create_recurring_slips
from kessai.schema import charge_attempts, slips

log = logging.getLogger(__name__)

PENDING = "pending"
NOT_EXECUTED = "not_executed"  # the gateway confirmed (lookup: not found) it never executed it
UNSETTLED = (PENDING, UNKNOWN)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class ChargeOptions:
    concurrency: int = 32  # charges in flight at once
    batch_size: int = 500  # attempts written 'pending' (and their outcomes) per transaction
    max_attempts: int = 3  # charges of one slip per cycle while the gateway never executes them


class ChargeOutcomeUnknown(RuntimeError):
    """Charges whose outcome the gateway could not confirm: those slips wait for a later run."""


def idempotency_key(merchant_id: str, slip_id: str, billing_month: date) -> str:
    """One key per slip and billing month: every attempt at that charge sends the same one."""
    return f"recurring:{merchant_id}:{slip_id}:{billing_month:%Y-%m}"


@dataclass
class ChargeTally:
    """What one run did: its charges, and the unknown outcomes it settled."""

    attempted: int = 0
    succeeded: int = 0
    succeeded_amount: int = 0
    failed: Counter = field(default_factory=Counter)  # final failures by reason
    failed_amount: int = 0
    unknown: int = 0  # charges answered without a clear result (then looked up)
    resolved: Counter = field(default_factory=Counter)  # unknown outcomes settled by lookup, by outcome

    def count(self, result: ChargeResult, amount: int) -> None:
        if result.outcome == SUCCEEDED:
            self.succeeded += 1
            self.succeeded_amount += amount
        elif result.is_final:
            self.failed[result.reason or result.outcome] += 1
            self.failed_amount += amount

    def as_dict(self) -> dict:
        return {
            "attempted": self.attempted,
            "succeeded": self.succeeded,
            "succeeded_amount": self.succeeded_amount,
            "failed_by_reason": dict(sorted(self.failed.items())),
            "failed_amount": self.failed_amount,
            "unknown": self.unknown,
            "unknown_resolved": dict(sorted(self.resolved.items())),
        }


def unsettled_attempts(connection: Connection, billing_month: date) -> int:
    """The month's charge attempts whose outcome is not known (pending or unknown)."""
    return connection.execute(
        select(func.count())
        .select_from(charge_attempts)
        .where(charge_attempts.c.billing_month == billing_month, charge_attempts.c.outcome.in_(UNSETTLED))
    ).scalar_one()


class _ChargeRun:
    def __init__(self, connection, cycle, gateway, pool, clock, options) -> None:
        self.connection = connection
        self.cycle = cycle
        self.gateway = gateway
        self.pool = pool
        self.clock = clock
        self.options = options
        self.tally = ChargeTally()
        self.month = bindparam("billing_month", cycle.billing_month, type_=Date)
        self.chargeable = sql_text("recurring_charge/chargeable_slips", connection.dialect.name)

    # -- settling unknown outcomes by lookup ---------------------------------------------------

    def settle_unknown(self) -> int:
        """Look up every pending or unknown attempt of the cycle; returns how many turned out never
        executed (their slips may be charged again)."""
        never_executed = 0
        after_id = 0
        while True:
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
                return never_executed
            after_id = rows[-1].attempt_id
            found = list(self.pool.map(self.gateway.lookup, [row.idempotency_key for row in rows]))
            now = self.clock()
            changes, paid = [], []
            for row, result in zip(rows, found):
                if result is None:
                    outcome, reason, charge_id, settled = NOT_EXECUTED, None, None, now
                    never_executed += 1
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
                    {"b_attempt_id": row.attempt_id, "b_outcome": outcome, "b_reason": reason,
                     "b_charge_id": charge_id, "b_resolved_at": settled, "b_now": now}
                )
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

    def charge_all(self) -> int:
        """Charge every chargeable slip of the cycle, a batch at a time; returns how many.

        The next batch is written pending and handed to the pool before the current one's outcomes
        are recorded, so the charges in flight never wait for the database between batches.
        """
        charged = 0
        after_id = 0
        unrecorded: list[tuple] = []  # batches handed to the pool, oldest first
        try:
            while True:
                rows = self.connection.execute(
                    self.chargeable.bindparams(
                        self.month,
                        after_id=after_id,
                        max_attempts=self.options.max_attempts,
                        batch_size=self.options.batch_size,
                    )
                ).all()
                if rows:
                    after_id = rows[-1].slip_row_id
                    unrecorded.append(self._send_batch(rows))
                if len(unrecorded) > (1 if rows else 0):
                    batch = unrecorded.pop(0)
                    self._record_batch(*batch)
                    charged += len(batch[0])
                if not unrecorded:
                    return charged
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
                for row, key in zip(rows, keys)
            ],
        )
        self.connection.commit()
        futures = [
            self.pool.submit(self.gateway.charge, key, row.card_token, row.amount, reference=row.slip_id)
            for row, key in zip(rows, keys)
        ]
        return rows, futures

    def _record_batch(self, rows, futures) -> None:
        results = [future.result() for future in futures]
        finished = self.clock()
        paid = []
        for row, result in zip(rows, results):
            self.tally.attempted += 1
            self.tally.count(result, row.amount)
            if result.outcome == UNKNOWN:
                self.tally.unknown += 1
            if result.outcome == SUCCEEDED:
                paid.append(row.slip_row_id)
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
                {"b_slip_row_id": row.slip_row_id, "b_attempt_number": row.attempts + 1,
                 "b_outcome": result.outcome, "b_reason": result.reason, "b_charge_id": result.charge_id}
                for row, result in zip(rows, results)
            ],
        )
        self._mark_paid(paid)
        self.connection.commit()
        log.info(
            "billing month %s: %d charge(s) sent, %d succeeded so far",
            self.cycle.month_label, self.tally.attempted, self.tally.succeeded,
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
) -> dict:
    """Charge the cycle's slips: settle unknown outcomes first, charge what is left, settle what
    this run could not tell, and repeat for charges the gateway confirmed it never executed (up to
    max_attempts per slip).

    Commits as it goes. Raises ChargeOutcomeUnknown, after committing everything it learnt, when
    charges remain whose outcome the gateway could not confirm: no failure may be announced while
    a slip might have been paid.
    """
    summary = cycle.as_dict()
    if (closed := closed_at(connection, cycle)) is not None:
        log.info("billing month %s was closed at %s: nothing is charged", cycle.month_label, closed)
        return {**summary, "cycle_closed": True}
    connection.commit()
    with ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="charge") as pool:
        run = _ChargeRun(connection, cycle, gateway, pool, clock, options)
        run.settle_unknown()
        while run.charge_all() + run.settle_unknown():
            pass
        unsettled = unsettled_attempts(connection, cycle.billing_month)
    summary.update(run.tally.as_dict(), unresolved=unsettled)
    log.info("recurring charge of %s on %s: %s", cycle.month_label, cycle.charge_date, summary)
    if unsettled:
        raise ChargeOutcomeUnknown(
            f"{unsettled} charge(s) of billing month {cycle.month_label} have an outcome the card gateway "
            f"could not confirm (no answer, and no answer to the lookup by idempotency key). Those slips "
            f"are not charged again until a lookup settles them: run this task again when the gateway "
            f"answers. No failure is notified before then. This run: {summary}"
        )
    return summary


def preview_charges(connection: Connection, cycle: ChargeCycle, options: ChargeOptions = ChargeOptions()) -> dict:
    """What a charge run would do, for a dry run: creates the month's slips inside the caller's
    transaction (which the caller rolls back), counts, and calls no gateway."""
    summary = cycle.as_dict()
    if closed_at(connection, cycle) is not None:
        return {**summary, "cycle_closed": True}
    created = create_recurring_slips(connection, cycle)["created"]
    chargeable = sql_text("recurring_charge/chargeable_slips", connection.dialect.name).text
    count, amount = connection.execute(
        text(f"SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM ({chargeable}) c").bindparams(
            bindparam("billing_month", cycle.billing_month, type_=Date),
            after_id=0,
            max_attempts=options.max_attempts,
            batch_size=2**62,
        )
    ).one()
    return {
        **summary,
        "slips_to_create": created,
        "to_look_up": unsettled_attempts(connection, cycle.billing_month),
        "to_charge": count,
        "to_charge_amount": int(amount),
    }
