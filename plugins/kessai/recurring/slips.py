"""The recurring slips of a billing month: the 2nd and later slips of every active subscription,
created with an empty payment date, one per subscription and month (never two)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from datetime import date
from enum import StrEnum

from sqlalchemy import Connection, Date, bindparam, func, select, text, update

from kessai.calendar.business_calendar import BusinessCalendar, check_business_day
from kessai.calendar.rules import recurring_charge_date
from kessai.db.database import japan_date, sql_text
from kessai.db.schema import subscriptions
from kessai.kinds import Result, optional
from kessai.recurring.cycle import ChargeCycle, closed_at

log = logging.getLogger(__name__)

numbers = subscriptions.alias("numbers")

SLIP_COLUMNS = "slip_id, merchant_id, card_company, card_reference, amount, subscription_id, billing_month"


class SubscriptionStatus(StrEnum):
    """subscriptions.status: a stopped subscription gets no more slips."""

    ACTIVE = "active"
    STOPPED = "stopped"


# A subscription whose next slip number a merchant's own slip already holds gets a new number;
# this many times in a row would mean something else is wrong.
RENUMBER_LIMIT = 5


@dataclass(frozen=True, slots=True)
class RecurringSlips(Result):
    """The slips a run created for a billing month: how many, their amount, the subscriptions
    numbered and renumbered on the way; nothing once the cycle is closed."""

    billing_month: str  # YYYY-MM
    charge_date: date
    created: int = 0
    created_amount: int = 0
    cycle_closed: bool = optional(False)
    numbered_subscriptions: int = optional()
    renumbered_subscriptions: list[str] = optional()


@dataclass(frozen=True, slots=True)
class SlipsAhead(Result):
    """A day's run of the slips created ahead of the charge day: its billing month and what was
    created (RecurringSlips), or why nothing was (a closed day, the charge day reached)."""

    business_date: date
    created: int = 0
    created_amount: int = 0
    closed: str = optional()
    billing_month: str = optional()
    charge_date: date = optional()
    charge_day_reached: bool = optional(False)
    cycle_closed: bool = optional(False)
    numbered_subscriptions: int = optional()
    renumbered_subscriptions: list[str] = optional()


class SlipNumberTaken(RuntimeError):
    """Recurring slip numbers stayed taken by the merchants' own slips after renumbering."""


def _due_slips(connection: Connection) -> str:
    return sql_text("recurring/charge/due_slips", connection.dialect.name).text


def _month_binds(statement, cycle: ChargeCycle):
    return statement.bindparams(
        bindparam("billing_month", cycle.billing_month, type_=Date),
        billing_yyyymm=cycle.billing_month.year * 100 + cycle.billing_month.month,
    )


def prepare_subscriptions(connection: Connection) -> int:
    """Give every subscription its start date (created_at in Japan, unless the online side set
    one) and its number; returns how many got a number now."""
    connection.execute(
        update(subscriptions)
        .where(subscriptions.c.started_on.is_(None))
        .values(started_on=japan_date(subscriptions.c.created_at))
    )
    unnumbered = connection.execute(
        select(func.count()).select_from(subscriptions).where(subscriptions.c.subscription_number.is_(None))
    ).scalar_one()
    if unnumbered:
        connection.execute(sql_text("recurring/charge/number_subscriptions", connection.dialect.name))
    return unnumbered


