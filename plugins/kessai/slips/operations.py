"""The online side's operations on one slip (SPEC §4.1): confirm it, cancel it, change its amount.

Each runs in the caller's transaction and takes the moment of the operation as an aware datetime.
A refused operation raises SlipOperationError with a reason code and changes nothing. Every
update repeats the state it was checked against in its WHERE, so of two concurrent operations on
one slip at most one succeeds; the other is refused with the reason the winner left behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, insert, select, update

from kessai.calendar.run_dates import JAPAN, japan_date_of
from kessai.db.schema import slip_events, slips
from kessai.slips.amounts import DEFAULT_MAX_SLIP_AMOUNT, in_range, out_of_range
from kessai.slips.confirmation_batch import (
    ALREADY_CONFIRMED,
    AMOUNT_OUT_OF_RANGE,
    CANCELLED,
    CONCURRENT_CHANGE,
    UNKNOWN_SLIP,
    ConfirmationRequest,
    register_confirmations,
)

INVALID_AMOUNT = "invalid_amount"

# The FAQ's answer to a change after confirmation.
CONFIRMED_SLIP_GUIDANCE = (
    "決済確定後は金額変更や決済取消は行えません。差額の請求またはカードを経由しない返金にてご対応ください。"
)


class SlipOperationError(Exception):
    """An operation the rules refuse; `reason` is a code such as past_deadline or already_confirmed."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Confirmation:
    merchant_id: str
    slip_id: str
    confirmed_on: date
    registered_on: date
    closing_date: date


def confirm_slip(
    connection: Connection,
    merchant_id: str,
    slip_id: str,
    confirmed_on: date,
    registered_at: datetime,
    max_amount: int = DEFAULT_MAX_SLIP_AMOUNT,
) -> Confirmation:
    """Register the confirmation of one slip, dated `confirmed_on`, registered at `registered_at`.

    A slip whose amount is outside 1..max_amount (KESSAI_MAX_SLIP_AMOUNT) is refused."""
    outcome = register_confirmations(
        connection,
        [ConfirmationRequest(1, merchant_id, slip_id, confirmed_on)],
        registered_at,
        source="operation",
        refuse_repeats=True,
        max_amount=max_amount,
    )
    for refused in outcome.refused:
        raise SlipOperationError(refused.reason, refused.message(outcome.registered_on))
    closing_date = connection.execute(
        select(slips.c.closing_date).where(slips.c.merchant_id == merchant_id, slips.c.slip_id == slip_id)
    ).scalar_one()
    return Confirmation(merchant_id, slip_id, confirmed_on, outcome.registered_on, closing_date)


def cancel_slip(connection: Connection, merchant_id: str, slip_id: str, cancelled_at: datetime) -> None:
    """Cancel a slip that is not confirmed yet."""
    slip = _slip(connection, merchant_id, slip_id)
    _check_changeable(slip, "cancelled")
    _update_as_checked(connection, slip, "cancelled", cancelled_at=cancelled_at)
    _record(connection, slip, "cancelled", cancelled_at, {"amount": slip.amount})


def change_amount(
    connection: Connection,
    merchant_id: str,
    slip_id: str,
    amount: int,
    changed_at: datetime,
    max_amount: int = DEFAULT_MAX_SLIP_AMOUNT,
) -> None:
    """Change the amount (yen, 1..max_amount: KESSAI_MAX_SLIP_AMOUNT) of a slip that is neither
    confirmed nor cancelled."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise SlipOperationError(
            INVALID_AMOUNT,
            f"slip {slip_id} of merchant {merchant_id}: the amount must be a whole number of yen, not {amount!r}",
        )
    if not in_range(amount, max_amount):
        raise SlipOperationError(
            AMOUNT_OUT_OF_RANGE,
            f"slip {slip_id} of merchant {merchant_id}: {out_of_range(amount, max_amount)}; nothing was changed",
        )
    slip = _slip(connection, merchant_id, slip_id)
    _check_changeable(slip, "changed in amount")
    if amount == slip.amount:
        return
    _update_as_checked(connection, slip, "changed in amount", amount=amount)
    _record(connection, slip, "amount_changed", changed_at, {"from": slip.amount, "to": amount})


def changeable_slip(connection: Connection, merchant_id: str, slip_id: str, action: str) -> _Slip:
    """The slip, if it can still be `action` ("cancelled", "changed in amount"); else the refusal."""
    slip = _slip(connection, merchant_id, slip_id)
    _check_changeable(slip, action)
    return slip


@dataclass(frozen=True)
class _Slip:
    id: int
    merchant_id: str
    slip_id: str
    amount: int
    confirmed_on: date | None
    cancelled_at: datetime | None

    @property
    def name(self) -> str:
        return f"slip {self.slip_id} of merchant {self.merchant_id}"


def _slip(connection: Connection, merchant_id: str, slip_id: str) -> _Slip:
    row = connection.execute(
        select(
            slips.c.id, slips.c.merchant_id, slips.c.slip_id, slips.c.amount, slips.c.confirmed_on, slips.c.cancelled_at
        ).where(slips.c.merchant_id == merchant_id, slips.c.slip_id == slip_id)
    ).one_or_none()
    if row is None:
        raise SlipOperationError(UNKNOWN_SLIP, f"slip {slip_id} of merchant {merchant_id}: no such slip")
    return _Slip(**row._mapping)


def _check_changeable(slip: _Slip, action: str) -> None:
    if slip.confirmed_on is not None:
        raise SlipOperationError(
            ALREADY_CONFIRMED,
            f"{CONFIRMED_SLIP_GUIDANCE}\n{slip.name} was confirmed on {slip.confirmed_on} and can no longer be "
            f"{action}: after confirmation neither the amount nor the sale can change. Bill the customer "
            "the difference, or refund outside the card.",
        )
    if slip.cancelled_at is not None:
        raise SlipOperationError(
            CANCELLED,
            f"{slip.name} was cancelled at {slip.cancelled_at.astimezone(JAPAN):%Y-%m-%d %H:%M} JST; it can no longer be {action}",
        )


def _update_as_checked(connection: Connection, slip: _Slip, action: str, **values) -> None:
    result = connection.execute(
        update(slips)
        .where(
            slips.c.id == slip.id,
            slips.c.confirmed_on.is_(None),
            slips.c.cancelled_at.is_(None),
            slips.c.amount == slip.amount,
        )
        .values(**values)
    )
    if result.rowcount == 1:
        return
    # Another operation got there first: name what it did, if the rules can.
    _check_changeable(_slip(connection, slip.merchant_id, slip.slip_id), action)
    raise SlipOperationError(
        CONCURRENT_CHANGE, f"{slip.name} changed while it was being {action}; check it and try again"
    )


def _record(connection: Connection, slip: _Slip, event: str, at: datetime, detail: dict) -> None:
    connection.execute(
        insert(slip_events).values(
            slip_row_id=slip.id,
            event=event,
            business_date=japan_date_of(at),
            detail=json.dumps(detail),
            occurred_at=at,
        )
    )
