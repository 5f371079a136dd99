"""The mail outbox: every mail is a row first, written in the same transaction as the state it
reports, and sent later by the delivery step. A dedupe key makes writing the same mail twice a
no-op, so a re-run or a backfill never mails anyone twice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kessai.db.schema import mail_outbox

# Dedupe keys looked up per statement when reading the mail ids back (well under SQLite's limit
# of bound parameters).
LOOKUP_CHUNK = 500


class Mail(TypedDict, total=False):
    kind: str  # required
    dedupe_key: str  # required
    recipient: str  # required
    subject: str  # required
    body: str  # required
    attachment_name: str | None
    attachment_content: str | None


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
    mail = Mail(
        kind=kind,
        dedupe_key=dedupe_key,
        recipient=recipient,
        subject=subject,
        body=body,
        attachment_name=attachment_name,
        attachment_content=attachment_content,
    )
    return enqueue_mails(connection, [mail])[0]


def enqueue_mails(connection: Connection, mails: Sequence[Mail]) -> list[int]:
    """enqueue_mail for many mails in one batched INSERT (a run writes thousands): returns their
    mail_ids in the order given. Two mails with one dedupe key are one mail."""
    if not mails:
        return []
    rows = [{"attachment_name": None, "attachment_content": None, **mail} for mail in mails]
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    connection.execute(insert(mail_outbox).on_conflict_do_nothing(index_elements=["dedupe_key"]), rows)
    keys = list(dict.fromkeys(mail["dedupe_key"] for mail in mails))
    ids: dict[str, int] = {}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        ids.update(
            connection.execute(
                select(mail_outbox.c.dedupe_key, mail_outbox.c.mail_id).where(mail_outbox.c.dedupe_key.in_(chunk))
            )
            .tuples()
            .all()
        )
    return [ids[mail["dedupe_key"]] for mail in mails]
