"""The mail outbox: every mail is a row first, written in the same transaction as the state it
reports, and sent later by the delivery step. A dedupe key makes writing the same mail twice a
no-op, so a re-run or a backfill never mails anyone twice."""

from __future__ import annotations

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kessai.schema import mail_outbox


def enqueue_mail(
    connection: Connection,
    *,
    kind: str,
    dedupe_key: str,
    recipient: str,
    subject: str,
    body: str,
    attachment_name: str | None = None,
    attachment_content: str | None = None,
) -> int:
    """Write a mail to the outbox unless one with this dedupe key is there; returns its mail_id."""
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    connection.execute(
        insert(mail_outbox)
        .values(
            kind=kind,
            dedupe_key=dedupe_key,
            recipient=recipient,
            subject=subject,
            body=body,
            attachment_name=attachment_name,
            attachment_content=attachment_content,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    return connection.execute(
        select(mail_outbox.c.mail_id).where(mail_outbox.c.dedupe_key == dedupe_key)
    ).scalar_one()
