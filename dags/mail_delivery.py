"""Mail delivery: sends the due mails of the outbox every ten minutes, so a mail the SMTP server
deferred goes out once its backoff has passed, not only with the next nightly run.

The DAGs that write mails deliver them in their own last task too; two deliveries at once never
send a mail twice. Given-up mails (bounces, bad rows, mails that kept failing) are logged as a
WARNING table and held for the operators' daily digest (DAG `operator_digest`); an unreachable
SMTP server fails the task.
See docs/mail.md."""

from datetime import UTC, datetime

from airflow.sdk import task

from kessai_tasks import RUN_PARAMS, deliver_outbox, kessai_dag, refusals_fail_at_once


@kessai_dag(
    dag_id="mail_delivery",
    schedule="*/10 * * * *",  # not one run per date: no business date, no calendar
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    params={"dry_run": RUN_PARAMS["dry_run"]},
    tags=["mail"],
    doc_md=__doc__,
)
def mail_delivery():
    @task
    @refusals_fail_at_once
    def deliver() -> dict[str, int]:
        return deliver_outbox()

    deliver()


mail_delivery()
