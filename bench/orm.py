"""ORM classes over the kessai tables, for the naive baselines: the code many would write first,
an object per row, fetched and saved one at a time."""

from __future__ import annotations

from sqlalchemy.orm import registry

from kessai.db.schema import (
    bank_accounts,
    charge_attempts,
    merchants,
    payout_statement_lines,
    payout_statements,
    slip_events,
    slip_reminders,
    slips,
    stale_slip_digests,
    subscriptions,
)

_registry = registry()


class _Row:
    def __init__(self, **values) -> None:
        for name, value in values.items():
            setattr(self, name, value)


class Slip(_Row):
    pass


class Merchant(_Row):
    pass


class BankAccount(_Row):
    pass


class Subscription(_Row):
    pass


class PayoutStatement(_Row):
    pass


class PayoutStatementLine(_Row):
    pass


class SlipReminder(_Row):
    pass


class SlipEvent(_Row):
    pass


class ChargeAttempt(_Row):
    pass


class StaleSlipDigest(_Row):
    pass


for _class, _table in (
    (Slip, slips),
    (Merchant, merchants),
    (BankAccount, bank_accounts),
    (Subscription, subscriptions),
    (PayoutStatement, payout_statements),
    (PayoutStatementLine, payout_statement_lines),
    (SlipReminder, slip_reminders),
    (SlipEvent, slip_events),
    (ChargeAttempt, charge_attempts),
    (StaleSlipDigest, stale_slip_digests),
):
    _registry.map_imperatively(_class, _table)
