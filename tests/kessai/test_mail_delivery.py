"""Delivery of the mail outbox through a real SMTP server (aiosmtpd), on SQLite and PostgreSQL.

Delivery does not depend on business days: the times below are plain instants. T0 is
2027-01-05 09:00 in Japan (00:00 UTC). The default backoff is 10 minutes after the first failure,
doubled after each further one (10, 20, 40, 80 minutes), capped at 6 hours; the 5th failure gives up.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from kessai.calendar.business_calendar import default_calendar
from kessai.calendar.run_dates import JAPAN
from kessai.db.database import make_engine
from kessai.db.schema import mail_outbox
from kessai.mail.delivery import BOUNCED, DEFERRED, FAILED, REFUSED, SENT, RetryPolicy, deliver_pending
from kessai.mail.operator_digest import write_operator_digest
from kessai.mail.outbox import enqueue_mail
from kessai.mail.smtp_client import SmtpSettings, SmtpUnavailable
from support.smtp_server import free_port

T0 = datetime(2027, 1, 5, 9, 0, tzinfo=JAPAN)
OPERATORS = "ops@kessai.example.jp"
SENDER = "決済サービス kessai <noreply@kessai.example.jp>"


def settings_for(server) -> SmtpSettings:
    return SmtpSettings(
        host=server.host,
        port=server.port,
        sender=SENDER,
        reply_to="support@kessai.example.jp",
    )


def enqueue(engine, key: str, recipient: str = "shop@example.jp", **fields) -> int:
    values = {"kind": "test_mail", "subject": f"件名 {key}", "body": f"本文 {key}\n"} | fields
    with engine.begin() as connection:
        return enqueue_mail(connection, dedupe_key=key, recipient=recipient, **values)


def outbox_row(engine, mail_id: int):
    with engine.connect() as connection:
        return connection.execute(select(mail_outbox).where(mail_outbox.c.mail_id == mail_id)).one()


def statuses(report) -> dict[int, str]:
    return {result.mail_id: result.status for result in report.results}


# -- the message ----------------------------------------------------------------------------------


def test_japanese_subject_body_and_csv_attachment_arrive_intact(engine, smtp_server):
    subject = "【kessai】未確定の売上が 3 件あります（確定期限: 2027年4月30日）"
    body = "ご担当者様\n\n売上の管理 → 決済確定状況: 未確定 で確認できます。\n①②③ 髙橋 𠮷野家\n"
    csv = "伝票番号,金額,入金日\r\n000000000000000123,1980,2026-11-02\r\n"
    mail_id = enqueue(
        engine, "reminder-1", subject=subject, body=body, attachment_name="未確定売上.csv", attachment_content=csv
    )

    report = deliver_pending(engine, settings_for(smtp_server), T0)

    assert statuses(report) == {mail_id: SENT}
    [mail] = smtp_server.messages
    assert mail.subject == subject
    assert mail.text == body
    assert mail.envelope_from == "noreply@kessai.example.jp"
    assert mail.envelope_to == ["shop@example.jp"]
    assert str(mail["From"]) == SENDER
    assert str(mail["Reply-To"]) == "support@kessai.example.jp"
    assert mail["Date"] == "Tue, 05 Jan 2027 09:00:00 +0900"
    created = outbox_row(engine, mail_id).created_at.strftime("%Y%m%d%H%M%S")
    assert mail["Message-ID"] == f"<kessai.{mail_id}.{created}@kessai.example.jp>"
    # On the wire every header is ASCII: the Japanese subject and name travel RFC 2047 encoded.
    head = mail.raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert "=?utf-8?" in head
    [part] = mail.iter_attachments()
    assert part.get_content_type() == "text/csv"
    assert part.get_content_charset() == "utf-8"
    # UTF-8 with a byte order mark, so Excel in Japan reads it as UTF-8; the bytes are exact.
    assert mail.attachments() == {"未確定売上.csv": b"\xef\xbb\xbf" + csv.encode("utf-8")}

    row = outbox_row(engine, mail_id)
    assert (row.sent_at, row.attempts, row.gave_up_at) == (T0, 1, None)


def test_a_second_delivery_sends_nothing_again(engine, smtp_server):
    first = enqueue(engine, "a")
    second = enqueue(engine, "b")
    smtp = settings_for(smtp_server)

    assert statuses(deliver_pending(engine, smtp, T0)) == {first: SENT, second: SENT}
    assert deliver_pending(engine, smtp, T0 + timedelta(hours=1)).results == []
    assert sorted(m.subject for m in smtp_server.messages) == ["件名 a", "件名 b"]


def test_header_injection_and_bad_recipients_are_refused_and_never_sent(engine, smtp_server):
    bad = {
        enqueue(engine, "crlf-recipient", recipient="shop@example.jp\r\nBcc: victim@example.jp"): "line break",
        enqueue(engine, "lf-subject", subject="お知らせ\nBcc: victim@example.jp"): "line break",
        enqueue(engine, "separator-subject", subject="お知らせ\u2028Bcc: victim@example.jp"): "line break",
        enqueue(engine, "escape-subject", subject="\x1b[2Jお知らせ"): "control character",
        enqueue(engine, "two-recipients", recipient="shop@example.jp, victim@example.jp"): "single valid",
        enqueue(engine, "display-name", recipient="Victim <victim@example.jp>"): "single valid",
        enqueue(engine, "no-address", recipient="shop"): "single valid",
        enqueue(engine, "crlf-file", attachment_name="a.csv\r\nX: y", attachment_content="a\r\n"): "line break",
        enqueue(engine, "unnamed-file", attachment_name=" ", attachment_content="a\r\n"): "name is empty",
        enqueue(engine, "empty-file", attachment_name="a.csv"): "has no content",
    }
    good = enqueue(engine, "good")

    report = deliver_pending(engine, settings_for(smtp_server), T0)

    assert statuses(report) == {**{mail_id: REFUSED for mail_id in bad}, good: SENT}
    for result in report.given_up:
        assert bad[result.mail_id] in result.reason
        row = outbox_row(engine, result.mail_id)
        assert (row.gave_up_at, row.sent_at, row.last_error) == (T0, None, result.reason)
    [mail] = smtp_server.messages
    assert mail.envelope_to == ["shop@example.jp"]
    assert "Bcc" not in mail and mail.subject == "件名 good"
    # Given up is final: a later run does not try them again.
    assert deliver_pending(engine, settings_for(smtp_server), T0 + timedelta(days=1)).results == []


# -- failures and retries -------------------------------------------------------------------------


def test_retry_policy_doubles_the_wait_up_to_the_cap():
    policy = RetryPolicy()
    minutes = [policy.delay_after(attempts) / timedelta(minutes=1) for attempts in range(1, 9)]
    assert minutes == [10, 20, 40, 80, 160, 320, 360, 360]


def test_a_temporary_refusal_is_retried_once_the_backoff_has_passed(engine, smtp_server):
    mail_id = enqueue(engine, "a")
    smtp = settings_for(smtp_server)
    smtp_server.fail_next(1, 451)

    report = deliver_pending(engine, smtp, T0)
    assert statuses(report) == {mail_id: DEFERRED}
    assert "451" in report.deferred[0].reason
    row = outbox_row(engine, mail_id)
    assert (row.sent_at, row.attempts, row.next_attempt_at) == (None, 1, T0 + timedelta(minutes=10))
    assert "451" in row.last_error

    assert deliver_pending(engine, smtp, T0 + timedelta(seconds=1)).results == []  # not due yet
    assert smtp_server.messages == []

    assert statuses(deliver_pending(engine, smtp, T0 + timedelta(minutes=10))) == {mail_id: SENT}
    assert deliver_pending(engine, smtp, T0 + timedelta(hours=1)).results == []
    assert len(smtp_server.messages) == 1
    row = outbox_row(engine, mail_id)
    assert (row.sent_at, row.attempts) == (T0 + timedelta(minutes=10), 2)


@pytest.mark.parametrize("after", ["MAIL", "DATA"])
def test_a_connection_dropped_once_is_reopened_and_the_mail_sent(engine, smtp_server, after):
    first, second = enqueue(engine, "a"), enqueue(engine, "b")
    smtp_server.drop_next(1, after=after)

    assert statuses(deliver_pending(engine, settings_for(smtp_server), T0)) == {first: SENT, second: SENT}
    assert sorted(m.subject for m in smtp_server.messages) == ["件名 a", "件名 b"]
    assert outbox_row(engine, first).attempts == 1  # one attempt, over two connections


@pytest.mark.parametrize("after", ["MAIL", "DATA"])
def test_a_mail_whose_connection_drops_twice_waits_and_goes_out_once_on_a_later_run(engine, smtp_server, after):
    first, second, third = enqueue(engine, "a"), enqueue(engine, "b"), enqueue(engine, "c")
    smtp = settings_for(smtp_server)
    smtp_server.drop_next(2, after=after)  # the first mail, and its retry on a new connection

    report = deliver_pending(engine, smtp, T0)
    assert statuses(report) == {first: DEFERRED, second: SENT, third: SENT}
    assert "connection lost" in report.deferred[0].reason

    assert statuses(deliver_pending(engine, smtp, T0 + timedelta(minutes=10))) == {first: SENT}
    assert deliver_pending(engine, smtp, T0 + timedelta(hours=1)).results == []
    assert sorted(m.subject for m in smtp_server.messages) == ["件名 a", "件名 b", "件名 c"]


def test_a_permanently_refused_recipient_is_given_up_at_once_and_reported(engine, smtp_server):
    bounced = enqueue(engine, "bounce", recipient="nobody@example.jp", kind="stale_slip_reminder")
    enqueue(engine, "good")
    smtp_server.refuse_recipient("nobody@example.jp", 550)
    smtp = settings_for(smtp_server)

    report = deliver_pending(engine, smtp, T0, operator_email=OPERATORS)

    [result] = report.given_up
    assert (result.mail_id, result.kind, result.recipient, result.status) == (
        bounced,
        "stale_slip_reminder",
        "nobody@example.jp",
        BOUNCED,
    )
    assert result.reason.startswith("550 5.1.1 User unknown")
    row = outbox_row(engine, bounced)
    assert (row.gave_up_at, row.attempts, row.sent_at) == (T0, 1, None)
    # The operators' notice was written with the give-up, held for their daily digest.
    assert smtp_server.messages_to(OPERATORS) == []
    assert len(smtp_server.messages_to("shop@example.jp")) == 1
    assert report.counts() == {"sent": 1, "deferred": 0, "bounced": 1, "refused": 0, "failed": 0}

    # A bounce is not retried, and its notice goes once, within the digest of 2027-01-05.
    assert deliver_pending(engine, smtp, T0 + timedelta(days=1), operator_email=OPERATORS).results == []
    with engine.begin() as connection:
        write_operator_digest(connection, T0.date(), default_calendar(), now=T0, operator_email=OPERATORS)
    deliver_pending(engine, smtp, T0, operator_email=OPERATORS)
    [digest] = smtp_server.messages_to(OPERATORS)
    assert digest.subject == "[kessai] 運用担当者への本日のお知らせ 2027年1月5日（対応待ち1件）"
    assert f"・[kessai] メールを送信できませんでした (mail_id {bounced})\n" in digest.text
    assert "'nobody@example.jp'" in digest.text and "550 5.1.1 User unknown" in digest.text
    assert "stale_slip_reminder" in digest.text
    assert len(smtp_server.messages) == 2


def test_a_temporarily_refused_recipient_is_retried_not_bounced(engine, smtp_server):
    mail_id = enqueue(engine, "busy", recipient="busy@example.jp")
    smtp_server.refuse_recipient("busy@example.jp", 450)

    report = deliver_pending(engine, settings_for(smtp_server), T0)
    assert statuses(report) == {mail_id: DEFERRED}
    assert report.deferred[0].reason.startswith("450")


def test_a_mail_that_keeps_failing_is_given_up_after_the_fifth_attempt(engine, smtp_server):
    mail_id = enqueue(engine, "a")
    smtp = settings_for(smtp_server)
    smtp_server.fail_next(5, 451)
    # Attempt n fails at `at`; the next one is due 10 x 2^(n-1) minutes later:
    # T0 -> +10 = T0+10m -> +20 = T0+30m -> +40 = T0+70m -> +80 = T0+150m, where the 5th fails.
    at = T0
    for attempt, wait in enumerate([10, 20, 40, 80], start=1):
        report = deliver_pending(engine, smtp, at, operator_email=OPERATORS)
        assert statuses(report) == {mail_id: DEFERRED}, attempt
        at += timedelta(minutes=wait)
        assert outbox_row(engine, mail_id).next_attempt_at == at
    assert at == T0 + timedelta(minutes=150)

    report = deliver_pending(engine, smtp, at, operator_email=OPERATORS)
    assert statuses(report) == {mail_id: FAILED}
    assert report.given_up[0].reason.startswith("gave up after 5 attempts; last: 451")
    row = outbox_row(engine, mail_id)
    assert (row.gave_up_at, row.attempts, row.sent_at) == (at, 5, None)
    with engine.begin() as connection:
        notice = connection.execute(select(mail_outbox).where(mail_outbox.c.mail_id != mail_id)).one()
    assert (notice.kind, notice.recipient, notice.sent_at) == ("operator_notice", OPERATORS, None)
    assert f"mail_id {mail_id}" in notice.subject

    assert deliver_pending(engine, smtp, at + timedelta(days=1), operator_email=OPERATORS).results == []


def test_an_unreachable_server_fails_the_run_and_leaves_the_mail_as_it_was(engine):
    mail_id = enqueue(engine, "a")
    nobody_listens = SmtpSettings(host="127.0.0.1", port=free_port(), timeout=5)

    with pytest.raises(SmtpUnavailable, match="ConnectionRefused"):
        deliver_pending(engine, nobody_listens, T0)

    row = outbox_row(engine, mail_id)
    assert (row.attempts, row.next_attempt_at, row.gave_up_at, row.sent_at) == (0, None, None, None)


# -- two deliverers ------------------------------------------------------------------------------


def test_two_deliverers_at_once_send_every_mail_exactly_once(database_url, dialect, smtp_server):
    """Deliverer A is held by the server inside its first mail (the oldest row) while deliverer B
    runs. On PostgreSQL B skips A's locked row and sends all the others meanwhile; on SQLite B waits
    for the single writer lock. Either way every mail arrives once."""
    engines = [make_engine(database_url), make_engine(database_url)]
    mail_ids = [enqueue(engines[0], f"m{n}") for n in range(8)]
    smtp = settings_for(smtp_server)
    reports = {}

    def deliverer(name, engine):
        reports[name] = deliver_pending(engine, smtp, T0)

    hold = smtp_server.hold_next()
    a = threading.Thread(target=deliverer, args=("A", engines[0]))
    b = threading.Thread(target=deliverer, args=("B", engines[1]))
    a.start()
    try:
        assert hold.reached.wait(30)
        b.start()
        if dialect == "postgresql":
            b.join(60)  # a guard against hanging, not a timing: B has nothing to wait for
            assert not b.is_alive(), "B was blocked by the row A holds"
            assert {r.mail_id for r in reports["B"].sent} == set(mail_ids[1:])
    finally:
        hold.release()
        a.join(60)
        b.join(60)
        for engine in engines:
            engine.dispose()

    sent_by_a = {r.mail_id for r in reports["A"].sent}
    sent_by_b = {r.mail_id for r in reports["B"].sent}
    assert not sent_by_a & sent_by_b
    assert sent_by_a | sent_by_b == set(mail_ids)
    assert mail_ids[0] in sent_by_a
    assert [len(copies) for copies in smtp_server.by_message_id().values()] == [1] * len(mail_ids)
