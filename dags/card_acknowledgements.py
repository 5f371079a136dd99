"""
### Card acknowledgements (受領結果, docs/transmission-file.md, "Acknowledgements")

Every business day at 12:00 Japan time: reads the card companies' answer files put in
`KESSAI_ACKNOWLEDGEMENTS_DIR` (default `KESSAI_HOME/acknowledgements/`), one line per transmitted
slip, accepted or rejected with the company's code, and records each answer once. A rejected slip
is not paid (the closing holds it back) and the operators get the list by mail; where a card
company requires acknowledgements, a slip is paid only once accepted. Each file moves to `done/`.

1. **resolve_business_date**: refuses a weekend or holiday, and D before it has begun in Japan; a
   day the operator declared closed does nothing (the files wait for the next run).
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
from datetime import date

import pendulum
from airflow.sdk import dag, task
from airflow.sdk.exceptions import AirflowSkipException

from kessai.clock import Starts
from kessai_tasks import (
    DEFAULT_ARGS,
    RUN_PARAMS,
    business_date_of_run,
    business_engine,
    is_dry_run,
    refusals_fail_at_once,
)
from kessai_timetables import BusinessDayTimetable

log = logging.getLogger(__name__)


@dag(
    dag_id="card_acknowledgements",
    schedule=BusinessDayTimetable(run_at="12:00"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Tokyo"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=RUN_PARAMS,
    tags=["kessai", "transmission"],
    doc_md=__doc__,
)
def card_acknowledgements():
    @task
    @refusals_fail_at_once
    def resolve_business_date() -> str:
        from kessai.acknowledgements import check_acknowledgements_day
        from kessai.calendar_store import prepare_calendar

        with business_engine() as engine:
            day = business_date_of_run(Starts.DAY_BEGUN)
            with engine.begin() as connection:
                closed = check_acknowledgements_day(prepare_calendar(connection), day)
        if closed:
            log.warning("%s", closed)
            raise AirflowSkipException(closed)
        return day.isoformat()

    @task
    @refusals_fail_at_once
    def import_acknowledgements(day: str) -> dict:
        from kessai.acknowledgements import acknowledgements_folder, format_summary, import_folder
        from kessai.database import kessai_home

        with business_engine() as engine:
            result = import_folder(engine, acknowledgements_folder(kessai_home()),
                                   received_on=date.fromisoformat(day), dry_run=is_dry_run())
        log.info("%s", format_summary(result))
        return {"business_date": day, **result}

    import_acknowledgements(resolve_business_date())


card_acknowledgements()
