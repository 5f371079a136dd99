"""Rows for the payout closing tests: merchants, bank accounts and confirmed slips, written as the
online side writes them (slips without a closing date unless a test gives one), and transmitted on
their transmission date as the daily transmission sends them (unless a test says otherwise)."""

from __future__ import annotations

from datetime import date, datetime
from itertools import count

from sqlalchemy import insert, select

from kessai.calendar.rules import transmission_date
from kessai.db.schema import (
    bank_accounts,
    merchants,
    payout_statement_lines,
    payout_statements,
    payout_transfers,
    slips,
)
from support.japan_time import JAPAN
from support.japan_time import jst as at  # noqa: F401 (at("2027-02-01", "10:00"): a moment in Japan, for the tests)

_slip_numbers = count(1)


def add_merchant(connection, merchant_id: str, cycle: str = "monthly", **columns) -> None:
    values = {"merchant_id": merchant_id, "name": f"店舗 {merchant_id}", "payout_cycle": cycle}
    connection.execute(insert(merchants).values(**values, **columns))


def add_bank_account(
    connection,
    merchant_id: str,
    effective_from: datetime,
    *,
    bank_code: str = "0001",
    branch_code: str = "001",
    account_number: str = "1234567",
    holder_kana: str = "テスト",
    **columns,
) -> int:
    result = connection.execute(
        insert(bank_accounts).values(
            merchant_id=merchant_id,
            bank_code=bank_code,
            branch_code=branch_code,
            account_number=account_number,
            holder_kana=holder_kana,
            effective_from=effective_from,
            **columns,
        )
    )
    return result.inserted_primary_key[0]


def add_slip(
    connection,
    merchant_id: str,
    amount: int,
    *,
    registered_at: datetime,
    confirmed_on: date | str | None = None,
    card_company: str = "visa_master",
    payment_date: date | str | None = None,
    closing_date: date | str | None = None,
    transmitted_on: date | str | None = "due",
) -> str:
    """A confirmed slip (confirmed_on defaults to the registration's date in Japan), transmitted on
    its transmission date ("due", the default), on the date given, or not at all (None)."""
    confirmed = date.fromisoformat(str(confirmed_on)) if confirmed_on else registered_at.astimezone(JAPAN).date()
    if transmitted_on == "due":
        transmitted_on = transmission_date(registered_at.astimezone(JAPAN).date(), confirmed)
    slip_id = str(next(_slip_numbers))
    connection.execute(
        insert(slips).values(
            slip_id=slip_id,
            merchant_id=merchant_id,
            card_company=card_company,
            amount=amount,
            payment_date=date.fromisoformat(str(payment_date)) if payment_date else confirmed,
            confirmed_on=confirmed,
            confirmation_registered_at=registered_at,
            closing_date=date.fromisoformat(str(closing_date)) if closing_date else None,
            transmitted_on=date.fromisoformat(str(transmitted_on)) if transmitted_on else None,
        )
    )
    return slip_id


def statement(connection, merchant_id: str, closing_date: str) -> dict | None:
    """The statement as a dict (amounts as int), with its lines and transfers, or None."""
    row = (
        connection.execute(
            select(payout_statements).where(
                payout_statements.c.merchant_id == merchant_id,
                payout_statements.c.closing_date == date.fromisoformat(closing_date),
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    result = {
        k: (int(v) if isinstance(v, int) else v) for k, v in row.items() if k not in ("statement_id", "created_at")
    }
    lines = connection.execute(
        select(
            payout_statement_lines.c.card_company,
            payout_statement_lines.c.bank_account_id,
            payout_statement_lines.c.slip_count,
            payout_statement_lines.c.gross_amount,
            payout_statement_lines.c.fee,
        )
        .where(payout_statement_lines.c.statement_id == row["statement_id"])
        .order_by(payout_statement_lines.c.card_company, payout_statement_lines.c.bank_account_id)
    ).all()
    result["lines"] = [tuple(int(v) if isinstance(v, int) else v for v in line) for line in lines]
    transfers = connection.execute(
        select(payout_transfers.c.bank_account_id, payout_transfers.c.amount)
        .where(payout_transfers.c.statement_id == row["statement_id"])
        .order_by(payout_transfers.c.bank_account_id)
    ).all()
    result["transfers"] = {int(account): int(amount) for account, amount in transfers}
    return result
