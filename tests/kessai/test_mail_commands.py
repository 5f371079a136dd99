"""The ways operators start a delivery: the task function deliver_outbox() and the command line.
Both reach the test SMTP server through KESSAI_SMTP_URL (set by the smtp_server fixture)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select, update

from kessai.cli import main
from kessai.db.schema import mail_outbox
from kessai.mail.outbox import enqueue_mail
from kessai.mail.smtp_client import SmtpUnavailable
from kessai_tasks import deliver_outbox
from support.smtp_server import free_port

OPERATORS = "ops@kessai.example.jp"


def enqueue(engine, key: str, recipient: str) -> int:
    with engine.begin() as connection:
        return enqueue_mail(
            connection, kind="test_mail", dedupe_key=key, recipient=recipient, subject=f"件名 {key}", body="本文\n"
        )


def test_deliver_outbox_sends_logs_the_given_up_mails_and_returns_the_counts(
    business, smtp_server, monkeypatch, caplog
):
    monkeypatch.setenv("KESSAI_OPERATOR_EMAIL", OPERATORS)
    smtp_server.refuse_recipient("gone@example.jp", 550)
    enqueue(business, "good", "shop@example.jp")
    bounced = enqueue(business, "bounce", "gone@example.jp")

    assert deliver_outbox(dry_run=True) == {"due": 2}
    assert smtp_server.messages == []

    with caplog.at_level(logging.INFO):
        counts = deliver_outbox(dry_run=False)

    # The task succeeds; the bounce is in the counts, in a WARNING table and in a notice held for
    # the operators' daily digest (not sent alone).
    assert counts == {"sent": 1, "deferred": 0, "bounced": 1, "refused": 0, "failed": 0}
    [warning] = [r for r in caplog.records if r.name == "kessai_tasks" and r.levelno == logging.WARNING]
    assert "gone@example.jp" in warning.getMessage() and "550" in warning.getMessage()
    assert f"\n{bounced:>8}  bounced" in warning.getMessage()
    assert smtp_server.messages_to(OPERATORS) == []
    with business.connect() as connection:
        notices = connection.execute(
            select(mail_outbox.c.recipient, mail_outbox.c.subject).where(mail_outbox.c.kind == "operator_notice")
        ).all()
    assert notices == [(OPERATORS, f"[kessai] メールを送信できませんでした (mail_id {bounced})")]
    assert deliver_outbox(dry_run=False) == {"sent": 0, "deferred": 0, "bounced": 0, "refused": 0, "failed": 0}


def test_deliver_outbox_fails_when_the_smtp_server_cannot_be_reached(business, monkeypatch):
    monkeypatch.setenv("KESSAI_SMTP_URL", f"smtp://127.0.0.1:{free_port()}")
    mail_id = enqueue(business, "a", "shop@example.jp")

    with pytest.raises(SmtpUnavailable):
        deliver_outbox(dry_run=False)
    with business.connect() as connection:
        row = connection.execute(select(mail_outbox).where(mail_outbox.c.mail_id == mail_id)).one()
    assert (row.attempts, row.sent_at, row.gave_up_at) == (0, None, None)


def test_deliver_mail_command_and_requeue_after_fixing_a_bounced_address(business, smtp_server, capsys):
    smtp_server.refuse_recipient("typo@exmaple.jp", 550)
    mail_id = enqueue(business, "a", "typo@exmaple.jp")

    assert main(["deliver-mail", "--dry-run"]) == 0
    assert "1 mail(s) due" in capsys.readouterr().out

    assert main(["deliver-mail"]) == 0
    out = capsys.readouterr().out
    # The bounce is reported in the output (and held for the operators' digest).
    assert "0 sent" in out and "1 bounced" in out and "typo@exmaple.jp" in out
    assert smtp_server.messages == []

    # The operators correct the address and requeue the mail; the next delivery sends it.
    with business.begin() as connection:
        connection.execute(
            update(mail_outbox).where(mail_outbox.c.mail_id == mail_id).values(recipient="shop@example.jp")
        )
    assert main(["mail-requeue", str(mail_id)]) == 0
    assert main(["deliver-mail"]) == 0
    assert "1 sent" in capsys.readouterr().out
    [mail] = smtp_server.messages
    assert mail.envelope_to == ["shop@example.jp"]

    # A sent mail cannot be requeued: it would go out twice.
    assert main(["mail-requeue", str(mail_id)]) == 1
    assert f"mail {mail_id}: not a given-up, unsent mail" in capsys.readouterr().err


def test_deliver_mail_command_reports_an_unreachable_server(business, monkeypatch, capsys):
    monkeypatch.setenv("KESSAI_SMTP_URL", f"smtp://127.0.0.1:{free_port()}")
    enqueue(business, "a", "shop@example.jp")

    assert main(["deliver-mail"]) == 1
    assert "no mail sent" in capsys.readouterr().err
