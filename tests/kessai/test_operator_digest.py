"""The operators' daily digest: one mail per business day with the notices held for it, each in
exactly one digest, and the list of the urgent mails sent at once since the previous digest."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from kessai.calendar.business_calendar import default_calendar
from kessai.calendar.run_dates import JAPAN, BusinessDateError
from kessai.calendar.store import declare_closure, load_calendar
from kessai.db.schema import mail_outbox
from kessai.mail.operator_alerts import enqueue_task_failure_alert
from kessai.mail.operator_digest import write_operator_digest
from kessai.mail.outbox import enqueue_mail

D = date.fromisoformat
OPERATORS = "ops@kessai.example"
CALENDAR = default_calendar()


def at(day: str, hour: int = 17, minute: int = 30) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=JAPAN)


def notice(connection, key: str, subject: str, body: str = "本文\n") -> int:
    return enqueue_mail(
        connection,
        kind="operator_notice",
        dedupe_key=f"operator_notice:{key}",
        recipient=OPERATORS,
        subject=subject,
        body=body,
    )


def digest(engine, day: str, calendar=CALENDAR):
    with engine.begin() as connection:
        return write_operator_digest(connection, D(day), calendar, now=at(day), operator_email=OPERATORS)


def digests(engine) -> list:
    with engine.connect() as connection:
        return connection.execute(
            select(mail_outbox).where(mail_outbox.c.kind == "operator_digest").order_by(mail_outbox.c.mail_id)
        ).all()


def test_one_digest_a_day_carries_each_notice_once_and_lists_the_urgent_mails(engine):
    with engine.begin() as connection:
        notice(
            connection,
            "stale_slip_digest:M1:2027-W01",
            "[kessai] メールアドレス未登録の店舗: M1 M1商店（…）",
            "店舗 M1（M1商店）にはメールアドレスが登録されていないため、\n",
        )
        notice(connection, "given_up:7:20270105T000000.000000Z", "[kessai] メールを送信できませんでした (mail_id 7)")
        failed = enqueue_task_failure_alert(
            connection,
            dag_id="card_transmission",
            task_id="transmit",
            run_id="manual__1",
            try_number=4,
            business_date="2027-01-05",
            reason="refused: 2027-01-05 has not begun",
            log_url="",
            failed_at=at("2027-01-05", 6, 0),
            operator_email=OPERATORS,
        )
    # Tuesday 2027-01-05.
    summary = digest(engine, "2027-01-05")
    assert (summary.notices, summary.immediate, summary.unreachable_merchants, summary.given_up_mails) == (2, 1, 1, 1)
    [mail] = digests(engine)
    assert (mail.recipient, mail.dedupe_key) == (OPERATORS, "operator_digest:2027-01-05")
    assert mail.subject == "[kessai] 運用担当者への本日のお知らせ 2027年1月5日（対応待ち2件・送信済みの至急連絡1件）"
    body = mail.body
    assert "運用担当者各位\n\n2027年1月5日の時点で、運用担当者の対応が必要な事項をまとめてお知らせします。" in body
    assert (
        "■ メールアドレス未登録の店舗（1件）\n"
        "次の店舗にはメールアドレスが登録されていないため、店舗あてのお知らせを送れませんでした。\n"
        "電話など別の方法で店舗へお伝えのうえ、メールアドレスの登録を依頼してください。\n"
        "・[kessai] メールアドレス未登録の店舗: M1 M1商店（…）\n"
    ) in body
    assert (
        "■ 送信できなかったメール（1件）\n"
        "宛先を直したうえで python -m kessai mail-requeue <mail_id> で送り直せます。\n"
        "・[kessai] メールを送信できませんでした (mail_id 7)\n"
    ) in body
    assert "■ 前回のまとめ以降にすでにお送りした至急の連絡（1件）" in body
    assert f"・mail_id {failed}: [kessai] card_transmission の transmit が失敗しました" in body
    assert "店舗 M1（M1商店）にはメールアドレスが登録されていないため、" in body  # the notice in full
    assert "タスクが最終的に失敗したときの連絡は、これまでどおりその都度お送りします。" in body

    # A re-run of the day writes nothing; a notice written after the digest waits for the next one.
    with engine.begin() as connection:
        notice(connection, "stale_slip_digest:M2:2027-W01", "[kessai] メールアドレス未登録の店舗: M2 M2商店（…）")
    assert digest(engine, "2027-01-05").already_written is True
    assert len(digests(engine)) == 1
    nextday = digest(engine, "2027-01-06")
    assert (nextday.notices, nextday.immediate) == (1, 0)
    later = digests(engine)[1]
    assert later.subject == "[kessai] 運用担当者への本日のお知らせ 2027年1月6日（対応待ち1件）"
    assert "M2 M2商店" in later.body and "M1 M1商店" not in later.body and "mail_id 7" not in later.body


def test_a_day_with_nothing_sends_nothing_and_weekends_and_closures_are_not_digest_days(engine):
    assert digest(engine, "2027-01-05").as_dict() == {
        "business_date": "2027-01-05",
        "notices": 0,
        "immediate": 0,
        "digest_mail_id": None,
    }
    with pytest.raises(
        BusinessDateError, match=r"2027-01-09 is not a business day in Japan \(Saturday\).*next one is 2027-01-12"
    ):
        digest(engine, "2027-01-09")  # Monday 1/11 is 成人の日
    with engine.begin() as connection:
        declare_closure(connection, D("2027-01-07"), "system maintenance")
        notice(connection, "given_up:9:x", "[kessai] メールを送信できませんでした (mail_id 9)")
        calendar = load_calendar(connection)
    assert digest(engine, "2027-01-07", calendar).closed
    assert digests(engine) == []
    assert digest(engine, "2027-01-08", calendar).notices == 1
