"""The operators' alerts and notices, themselves mails in the outbox.

An alert (`operator_alert`: a task failed for good) is sent at once. A notice (`operator_notice`:
a mail given up, a merchant without a mail address) is held for the operators' daily digest
(kessai.mail.operator_digest) and never sent alone. The notice about a given-up mail is written in the
transaction that gives the mail up, so no give-up goes unreported, even if the run dies right after.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import Connection

from kessai.calendar.run_dates import JAPAN
from kessai.mail.outbox import enqueue_mail
from kessai.mail.templates import render_mail
from kessai.settings import DEFAULT_OPERATOR_EMAIL, OPERATOR_EMAIL_VARIABLE, environment_setting  # noqa: F401

OPERATOR_ALERT_KIND = "operator_alert"
OPERATOR_NOTICE_KIND = "operator_notice"  # held for the daily digest, never delivered alone
OPERATOR_DIGEST_KIND = "operator_digest"
OPERATOR_KINDS = (OPERATOR_ALERT_KIND, OPERATOR_NOTICE_KIND, OPERATOR_DIGEST_KIND)


def operator_email(environ: Mapping[str, str] | None = None) -> str:
    """Where alerts for the operators go: KESSAI_OPERATOR_EMAIL, else the reserved default. A
    boundary holding a Settings passes its operator_email instead."""
    return environment_setting("operator_email", environ)


def _japan_time(moment: datetime) -> str:
    return moment.astimezone(JAPAN).strftime("%Y-%m-%d %H:%M:%S JST")


def enqueue_operator_alert(
    connection: Connection, row, what: str, reason: str, gave_up_at: datetime, operator_email: str
) -> int:
    """Queue the notice about outbox row `row`, given up at `gave_up_at`, for the next operator
    digest; returns its mail_id. One notice per give-up: a mail requeued and given up again is
    reported again.
    """
    subject, body = render_mail(
        "operator_alert",
        mail_id=row.mail_id,
        what=what,
        kind=row.kind,
        recipient=repr(row.recipient),  # shows a line break or a stray space for what it is
        subject=repr(row.subject),
        created_at=_japan_time(row.created_at),
        attempts=row.attempts,
        gave_up_at=_japan_time(gave_up_at),
        reason=reason,
    )
    stamp = gave_up_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return enqueue_mail(
        connection,
        kind=OPERATOR_NOTICE_KIND,
        dedupe_key=f"{OPERATOR_NOTICE_KIND}:given_up:{row.mail_id}:{stamp}",
        recipient=operator_email,
        subject=subject,
        body=body,
    )


def enqueue_task_failure_alert(
    connection: Connection,
    *,
    dag_id: str,
    task_id: str,
    run_id: str,
    try_number: int,
    business_date: str,
    reason: str,
    log_url: str,
    failed_at: datetime,
    operator_email: str,
) -> int:
    """Queue the alert about a task that failed for good; one per run, task and try."""
    subject, body = render_mail(
        "task_failed",
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        business_date=business_date,
        try_number=try_number,
        failed_at=_japan_time(failed_at),
        reason=reason,
        log_url=log_url,
    )
    return enqueue_mail(
        connection,
        kind=OPERATOR_ALERT_KIND,
        dedupe_key=f"task_failed:{dag_id}:{run_id}:{task_id}:{try_number}",
        recipient=operator_email,
        subject=subject,
        body=body,
    )
