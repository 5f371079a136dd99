"""Payout adjustments (docs/payout-closing.md, "Adjustments"): signed amounts a merchant's next
closing takes beside its slips.

- chargeback, reversal: the card company took a sale back (a negative amount);
- correction: an operator's correction, either sign;
- returned_transfer, return_fee: a transfer the bank returned, paid again, less the fee
  (written by kessai.payout.transfer_returns, never by hand).

An adjustment registered at moment T is effective on T's date in Japan and goes to the first
closing of the merchant's cycle on or after that date, as a confirmation does: a backfill of a
closing takes exactly what a run on its day took.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, insert, select

from kessai.calendar.rules import closing_date_on_or_after
from kessai.calendar.run_dates import japan_date_of
from kessai.db.schema import merchants, payout_adjustments
from kessai.errors import Refusal
from kessai.kinds import Result


class AdjustmentKind(StrEnum):
    """payout_adjustments.kind (schema.ADJUSTMENT_KINDS): the first three an operator registers,
    the last two the bank's result files bring."""

    CHARGEBACK = "chargeback"
    REVERSAL = "reversal"
    CORRECTION = "correction"
    RETURNED_TRANSFER = "returned_transfer"
    RETURN_FEE = "return_fee"


MANUAL_KINDS = (AdjustmentKind.CHARGEBACK, AdjustmentKind.REVERSAL, AdjustmentKind.CORRECTION)
NEGATIVE_KINDS = (AdjustmentKind.CHARGEBACK, AdjustmentKind.REVERSAL)
# The largest amount one adjustment may carry: the transfer file's amount field (10 digits).
MAX_ADJUSTMENT = 9_999_999_999


class AdjustmentRefused(Refusal, ValueError):
    """An adjustment that cannot be registered as given."""


@dataclass(frozen=True, slots=True)
class Adjustment(Result):
    """A registered adjustment (a payout_adjustments row) and the closing that will take it."""

    merchant_id: str
    amount: int
    kind: AdjustmentKind
    reason: str
    created_by: str
    created_at: datetime
    effective_on: date
    transfer_return_id: int | None
    adjustment_id: int
    closing_date: date


def check_adjustment(merchant_id: str, amount: int, kind: str, reason: str, created_by: str) -> None:
    if kind not in MANUAL_KINDS:
        raise AdjustmentRefused(
            f"adjustment kind {kind!r}: expected one of {', '.join(MANUAL_KINDS)} (returned transfers and their "
            "fees come from the bank's result files: python -m kessai import-transfer-results)"
        )
    if amount == 0 or abs(amount) > MAX_ADJUSTMENT:
        raise AdjustmentRefused(
            f"adjustment of {amount:,} yen for merchant {merchant_id}: the amount must be whole yen, not 0, "
            f"between -{MAX_ADJUSTMENT:,} and {MAX_ADJUSTMENT:,}"
        )
    if kind in NEGATIVE_KINDS and amount > 0:
        raise AdjustmentRefused(
            f"a {kind} takes money back from merchant {merchant_id}: give the amount as negative (-{amount}); "
            "to pay a merchant more, register a correction"
        )
    if not reason.strip():
        raise AdjustmentRefused(
            f"adjustment for merchant {merchant_id}: give the reason (--reason), it is shown on the statement"
        )
    if not created_by.strip():
        raise AdjustmentRefused(f"adjustment for merchant {merchant_id}: say who registers it (--by)")


def add_adjustment(
    connection: Connection,
    merchant_id: str,
    amount: int,
    *,
    kind: str,
    reason: str,
    created_by: str,
    now: datetime,
    transfer_return_id: int | None = None,
) -> Adjustment:
    """Register an adjustment at `now` (the one clock); returns it with the closing that will take it."""
    cycle = connection.execute(select(merchants.c.payout_cycle).where(merchants.c.merchant_id == merchant_id)).scalar()
    if cycle is None:
        raise AdjustmentRefused(f"merchant {merchant_id!r} is not registered: check the merchant id")
    effective_on = japan_date_of(now)
    row: dict[str, Any] = {
        "merchant_id": merchant_id,
        "amount": amount,
        "kind": AdjustmentKind(kind),
        "reason": reason.strip(),
        "created_by": created_by.strip(),
        "created_at": now,
        "effective_on": effective_on,
        "transfer_return_id": transfer_return_id,
    }
    adjustment_id = connection.execute(
        insert(payout_adjustments).values(**row).returning(payout_adjustments.c.adjustment_id)
    ).scalar_one()
    return Adjustment(**row, adjustment_id=int(adjustment_id), closing_date=next_closing(cycle, effective_on))


def register_adjustment(
    connection: Connection, merchant_id: str, amount: int, *, kind: str, reason: str, created_by: str, now: datetime
) -> Adjustment:
    """A chargeback, reversal or correction by hand (python -m kessai adjust), checked first."""
    check_adjustment(merchant_id, amount, kind, reason, created_by)
    return add_adjustment(connection, merchant_id, amount, kind=kind, reason=reason, created_by=created_by, now=now)


def next_closing(cycle: str, effective_on: date) -> date:
    return closing_date_on_or_after(cycle, effective_on)


def adjustments_of(connection: Connection, closing_date: date) -> list[dict]:
    """The adjustments the closing of closing_date took, by merchant and id."""
    a = payout_adjustments.c
    rows = (
        connection.execute(
            select(a.adjustment_id, a.merchant_id, a.amount, a.kind, a.reason, a.created_by, a.effective_on)
            .where(a.closing_date == closing_date)
            .order_by(a.merchant_id, a.adjustment_id)
        )
        .mappings()
        .all()
    )
    return [{**row, "amount": int(row["amount"])} for row in rows]
