"""Delivery of the mail outbox through SMTP.

Each due row is claimed, sent and marked in one short transaction of its own: the claim locks the
row (PostgreSQL: FOR UPDATE SKIP LOCKED, so a second deliverer takes the next row instead;
SQLite: the single writer lock, so a second deliverer waits), and the commit that records
`sent_at` follows the server's 250 at once. Two deliverers therefore never send the same row, and
a crash loses at most the mark of the one mail in flight: that mail goes out again on the next
run (at least once, never silently dropped), with the same Message-ID.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection, Engine, func, or_, select, update

from kessai.db.schema import mail_outbox
from kessai.mail.message import BadMail, build_message, envelope_recipient
from kessai.mail.operator_alerts import OPERATOR_KINDS, OPERATOR_NOTICE_KIND, enqueue_operator_alert
from kessai.mail.smtp_client import SendFailure, SmtpSession, SmtpSettings

log = logging.getLogger(__name__)


class DeliveryStatus(StrEnum):
    """What became of one mail in a delivery run."""

    SENT = "sent"
    DEFERRED = "deferred"
    BOUNCED = "bounced"  # the server refused the recipient for good (5xx on RCPT)
    REFUSED = "refused"  # a bad row we will not send (not one valid address, header injection)
    FAILED = "failed"  # kept failing: gave up after the last allowed attempt


SENT = DeliveryStatus.SENT
DEFERRED = DeliveryStatus.DEFERRED
BOUNCED = DeliveryStatus.BOUNCED
REFUSED = DeliveryStatus.REFUSED
FAILED = DeliveryStatus.FAILED
GIVEN_UP = (BOUNCED, REFUSED, FAILED)
# What the operators' alert says happened (they read Japanese).
GIVE_UP_DESCRIPTIONS = {
    BOUNCED: "送信先のサーバーが宛先を受け付けませんでした (宛先不明などの恒久的な拒否)。",
    REFUSED: "宛先または件名が不正なため、送信しませんでした (改行や制御文字を含む、正しいアドレス 1 件でない等)。",
    FAILED: "一時的なエラーが続き、再送の上限回数に達しました。",
}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how soon a mail the server did not accept is tried again."""

    max_attempts: int = 5
    backoff_base: timedelta = timedelta(minutes=10)
    backoff_cap: timedelta = timedelta(hours=6)

    def delay_after(self, attempts: int) -> timedelta:
        """The wait after the attempts-th failure: base, 2 x base, 4 x base, ..., at most the cap."""
        return min(self.backoff_cap, self.backoff_base * 2 ** min(attempts - 1, 32))


@dataclass(frozen=True)
class MailResult:
    mail_id: int
    kind: str
    recipient: str
    status: DeliveryStatus
    reason: str = ""
    attempts: int = 0
    next_attempt_at: datetime | None = None


@dataclass
class DeliveryReport:
    results: list[MailResult] = field(default_factory=list)

    def with_status(self, *statuses: DeliveryStatus) -> list[MailResult]:
        return [result for result in self.results if result.status in statuses]

    @property
    def sent(self) -> list[MailResult]:
        return self.with_status(SENT)

    @property
    def deferred(self) -> list[MailResult]:
        return self.with_status(DEFERRED)

    @property
    def given_up(self) -> list[MailResult]:
        return self.with_status(*GIVEN_UP)

    def counts(self) -> dict[str, int]:
        """The number of mails per status, keyed by the plain status strings (the task's XCom)."""
        return {status.value: len(self.with_status(status)) for status in DeliveryStatus}

    def summary(self) -> str:
        return ", ".join(f"{count} {status}" for status, count in self.counts().items())

    @staticmethod
    def table(results: list[MailResult]) -> str:
        """A fixed-width table for the logs: one line per mail."""
        lines = [f"{'mail_id':>8}  {'status':<8}  {'kind':<24}  {'recipient':<32}  {'tries':>5}  reason"]
        for r in results:
            lines.append(
                f"{r.mail_id:>8}  {r.status:<8}  {r.kind:<24}  {r.recipient!r:<32}  {r.attempts:>5}  {r.reason}"
            )
        return "\n".join(lines)


def _due(now: datetime):
    return (
        mail_outbox.c.sent_at.is_(None)
        & mail_outbox.c.gave_up_at.is_(None)
        & (mail_outbox.c.kind != OPERATOR_NOTICE_KIND)  # sent within the operators' digest
        & or_(mail_outbox.c.next_attempt_at.is_(None), mail_outbox.c.next_attempt_at <= now)
    )


def due_mail_count(connection: Connection, now: datetime) -> int:
    return connection.execute(select(func.count()).select_from(mail_outbox).where(_due(now))).scalar_one()


