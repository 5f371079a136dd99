"""Rows for the slip operation and confirmation import tests, written as the online side writes
them: merchants, and slips with only the contract's columns unless a test gives more."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, insert, select

from kessai.db.schema import merchants, slip_events, slips, subscriptions
from support.japan_time import jst  # noqa: F401 (the slip tests' moments)


def add_merchant(connection, merchant_id: str = "M1", cycle: str = "monthly") -> None:
    connection.execute(
        insert(merchants).values(merchant_id=merchant_id, name=f"店舗 {merchant_id}", payout_cycle=cycle)
    )


def add_slip(
    connection, slip_id: str, payment_date: date | None, merchant_id: str = "M1", amount: int = 5000, **columns
) -> None:
    connection.execute(
        insert(slips).values(
            slip_id=slip_id,
            merchant_id=merchant_id,
            card_company="visa_master",
            amount=amount,
            payment_date=payment_date,
            **columns,
        )
    )


def add_subscription(connection, subscription_id: str, merchant_id: str = "M1") -> None:
    connection.execute(
        insert(subscriptions).values(
            subscription_id=subscription_id, merchant_id=merchant_id, card_token="tok_test", amount=5000
        )
    )


def slip(connection, slip_id: str, merchant_id: str = "M1"):
    return connection.execute(select(slips).where(slips.c.merchant_id == merchant_id, slips.c.slip_id == slip_id)).one()


def events(connection, slip_id: str, merchant_id: str = "M1") -> list[tuple[str, date, str]]:
    """(event, business date, detail) of one slip, oldest first."""
    return [
        tuple(row)
        for row in connection.execute(
            select(slip_events.c.event, slip_events.c.business_date, slip_events.c.detail)
            .join(slips, slips.c.id == slip_events.c.slip_row_id)
            .where(slips.c.merchant_id == merchant_id, slips.c.slip_id == slip_id)
            .order_by(slip_events.c.event_id)
        )
    ]


def event_count(connection) -> int:
    return connection.execute(select(func.count()).select_from(slip_events)).scalar_one()


def all_slips(connection) -> list[tuple]:
    """Every slip's full row, for comparing the table before and after."""
    return [tuple(row) for row in connection.execute(select(slips).order_by(slips.c.id))]
