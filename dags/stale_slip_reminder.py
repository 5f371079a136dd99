"""
### Stale-slip reminder (SPEC §4.5)

Every business day at 09:00 (Japan):

- **expiry**: closes the open slips past their confirmation deadline (payment date + 6 months):
  `expired_on` = deadline + 1 day, a `slip_events` row, and an `expired` reminder for the next digest;
- **digests**: mails each merchant with something to tell at most one digest per period (its
  `merchants.reminder_period`, else `KESSAI_REMINDER_PERIOD`, default `weekly`; `daily` or
  `monthly`), on the first business day of the period (a Monday holiday: Tuesday). The digest
  states that day: every open slip stale by then (payment date + 3 months) with its deadline,
  those within 14 days of it first as the final notice, soonest first, with totals and how to
  find them in ASJ管理画面 > 売上の管理, and the slips expired since the last digest. A merchant
  with nothing open gets nothing.

More than `KESSAI_STALE_SLIP_INLINE_LIMIT` slips (default 50) go as a CSV attachment. A merchant
without a mail address is reported to `KESSAI_OPERATOR_EMAIL` instead, within the operators'
daily digest (DAG `operator_digest`); a bounced mail is reported by the delivery (in that digest
too), and the `report` task lists it with its merchant.

Tasks: `resolve_business_date` (refuses a weekend or holiday, and D before it has begun in
Japan; a day declared closed skips the run, the reason in the log) → `remind` (one transaction: expiry with a void
written for each expired slip's card authorization, digests claimed in `stale_slip_digests`, mails
in the outbox) → `release_holds` (after that commit: every pending void asked of the card gateway
with its idempotency key; an unanswered one retries the task; refusals mailed to the merchant and
the operators, one mail each a day; docs/card-gateway.md) → `deliver` → `report`.

**Re-runs and backfills.** One digest per merchant and period, whichever run of the period
writes it: a re-run finds it written; a run missed on the period's first business day is caught
up by the next run of the period, stating the same day; a backfill of a period after a later one
was mailed sends nothing.

    airflow dags test stale_slip_reminder 2027-03-01
    airflow backfill create --dag-id stale_slip_reminder --from-date 2027-02-22 --to-date 2027-03-05 --max-active-runs 1

Trigger with `{"business_date": "YYYY-MM-DD"}` for a manual run, `{"dry_run": true}` to see the
counts without writing or sending anything. See docs/stale-slip-reminder.md.

**Refusals fail at once.** A run before its moment (SPEC §4.6: the clock is the real one, or
`KESSAI_AS_OF`), for a date this DAG does not run on, or refused by its rules fails at once,
without retries, and the operators are mailed; only transient faults are retried.
"""

import logging

from airflow.sdk import task

from kessai.clock import Starts
from kessai_tasks import (
    BusinessDays,
    RunDay,
    begin_run,
    business_engine,
    deliver_outbox,
    is_dry_run,
    kessai_dag,
    refusals_fail_at_once,
)
from kessai_timetables import BusinessDayTimetable

log = logging.getLogger(__name__)


@kessai_dag(
    dag_id="stale_slip_reminder",
    schedule=BusinessDayTimetable(run_at="09:00"),
    tags=["mail", "slips"],
    doc_md=__doc__,
)
def stale_slip_reminder():
    # kessai.reminders.stale_slips (pandas, through the calendar) is imported inside the tasks: parsing stays cheap.
    @task
    @refusals_fail_at_once
    def resolve_business_date() -> dict:
        from kessai.reminders.stale_slips import closure_of

        return begin_run(BusinessDays(closure_of), Starts.DAY_BEGUN).as_xcom()

    @task
    @refusals_fail_at_once
    def remind(day: dict) -> dict:
        from kessai.reminders.stale_slips import ReminderSettings, remind_stale_slips

        dry_run = is_dry_run()
        with business_engine() as engine:
            with engine.connect() as connection:
                summary = remind_stale_slips(
                    connection, RunDay.from_xcom(day).business_date, ReminderSettings.from_environment()
                )
                if dry_run:
                    connection.rollback()
                    log.info("dry run: rolled back, nothing claimed, marked or mailed")
                else:
                    connection.commit()
        log.info("summary: %s", summary.as_dict())
        return {**summary.as_dict(), "dry_run": dry_run}

    @task
    @refusals_fail_at_once
    def release_holds(day: dict) -> dict:
        from kessai import clock
        from kessai.gateway.circuit_breaker import BreakerSettings, CircuitBreaker
        from kessai.gateway.configured import open_card_gateway
        from kessai.mail.operator_alerts import operator_email
        from kessai.slips.authorizations import release_holds
        from kessai_tasks import card_gateway_settings, task_settings

        if is_dry_run():
            log.info("dry run: no void asked of the card gateway")
            return {}
        breaker = CircuitBreaker(BreakerSettings.of(task_settings()))  # the charges' thresholds
        gateway = open_card_gateway(card_gateway_settings())
        try:
            with business_engine() as engine:
                return release_holds(
                    engine, gateway, RunDay.from_xcom(day).business_date, clock.now(), operator_email(), breaker
                ).as_dict()
        finally:
            gateway.close()

    @task
    @refusals_fail_at_once
    def deliver() -> dict:
        return deliver_outbox()

    @task
    @refusals_fail_at_once
    def report(day: dict) -> dict:
        from kessai.reminders.stale_slips import reminder_delivery

        with business_engine() as engine:
            with engine.connect() as connection:
                return reminder_delivery(connection, RunDay.from_xcom(day).business_date).as_dict()

    day = resolve_business_date()
    remind(day) >> release_holds(day) >> deliver() >> report(day)


stale_slip_reminder()
