"""Each merchant's 加盟店番号 at each card company (merchant_card_numbers), as the transmission
records carry it: `python -m kessai merchant-number set M CARD_COMPANY NUMBER`.

A number is 1 to 16 ASCII letters or digits. Setting it again replaces it; the records of a batch
already written keep the number they went out with (transmission_batch_merchants).
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, insert, select, update

from kessai.db.schema import card_companies, merchant_card_numbers, merchants
from kessai.errors import Refusal

MERCHANT_NUMBER = re.compile(r"[0-9A-Za-z]{1,16}")


class BadMerchantNumber(Refusal, ValueError):
    """A merchant number, merchant or card company the command cannot take."""


def set_merchant_number(connection: Connection, merchant_id: str, card_company: str, number: str) -> str | None:
    """Record `number` as the merchant's 加盟店番号 at the card company; returns the one it replaced."""
    if not MERCHANT_NUMBER.fullmatch(number):
        raise BadMerchantNumber(
            f"merchant number {number!r} for {merchant_id} at {card_company} is not 1 to 16 letters or digits: "
            "give the number the card company assigned"
        )
    if (
        connection.execute(select(merchants.c.merchant_id).where(merchants.c.merchant_id == merchant_id)).first()
        is None
    ):
        raise BadMerchantNumber(f"merchant {merchant_id!r} does not exist: check the merchant id")
    known = connection.execute(
        select(card_companies.c.card_company).where(card_companies.c.card_company == card_company)
    ).first()
    if known is None:
        raise BadMerchantNumber(f"card company {card_company!r} is not in card_companies: check its name")
    n = merchant_card_numbers.c
    where = (n.merchant_id == merchant_id) & (n.card_company == card_company)
    before = connection.execute(select(n.merchant_number).where(where)).scalar()
    if before is None:
        connection.execute(
            insert(merchant_card_numbers).values(
                merchant_id=merchant_id, card_company=card_company, merchant_number=number
            )
        )
    elif before != number:
        connection.execute(update(merchant_card_numbers).where(where).values(merchant_number=number))
    return before
