"""Merchants and subscriptions for the recurring charge tests, written as the online side does."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import insert, select

from kessai.db.schema import charge_attempts, mail_outbox, merchants, slips, subscriptions
from support.japan_time import japan_time  # noqa: F401 (the recurring charge tests' moments)

FIXED_NOW = datetime(2027, 3, 1, 1, 0, tzinfo=UTC)  # 10:00 in Japan on 2027-03-01


def clock() -> datetime:
    return FIXED_NOW


def add_merchant(connection, merchant_id: str, *, email: str | None = None, repayment_mail: bool = False) -> None:
    connection.execute(
        insert(merchants).values(
            merchant_id=merchant_id,
            name=f"テスト商店{merchant_id}",
            email=email if email is not None else f"{merchant_id.lower()}@merchant.example",
            repayment_mail_enabled=repayment_mail,
        )
    )


def add_subscription(
    connection,
    subscription_id: str,
    merchant_id: str,
    *,
    token: str = "tok_ok_visa",
    amount: int = 1000,
    created_at: datetime | None = None,
    started_on: date | None = None,
    status: str = "active",
    customer_email: str | None = "",
) -> None:
    connection.execute(
        insert(subscriptions).values(
            subscription_id=subscription_id,
            merchant_id=merchant_id,
            customer_email=f"{subscription_id.lower()}@customer.example" if customer_email == "" else customer_email,
            card_token=token,
            card_reference="************4242",
            amount=amount,
            status=status,
            created_at=created_at or japan_time(2027, 1, 10),
            started_on=started_on,
        )
    )


def slip_rows(connection, billing_month: date) -> dict[str, dict]:
    """The billing month's slips by subscription id."""
    rows = connection.execute(select(slips).where(slips.c.billing_month == billing_month)).mappings()
    return {row["subscription_id"]: dict(row) for row in rows}


def attempt_rows(connection) -> list[dict]:
    query = select(charge_attempts, slips.c.subscription_id).join(slips, slips.c.id == charge_attempts.c.slip_row_id)
    return [dict(row) for row in connection.execute(query.order_by(charge_attempts.c.attempt_id)).mappings()]


def outbox_rows(connection) -> list[dict]:
    return [dict(row) for row in connection.execute(select(mail_outbox).order_by(mail_outbox.c.mail_id)).mappings()]
