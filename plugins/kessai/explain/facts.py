"""What the business database holds about one slip, for `python -m kessai explain`.

A handful of indexed look-ups, no scan of slips: the slip by merchant and slip number (its unique
index; without a merchant, one probe of that index per merchant), then each table by the slip's
row id or by the keys the slip leads to (its batch, statement, transfer, billing month, merchant).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Connection, select

from kessai.calendar.rules import closing_date_for, effective_confirmation_date
from kessai.calendar.run_dates import JAPAN
from kessai.db.schema import (
    bank_accounts,
    calendar_overrides,
    charge_attempts,
    mail_outbox,
    merchants,
    payout_closings,
    payout_held_slips,
    payout_statement_lines,
    payout_statements,
    payout_transfer_files,
    payout_transfers,
    payout_withheld_transfers,
    recurring_charge_cycles,
    slip_events,
    slip_reminders,
    slips,
    stale_slip_digests,
    subscriptions,
    transmission_batches,
    transmission_holds,
)
from kessai.errors import Refusal
from kessai.recurring.failures import FAILURE_NOTICE, REPAYMENT_REQUEST

MERCHANTS_PER_PROBE = 1000  # merchant ids per look-up of a slip number without --merchant
NAMED_MERCHANTS = 10  # merchants an ambiguous slip number names


class SlipNotFound(Refusal):
    """No slip has this number (at this merchant)."""


class SlipAmbiguous(Refusal):
    """The slip number exists at several merchants: the question needs --merchant."""


def _row(result) -> dict | None:
    row = result.mappings().first()
    return dict(row) if row else None


def _rows(result) -> list[dict]:
    return [dict(row) for row in result.mappings()]


def find_slip(connection: Connection, slip_id: str, merchant_id: str | None) -> dict:
    """The slip's row; SlipNotFound or SlipAmbiguous (one line each) otherwise."""
    if not (slip_id.isdigit() and len(slip_id) <= 18):
        raise SlipNotFound(f"slip {slip_id!r} not found: a slip number is 1 to 18 digits")
    query = select(slips).where(slips.c.slip_id == slip_id)
    if merchant_id is not None:
        row = _row(connection.execute(query.where(slips.c.merchant_id == merchant_id)))
        if row is None:
            raise SlipNotFound(
                f"slip {slip_id} not found at merchant {merchant_id}: check the slip number and the merchant id"
            )
        return row
    # The unique index leads with the merchant: one probe of it per merchant, never a scan of slips.
    merchant_ids = list(connection.execute(select(merchants.c.merchant_id).order_by(merchants.c.merchant_id)).scalars())
    found: list[dict] = []
    for start in range(0, len(merchant_ids), MERCHANTS_PER_PROBE):
        chunk = merchant_ids[start : start + MERCHANTS_PER_PROBE]
        found += _rows(connection.execute(query.where(slips.c.merchant_id.in_(chunk))))
    if not found:
        raise SlipNotFound(
            f"slip {slip_id} not found at any of the {len(merchant_ids)} merchants: check the slip number"
        )
    if len(found) > 1:
        names = sorted(row["merchant_id"] for row in found)
        shown = ", ".join(names[:NAMED_MERCHANTS]) + (
            f" and {len(names) - NAMED_MERCHANTS} more" if len(names) > NAMED_MERCHANTS else ""
        )
        raise SlipAmbiguous(
            f"slip number {slip_id} exists at {len(names)} merchants ({shown}): say which with --merchant"
        )
    return found[0]


