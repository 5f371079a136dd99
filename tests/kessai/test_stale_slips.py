"""Stale-slip digests as plain functions, on SQLite and PostgreSQL, with dates worked by hand."""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from kessai.calendar.business_calendar import default_calendar
from kessai.calendar.rules import confirmation_deadline, stale_from
from kessai.calendar.run_dates import JAPAN, BusinessDateError
from kessai.calendar.store import declare_closure
from kessai.db.schema import mail_outbox, slip_events, slip_reminders, slips, stale_slip_digests
from kessai.mail.operator_digest import write_operator_digest
from kessai.reminders.stale_slips import (
    DAILY,
    MONTHLY,
    WEEKLY,
    Period,
    ReminderSettings,
    expired_through,
    expires_on,
    paid_through,
    period_of,
    remind_stale_slips,
    stale_through,
)
from support.stale_slip_builders import add_merchant, add_slip

D = date.fromisoformat
ONE_DAY = timedelta(days=1)
SETTINGS = ReminderSettings(operator_email="ops@kessai.example")
PERIOD_NAMES = (DAILY, WEEKLY, MONTHLY)

FINAL = "■ 確定期限まで14日以内の伝票"
OTHERS = "■ そのほかの未確定の伝票"
OPEN_ONLY = "■ 未確定の伝票"  # the heading of the open slips when none is a final notice
EXPIRED = "■ 確定期限を過ぎた伝票"


# -- helpers ------------------------------------------------------------------------------------


def run(engine, day: str | date, settings: ReminderSettings = SETTINGS):
    with engine.begin() as connection:
        return remind_stale_slips(connection, D(day) if isinstance(day, str) else day, settings)


def mails(engine, kind: str | None = None) -> list:
    with engine.connect() as connection:
        query = select(mail_outbox).order_by(mail_outbox.c.mail_id)
        if kind:
            query = query.where(mail_outbox.c.kind == kind)
        return connection.execute(query).all()


def digests(engine) -> list[tuple[str, str, str, str]]:
    """(merchant, period, as of, business date of the run that sent it), in the order sent."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                stale_slip_digests.c.merchant_id,
                stale_slip_digests.c.period,
                stale_slip_digests.c.as_of,
                stale_slip_digests.c.business_date,
            ).order_by(stale_slip_digests.c.mail_id)
        ).all()
    return [(merchant, period, as_of.isoformat(), day.isoformat()) for merchant, period, as_of, day in rows]


def sections(body: str) -> dict[str, list[str]]:
    """The slip numbers a digest lists, by the start of its section's heading."""
    listed: dict[str, list[str]] = {}
    current = None
    for line in body.splitlines():
        if line.startswith("■ "):
            current = next((h for h in (FINAL, OTHERS, OPEN_ONLY, EXPIRED) if line.startswith(h)), None)
            if current:
                listed[current] = []
        elif line.startswith("・伝票番号 ") and current:
            listed[current].append(line.split("　")[0].removeprefix("・伝票番号 "))
    return listed


def slip_lines(body: str) -> list[str]:
    return [line for line in body.splitlines() if line.startswith("・伝票番号")]


def business_days(start: str, end: str) -> list[date]:
    return default_calendar().business_days(D(start), D(end))


# -- the date rules -------------------------------------------------------------------------------


def test_stale_cutoff_on_month_ends():
    # 11/28, 11/29 and 11/30 + 3 months all clip to 2/28 in a common year, so 2/28 reaches 11/30.
    assert stale_through(D("2027-02-28")) == D("2026-11-30")
    assert stale_through(D("2027-02-27")) == D("2026-11-27")
    assert stale_through(D("2027-02-26")) == D("2026-11-26")
    assert stale_through(D("2027-03-01")) == D("2026-12-01")
    # 2028 is a leap year: 11/28 reaches 2/28, 11/29 and 11/30 reach 2/29.
    assert stale_through(D("2028-02-28")) == D("2027-11-28")
    assert stale_through(D("2028-02-29")) == D("2027-11-30")
    assert stale_through(D("2027-04-30")) == D("2027-01-31")
    assert stale_through(D("2027-05-31")) == D("2027-02-28")


def test_expiry_cutoff_on_month_ends():
    # Paid 8/28-8/31: deadline 2027-02-28 (clipped), expired from 3/1; 9/1's deadline is 3/1.
    assert expires_on(D("2026-08-31")) == D("2027-03-01")
    assert expires_on(D("2026-09-01")) == D("2027-03-02")
    assert expired_through(D("2027-03-01")) == D("2026-08-31")
    assert expired_through(D("2027-02-28")) == D("2026-08-27")
    assert expired_through(D("2027-03-02")) == D("2026-09-01")


