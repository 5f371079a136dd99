"""The operators' daily digest: one mail per business day with everything they must act on that
is not urgent, instead of one mail per event (docs/mail.md, "The operators' digest").

It carries the notices held for it (`operator_notice` rows of the outbox: the stale-slip digests
of merchants without a mail address, the mails the delivery gave up on), in full, and lists the
mails the operators got at once since the previous digest (a task failed for good, a run refused,
the holds report, returned transfers), so one mail tells the whole day. A notice is in exactly one
digest: the digest and the notices' `sent_at` are written in one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import Connection, func, select, update

from kessai.calendar.business_calendar import BusinessCalendar, check_business_day
from kessai.db.schema import mail_outbox
from kessai.kinds import Result, optional
from kessai.mail.operator_alerts import OPERATOR_ALERT_KIND, OPERATOR_DIGEST_KIND, OPERATOR_NOTICE_KIND
from kessai.mail.outbox import enqueue_mail
from kessai.mail.templates import render_mail

log = logging.getLogger(__name__)

# The mails to the operators that go at once and are listed (not repeated) in the next digest.
IMMEDIATE_KINDS = (OPERATOR_ALERT_KIND, "transmission_holds_report")
SECTIONS = {  # the second part of a notice's dedupe key → its section in the digest
    "stale_slip_digest": "unreachable",
    "given_up": "given_up",
}


def _section(dedupe_key: str) -> str:
    return SECTIONS.get(dedupe_key.split(":")[1] if dedupe_key.count(":") else "", "other")


@dataclass(frozen=True, slots=True)
class OperatorDigest(Result):
    """A day's digest for the operators: the notices and at-once mails it lists, its mail (None:
    nothing to tell), and of the notices the merchants without an address and the given-up mails."""

    business_date: date
    notices: int = 0
    immediate: int = 0
    digest_mail_id: int | None = None
    closed: str = optional()
    already_written: bool = optional(False)
    unreachable_merchants: int = optional()
    given_up_mails: int = optional()


def write_operator_digest(
    connection: Connection, business_date: date, calendar: BusinessCalendar, *, now: datetime, operator_email: str
) -> OperatorDigest:
    """Write business_date's digest to the outbox with the notices held since the last one, and
    mark them sent with it. Nothing to tell: no mail. A re-run of a day whose digest is written
    does nothing (later notices wait for the next business day's digest)."""
    closure = check_business_day(
        calendar,
        business_date,
        refused="the operators' digest is written on business days only; the next one is {next}",
        closed="no digest today; the next business day's digest carries the notices",
    )
    summary = OperatorDigest(business_date)
    if closure:
        log.info("%s", closure)
        return replace(summary, closed=closure)
    key = f"{OPERATOR_DIGEST_KIND}:{business_date.isoformat()}"
    written = connection.execute(select(mail_outbox.c.mail_id).where(mail_outbox.c.dedupe_key == key)).scalar()
    if written is not None:
        log.info("the operators' digest of %s was written already (mail %s)", business_date, written)
        return replace(summary, digest_mail_id=written, already_written=True)
    previous = connection.execute(
        select(func.coalesce(func.max(mail_outbox.c.mail_id), 0)).where(mail_outbox.c.kind == OPERATOR_DIGEST_KIND)
    ).scalar_one()
    notices = (
        connection.execute(
            select(mail_outbox)
            .where(mail_outbox.c.kind == OPERATOR_NOTICE_KIND, mail_outbox.c.sent_at.is_(None))
            .order_by(mail_outbox.c.mail_id)
        )
        .mappings()
        .all()
    )
    immediate = (
        connection.execute(
            select(mail_outbox.c.mail_id, mail_outbox.c.subject)
            .where(mail_outbox.c.kind.in_(IMMEDIATE_KINDS), mail_outbox.c.mail_id > previous)
            .order_by(mail_outbox.c.mail_id)
        )
        .mappings()
        .all()
    )
    summary = replace(summary, notices=len(notices), immediate=len(immediate))
    if not notices and not immediate:
        log.info("nothing for the operators on %s: no digest", business_date)
        return summary
    by_section: dict[str, list] = {"unreachable": [], "given_up": [], "other": []}
    for notice in notices:
        by_section[_section(notice["dedupe_key"] or "")].append(notice)
    subject, body = render_mail(
        OPERATOR_DIGEST_KIND,
        business_date=business_date,
        unreachable=by_section["unreachable"],
        given_up=by_section["given_up"],
        other=by_section["other"],
        notices=notices,
        immediate=immediate,
    )
    mail_id = enqueue_mail(
        connection, kind=OPERATOR_DIGEST_KIND, dedupe_key=key, recipient=operator_email, subject=subject, body=body
    )
    if notices:
        connection.execute(
            update(mail_outbox)
            .where(mail_outbox.c.mail_id.in_([notice["mail_id"] for notice in notices]))
            .values(sent_at=now)
        )
    log.info(
        "the operators' digest of %s (mail %s): %d notice(s), %d mail(s) sent at once listed",
        business_date,
        mail_id,
        len(notices),
        len(immediate),
    )
    return replace(
        summary,
        digest_mail_id=mail_id,
        unreachable_merchants=len(by_section["unreachable"]),
        given_up_mails=len(by_section["given_up"]),
    )
