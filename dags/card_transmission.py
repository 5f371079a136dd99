"""
### Card transmission (SPEC §4.2)

Every business day at 06:00 (Japan), sends the confirmed sales to the card companies: one file per
card company for the day D, with a header, one record per slip and a trailer (record count, amount
total), and a SHA-256 sidecar (format: docs/transmission-file.md).

A confirmed, uncancelled slip goes out on its **transmission date**, the business day after
max(the day its confirmation was registered in Japan, `confirmed_on`): a Friday registration goes
on Monday, a future-dated confirmation the business day after its date. The run for D sends every
untransmitted slip whose transmission date is D or earlier; an earlier one goes **late** (a missed
day is caught up). Each slip gets `transmitted_on = D` (its 利用日) and its batch. A slip the file
cannot carry (an unknown card company or one whose file code cannot name a file, a merchant
lacking a store name or with a control character in one or in its id, an amount outside
1..`KESSAI_MAX_SLIP_AMOUNT`) is **held back** with its reason in `transmission_holds` and goes out
on a later run once fixed: one bad slip never blocks the day. The log and the `transmit` task's
return value show the files, counts and totals per card company, the late slips and the held-back
slips.

Tasks: `resolve_business_date` (refuses a weekend or holiday, and D before it has begun in
Japan; a day declared closed skips the run, the reason in the log)
→ `transmit` (one transaction: hold back, open the batches, mark the slips; then the files from the
marked slips) → `report_holds` (while slips are held back, one mail a business day to the operators:
the new holds by reason and merchant, the holds older than 5 business days; then the outbox is
delivered). Files go to `KESSAI_TRANSMISSION_URL` (any fsspec or Airflow object-storage URL), by
default `$KESSAI_HOME/transmissions/<D>/`.

**Re-runs and backfills.** A day is claimed once. A re-run of D rebuilds the same files, byte for
byte, from the slips marked then, and sends nothing new. A backfill of a day before one already
transmitted claims nothing either: the later run has already sent that day's slips, marked late,
and the backfill's log counts them. A backfill over missed days, run oldest first, sends each day
what a run on the day would have sent.

    airflow dags test card_transmission 2027-01-05
    airflow backfill create --dag-id card_transmission --from-date 2027-01-04 --to-date 2027-01-08 --max-active-runs 1

Trigger with `{"business_date": "YYYY-MM-DD"}` for a manual run, `{"dry_run": true}` to see the
counts without writing anything. See docs/transmission.md.

**Refusals fail at once.** A run before its moment (SPEC §4.6: the clock is the real one, or
`KESSAI_AS_OF`), for a date this DAG does not run on, or refused by its rules fails at once,
without retries, and the operators are mailed; only transient faults are retried.
"""

import logging
from datetime import date

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
    object_storage,
    refusals_fail_at_once,
)
from kessai_timetables import BusinessDayTimetable

log = logging.getLogger(__name__)


@kessai_dag(
    dag_id="card_transmission",
    schedule=BusinessDayTimetable(run_at="06:00"),
    tags=["transmission", "slips"],
    doc_md=__doc__,
)
def card_transmission():
    # kessai.transmission.daily (SQLAlchemy, fsspec) is imported inside the tasks: parsing stays cheap.
    @task
    @refusals_fail_at_once
    def resolve_business_date() -> dict:
        from kessai.transmission.daily import check_transmission_day

        return begin_run(BusinessDays(check_transmission_day), Starts.DAY_BEGUN).as_xcom()

    @task
    @refusals_fail_at_once
    def transmit(day: dict) -> dict:
        from kessai.slips.amounts import max_slip_amount
        from kessai.transmission.daily import format_summary, run_transmission
        from kessai.transmission.files import Destination, transmission_url

        destination = Destination(*object_storage(transmission_url()))
        with business_engine() as engine:
            summary = run_transmission(
                engine,
                RunDay.from_xcom(day).business_date,
                destination,
                dry_run=is_dry_run(),
                max_amount=max_slip_amount(),
            )
        log.info("%s", format_summary(summary))
        return summary.as_dict()

    @task
    @refusals_fail_at_once
    def report_holds(summary: dict) -> dict:
        """The operators' holds report of the day, queued once (kessai.transmission.holds_report),
        then the outbox delivered."""
        from kessai.calendar.store import prepare_calendar
        from kessai.mail.operator_alerts import operator_email
        from kessai.transmission.holds_report import enqueue_holds_report

        mail_id = None
        if not summary.get("dry_run") and "closed" not in summary:
            with business_engine() as engine, engine.begin() as connection:
                mail_id = enqueue_holds_report(
                    connection,
                    date.fromisoformat(summary["business_date"]),
                    prepare_calendar(connection),
                    operator_email(),
                )
            log.info("holds report: %s", f"mail {mail_id}" if mail_id else "no slip held back, no mail")
        return {"mail_id": mail_id, "delivery": deliver_outbox()}

    report_holds(transmit(resolve_business_date()))


card_transmission()