def test_cutoffs_are_exactly_the_payment_dates_each_rule_has_reached():
    day = D("2026-01-01")
    while day <= D("2028-12-31"):
        for rule in (stale_from, expires_on):
            cutoff = paid_through(rule, day)
            assert rule(cutoff) <= day < rule(cutoff + ONE_DAY), (rule.__name__, day)
        day += ONE_DAY


def test_periods_start_on_their_first_business_day():
    calendar = default_calendar()
    # ISO weeks: 2027-01-01 (Fri, a bank holiday) is in 2026-W53, whose Monday 12/28 is a business day.
    assert period_of(calendar, WEEKLY, D("2026-12-30")) == Period(WEEKLY, "2026-W53", D("2026-12-28"))
    # 1/11 is 成人の日: the week's digest states Tuesday 1/12.
    assert period_of(calendar, WEEKLY, D("2027-01-14")) == Period(WEEKLY, "2027-W02", D("2027-01-12"))
    # Golden Week 2027: 5/3-5/5 are holidays; the week starts on Thursday 5/6.
    assert period_of(calendar, WEEKLY, D("2027-05-07")) == Period(WEEKLY, "2027-W18", D("2027-05-06"))
    # January starts after the bank holidays 1/1-1/3 (1/2-1/3 a weekend too): Monday 1/4.
    assert period_of(calendar, MONTHLY, D("2027-01-20")) == Period(MONTHLY, "2027-01", D("2027-01-04"))
    assert period_of(calendar, MONTHLY, D("2027-05-31")) == Period(MONTHLY, "2027-05", D("2027-05-06"))
    assert period_of(calendar, DAILY, D("2027-01-20")) == Period(DAILY, "2027-01-20", D("2027-01-20"))
    # A digest stated on 2027-02-15 lists the slips paid up to 2026-11-15.
    assert Period(WEEKLY, "2027-W07", D("2027-02-15")).paid_through == D("2026-11-15")


def test_settings_from_the_environment():
    assert ReminderSettings.from_environment({}) == ReminderSettings(50, WEEKLY, "operators@kessai.example")
    assert ReminderSettings.from_environment(
        {
            "KESSAI_STALE_SLIP_INLINE_LIMIT": "10",
            "KESSAI_REMINDER_PERIOD": "monthly",
            "KESSAI_OPERATOR_EMAIL": "ops@kessai.example",
        }
    ) == ReminderSettings(10, MONTHLY, "ops@kessai.example")
    with pytest.raises(ValueError, match="KESSAI_STALE_SLIP_INLINE_LIMIT='many'"):
        ReminderSettings.from_environment({"KESSAI_STALE_SLIP_INLINE_LIMIT": "many"})
    with pytest.raises(ValueError, match="KESSAI_REMINDER_PERIOD='yearly': expected one of daily, weekly, monthly"):
        ReminderSettings.from_environment({"KESSAI_REMINDER_PERIOD": "yearly"})


def test_a_merchant_period_is_daily_weekly_monthly_or_none(engine):
    with engine.begin() as connection:
        for period in (None, DAILY, WEEKLY, MONTHLY):
            add_merchant(connection, f"M{period}", period=period)
    with pytest.raises(IntegrityError):
        with engine.begin() as connection:
            add_merchant(connection, "M9", period="yearly")