def _claim_next_due(now: datetime):
    """Take the oldest due row no one else holds and count the attempt; returns it, or nothing.

    The UPDATE is also what takes SQLite's write lock, so the claim and everything after it in
    the transaction are one writer's; the repeated due condition makes the claim hold even if
    another deliverer finished the row between our look and our lock.
    """
    oldest = (
        select(mail_outbox.c.mail_id)
        .where(_due(now))
        .order_by(mail_outbox.c.mail_id)
        .limit(1)
        .with_for_update(skip_locked=True)  # PostgreSQL only; SQLite has no row locks
        .scalar_subquery()
    )
    return (
        update(mail_outbox)
        .where(mail_outbox.c.mail_id == oldest, _due(now))
        .values(attempts=mail_outbox.c.attempts + 1)
        .returning(*mail_outbox.c)
    )


def deliver_pending(
    engine: Engine,
    smtp: SmtpSettings,
    now: datetime,
    *,
    policy: RetryPolicy = RetryPolicy(),
    operator_email: str | None = None,
) -> DeliveryReport:
    """Send every unsent row that is due at `now`, through one SMTP connection.

    A row the server refuses for now is deferred with exponential backoff; a bad row, a bounced
    recipient and a row that failed `policy.max_attempts` times are given up, and each of those
    gets an operator alert (to `operator_email`, if given) written in the same transaction and sent
    in this same run. Raises SmtpUnavailable when the server cannot be reached: then the row in
    hand is left as it was, and the task fails for the operators to see.
    """
    if now.tzinfo is None:
        raise ValueError(f"now {now!r} has no time zone")
    if operator_email is not None:
        envelope_recipient(operator_email)  # a wrong operator address is a setup error, found now
    report = DeliveryReport()
    with SmtpSession(smtp) as session:
        while True:
            with engine.begin() as connection:
                row = connection.execute(_claim_next_due(now)).first()
                if row is None:
                    break
                result = _deliver(connection, session, row, now, policy, operator_email)
            report.results.append(result)  # committed
            _log(result)
    return report


def _deliver(connection, session: SmtpSession, row, now, policy: RetryPolicy, operator_email) -> MailResult:
    try:
        message, address = build_message(row, session.settings, now)
    except BadMail as error:
        return _give_up(connection, row, now, REFUSED, str(error), operator_email)
    try:
        session.send(message, address)
    except SendFailure as failure:
        if failure.bounce:
            return _give_up(connection, row, now, BOUNCED, failure.reason, operator_email)
        if row.attempts >= policy.max_attempts:
            reason = f"gave up after {row.attempts} attempts; last: {failure.reason}"
            return _give_up(connection, row, now, FAILED, reason, operator_email)
        next_attempt_at = now + policy.delay_after(row.attempts)
        _update(connection, row, last_error=failure.reason, next_attempt_at=next_attempt_at)
        return _result(row, DEFERRED, failure.reason, next_attempt_at=next_attempt_at)
    _update(connection, row, sent_at=now)
    return _result(row, SENT)


def _give_up(connection, row, now, status: DeliveryStatus, reason: str, operator_email) -> MailResult:
    _update(connection, row, gave_up_at=now, last_error=reason)
    result = _result(row, status, reason)
    if operator_email and row.kind not in OPERATOR_KINDS:  # a notice about the operators' own mail would loop
        enqueue_operator_alert(connection, row, GIVE_UP_DESCRIPTIONS[status], reason, now, operator_email)
    return result


def _update(connection, row, **values) -> None:
    connection.execute(update(mail_outbox).where(mail_outbox.c.mail_id == row.mail_id).values(**values))


def _result(row, status: DeliveryStatus, reason: str = "", next_attempt_at=None) -> MailResult:
    return MailResult(row.mail_id, row.kind, row.recipient, status, reason, row.attempts, next_attempt_at)


def _log(result: MailResult) -> None:
    level = logging.WARNING if result.status in GIVEN_UP else logging.INFO
    until = f" until {result.next_attempt_at.isoformat()}" if result.next_attempt_at else ""
    log.log(
        level,
        "mail %s (%s) to %r: %s%s %s",
        result.mail_id,
        result.kind,
        result.recipient,
        result.status,
        until,
        result.reason,
    )


def requeue_mail(connection: Connection, mail_id: int) -> bool:
    """Give a given-up mail a fresh set of attempts (after the operators fixed its recipient, say).

    Returns False if there is no such given-up, unsent mail.
    """
    return bool(
        connection.execute(
            update(mail_outbox)
            .where(
                mail_outbox.c.mail_id == mail_id,
                mail_outbox.c.sent_at.is_(None),
                mail_outbox.c.gave_up_at.is_not(None),
            )
            .values(gave_up_at=None, attempts=0, next_attempt_at=None, last_error=None)
        ).rowcount
    )
