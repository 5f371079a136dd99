"""
### Payout closing (締め, SPEC §4.4)

Runs the day after each **closing date** C, at 01:00 Japan time: the 15th closes the
twice-monthly merchants (月2回入金), the month end closes every merchant. The run stands for C;
a manual run for a date that is no closing date, or before C has ended in Japan, fails saying so.

1. **resolve_closing_date**: C, the cycles that close on it and their payout dates (monthly:
   the 25th of the next month; twice-monthly: the 15th → the 25th, the month end → the 10th of
   the next month; a payout date that is no business day moves to the business day before).
2. **close**: one transaction. Confirmed slips without a closing date get the rule's (the first
   closing of the merchant's cycle on or after max(registration date, confirmed_on): on 2/1 with
   date 1/31 → the February-end closing, paid 3/25). Then one payout statement per merchant with
   slips in C or a balance carried in: lines per card company and bank account (each slip goes to
   the account in effect when its confirmation was registered), fee, transfer fee, net; a net
   under the merchant's minimum payout is carried forward to its next closing. The transfers
   (one per bank account) go in the Zengin file that `payout_transfer_file` builds before the
   payout date.
3. **write_statement_files**: each merchant's statement CSV and the operators' closing summary
   under `KESSAI_HOME/statements/<C>/`.

**Re-runs and backfills.** Closings run in order: C fails while the closing before it has not run
(once any closing has), because each statement carries its balance into the next; backfill the
missing ones first, oldest first. A backfill of C run any day later gives the statements a run on
C+1 would have given (slips registered after C belong to later closings). A re-run of C issues
what an earlier run could not (e.g. after a bank account was added) and recomputes the rest: if
the slips no longer give the issued statements it fails naming them and changes nothing.

    airflow dags test payout_closing 2027-01-31
    airflow backfill create --dag-id payout_closing --from-date 2027-01-01 --to-date 2027-03-31 --max-active-runs 1

Trigger with `{"business_date": "2027-01-31"}` for a manual run, `{"dry_run": true}` to see the
statements' counts and totals without writing anything. See docs/payout-closing.md.

**Refusals fail at once.** A run before its moment (SPEC §4.6: the clock is the real one, or
`KESSAI_AS_OF`), for a date this DAG does not run on, or refused by its rules fails at once,
without retries, and the operators are mailed; only transient faults are retried.
"""

import logging

from airflow.sdk import task

from kessai.clock import Starts
from kessai_tasks import ClosingDates, RunDay, begin_run, business_engine, is_dry_run, kessai_dag, refusals_fail_at_once
from kessai_timetables import ClosingDateTimetable

log = logging.getLogger(__name__)


@kessai_dag(
    dag_id="payout_closing",
    schedule=ClosingDateTimetable(run_at="01:00"),
    tags=["payout"],
    doc_md=__doc__,
)
def payout_closing():
    @task
    @refusals_fail_at_once
    def resolve_closing_date() -> dict:
        return begin_run(ClosingDates(), Starts.DAY_ENDED).as_xcom()

    @task
    @refusals_fail_at_once
    def close(day: dict) -> dict:
        from kessai.payout.closing import format_summary, run_payout_closing

        with business_engine() as engine:
            summary = run_payout_closing(engine, RunDay.from_xcom(day).business_date, dry_run=is_dry_run())
        log.info("%s", format_summary(summary))
        return summary.as_dict()

    @task
    @refusals_fail_at_once
    def write_statement_files(day: dict) -> dict:
        from kessai.db.database import kessai_home
        from kessai.payout.statement_files import run_statement_files

        business_date = RunDay.from_xcom(day).business_date
        with business_engine() as engine:
            summary = run_statement_files(engine, business_date, kessai_home(), dry_run=is_dry_run())
        log.info(
            "%s statement files and the closing summary %s %s",
            summary.statement_files,
            "would go to (dry run: none written)" if summary.dry_run else "written to",
            summary.directory,
        )
        return summary.as_dict()

    day = resolve_closing_date()
    close(day) >> write_statement_files(day)


payout_closing()
