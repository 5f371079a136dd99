"""Merchants and slips for the card transmission tests, written as the online side writes them,
and readers of what a transmission left behind (marks, batches, hold-backs, files)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import insert, select

from kessai.db.schema import (
    merchants,
    slips,
    transmission_batch_merchants,
    transmission_batches,
    transmission_holds,
)
from support.japan_time import D, jst  # noqa: F401 (the transmission tests' dates and moments)


def add_merchant(
    connection, merchant_id: str = "M1", *, name_kana: str | None = "ミセ", name_en: str | None = "Shop"
) -> None:
    connection.execute(
        insert(merchants).values(
            merchant_id=merchant_id, name=f"店舗{merchant_id}", name_kana=name_kana, name_en=name_en
        )
    )


def add_confirmed(
    connection,
    slip_id: str,
    registered: str,
    confirmed_on: str | None = None,
    *,
    merchant_id: str = "M1",
    card_company: str = "visa_master",
    amount: int = 1000,
    paid: str = "2026-12-01",
    card_reference: str = "4111111111111111",
) -> None:
    """A slip whose confirmation was registered at `registered` (Japan), dated `confirmed_on`
    (default: the registration's day)."""
    connection.execute(
        insert(slips).values(
            slip_id=slip_id,
            merchant_id=merchant_id,
            card_company=card_company,
            card_reference=card_reference,
            amount=amount,
            payment_date=D(paid),
            confirmed_on=D(confirmed_on or registered[:10]),
            confirmation_registered_at=jst(registered),
        )
    )


def add_unconfirmed(connection, slip_id: str, *, cancelled: str | None = None, merchant_id: str = "M1") -> None:
    connection.execute(
        insert(slips).values(
            slip_id=slip_id,
            merchant_id=merchant_id,
            card_company="visa_master",
            amount=1000,
            payment_date=D("2026-12-01"),
            cancelled_at=jst(cancelled) if cancelled else None,
        )
    )


def marks(connection) -> dict[str, tuple[date | None, date | None, str | None]]:
    """slip number -> (transmitted_on, the date it was due, its batch's card company)."""
    rows = connection.execute(
        select(
            slips.c.slip_id, slips.c.transmitted_on, slips.c.transmission_due_on, transmission_batches.c.card_company
        ).outerjoin(transmission_batches, transmission_batches.c.batch_id == slips.c.transmission_batch_id)
    )
    return {slip_id: (sent, due, company) for slip_id, sent, due, company in rows}


def batches(connection) -> list[tuple]:
    """(business date, card company, file name, sequence number, records, amount, late) of every batch."""
    b = transmission_batches.c
    return [
        tuple(row)
        for row in connection.execute(
            select(
                b.business_date,
                b.card_company,
                b.file_name,
                b.sequence_number,
                b.record_count,
                b.amount_total,
                b.late_count,
            ).order_by(b.business_date, b.card_company)
        )
    ]


def holds(connection) -> list[tuple[date, str, str]]:
    """(business date, slip number, reason) of every hold-back."""
    h = transmission_holds.c
    return [
        tuple(row)
        for row in connection.execute(
            select(h.business_date, slips.c.slip_id, h.reason)
            .join(slips, slips.c.id == h.slip_row_id)
            .order_by(h.business_date, slips.c.slip_id, h.reason)
        )
    ]


def transmission_state(connection) -> dict[str, list[tuple]]:
    """Every row the transmission writes, for comparing before and after a re-run."""
    tables = {
        "slips": (slips, slips.c.id),
        "transmission_batches": (transmission_batches, transmission_batches.c.batch_id),
        "transmission_batch_merchants": (
            transmission_batch_merchants,
            transmission_batch_merchants.c.batch_id,
            transmission_batch_merchants.c.merchant_id,
        ),
        "transmission_holds": (transmission_holds, *transmission_holds.primary_key.columns),
    }
    return {
        name: [tuple(row) for row in connection.execute(select(table).order_by(*order))]
        for name, (table, *order) in tables.items()
    }


def files_under(fs, root: str) -> dict[str, bytes]:
    """Every file under root (relative path -> bytes)."""
    return {path[len(root.rstrip("/")) + 1 :]: fs.cat_file(path) for path in sorted(fs.find(root))}
