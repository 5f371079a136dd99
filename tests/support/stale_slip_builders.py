"""Merchants and open slips for the stale-slip reminder tests, written as the online side writes
them: a slip is open (unconfirmed) unless a test gives it more state."""

from __future__ import annotations

from sqlalchemy import insert

from kessai.db.schema import merchants, slips
from support.japan_time import D


def add_merchant(connection, merchant_id: str, email: str | None = None, period: str | None = None) -> None:
    """A merchant reminded at `email` (None: the operators are told instead) every `period`."""
    connection.execute(
        insert(merchants).values(
            merchant_id=merchant_id, name=f"{merchant_id}商店", email=email, reminder_period=period
        )
    )


def add_slip(connection, merchant_id: str, slip_id: str, paid: str | None, amount: int = 1000, **state) -> int:
    """A slip paid on `paid` (YYYY-MM-DD, or None: no payment date yet); returns its row id."""
    return connection.execute(
        insert(slips)
        .values(
            merchant_id=merchant_id,
            slip_id=slip_id,
            card_company="visa_master",
            amount=amount,
            payment_date=D(paid) if paid else None,
            **state,
        )
        .returning(slips.c.id)
    ).scalar_one()
