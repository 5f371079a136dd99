"""The mail_delivery DAG, run through Airflow (dag.test) against the test SMTP server."""

from __future__ import annotations

from sqlalchemy import select

import kessai_tasks
from kessai.db.schema import mail_outbox
from kessai.mail.outbox import enqueue_mail
from support.smtp_server import free_port


def test_a_run_sends_the_due_mails_once(run_dag, business, smtp_server):
    with business.begin() as connection:
        mail_id = enqueue_mail(
            connection, kind="test_mail", dedupe_key="a", recipient="shop@example.jp", subject="お知らせ", body="本文\n"
        )

    for _ in range(2):  # the second run finds nothing due
        assert run_dag("mail_delivery").state == "success"

    [mail] = smtp_server.messages
    assert (mail.subject, mail.envelope_to) == ("お知らせ", ["shop@example.jp"])
    with business.connect() as connection:
        assert connection.execute(select(mail_outbox.c.sent_at).where(mail_outbox.c.mail_id == mail_id)).scalar()


def test_a_run_fails_when_the_smtp_server_cannot_be_reached(run_dag, business, monkeypatch):
    monkeypatch.setitem(kessai_tasks.DEFAULT_ARGS, "retries", 0)  # the DAG's retries wait minutes
    monkeypatch.setenv("KESSAI_SMTP_URL", f"smtp://127.0.0.1:{free_port()}")
    with business.begin() as connection:
        enqueue_mail(connection, kind="test_mail", dedupe_key="a", recipient="shop@example.jp", subject="s", body="b")

    assert run_dag("mail_delivery").state == "failed"
