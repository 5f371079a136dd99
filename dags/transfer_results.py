"""
### Transfer results (振込不能・組戻し, docs/zengin-transfer-file.md, "Returned transfers")

Every business day at 16:00 Japan time: reads the bank's result files put in
`KESSAI_TRANSFER_RESULTS_DIR` (default `KESSAI_HOME/transfer-results/`), the Zengin 総合振込 file
returned with a result code per record, and records each transfer the bank could not deliver or
recalled: the merchant is mailed (`transfer_returned`), the operators alerted, and the amount less
the return fee (`KESSAI_TRANSFER_RETURN_FEE`, default 0) goes to the merchant's next closing as
adjustments, paid once the merchant's bank account has been changed. Each file moves to `done/`.

1. **resolve_business_date**: refuses a weekend or holiday, and D before it has begun in Japan; a
   day the operator declared closed skips the run, the reason in the log (the files wait for the
   next run).
2. **import_transfer_results**: one transaction per file, oldest name first. A file that cannot be
   read fails the task and stays where it is. Records that match no filed transfer change nothing:
   the task fails naming them after the other files were recorded and moved (operators alerted).

**Re-runs and backfills.** A transfer is returned once: a file read again (put back, or a re-run)
changes nothing and mails nobody again.

    airflow dags test transfer_results 2027-02-26

Trigger with `{"business_date": "YYYY-MM-DD"}` for a manual run, `{"dry_run": true}` to see what
would be recorded without writing or moving anything.

**Refusals fail at once.** A run before its moment, for a date this DAG does not run on, or a file
refused by its rules fails at once, without retries, and the operators are mailed.
"""

import logging

from airflow.sdk import task

from kessai.clock import Starts
from kessai_tasks import (
    BusinessDays,
    RunDay,
    begin_run,
    business_engine,
    clock_now,
    is_dry_run,
    kessai_dag,
    refusals_fail_at_once,
)
from kessai_timetables import BusinessDayTimetable

log = logging.getLogger(__name__)


@kessai_dag(
    dag_id="transfer_results",
    schedule=BusinessDayTimetable(run_at="16:00"),
    tags=["payout"],
    doc_md=__doc__,
)
def transfer_results():
    @task
    @refusals_fail_at_once
    def resolve_business_date() -> dict:
        from kessai.payout.transfer_files import check_transfer_day

        return begin_run(BusinessDays(check_transfer_day), Starts.DAY_BEGUN).as_xcom()

    @task
    @refusals_fail_at_once
    def import_transfer_results(day: dict) -> dict:
        from kessai.db.database import kessai_home
        from kessai.payout.transfer_returns import format_summary, import_folder, results_folder

        with business_engine() as engine:
            result = import_folder(engine, results_folder(kessai_home()), now=clock_now(), dry_run=is_dry_run())
        log.info("%s", format_summary(result))
        return {"business_date": RunDay.from_xcom(day).business_date.isoformat(), **result.as_dict()}

    import_transfer_results(resolve_business_date())


transfer_results()
