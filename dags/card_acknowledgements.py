"""
### Card acknowledgements (受領結果, docs/transmission-file.md, "Acknowledgements")

Every business day at 12:00 Japan time: reads the card companies' answer files put in
`KESSAI_ACKNOWLEDGEMENTS_DIR` (default `KESSAI_HOME/acknowledgements/`), one line per transmitted
slip, accepted or rejected with the company's code, and records each answer once. A rejected slip
is not paid (the closing holds it back) and the operators get the list by mail; where a card
company requires acknowledgements, a slip is paid only once accepted. Each file moves to `done/`.

1. **resolve_business_date**: refuses a weekend or holiday, and D before it has begun in Japan; a
   day the operator declared closed skips the run, the reason in the log (the files wait for the
   next run).
2. **import_acknowledgements**: one transaction per file, oldest name first. A file that cannot be
   read fails the task and stays where it is. Lines that match no transmitted slip change nothing:
   the task fails naming them after the other files were recorded and moved (operators mailed).

**Re-runs and backfills.** An answer is recorded once per batch and slip: a file read again (put
back, or a re-run) changes nothing and mails nobody again.

    airflow dags test card_acknowledgements 2027-01-05

Trigger with `{"business_date": "YYYY-MM-DD"}` for a manual run, `{"dry_run": true}` to see what
would be recorded without writing or moving anything.

**Refusals fail at once.** A run before its moment, for a date this DAG does not run on, or a file
refused by its rules fails at once, without retries, and the operators are mailed.
"""

import logging

from airflow.sdk import task

from kessai.clock import Starts
from kessai_tasks import BusinessDays, RunDay, begin_run, business_engine, is_dry_run, kessai_dag, refusals_fail_at_once
from kessai_timetables import BusinessDayTimetable

log = logging.getLogger(__name__)


@kessai_dag(
    dag_id="card_acknowledgements",
    schedule=BusinessDayTimetable(run_at="12:00"),
    tags=["transmission"],
    doc_md=__doc__,
)
def card_acknowledgements():
    @task
    @refusals_fail_at_once
    def resolve_business_date() -> dict:
        from kessai.transmission.acknowledgements import check_acknowledgements_day

        return begin_run(BusinessDays(check_acknowledgements_day), Starts.DAY_BEGUN).as_xcom()

    @task
    @refusals_fail_at_once
    def import_acknowledgements(day: dict) -> dict:
        from kessai.db.database import kessai_home
        from kessai.transmission.acknowledgements import acknowledgements_folder, format_summary, import_folder

        business_date = RunDay.from_xcom(day).business_date
        with business_engine() as engine:
            result = import_folder(
                engine, acknowledgements_folder(kessai_home()), received_on=business_date, dry_run=is_dry_run()
            )
        log.info("%s", format_summary(result))
        return {"business_date": business_date.isoformat(), **result.as_dict()}

    import_acknowledgements(resolve_business_date())


card_acknowledgements()