def create_recurring_slips(connection: Connection, cycle: ChargeCycle) -> RecurringSlips:
    """Create the billing month's missing slips (set-based); a re-run creates none twice.

    A slip number already held by one of the merchant's own slips is never reused: that
    subscription gets a new number (the merchant's highest + 1), logged and listed in the summary.
    """
    if (closed := closed_at(connection, cycle)) is not None:
        log.info("billing month %s was closed at %s: no slip is created", cycle.month_label, closed)
        return RecurringSlips(cycle.month_label, cycle.charge_date, cycle_closed=True)
    numbered = prepare_subscriptions(connection)
    due = _due_slips(connection)
    renumbered: list[str] = []
    for _ in range(RENUMBER_LIMIT):
        count, amount, taken = connection.execute(
            _month_binds(text(f"SELECT COUNT(*), COALESCE(SUM(amount), 0), COUNT(taken_by_slip) FROM ({due}) d"), cycle)
        ).one()
        if not taken:
            break
        renumbered += _renumber_taken(connection, cycle, due)
    else:
        raise SlipNumberTaken(
            f"recurring slip numbers of {cycle.month_label} are still taken by merchants' own slips after "
            f"{RENUMBER_LIMIT} renumberings (subscriptions {renumbered}): check the slips table"
        )
    if count:
        connection.execute(
            _month_binds(text(f"INSERT INTO slips ({SLIP_COLUMNS}) SELECT {SLIP_COLUMNS} FROM ({due}) d"), cycle)
        )
        if connection.dialect.name == "postgresql":
            # The planner must know the month's unpaid slips: autovacuum analyzes a large table only
            # once a tenth of it changed, and with statistics that show almost none unpaid, marking
            # a batch paid reads every unpaid slip (ix_slips_unpaid_by_billing_month) each time.
            connection.execute(text("ANALYZE slips"))
    log.info("billing month %s: %d recurring slip(s) created, %d yen", cycle.month_label, count, amount)
    return RecurringSlips(
        cycle.month_label,
        cycle.charge_date,
        created=count,
        created_amount=int(amount),
        numbered_subscriptions=numbered,
        renumbered_subscriptions=renumbered,
    )


def create_slips_ahead(connection: Connection, business_date: date, calendar: BusinessCalendar) -> SlipsAhead:
    """The slips of the billing month business_date lies in, from its first business day on, so a
    merchant sees, cancels or changes them before the charge day. Runs every business day (each
    run creates only what is missing); from the month's charge day on, the charge run creates
    what is left. A weekend or holiday is refused; a day the operator declared closed does nothing."""
    closure = check_business_day(
        calendar,
        business_date,
        refused="recurring slips are created on business days only; the next one is {next}",
        closed="no slips are created today; the next business day creates them",
    )
    summary = SlipsAhead(business_date)
    if closure:
        log.info("%s", closure)
        return replace(summary, closed=closure)
    month = business_date.replace(day=1)
    cycle = ChargeCycle(month, recurring_charge_date(month.year, month.month, calendar))
    if business_date >= cycle.charge_date:
        log.info(
            "billing month %s is charged on %s: its slips are the charge run's now",
            cycle.month_label,
            cycle.charge_date,
        )
        return replace(summary, billing_month=cycle.month_label, charge_date=cycle.charge_date, charge_day_reached=True)
    created = create_recurring_slips(connection, cycle)
    return replace(summary, **{field.name: getattr(created, field.name) for field in fields(created)})


def _renumber_taken(connection: Connection, cycle: ChargeCycle, due: str) -> list[str]:
    """Give each subscription whose slip number is taken the merchant's next number (a rare case:
    only a merchant's own 18-digit number starting with 9 can collide)."""
    taken = connection.execute(
        _month_binds(
            text(
                "SELECT d.merchant_id, d.subscription_id, d.slip_id, d.taken_by_slip "
                f"FROM ({due}) d WHERE d.taken_by_slip IS NOT NULL ORDER BY d.merchant_id, d.slip_id"
            ),
            cycle,
        )
    ).all()
    highest = (
        select(func.max(numbers.c.subscription_number))
        .where(numbers.c.merchant_id == subscriptions.c.merchant_id)
        .scalar_subquery()
    )
    for row in taken:
        log.warning(
            "merchant %s: slip number %s of subscription %s is already slip row %s of the merchant; "
            "the subscription gets a new number",
            row.merchant_id,
            row.slip_id,
            row.subscription_id,
            row.taken_by_slip,
        )
        connection.execute(
            update(subscriptions)
            .where(subscriptions.c.subscription_id == row.subscription_id)
            .values(subscription_number=highest + 1)
        )
    return [row.subscription_id for row in taken]
