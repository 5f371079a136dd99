"""
### Recurring slips ahead of the charge day (定期購入・継続課金, SPEC §4.3)

Every business day at 06:30 (Japan) creates the slips of the billing month the day lies in that
are still missing: one per active subscription that started before the month, payment date
empty. The first business day of the month creates them all, so a merchant sees each month's
slip from then on and can cancel it or change its amount before the charge day; the following
days create only what is missing (a subscription resumed). From the month's charge day on, the
`recurring_charge` run creates and charges what exists then.

Tasks: `create_slips` (refuses a weekend or holiday and a day not yet begun in Japan; a day the
operator declared closed skips the run, the reason in the log: the next business day creates the
slips). Re-runs and backfills create nothing twice (one slip per
subscription and month). `dry_run` counts what would be created and writes nothing.
Details: docs/recurring-charge.md.

**Refusals fail at once.** A run before its moment (SPEC §4.6: the clock is the real one, or
`KESSAI_AS_OF`), for a date this DAG does not run on, or refused by its rules fails at once,
without retries, and the operators are mailed; only transient faults are retried.
"""

from __future__ import annotations

import logging

from airflow.sdk import task

from kessai.clock import Starts
from kessai_tasks import BusinessDays, begin_run, business_engine, is_dry_run, kessai_dag, refusals_fail_at_once
from kessai_timetables import BusinessDayTimetable

log = logging.getLogger(__name__)

SLIP_DAYS = BusinessDays(
    refused="recurring slips are created on business days only; the next one is {next}",
    closed="no slips are created today; the next business day creates them",
)


@kessai_dag(
    dag_id="recurring_slips",
    schedule=BusinessDayTimetable(run_at="06:30"),
    tags=["recurring_charge"],
    doc_md=__doc__,
)
def recurring_slips():
    @task
    @refusals_fail_at_once
    def create_slips() -> dict:
        from kessai.calendar.store import prepare_calendar
        from kessai.recurring.slips import create_slips_ahead

        run_day = begin_run(SLIP_DAYS, Starts.DAY_BEGUN)
        with business_engine() as engine:
            with engine.connect() as connection:
                summary = create_slips_ahead(connection, run_day.business_date, prepare_calendar(connection)).as_dict()
                if is_dry_run():
                    connection.rollback()
                    log.info("dry run, nothing written: %s", summary)
                else:
                    connection.commit()
                    log.info("%s", summary)
        return summary

    create_slips()


recurring_slips()
