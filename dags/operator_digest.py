"""
### The operators' daily digest

Every business day at 17:30 (Japan) one mail to `KESSAI_OPERATOR_EMAIL` with everything the
operators must act on that is not urgent: the stale-slip digests of merchants without a mail
address, the mails the delivery gave up on, each in full, and a list of the urgent mails they got
at once since the previous digest (a task failed for good or refused, the holds report, returned
transfers). Those urgent mails still go at once; the notices go only within the digest.

Tasks: `write_digest` (refuses a weekend or holiday and a day not yet begun in Japan; a day the
operator declared closed skips the run, the reason in the log: the next business day's digest
carries the notices) →
`deliver`. A day with nothing to tell sends nothing. A re-run of a day whose digest is written
does nothing. See docs/mail.md.

**Refusals fail at once.** A run before its moment (SPEC §4.6: the clock is the real one, or
`KESSAI_AS_OF`), for a date this DAG does not run on, or refused by its rules fails at once,
without retries, and the operators are mailed; only transient faults are retried.
"""

from __future__ import annotations

import logging

from airflow.sdk import task

from kessai.clock import Starts
from kessai_tasks import (
    BusinessDays,
    begin_run,
    business_engine,
    clock_now,
    deliver_outbox,
    is_dry_run,
    kessai_dag,
    refusals_fail_at_once,
)
from kessai_timetables import BusinessDayTimetable

log = logging.getLogger(__name__)

DIGEST_DAYS = BusinessDays(
    refused="the operators' digest is written on business days only; the next one is {next}",
    closed="no digest today; the next business day's digest carries the notices",
)


@kessai_dag(
    dag_id="operator_digest",
    schedule=BusinessDayTimetable(run_at="17:30"),
    tags=["mail"],
    doc_md=__doc__,
)
def operator_digest():
    @task
    @refusals_fail_at_once
    def write_digest() -> dict:
        from kessai.calendar.store import prepare_calendar
        from kessai.mail.operator_alerts import operator_email
        from kessai.mail.operator_digest import write_operator_digest

        run_day = begin_run(DIGEST_DAYS, Starts.DAY_BEGUN)
        with business_engine() as engine:
            with engine.connect() as connection:
                summary = write_operator_digest(
                    connection,
                    run_day.business_date,
                    prepare_calendar(connection),
                    now=clock_now(),
                    operator_email=operator_email(),
                ).as_dict()
                if is_dry_run():
                    connection.rollback()
                    log.info("dry run, nothing written: %s", summary)
                else:
                    connection.commit()
                    log.info("%s", summary)
        return summary

    @task
    @refusals_fail_at_once
    def deliver() -> dict:
        return deliver_outbox()

    write_digest() >> deliver()


operator_digest()
