"""The fees on a statement as the invoice system (適格請求書等保存方式, from 2023-10) asks
(docs/payout-closing.md, "Fees and consumption tax"): the service's registration number (登録番号),
each fee's tax class, the tax rate and the consumption tax in the fees.

Fees are tax-inclusive amounts and stay what the closing computed; the tax is shown, not added:
the taxable fees of a statement summed per rate, times 10/110, rounded down to the yen once per
statement (one rounding per rate per invoice, as the system allows).

Settings (KESSAI_<NAME> in the environment, Settings.invoice, else the kessai_settings row invoice.<name>, named
invoice.registration_number, invoice.merchant_fee_tax_class, invoice.transfer_fee_tax_class):
- INVOICE_REGISTRATION_NUMBER: T and 13 digits (the 法人番号 of a company), check digit checked;
- MERCHANT_FEE_TAX_CLASS: the card merchant fee (決済手数料), exempt (非課税, the default: it is
  usually part of a credit transaction), taxable or out_of_scope (不課税);
- TRANSFER_FEE_TAX_CLASS: the transfer fee (振込手数料), taxable (課税 10 %, the default) or the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, select

from kessai.db.schema import settings
from kessai.errors import Refusal
from kessai.settings import Settings

STANDARD_RATE_PERCENT = 10


class TaxClass(StrEnum):
    """How consumption tax applies to a fee."""

    TAXABLE = "taxable"  # 課税
    EXEMPT = "exempt"  # 非課税
    OUT_OF_SCOPE = "out_of_scope"  # 不課税


TAX_CLASSES: dict[str, str] = {TaxClass.TAXABLE: "課税", TaxClass.EXEMPT: "非課税", TaxClass.OUT_OF_SCOPE: "不課税"}
REGISTRATION_NUMBER = re.compile(r"T[0-9]{13}")


class InvoiceSettingError(Refusal, ValueError):
    """A setting of the statements' invoice part that cannot be used."""


def _setting(connection: Connection, name: str, configured: Mapping[str, str]) -> str | None:
    """KESSAI_<NAME> (`configured`), else the kessai_settings row invoice.<name without its invoice_ prefix>."""
    value = configured.get(name)
    if value is None:
        key = f"invoice.{name.removeprefix('invoice_')}"
        value = connection.execute(select(settings.c.value).where(settings.c.key == key)).scalar()
    return value.strip() if value is not None else None


def check_registration_number(value: str) -> str:
    """`value` if it is T and 13 digits whose first is the check digit of the other 12 (法人番号:
    9 - (the sum of each digit, counted from the right, times 1 at odd and 2 at even places) mod 9)."""
    if not REGISTRATION_NUMBER.fullmatch(value):
        raise InvoiceSettingError(
            f"KESSAI_INVOICE_REGISTRATION_NUMBER {value!r}: expected T and 13 digits, as the registration notice shows it"
        )
    digits = [int(c) for c in value[2:]]
    check = 9 - sum(d * (1 if place % 2 else 2) for place, d in enumerate(reversed(digits), start=1)) % 9
    if check != int(value[1]):
        raise InvoiceSettingError(
            f"KESSAI_INVOICE_REGISTRATION_NUMBER {value!r}: the check digit is {value[1]}, the number gives {check} (a typo?)"
        )
    return value


def _tax_class(connection: Connection, name: str, default: str, configured: Mapping[str, str]) -> str:
    value = _setting(connection, name, configured) or default
    if value not in TAX_CLASSES:
        raise InvoiceSettingError(f"KESSAI_{name.upper()} {value!r}: expected one of {', '.join(TAX_CLASSES)}")
    return value


@dataclass(frozen=True)
class InvoiceSettings:
    registration_number: str  # "" when not set
    merchant_fee_class: str
    transfer_fee_class: str

    @classmethod
    def load(cls, connection: Connection, configured: Mapping[str, str] | None = None) -> InvoiceSettings:
        """The settings `configured` gives (Settings.invoice; default: the environment's), the
        kessai_settings rows for the others."""
        configured = Settings.from_environment().invoice if configured is None else configured
        number = _setting(connection, "invoice_registration_number", configured) or ""
        return cls(
            check_registration_number(number) if number else "",
            _tax_class(connection, "merchant_fee_tax_class", "exempt", configured),
            _tax_class(connection, "transfer_fee_tax_class", "taxable", configured),
        )

    def taxable_total(self, fee: int, transfer_fee: int) -> int:
        """The tax-inclusive amount of a statement's fees taxed at the standard rate."""
        return (fee if self.merchant_fee_class == TaxClass.TAXABLE else 0) + (
            transfer_fee if self.transfer_fee_class == TaxClass.TAXABLE else 0
        )


def tax_in(amount: int, rate_percent: int = STANDARD_RATE_PERCENT) -> int:
    """The consumption tax inside a tax-inclusive amount, rounded down to the yen."""
    return amount * rate_percent // (100 + rate_percent)
