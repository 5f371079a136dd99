"""
### The operators' daily digest

Every business day at 17:30 (Japan) one mail to `KESSAI_OPERATOR_EMAIL` with everything the
operators must act on that is not urgent: the stale-slip digests of merchants without a mail
address, the mails the delivery gave up on, each in full, and a list of the urgent mails they got
at once since the previous digest (a task failed for good or refused, the holds report, returned
transfers). Those urgent mails still go at once; the notices go only within the digest.

Tasks: `write_digest` (refuses a weekend or holiday and a day not yet begun in Japan; a day the
operator declared closed does nothing: the next business day's digest carries the notices) →
`deliver`. A day with nothing to tell sends nothing. A re-run of a day whose digest is written
does nothing. See docs/mail.md.

**Refusals fail at once.** A run before its moment (SPEC §4.6: the clock is the real one, or
`KESSAI_AS_OF`), for a date this DAG does not run on, or refused by its rules fails at once,
without retries, and the operators are mailed; only transient faults are retried.
"""

from __future__ import annotations

import logging

import pendulum
from airflow.sdk import dag, task

from kessai.clock import Starts
from kessai_tasks import (
    DEFAULT_ARGS,
    RUN_PARAMS,
    business_date_of_run,
    business_engine,
    clock_now,
    deliver_outbox,
    is_dry_run,
    refusals_fail_at_once,
)
from kessai_timetables import BusinessDayTimetable

log = logging.getLogger(__name__)


@dag(
    dag_id="operator_digest",
    schedule=BusinessDayTimetable(run_at="17:30"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Tokyo"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=RUN_PARAMS,
    tags=["kessai", "mail"],
    doc_md=__doc__,
)
def operator_digest():
    @task
    @refusals_fail_at_once
    def write_digest() -> dict:
        from kessai.calendar_store import prepare_calendar
        from kessai.operator_alerts import operator_email
        from kessai.operator_digest import write_operator_digest

        with business_engine() as engine:
            business_date = business_date_of_run(Starts.DAY_BEGUN)
            with engine.connect() as connection:
                summary = write_operator_digest(
                    connection, business_date, prepare_calendar(connection), now=clock_now(),
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
