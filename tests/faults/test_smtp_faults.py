"""The mail delivery against a real SMTP server (tests/support/smtp_server.py, servers.py) that is down,
answers 4xx or 5xx, or drops the connection after the data: no mail is lost (a refused one is
deferred and sent by a later run, a bounced one is reported to the operators) and none is sent
twice, but for the one case SMTP cannot tell apart (the server took the mail and its reply was
lost), where the copy sent again carries the same Message-ID.

The outbox holds the reminders of 2027-05-06 (world.py); the delivery is `python -m kessai
deliver-mail` in a process of its own, at the clock KESSAI_AS_OF, as the mail_delivery DAG's task.
The mail delivery's own logic is the same on both databases (tests/kessai/test_mail_delivery.py),
so these run on SQLite.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from harness import run
from kessai.db.database import make_engine
from kessai.db.schema import mail_outbox
from servers import closed_url, copies_by_message_id, received
from world import diff

LATER = "2030-01-01T12:00:00+09:00"  # past every backoff of the first attempt (10 minutes)
OPERATORS = "operators@kessai.example"

pytestmark = pytest.mark.parametrize("dialect", ["sqlite"])


def deliver(place, **env):
    return run(place, "deliver", {}, **env)


def outbox(place) -> list[dict]:
    engine = make_engine(place.url)
    with engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(select(mail_outbox).order_by(mail_outbox.c.mail_id)).mappings()]
    engine.dispose()
    return rows


def assert_every_mail_went_once(place, expected) -> None:
    assert diff(expected, place.outputs()) == []
    assert received(place.smtp) == expected["mails"]
    assert set(copies_by_message_id(place.smtp).values()) == {1}


def test_smtp_down_sends_nothing_fails_and_the_next_run_sends_everything_once(dialect, world, undisturbed):
    expected = undisturbed(dialect, "deliver")
    place = world(dialect, "deliver")
    down = deliver(place, KESSAI_SMTP_URL=closed_url("smtp"))
    assert down.status == 1 and "no mail sent" in down.err
    assert all(row["sent_at"] is None and row["gave_up_at"] is None for row in outbox(place))

    assert deliver(place).status == 0
    assert_every_mail_went_once(place, expected)


@pytest.mark.parametrize("code", [451, 554])
def test_a_mail_refused_at_its_data_is_deferred_then_sent_once_by_a_later_run(code, dialect, world, undisturbed):
    expected = undisturbed(dialect, "deliver")
    place = world(dialect, "deliver")
    place.smtp.fail_next(2, code=code)
    assert deliver(place).status == 0
    deferred = [row for row in outbox(place) if row["sent_at"] is None]
    assert len(deferred) == 2 and all(str(code) in row["last_error"] and row["next_attempt_at"] for row in deferred)
    assert len(place.smtp.messages) == len(expected["mails"]) - 2

    assert deliver(place).status == 0  # the same moment: not due yet, nothing sent again
    assert len(place.smtp.messages) == len(expected["mails"]) - 2
    assert deliver(place, KESSAI_AS_OF=LATER).status == 0
    assert_every_mail_went_once(place, expected)


def test_a_connection_dropped_after_the_data_before_the_server_took_it_is_sent_once(dialect, world, undisturbed):
    expected = undisturbed(dialect, "deliver")
    place = world(dialect, "deliver")
    place.smtp.drop_next(2, after="DATA")  # the first try and the one reconnection of the same mail
    assert deliver(place).status == 0
    assert deliver(place, KESSAI_AS_OF=LATER).status == 0
    assert_every_mail_went_once(place, expected)


def test_a_reply_lost_after_the_server_took_the_mail_sends_it_again_with_the_same_message_id(
    dialect, world, undisturbed
):
    expected = undisturbed(dialect, "deliver")
    place = world(dialect, "deliver")
    place.smtp.lose_reply_next(1)
    assert deliver(place).status == 0
    assert diff(expected, place.outputs()) == []
    assert received(place.smtp) == expected["mails"]
    copies = copies_by_message_id(place.smtp)
    assert sorted(copies.values()) == [1] * (len(copies) - 1) + [2]


def test_a_recipient_refused_for_good_is_given_up_once_and_the_operators_are_told(dialect, world):
    place = world(dialect, "deliver")
    bounced = next(row for row in outbox(place) if row["kind"] != "operator_alert")
    place.smtp.refuse_recipient(bounced["recipient"], code=550)
    assert deliver(place).status == 0
    assert deliver(place, KESSAI_AS_OF=LATER).status == 0  # a later run neither retries nor alerts again

    rows = {row["mail_id"]: row for row in outbox(place)}
    assert rows[bounced["mail_id"]]["gave_up_at"] is not None and rows[bounced["mail_id"]]["sent_at"] is None
    assert place.smtp.messages_to(bounced["recipient"]) == []
    # The give-up is a notice held for the operators' daily digest, written once.
    about_it = [row for row in rows.values() if f"mail_id {bounced['mail_id']})" in row["subject"]]
    assert len(about_it) == 1 and about_it[0]["kind"] == "operator_notice"
    assert bounced["recipient"] in about_it[0]["body"]
    assert not [m for m in place.smtp.messages_to(OPERATORS) if f"mail_id {bounced['mail_id']})" in m.subject]
    others = [row for row in rows.values() if row["mail_id"] != bounced["mail_id"] and row["kind"] != "operator_notice"]
    assert all(row["sent_at"] is not None for row in others)
    assert set(copies_by_message_id(place.smtp).values()) == {1}
