"""
### Payout transfer file (総合振込, docs/zengin-transfer-file.md)

Every business day at 09:00 Japan time: builds the Zengin 総合振込 file of each payout date that
lies within the next N business days (N: `KESSAI_TRANSFER_LEAD_DAYS` or the kessai_settings row
`zengin.lead_business_days`, default 2), from the transfers of the payout statements
(`payout_closing`). Files go to `KESSAI_HOME/transfers/<payout date>/`; the remitter (振込依頼人)
comes from `KESSAI_ZENGIN_*` or the `zengin.*` settings rows.

1. **resolve_business_date**: refuses a weekend or holiday, and D before it has begun in Japan; a
   day the operator declared closed skips the run, the reason in the log (the next run's window
   still holds the payout dates).
2. **build_transfer_files**: fails while a closing that pays on such a date has not run. Checks
   each file's trailer against the statements' net. A transfer whose account cannot be written in
   the Zengin character set stays out of the file and fails the task naming the merchant; once
   corrected, the next run puts it in a further file for the same payout date.

**Re-runs and backfills.** A file is built once: a re-run finds the transfers filed, re-creates a
file missing on disk and checks every file against the checksum recorded when it was built;
nothing is ever rebuilt differently.

    airflow dags test payout_transfer_file 2027-03-23
    airflow backfill create --dag-id payout_transfer_file --from-date 2027-03-01 --to-date 2027-03-31 --max-active-runs 1

Trigger with `{"business_date": "YYYY-MM-DD"}` for a manual run, `{"dry_run": true}` to see what
would be built without writing anything.

**Refusals fail at once.** A run before its moment (SPEC §4.6: the clock is the real one, or
`KESSAI_AS_OF`), for a date this DAG does not run on, or refused by its rules fails at once,
without retries, and the operators are mailed; only transient faults are retried.
"""

import logging

from airflow.sdk import task

from kessai.clock import Starts
from kessai_tasks import BusinessDays, RunDay, begin_run, business_engine, is_dry_run, kessai_dag, refusals_fail_at_once
from kessai_timetables import BusinessDayTimetable

log = logging.getLogger(__name__)


@kessai_dag(
    dag_id="payout_transfer_file",
    schedule=BusinessDayTimetable(run_at="09:00"),
    tags=["payout"],
    doc_md=__doc__,
)
def payout_transfer_file():
    @task
    @refusals_fail_at_once
    def resolve_business_date() -> dict:
        from kessai.payout.transfer_files import check_transfer_day

        return begin_run(BusinessDays(check_transfer_day), Starts.DAY_BEGUN).as_xcom()

    @task
    @refusals_fail_at_once
    def build_transfer_files(day: dict) -> dict:
        from kessai.db.database import kessai_home
        from kessai.payout.transfer_files import format_summary, run_payout_transfer_files

        business_date = RunDay.from_xcom(day).business_date
        with business_engine() as engine:
            summary = run_payout_transfer_files(engine, business_date, kessai_home(), dry_run=is_dry_run())
        log.info("%s", format_summary(summary))
        return summary.as_dict()

    build_transfer_files(resolve_business_date())


payout_transfer_file()
