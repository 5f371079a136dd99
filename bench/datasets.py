"""The synthetic data the benchmarks run on, and the business dates that make it meaningful
(docs/performance.md, "Data").

One data set of N slips per size serves the transmission, the closing and the reminder: payment
dates over six months, confirmations registered up to the last day, nothing transmitted or closed
yet, the stale slips reminded up to the business day before the reminder's. The recurring charge
has its own: N subscriptions, all active, all charged.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import insert, update

from kessai.calendar.run_dates import JAPAN
from kessai.calendar.store import prepare_calendar
from kessai.db.bulk_load import insert_columns
from kessai.db.database import make_engine
from kessai.db.migrations_runner import upgrade
from kessai.db.schema import merchants, slips
from kessai.payout.closing import assign_closing_dates
from kessai.reminders.stale_slips import ReminderSettings, remind_stale_slips
from kessai.synthetic.generation import GenerationPlan, generate

SEED = 20270201
PERIOD_START = date(2026, 8, 1)
PERIOD_END = date(2027, 1, 31)  # confirmations registered until its last second in Japan

# 2027-02-01 is the Monday after the period: every slip confirmed and dated by 1/31 is due then,
# most of them late (a backlog, the heaviest day a transmission can have).
TRANSMISSION_DAY = date(2027, 2, 1)
# The month-end closing of both cycles; the data set puts every slip confirmed by then in it.
CLOSING_DATE = date(2027, 1, 31)
# A month after the period, a Monday: the weekly digests of every merchant, listing the open slips
# paid by 2026-12-01 (stale), those paid by 2026-09-15 as final notices (deadline by 3/15), and
# the slips expired since the last digest: those paid 8/26-8/31 (deadline 2/26 to 2/28), closed by
# this run, and those paid 8/22-8/25, closed by the run of Friday 2/26 after the day its week's
# digest states (Monday 2/22). The data set had that run of the business day before.
REMINDER_DAY = date(2027, 3, 1)
REMINDED_ON = date(2027, 2, 26)
# The charge day of billing month 2027-02 (2/27 is a Saturday); every subscription started before.
CHARGE_DAY = date(2027, 3, 1)

SLIPS_PER_MERCHANT = 1_000
MIN_MERCHANTS = 20


def merchant_count(size: int) -> int:
    return max(MIN_MERCHANTS, size // SLIPS_PER_MERCHANT)


def slip_plan(size: int) -> GenerationPlan:
    return GenerationPlan(
        seed=SEED, merchants=merchant_count(size), slips=size, subscriptions=0, start=PERIOD_START, end=PERIOD_END
    )


def subscription_plan(size: int) -> GenerationPlan:
    """Subscriptions whose cards the gateway approves, none stopped: each is charged once."""
    return GenerationPlan(
        seed=SEED,
        merchants=merchant_count(size),
        slips=0,
        subscriptions=size,
        start=PERIOD_START,
        end=PERIOD_END,
        stopped_subscription_share=0.0,
        failing_card_share=0.0,
    )


def build(scratch, name: str, plan: GenerationPlan, *, slips_history: bool = False) -> str:
    """A new database of the scratch server holding the plan's data; returns its URL.

    With `slips_history`, every slip confirmed by CLOSING_DATE carries it as its closing date
    (one UPDATE: as if no closing had run before), the others confirmed the closing the rule gives
    them (as registering a confirmation does), and the stale-slip reminder has run on REMINDED_ON.
    """
    url = scratch.create(name)
    engine = make_engine(url)
    try:
        upgrade(engine)
        with engine.begin() as connection:
            generate(connection, plan)
            prepare_calendar(connection)
            if slips_history:
                _put_in_closing(connection, CLOSING_DATE)
                assign_closing_dates(connection, prepare_calendar(connection))
                remind_stale_slips(connection, REMINDED_ON, ReminderSettings())
        if engine.dialect.name == "postgresql":
            # What autovacuum would have done to a table that has been in use: statistics, hint
            # bits, the visibility map.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE")
    finally:
        engine.dispose()
    return url


def _put_in_closing(connection, closing_date: date) -> None:
    closing_end = datetime.combine(closing_date, time.max, JAPAN)
    s = slips.c
    connection.execute(
        update(slips)
        .where(s.confirmed_on.is_not(None), s.confirmed_on <= closing_date, s.confirmation_registered_at <= closing_end)
        .values(closing_date=closing_date)
    )


# -- the confirmation import's data set: paid slips waiting for their confirmation ----------------

UNCONFIRMED_MERCHANTS = 100


def unconfirmed_merchant(n: int) -> str:
    """The merchant of slip n: every third merchant is paid twice a month."""
    return f"C{n % UNCONFIRMED_MERCHANTS:03d}"


def build_unconfirmed(scratch, name: str, size: int) -> str:
    """Slips 0..size-1, each of merchant unconfirmed_merchant(n), paid in December 2026 (on the
    day of January its upload confirms it, a month earlier), none confirmed; the business
    calendar prepared."""
    url = scratch.create(name)
    engine = make_engine(url)
    try:
        upgrade(engine)
        with engine.begin() as connection:
            connection.execute(
                insert(merchants),
                [
                    {
                        "merchant_id": unconfirmed_merchant(m),
                        "name": f"店舗 {m}",
                        "payout_cycle": "twice_monthly" if m % 3 == 0 else "monthly",
                    }
                    for m in range(UNCONFIRMED_MERCHANTS)
                ],
            )
            for start in range(0, size, 200_000):
                numbers = range(start, min(size, start + 200_000))
                insert_columns(
                    connection,
                    slips,
                    {
                        "slip_id": [str(n) for n in numbers],
                        "merchant_id": [unconfirmed_merchant(n) for n in numbers],
                        "card_company": ["jcb"] * len(numbers),
                        "amount": [1_000 + n % 50_000 for n in numbers],
                        "payment_date": [date(2026, 12, n % 28 + 1) for n in numbers],
                    },
                )
            prepare_calendar(connection)
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE")
    finally:
        engine.dispose()
    return url