def test_a_weekend_is_refused_and_a_declared_closure_does_nothing(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        add_slip(connection, "M1", "1", "2026-11-20")
        # Monday 3/1 declared closed: nothing happens; Tuesday 3/2 is the week's first business day.
        declare_closure(connection, D("2027-03-01"), "system maintenance")
    with pytest.raises(BusinessDateError, match=r"2027-02-28 is not a business day in Japan \(Sunday\).*2027-03-02"):
        run(engine, "2027-02-28")
    assert run(engine, "2027-03-01").as_dict() == {
        "business_date": "2027-03-01",
        "closed": "2027-03-01 was declared closed (臨時休業日): no reminders today; the next run claims them",
    }
    assert digests(engine) == [] and mails(engine) == []
    run(engine, "2027-03-02")
    assert digests(engine) == [("M1", "2027-W09", "2027-03-02", "2027-03-02")]


# -- what a digest says ---------------------------------------------------------------------------


def test_the_digest_lists_every_open_stale_slip_final_notices_first_soonest_first_with_totals(engine):
    registered = datetime(2026, 10, 2, 1, 0, tzinfo=UTC)
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        # Monday 2027-02-15 states what is open then: stale if paid by 2026-11-15; a final notice
        # when the deadline is by 3/1 (14 days on); expired when the deadline was before 2/15.
        add_slip(connection, "M1", "1", "2026-08-14", 3000)  # deadline 2/14: expires on 2/15
        add_slip(connection, "M1", "2", "2026-08-15", 5500)  # deadline 2/15, today: still open
        add_slip(connection, "M1", "3", "2026-09-01", 700)  # deadline 3/1: the 14th day
        add_slip(connection, "M1", "4", "2026-09-02", 1000)  # deadline 3/2: not within 14 days
        add_slip(connection, "M1", "10", "2026-10-05", 3000)  # same payment date: 9 before 10
        add_slip(connection, "M1", "9", "2026-10-05", 2000)
        add_slip(connection, "M1", "5", "2026-11-15", 4000)  # stale from 2/15 itself
        add_slip(connection, "M1", "6", "2026-11-16", 9000)  # stale from 2/16: not yet
        add_slip(
            connection, "M1", "7", "2026-09-10", confirmed_on=D("2026-10-02"), confirmation_registered_at=registered
        )
        add_slip(connection, "M1", "8", "2026-09-10", cancelled_at=registered)
    summary = run(engine, "2027-02-15")
    assert summary.digests == {
        "merchants": 1,
        "mails": 1,
        "operator_alerts": 0,
        "attachments": 0,
        "open_slips": 6,
        "open_amount": 16200,
        "final_notice_slips": 2,
        "expired_slips": 1,
        "expired_amount": 3000,
    }
    assert summary.expired_marked == 1 and summary.periods == {
        DAILY: "2027-02-15",
        WEEKLY: "2027-W07",
        MONTHLY: "2027-02",
    }
    (mail,) = mails(engine)
    assert (mail.kind, mail.recipient, mail.dedupe_key) == (
        "stale_slip_digest",
        "m1@example.jp",
        "stale_slip_digest:M1:2027-W07",
    )
    assert (
        mail.subject == "【ASJペイメント・重要】決済確定期限が近い売上伝票がございます（2027年2月15日現在・未確定6件）"
    )
    body = mail.body
    assert body.startswith("M1商店 御中\n\nいつもASJペイメントをご利用いただき、ありがとうございます。\n")
    assert (
        "2027年2月15日現在、入金日から3ヶ月以上、決済確定処理が行われていない売上伝票が\n"
        "6件（合計16,200円）ございます。\n"
        "入金日から6ヶ月の確定期限までであれば、決済確定処理を行うことができます。\n"
        "確定期限の近い順に記載しておりますので、お早めにご確認ください。\n"
    ) in body
    assert (
        "■ 確定期限まで14日以内の伝票（2件・合計6,200円）\n"
        "確定期限が迫っています。期限を過ぎると決済確定処理を行うことができなくなりますので、\n"
        "期限までに必ず決済確定処理を行ってください。\n\n"
        "・伝票番号 2　金額 5,500円　入金日 2026年8月15日　確定期限 2027年2月15日\n"
        "・伝票番号 3　金額 700円　入金日 2026年9月1日　確定期限 2027年3月1日\n"
    ) in body
    assert (
        "■ そのほかの未確定の伝票（4件・合計10,000円）\n\n"
        "・伝票番号 4　金額 1,000円　入金日 2026年9月2日　確定期限 2027年3月2日\n"
        "・伝票番号 9　金額 2,000円　入金日 2026年10月5日　確定期限 2027年4月5日\n"
        "・伝票番号 10　金額 3,000円　入金日 2026年10月5日　確定期限 2027年4月5日\n"
        "・伝票番号 5　金額 4,000円　入金日 2026年11月15日　確定期限 2027年5月15日\n"
    ) in body
    assert (
        "■ 確定期限を過ぎた伝票（1件・合計3,000円）\n"
        "次の伝票は、決済確定処理が行われないまま入金日から6ヶ月の確定期限を過ぎました。\n"
        "入金日から6ヶ月経過した伝票は処理することができないため、これらの伝票の決済確定処理は\n"
        "今後行うことができません。\n\n"
        "・伝票番号 1　金額 3,000円　入金日 2026年8月14日　確定期限 2027年2月14日\n"
    ) in body
    assert (
        "ASJ管理画面 > 売上の管理 にて\n　決済確定状況：未確定\n　取消状況：未キャンセル\nの検索結果にてご確認ください。"
        in body
    )
    assert "入金日から6ヶ月経過した伝票は処理することができませんのでご注意ください。" in body
    assert "決済確定が不要な伝票（キャンセルされたご注文など）は、決済取消を行ってください。" in body
    assert (
        "このお知らせは、決済確定処理がお済みでない伝票がある場合に、毎週1回、週の最初の営業日にお送りしています。\n"
        "決済確定処理または決済取消を行った伝票は、次回以降のお知らせには記載されません。"
    ) in body
    # The sections in that order, nothing else listed.
    assert [line.split("（")[0] for line in body.splitlines() if line.startswith("■")] == [
        "■ 確定期限まで14日以内の伝票",
        "■ そのほかの未確定の伝票",
        "■ 確定期限を過ぎた伝票",
        "■ 該当の伝票の確認方法",
        "■ このお知らせについて",
    ]
    assert len(slip_lines(body)) == 7
    # The digest's record; the expired slip closed, with its event, and listed by this mail.
    with engine.connect() as connection:
        record = connection.execute(select(stale_slip_digests)).one()
        expired = connection.execute(
            select(slips.c.slip_id, slips.c.expired_on, slip_reminders.c.mail_id).join(
                slip_reminders, slip_reminders.c.slip_row_id == slips.c.id
            )
        ).all()
        events = connection.execute(select(slip_events.c.event, slip_events.c.detail)).all()
    assert (record.as_of, record.paid_through, record.mail_id) == (D("2027-02-15"), D("2026-11-15"), mail.mail_id)
    assert (record.open_slips, record.open_amount, record.final_notice_slips, record.expired_slips) == (6, 16200, 2, 1)
    assert [tuple(row) for row in expired] == [("1", D("2027-02-15"), mail.mail_id)]
    assert [tuple(row) for row in events] == [("expired", "confirmation deadline 2027-02-14 passed")]


def test_a_digest_without_final_notices_and_one_of_expired_slips_only(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp", period=MONTHLY)
        add_merchant(connection, "M2", "m2@example.jp", period=DAILY)
        add_slip(connection, "M1", "1", "2026-10-20", 1200)
        add_slip(connection, "M2", "2", "2026-08-01", 800)  # deadline 2/1: expired on 2/2
    run(engine, "2027-02-02")  # Tuesday; February's first business day is Monday 2/1
    monthly, daily = mails(engine)
    # M1: February's digest, stating 2/1, though its first run in February is 2/2.
    assert monthly.subject == "【ASJペイメント】決済確定処理がお済みでない売上伝票のお知らせ（2027年2月1日現在・1件）"
    assert sections(monthly.body) == {OPEN_ONLY: ["1"]}
    assert "■ 未確定の伝票（1件・合計1,200円）" in monthly.body
    assert "毎月1回、月の最初の営業日にお送りしています。" in monthly.body
    # M2: nothing open, one slip expired since: told so, without the admin screen's search.
    assert daily.subject == "【ASJペイメント】決済確定期限を過ぎた売上伝票のお知らせ（1件）"
    assert "決済確定処理が行われないまま確定期限を過ぎた売上伝票がございましたので、お知らせします。" in daily.body
    assert sections(daily.body) == {EXPIRED: ["2"]}
    assert "売上の管理" not in daily.body
    assert "営業日ごとにお送りしています。" in daily.body
    assert digests(engine) == [
        ("M1", "2027-02", "2027-02-01", "2027-02-02"),
        ("M2", "2027-02-02", "2027-02-02", "2027-02-02"),
    ]


# -- one digest per merchant and period --------------------------------------------------------------


def test_every_business_day_of_two_weeks_mails_one_digest_per_merchant_and_week(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        add_merchant(connection, "M2", "m2@example.jp")
        add_merchant(connection, "M3", "m3@example.jp")
        add_slip(connection, "M1", "920", "2026-09-20")  # stale from 2026-12-20
        add_slip(connection, "M1", "1006", "2026-10-06")  # stale from Wednesday 1/6
        add_slip(connection, "M2", "1007", "2026-10-07")  # stale from Thursday 1/7
        add_slip(connection, "M3", "1201", "2026-12-01")  # stale from 3/1: nothing open yet
    days = business_days("2027-01-04", "2027-01-15")
    # 1/11 is 成人の日: the second week starts on Tuesday.
    assert [d.day for d in days] == [4, 5, 6, 7, 8, 12, 13, 14, 15]
    sent = {}
    for day in days:
        before = len(mails(engine))
        run(engine, day)
        sent[day.isoformat()] = [(m.recipient, sections(m.body)) for m in mails(engine)[before:]]
    assert sent == {
        # Monday 1/4 states the slips stale by then (paid by 10/4): M1's 920. M2 has nothing
        # open on 1/4 and gets nothing that week, though 1007 becomes stale on Thursday.
        "2027-01-04": [("m1@example.jp", {OPEN_ONLY: ["920"]})],
        "2027-01-05": [],
        "2027-01-06": [],
        "2027-01-07": [],
        "2027-01-08": [],
        "2027-01-12": [("m1@example.jp", {OPEN_ONLY: ["920", "1006"]}), ("m2@example.jp", {OPEN_ONLY: ["1007"]})],
        "2027-01-13": [],
        "2027-01-14": [],
        "2027-01-15": [],
    }
    assert digests(engine) == [
        ("M1", "2027-W01", "2027-01-04", "2027-01-04"),
        ("M1", "2027-W02", "2027-01-12", "2027-01-12"),
        ("M2", "2027-W02", "2027-01-12", "2027-01-12"),
    ]


def test_a_rerun_a_catch_up_and_a_backfill_send_nothing_twice(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        add_slip(connection, "M1", "1010", "2026-10-10")  # stale from 1/10
        add_slip(connection, "M1", "1020", "2026-10-20")  # stale from 1/20
        add_slip(connection, "M1", "1026", "2026-10-26")  # stale from Tuesday 1/26
    # Monday 1/25's run was missed: Tuesday's run sends the week's digest, stating Monday.
    assert run(engine, "2027-01-26").mails == 1
    assert sections(mails(engine)[0].body) == {OPEN_ONLY: ["1010", "1020"]}
    assert mails(engine)[0].subject.endswith("（2027年1月25日現在・2件）")
    # A re-run, the missed Monday run afterwards, and the rest of the week send nothing.
    for day in ["2027-01-26", "2027-01-25", "2027-01-27", "2027-01-29"]:
        assert run(engine, day).mails == 0, day
    # The next week's digest lists 1026 too.
    run(engine, "2027-02-01")
    # A backfill of an earlier week after later ones ran sends nothing: 1/18's digest would have
    # listed 1010, but the merchant has had a later digest since.
    assert run(engine, "2027-01-20").mails == 0
    assert [(m.dedupe_key, sections(m.body)) for m in mails(engine)] == [
        ("stale_slip_digest:M1:2027-W04", {OPEN_ONLY: ["1010", "1020"]}),
        ("stale_slip_digest:M1:2027-W05", {OPEN_ONLY: ["1010", "1020", "1026"]}),
    ]
    assert digests(engine) == [
        ("M1", "2027-W04", "2027-01-25", "2027-01-26"),
        ("M1", "2027-W05", "2027-02-01", "2027-02-01"),
    ]


def test_a_merchant_with_nothing_open_gets_nothing(engine):
    registered = datetime(2026, 10, 2, 10, 0, tzinfo=UTC)
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp", period=DAILY)
        add_slip(
            connection, "M1", "1", "2026-08-03", confirmed_on=D("2026-10-02"), confirmation_registered_at=registered
        )
        add_slip(connection, "M1", "2", "2026-08-03", cancelled_at=registered)
        add_slip(connection, "M1", "3", "2026-12-10")  # not stale before 3/10
    for day in business_days("2027-03-01", "2027-03-09"):
        summary = run(engine, day)
        assert summary.mails == summary.operator_alerts == 0
    assert digests(engine) == [] and mails(engine) == []
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).where(slips.c.expired_on.is_not(None))).scalar() == 0


def test_daily_weekly_and_monthly_merchants_and_the_global_default(engine):
    with engine.begin() as connection:
        add_merchant(connection, "DAY", "day@example.jp", period=DAILY)
        add_merchant(connection, "WEEK", "week@example.jp", period=WEEKLY)
        add_merchant(connection, "MONTH", "month@example.jp", period=MONTHLY)
        add_merchant(connection, "DEFAULT", "default@example.jp")  # the settings' period: monthly here
        for merchant_id in ("DAY", "WEEK", "MONTH", "DEFAULT"):
            add_slip(connection, merchant_id, "1001", "2026-10-01")
    settings = ReminderSettings(period=MONTHLY, operator_email="ops@kessai.example")
    days = business_days("2027-02-01", "2027-02-12")  # 2/11 is 建国記念の日
    for day in days:
        run(engine, day, settings)
    by_merchant = defaultdict(list)
    for merchant_id, period, _as_of, day in digests(engine):
        by_merchant[merchant_id].append((period, day))
    assert by_merchant == {
        "DAY": [(d.isoformat(), d.isoformat()) for d in days],
        "WEEK": [("2027-W05", "2027-02-01"), ("2027-W06", "2027-02-08")],
        "MONTH": [("2027-02", "2027-02-01")],
        "DEFAULT": [("2027-02", "2027-02-01")],
    }
    assert len(days) == 9 and len(mails(engine)) == 9 + 2 + 1 + 1


def test_an_expired_slip_is_listed_once_in_the_next_digest(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        add_merchant(connection, "M2", "m2@example.jp")
        add_slip(connection, "M1", "815", "2026-08-15")  # deadline Monday 2/15
        add_slip(connection, "M1", "1001", "2026-10-01")  # deadline 4/1
        add_slip(connection, "M2", "816", "2026-08-16")  # deadline Tuesday 2/16
    run(engine, "2027-02-15")
    assert [sections(m.body) for m in mails(engine)] == [
        {FINAL: ["815"], OTHERS: ["1001"]},
        {FINAL: ["816"]},
    ]
    # Tuesday closes 815 (its deadline was Monday) and mails nothing; Wednesday closes 816.
    assert run(engine, "2027-02-16").expired_marked == 1
    assert run(engine, "2027-02-17").expired_marked == 1
    assert len(mails(engine)) == 2
    # The next week's digests list them as expired (2/22 is Monday; 2/23 天皇誕生日).
    run(engine, "2027-02-22")
    m1, m2 = mails(engine)[2:]
    assert sections(m1.body) == {OPEN_ONLY: ["1001"], EXPIRED: ["815"]}
    assert sections(m2.body) == {EXPIRED: ["816"]}
    assert m2.subject == "【ASJペイメント】決済確定期限を過ぎた売上伝票のお知らせ（1件）"
    # And no later one: M2 has nothing left to tell.
    run(engine, "2027-03-01")
    assert [(m.recipient, sections(m.body)) for m in mails(engine)[4:]] == [("m1@example.jp", {OPEN_ONLY: ["1001"]})]
    with engine.connect() as connection:
        told = connection.execute(
            select(slips.c.slip_id, slip_reminders.c.reason, slip_reminders.c.business_date, slip_reminders.c.mail_id)
            .join(slips, slips.c.id == slip_reminders.c.slip_row_id)
            .order_by(slips.c.slip_id)
        ).all()
    assert [tuple(row) for row in told] == [
        ("815", "expired", D("2027-02-16"), m1.mail_id),
        ("816", "expired", D("2027-02-17"), m2.mail_id),
    ]


def test_the_expiry_date_does_not_depend_on_the_run_that_sees_it(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        add_slip(connection, "M1", "1", "2026-08-31")  # deadline 2027-02-28
    # The runs of 3/1 and 3/2 were missed; 3/3 sees the slip first, and the week's digest
    # (stating Monday 3/1) lists it as expired.
    summary = run(engine, "2027-03-03")
    assert summary.expired_marked == 1 and summary.digests["expired_slips"] == 1
    with engine.connect() as connection:
        assert connection.execute(select(slips.c.expired_on)).scalar_one() == D("2027-03-01")
        assert connection.execute(select(slip_events.c.business_date)).scalar_one() == D("2027-03-03")
    assert sections(mails(engine)[0].body) == {EXPIRED: ["1"]}


# -- no stale slip goes unmentioned before it expires -------------------------------------------------


def test_half_a_year_of_runs_mentions_every_stale_slip_before_its_deadline(engine):
    """Every business day from 2026-12-01 to 2027-06-30 (the year end, Golden Week), for a daily, a
    weekly and a monthly merchant with one open slip paid on each day from 2026-06-15 to
    2026-12-31: each slip is stale from 3 months on and expires after 6, all within the half year."""
    calendar = default_calendar()
    settings = ReminderSettings(inline_limit=1000, operator_email="ops@kessai.example")
    paid_days = [D("2026-06-15") + timedelta(days=n) for n in range((D("2026-12-31") - D("2026-06-15")).days + 1)]
    with engine.begin() as connection:
        for period in PERIOD_NAMES:
            add_merchant(connection, period, f"{period}@example.jp", period=period)
        connection.execute(
            insert(slips),
            [
                {
                    "merchant_id": period,
                    "slip_id": paid.strftime("%y%m%d"),
                    "card_company": "jcb",
                    "amount": 1000,
                    "payment_date": paid,
                }
                for period in PERIOD_NAMES
                for paid in paid_days
            ],
        )
    run_days = calendar.business_days(D("2026-12-01"), D("2027-06-30"))
    listed = defaultdict(list)  # (merchant, slip) -> (section, run date) of each digest listing it
    sent = defaultdict(list)  # merchant -> run dates of its digests
    seen = 0
    for day in run_days:
        run(engine, day, settings)
        new = mails(engine)[seen:]
        seen += len(new)
        for mail in new:
            merchant = mail.recipient.split("@")[0]
            sent[merchant].append(day)
            for section, numbers in sections(mail.body).items():
                for number in numbers:
                    listed[(merchant, number)].append((section, day))

    # At most one digest per period, on the period's first business day (no run was missed after
    # the first, Tuesday 12/1, which catches up the week begun on Monday 11/30).
    for period in PERIOD_NAMES:
        keys = [period_of(calendar, period, day).key for day in sent[period]]
        assert len(keys) == len(set(keys)), period
        assert all(period_of(calendar, period, day).as_of == day for day in sent[period][1:]), period
    assert len(sent[DAILY]) == len(run_days) and len(sent[MONTHLY]) == 7
    for merchant in (WEEKLY, MONTHLY):  # never two mails in one week
        assert max(Counter(day.isocalendar()[:2] for day in sent[merchant]).values()) == 1, merchant

    for merchant in PERIOD_NAMES:
        for paid in paid_days:
            number, deadline = paid.strftime("%y%m%d"), confirmation_deadline(paid)
            told = listed[(merchant, number)]
            open_listings = [day for section, day in told if section != EXPIRED]
            expired_listings = [day for section, day in told if section == EXPIRED]
            # Mentioned as open before its deadline, only while stale and open.
            assert open_listings and all(stale_from(paid) <= day <= deadline for day in open_listings), (merchant, paid)
            # Listed as expired exactly once, by the first digest after it expired (if one came).
            after = [day for day in sent[merchant] if day >= expires_on(paid)]
            assert expired_listings == after[:1], (merchant, paid)
            if merchant == MONTHLY:
                # Monthly: the last mention at most 5 weeks before the deadline; at least two
                # mentions of a slip that became stale within the half year.
                assert (deadline - open_listings[-1]).days <= 35, paid
                assert len(open_listings) >= 2 or stale_from(paid) < run_days[0], paid
            else:
                # Daily and weekly: in the final notice of at least one digest before the deadline.
                assert any(section == FINAL for section, _ in told), (merchant, paid)


# -- who gets the mail --------------------------------------------------------------------------


def test_a_merchant_without_a_mail_address_is_reported_to_the_operators(engine, caplog):
    with engine.begin() as connection:
        add_merchant(connection, "M1", None)
        add_merchant(connection, "M2", "   ")  # blank counts as none
        add_merchant(connection, "M3", "m3@example.jp")
        add_slip(connection, "M1", "11", "2026-10-01", amount=1100)
        add_slip(connection, "M2", "21", "2026-10-02", amount=2100)
        add_slip(connection, "M3", "31", "2026-10-03", amount=3100)
    with caplog.at_level(logging.WARNING, logger="kessai.reminders.stale_slips"):
        summary = run(engine, "2027-01-05")  # Tuesday; the week's digests state Monday 1/4
    assert summary.merchants_without_email == ["M1", "M2"]
    assert summary.digests["operator_alerts"] == 2 and summary.digests["mails"] == 1
    assert "merchant M1 (M1商店) has no mail address: its digest of 2027-W01 (1 open, 0 expired slip(s))" in caplog.text
    assert mails(engine, "operator_alert") == []  # held for the operators' digest, not sent alone
    alerts = mails(engine, "operator_notice")
    assert [alert.recipient for alert in alerts] == ["ops@kessai.example"] * 2
    assert alerts[0].subject == (
        "[kessai] メールアドレス未登録の店舗: M1 M1商店（未確定伝票のお知らせ 2027年1月4日現在 未確定1件・期限切れ0件）"
    )
    assert "電話など別の方法で店舗へお伝えのうえ、メールアドレスの登録を依頼してください。" in alerts[0].body
    assert slip_lines(alerts[0].body) == ["・伝票番号 11　金額 1,100円　入金日 2026年10月1日　確定期限 2027年4月1日"]
    assert alerts[0].dedupe_key == "operator_notice:stale_slip_digest:M1:2027-W01"
    assert run(engine, "2027-01-05").merchants_without_email == []

    # The day's one mail to the operators carries both, in full, once.
    now = datetime(2027, 1, 5, 17, 30, tzinfo=JAPAN)
    for _ in range(2):
        with engine.begin() as connection:
            write_operator_digest(
                connection, D("2027-01-05"), default_calendar(), now=now, operator_email="ops@kessai.example"
            )
    [digest] = mails(engine, "operator_digest")
    assert digest.recipient == "ops@kessai.example" and digest.dedupe_key == "operator_digest:2027-01-05"
    assert digest.subject == "[kessai] 運用担当者への本日のお知らせ 2027年1月5日（対応待ち2件）"
    assert "2027年1月5日の時点で、運用担当者の対応が必要な事項をまとめてお知らせします。" in digest.body
    assert "■ メールアドレス未登録の店舗（2件）\n次の店舗にはメールアドレスが登録されていないため、" in digest.body
    assert f"・{alerts[0].subject}\n・{alerts[1].subject}\n" in digest.body
    assert "・伝票番号 11　金額 1,100円　入金日 2026年10月1日　確定期限 2027年4月1日" in digest.body
    assert "・伝票番号 21　金額 2,100円" in digest.body
    assert all(alert.sent_at is not None for alert in mails(engine, "operator_notice"))


def test_a_long_list_goes_as_a_csv_attachment(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        add_merchant(connection, "M2", "m2@example.jp")
        for number, paid in [("3", "2026-10-02"), ("1", "2026-10-01"), ("2", "2026-10-01"), ("4", "2026-07-01")]:
            add_slip(connection, "M1", number, paid, amount=int(number) * 1000)
        add_slip(connection, "M2", "9", "2026-10-01")
        add_slip(connection, "M2", "8", "2026-10-01")
    summary = run(engine, "2027-01-04", ReminderSettings(inline_limit=2))
    assert summary.digests["attachments"] == 1
    long, short = mails(engine)
    # Four slips (one expired) are more than the limit of 2: the list is attached, the body says where.
    assert long.attachment_name == "stale_slip_digest_M1_2027-W01.csv"
    assert list(csv.reader(io.StringIO(long.attachment_content))) == [
        ["区分", "伝票番号", "金額", "入金日", "確定期限"],
        ["未確定", '="1"', "1000", "2026-10-01", "2027-04-01"],  # the slip number stays text in Excel
        ["未確定", '="2"', "2000", "2026-10-01", "2027-04-01"],
        ["未確定", '="3"', "3000", "2026-10-02", "2027-04-02"],
        ["確定期限切れ", '="4"', "4000", "2026-07-01", "2027-01-01"],
    ]
    assert slip_lines(long.body) == []
    assert (
        "対象の伝票は4件です。件数が多いため、一覧（区分・伝票番号・金額・入金日・確定期限）は\n添付のCSVファイル「stale_slip_digest_M1_2027-W01.csv」でお送りします。"
        in long.body
    )
    assert "■ 未確定の伝票（3件・合計6,000円）" in long.body
    assert "確定期限が最も近い伝票の期限は2027年4月1日です。" in long.body
    # Two slips are within the limit: inline.
    assert short.attachment_name is None and len(slip_lines(short.body)) == 2


def test_a_confirmation_after_a_digest_drops_the_slip_from_the_next(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        add_slip(connection, "M1", "1", "2026-10-01")
        add_slip(connection, "M1", "2", "2026-10-02")
    run(engine, "2027-01-04")
    with engine.begin() as connection:
        connection.execute(
            update(slips)
            .where(slips.c.slip_id == "1")
            .values(confirmed_on=D("2027-01-05"), confirmation_registered_at=datetime(2027, 1, 5, 1, tzinfo=UTC))
        )
    run(engine, "2027-01-12")
    assert [sections(m.body) for m in mails(engine)] == [{OPEN_ONLY: ["1", "2"]}, {OPEN_ONLY: ["2"]}]
