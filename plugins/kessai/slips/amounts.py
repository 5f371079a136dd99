"""The range a slip's amount must lie in (SPEC §4.6): a whole number of yen in 1..max, the max
being KESSAI_MAX_SLIP_AMOUNT (default 99,999,999 yen).

The setting is read at the boundary (the task layer, the command line: Settings.max_slip_amount)
and passed down; the transmission holds back a slip outside the range, and `confirm`,
`change-amount` and the confirmation import refuse it.

Sums over many amounts are taken in two parts, `amount // 10^9` (an integer division on both databases) and `amount % 10^9`, each far
from any limit, and joined in Python (`exact_total`): exact on SQLite (whose SUM of integers raises
"integer overflow" past 2^63) and PostgreSQL alike, whatever amount sits in the table.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import ColumnElement, func

from kessai.settings import (  # noqa: F401 (kessai.slips.amounts' names too)
    DEFAULT_MAX_SLIP_AMOUNT,
    MAX_SLIP_AMOUNT_VARIABLE,
    AmountSettingError,
    environment_setting,
)

SPLIT = 10**9


def max_slip_amount(environ: Mapping[str, str] | None = None) -> int:
    """KESSAI_MAX_SLIP_AMOUNT as yen (default 99,999,999); refuses anything but 1..999,999,999,999.
    A boundary holding a Settings passes its max_slip_amount instead."""
    return environment_setting("max_slip_amount", environ)


def in_range(amount: int, max_amount: int) -> bool:
    return 1 <= amount <= max_amount


def out_of_range(amount: int, max_amount: int) -> str:
    """Why an amount is refused, for a one-line message that names the slip before it."""
    return (
        f"the amount {amount:,} yen is outside 1..{max_amount:,} yen "
        f"({MAX_SLIP_AMOUNT_VARIABLE}, default {DEFAULT_MAX_SLIP_AMOUNT:,})"
    )


def total_parts(amount: ColumnElement) -> tuple[ColumnElement, ColumnElement]:
    """The two sums whose join is the exact total of `amount` (see the module's docstring)."""
    return (
        func.coalesce(func.sum(amount // SPLIT), 0),
        func.coalesce(func.sum(amount % SPLIT), 0),
    )


def exact_total(high, low) -> int:
    return int(high) * SPLIT + int(low)
