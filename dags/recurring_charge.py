"""
### Recurring charge (定期購入・継続課金, SPEC §4.3)

Runs on each month's **charge day**: the 27th, or the next business day when the 27th is none
(February 2027 is charged on 2027-03-01). The run stands for that date; the billing month it
charges is worked out from it and kept apart from it everywhere.

1. **charge_day**: the run's business date must be a charge day that has begun in Japan (else
   the run fails naming the charge days around it, or the earliest moment); a date the operator
   declared closed skips the run, the reason in the log saying where the charge moved (trigger a
   run for that date: the schedule knows only the national holidays).
2. **create_slips**: the billing month's slips are created ahead, from the month's first business
   day, by the DAG `recurring_slips`; this task creates any still missing: the slip of every active
   subscription that started before that month (the first slip is the online side's), payment date empty, one per subscription
   and month. Slip numbers: `9` + the subscription's number (11 digits) + `YYYYMM`.
3. **charge**: settles first any charge whose outcome is unknown (a timeout, a crash) by asking
   the card gateway with its idempotency key, then charges the rest concurrently; every attempt
   is recorded as pending before it is sent. A success fills the payment date with the charge
   day; only the answer about the card (declined, expired, invalid card) fails a slip. A gateway
   fault (5xx, unreadable answer, timeout, refused credentials) leaves the slip to be charged
   again and fails the task with the counts (retried, then the operators are alerted); a circuit
   breaker stops the charging after `KESSAI_CHARGE_BREAKER_CONSECUTIVE` (20) faults in a row or
   more than `KESSAI_CHARGE_BREAKER_RATE` % (5) of the first `KESSAI_CHARGE_BREAKER_WINDOW` (200).
4. **notify_failures**: once every slip has a final outcome, a slip of the month whose payment
   date is still empty has failed. One notice per merchant (CSV attached), a re-payment request
   to each customer where the merchant enabled it, with a signed link to re-pay where the merchant
   set a link template (`KESSAI_REPAYMENT_LINK_SECRET` signs it; a template without the secret
   refuses the task), else the merchant's own instructions; then the month is closed: nothing of
   it is charged again.
5. **deliver_mail**: sends the outbox.

The gateway: `KESSAI_CARD_GATEWAY=simulator|http`; by default the HTTP gateway of the Airflow
connection `kessai_card_gateway` if it exists, else the simulator (docs/card-gateway.md).

**Re-run / backfill**: safe at any time. A re-run settles, charges and notifies only what is
left; after the month was closed it changes nothing.
`airflow dags test recurring_charge 2027-03-01` charges February 2027;
`airflow backfill create --dag-id recurring_charge --from-date 2027-03-01 --to-date 2027-03-31 --max-active-runs 1`
runs the charge days in that range. `dry_run` counts what would be created and charged, calls no
gateway and writes nothing. Details: docs/recurring-charge.md.

**Refusals fail at once.** A run before its moment (SPEC §4.6: the clock is the real one, or
`KESSAI_AS_OF`), for a date this DAG does not run on, or refused by its rules fails at once,
without retries, and the operators are mailed; only transient faults are retried.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from airflow.sdk import task

from kessai.clock import Starts
from kessai_tasks import (
    ChargeDays,
    RunDay,
    begin_run,
    business_engine,
    card_gateway_settings,
    clock_now,
    deliver_outbox,
    is_dry_run,
    kessai_dag,
    refusals_fail_at_once,
    task_settings,
)
from kessai_timetables import RecurringChargeTimetable

log = logging.getLogger(__name__)


@contextmanager
def cycle_connection(day: dict):
    """A connection on the business database and the charge cycle of the run's date."""
    from kessai.calendar.store import prepare_calendar
    from kessai.recurring.cycle import charge_cycle_on

    with business_engine() as engine:
        with engine.connect() as connection:
            calendar = prepare_calendar(connection)
            yield connection, charge_cycle_on(RunDay.from_xcom(day).business_date, calendar)


def finish(connection, summary) -> dict:
    """Commit the task's work, or roll it back in a dry run; log the summary either way and return
    it as the task's XCom."""
    values = summary.as_dict()
    if is_dry_run():
        connection.rollback()
        log.info("dry run, nothing written: %s", values)
    else:
        connection.commit()
        log.info("%s", values)
    return values


@kessai_dag(
    dag_id="recurring_charge",
    schedule=RecurringChargeTimetable(run_at="10:00"),
    tags=["recurring_charge"],
    doc_md=__doc__,
)
def recurring_charge():
    @task
    @refusals_fail_at_once
    def charge_day() -> dict:
        return begin_run(ChargeDays(), Starts.DAY_BEGUN).as_xcom()

    @task
    @refusals_fail_at_once
    def create_slips(day: dict) -> dict:
        from kessai.recurring.slips import create_recurring_slips

        with cycle_connection(day) as (connection, cycle):
            return finish(connection, create_recurring_slips(connection, cycle))

    @task
    @refusals_fail_at_once
    def charge(day: dict) -> dict:
        from kessai.gateway.circuit_breaker import BreakerSettings
        from kessai.gateway.configured import open_card_gateway
        from kessai.recurring.charge import ChargeOptions, charge_cycle, preview_charges

        settings = card_gateway_settings()
        options = ChargeOptions(concurrency=settings.concurrency, breaker=BreakerSettings.of(task_settings()))
        with cycle_connection(day) as (connection, cycle):
            if is_dry_run():
                return finish(connection, preview_charges(connection, cycle))
            log.info("card gateway: %r; circuit breaker: %s", settings, options.breaker.describe())
            gateway = open_card_gateway(settings)
            try:
                return charge_cycle(connection, cycle, gateway, clock=clock_now, options=options).as_dict()
            finally:
                gateway.close()

    @task
    @refusals_fail_at_once
    def notify_failures(day: dict) -> dict:
        from kessai.recurring.failures import notify_failures as notify
        from kessai.recurring.repayment_links import secret_bytes

        secret = secret_bytes(task_settings().repayment_link_secret)  # never logged
        with cycle_connection(day) as (connection, cycle):
            return finish(connection, notify(connection, cycle, clock=clock_now, repayment_link_secret=secret))

    @task
    @refusals_fail_at_once
    def deliver_mail() -> dict:
        return deliver_outbox()

    day = charge_day()
    create_slips(day) >> charge(day) >> notify_failures(day) >> deliver_mail()


recurring_charge()