@dataclass
class SlipFacts:
    slip: dict
    merchant: dict
    events: list[dict] = field(default_factory=list)
    transmission_holds: list[dict] = field(default_factory=list)  # business_date, reason
    batch: dict | None = None
    closing_holds: list[dict] = field(default_factory=list)  # closing_date, reason
    closings_ran: dict[date, datetime] = field(default_factory=dict)  # closing date -> closed_at
    statement: dict | None = None
    line: dict | None = None
    bank_account: dict | None = None
    transfer: dict | None = None
    transfer_file: dict | None = None
    withheld: list[dict] = field(default_factory=list)
    subscription: dict | None = None
    attempts: list[dict] = field(default_factory=list)
    charge_cycle: dict | None = None
    recurring_mails: list[dict] = field(default_factory=list)
    reminders: list[dict] = field(default_factory=list)  # slip_reminders with their mail
    digests: list[dict] = field(default_factory=list)  # the merchant's digests that may list it
    declared_closures: dict[date, str] = field(default_factory=dict)

    @property
    def registered_on(self) -> date | None:
        at = self.slip["confirmation_registered_at"]
        return at.astimezone(JAPAN).date() if at else None

    @property
    def effective_on(self) -> date | None:
        """The day the confirmation took effect: max(registered date, confirmed_on)."""
        if self.registered_on is None:
            return None
        return effective_confirmation_date(self.registered_on, self.slip["confirmed_on"])


def read_facts(connection: Connection, slip: dict) -> SlipFacts:
    """Everything recorded about the slip."""
    row_id = slip["id"]
    merchant = _row(connection.execute(select(merchants).where(merchants.c.merchant_id == slip["merchant_id"])))
    assert merchant is not None  # slips.merchant_id references merchants
    facts = SlipFacts(slip=slip, merchant=merchant)
    facts.events = _rows(
        connection.execute(
            select(slip_events).where(slip_events.c.slip_row_id == row_id).order_by(slip_events.c.event_id)
        )
    )
    facts.declared_closures = {
        row.day: row.reason
        for row in connection.execute(
            select(calendar_overrides.c.day, calendar_overrides.c.reason).where(calendar_overrides.c.is_open.is_(False))
        )
    }
    registered_on, effective_on = facts.registered_on, facts.effective_on
    if registered_on is not None and effective_on is not None:  # both or neither
        _transmission(connection, facts, effective_on)
        rule_closing = closing_date_for(facts.merchant["payout_cycle"], registered_on, slip["confirmed_on"])
        _closing(connection, facts, [d for d in (rule_closing, slip["closing_date"]) if d is not None])
    if slip["subscription_id"] is not None:
        _recurring(connection, facts)
    if slip["payment_date"] is not None:  # a slip confirmed late may have been stale first
        _reminders(connection, facts)
    return facts


def _transmission(connection: Connection, facts: SlipFacts, effective_on: date) -> None:
    slip, h = facts.slip, transmission_holds.c
    # The holds' primary key leads with the day: a range from the confirmation on, to the day it went.
    query = select(h.business_date, h.reason).where(h.slip_row_id == slip["id"], h.business_date > effective_on)
    if slip["transmitted_on"] is not None:
        query = query.where(h.business_date <= slip["transmitted_on"])
    facts.transmission_holds = _rows(connection.execute(query.order_by(h.business_date, h.reason)))
    if slip["transmission_batch_id"] is not None:
        facts.batch = _row(
            connection.execute(
                select(transmission_batches).where(transmission_batches.c.batch_id == slip["transmission_batch_id"])
            )
        )


def _closing(connection: Connection, facts: SlipFacts, closing_dates: list[date]) -> None:
    slip, held = facts.slip, payout_held_slips.c
    facts.closing_holds = _rows(
        connection.execute(
            select(held.closing_date, held.reason)
            .where(held.slip_row_id == slip["id"])
            .order_by(held.closing_date, held.reason)
        )
    )
    concerned = sorted(set(closing_dates) | {row["closing_date"] for row in facts.closing_holds})
    facts.closings_ran = dict(
        connection.execute(
            select(payout_closings.c.closing_date, payout_closings.c.closed_at).where(
                payout_closings.c.closing_date.in_(concerned)
            )
        ).all()
    )
    closing = slip["closing_date"]
    if closing is None or closing not in facts.closings_ran:
        return
    facts.statement = _row(
        connection.execute(
            select(payout_statements).where(
                payout_statements.c.merchant_id == slip["merchant_id"], payout_statements.c.closing_date == closing
            )
        )
    )
    # The account in effect at the confirmation's registration is the one its line pays.
    a = bank_accounts.c
    facts.bank_account = _row(
        connection.execute(
            select(bank_accounts)
            .where(a.merchant_id == slip["merchant_id"], a.effective_from <= slip["confirmation_registered_at"])
            .order_by(a.effective_from.desc())
            .limit(1)
        )
    )
    if facts.statement is None or facts.bank_account is None:
        return
    statement_id, account_id = facts.statement["statement_id"], facts.bank_account["bank_account_id"]
    facts.line = _row(
        connection.execute(
            select(payout_statement_lines).where(
                payout_statement_lines.c.statement_id == statement_id,
                payout_statement_lines.c.card_company == slip["card_company"],
                payout_statement_lines.c.bank_account_id == account_id,
            )
        )
    )
    t = payout_transfers.c
    facts.transfer = _row(
        connection.execute(
            select(payout_transfers).where(t.statement_id == statement_id, t.bank_account_id == account_id)
        )
    )
    if facts.transfer and facts.transfer["transfer_file_id"] is not None:
        facts.transfer_file = _row(
            connection.execute(
                select(payout_transfer_files).where(
                    payout_transfer_files.c.transfer_file_id == facts.transfer["transfer_file_id"]
                )
            )
        )
    w = payout_withheld_transfers.c
    # Its primary key leads with the run's day: transfer-file runs fall between closing and payout.
    facts.withheld = _rows(
        connection.execute(
            select(w.business_date, w.reason, w.slip_count, w.amount)
            .where(
                w.business_date > closing,
                w.business_date <= facts.statement["payout_date"],
                w.statement_id == statement_id,
                w.bank_account_id == account_id,
            )
            .order_by(w.business_date)
        )
    )


def _recurring(connection: Connection, facts: SlipFacts) -> None:
    slip = facts.slip
    facts.subscription = _row(
        connection.execute(select(subscriptions).where(subscriptions.c.subscription_id == slip["subscription_id"]))
    )
    c = charge_attempts.c
    facts.attempts = _rows(
        connection.execute(
            select(c.attempt_number, c.charge_date, c.outcome, c.reason, c.started_at, c.finished_at, c.resolved_at)
            .where(c.slip_row_id == slip["id"])
            .order_by(c.attempt_number)
        )
    )
    facts.charge_cycle = _row(
        connection.execute(
            select(recurring_charge_cycles).where(recurring_charge_cycles.c.billing_month == slip["billing_month"])
        )
    )
    keys = {
        f"{FAILURE_NOTICE}:{slip['merchant_id']}:{slip['billing_month']:%Y-%m}": FAILURE_NOTICE,
        f"{REPAYMENT_REQUEST}:{slip['merchant_id']}:{slip['slip_id']}": REPAYMENT_REQUEST,
    }
    m = mail_outbox.c
    facts.recurring_mails = _rows(
        connection.execute(
            select(m.mail_id, m.kind, m.recipient, m.created_at, m.sent_at, m.gave_up_at)
            .where(m.dedupe_key.in_(list(keys)))
            .order_by(m.mail_id)
        )
    )


def _reminders(connection: Connection, facts: SlipFacts) -> None:
    slip, r, m = facts.slip, slip_reminders.c, mail_outbox.c
    facts.reminders = _rows(
        connection.execute(
            select(r.reason, r.business_date, r.mail_id, m.sent_at, m.gave_up_at)
            .select_from(slip_reminders.outerjoin(mail_outbox, m.mail_id == r.mail_id))
            .where(r.slip_row_id == slip["id"])
            .order_by(r.business_date, r.reason)
        )
    )
    d = stale_slip_digests.c
    facts.digests = _rows(
        connection.execute(
            select(d.period, d.as_of, d.paid_through, d.business_date, d.mail_id, m.sent_at, m.gave_up_at)
            .select_from(stale_slip_digests.outerjoin(mail_outbox, m.mail_id == d.mail_id))
            .where(
                d.merchant_id == slip["merchant_id"],
                d.mail_id.is_not(None),
                d.paid_through >= slip["payment_date"],
            )
            .order_by(d.business_date)
        )
    )
