"""Stale-slip reminders as plain functions, on SQLite and PostgreSQL, with dates worked by hand."""

from __future__ import annotations

import csv
import io
import logging
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select

from kessai.calendar_store import declare_closure
from kessai.rules import stale_from
from kessai.run_dates import BusinessDateError
from kessai.schema import mail_outbox, merchants, slip_events, slip_reminders, slips, subscriptions
from kessai.stale_slips import (
    EXPIRED,
    FINAL_NOTICE,
    STALE,
    ReminderSettings,
    cutoffs,
    expires_on,
    final_notice_from,
    paid_through,
    remind_stale_slips,
)

D = date.fromisoformat
ONE_DAY = timedelta(days=1)
SETTINGS = ReminderSettings(operator_email="ops@kessai.example")


# -- helpers ------------------------------------------------------------------------------------


def add_merchant(connection, merchant_id: str, email: str | None = None) -> None:
    connection.execute(
        insert(merchants).values(merchant_id=merchant_id, name=f"{merchant_id}商店", email=email)
    )


def add_slip(connection, merchant_id: str, slip_id: str, paid: str | None, amount: int = 1000, **state) -> int:
    return connection.execute(
        insert(slips)
        .values(
            merchant_id=merchant_id,
            slip_id=slip_id,
            card_company="visa_master",
            amount=amount,
            payment_date=D(paid) if paid else None,
            **state,
        )
        .returning(slips.c.id)
    ).scalar_one()


def run(engine, day: str, settings: ReminderSettings = SETTINGS) -> dict:
    with engine.begin() as connection:
        return remind_stale_slips(connection, D(day), settings)


def reminders(engine) -> dict[tuple[str, str], str]:
    """(slip number, reason) -> the business date of the run that told it."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(slips.c.slip_id, slip_reminders.c.reason, slip_reminders.c.business_date).join(
                slips, slips.c.id == slip_reminders.c.slip_row_id
            )
        ).all()
    return {(slip_id, reason): day.isoformat() for slip_id, reason, day in rows}


def mails(engine, kind: str | None = None) -> list:
    with engine.connect() as connection:
        query = select(mail_outbox).order_by(mail_outbox.c.mail_id)
        if kind:
            query = query.where(mail_outbox.c.kind == kind)
        return connection.execute(query).all()


def slip_lines(body: str) -> list[str]:
    return [line for line in body.splitlines() if line.startswith("・伝票番号")]


# -- the cutoffs --------------------------------------------------------------------------------


def test_stale_cutoff_on_month_ends():
    # 11/28, 11/29 and 11/30 + 3 months all clip to 2/28 in a common year, so 2/28 reaches 11/30.
    assert paid_through(stale_from, D("2027-02-28")) == D("2026-11-30")
    assert paid_through(stale_from, D("2027-02-27")) == D("2026-11-27")
    # 2027-02-26 (a Friday) reaches 11/26 only: a slip paid 11/30 is not stale yet.
    assert paid_through(stale_from, D("2027-02-26")) == D("2026-11-26")
    # 3/1 reaches 12/1 (+3 months = 3/1) and nothing of December after.
    assert paid_through(stale_from, D("2027-03-01")) == D("2026-12-01")
    # 2028 is a leap year: 11/28 reaches 2/28, 11/29 and 11/30 reach 2/29.
    assert paid_through(stale_from, D("2028-02-28")) == D("2027-11-28")
    assert paid_through(stale_from, D("2028-02-29")) == D("2027-11-30")
    # 4/30 is reached by 1/30 and by 1/31 (clipped), 5/31 by the whole of February.
    assert paid_through(stale_from, D("2027-04-30")) == D("2027-01-31")
    assert paid_through(stale_from, D("2027-05-31")) == D("2027-02-28")


def test_final_notice_and_expiry_cutoffs_on_month_ends():
    # Paid 2026-08-31: deadline 2027-02-28 (clipped), final notice a month before: 2027-01-28;
    # 8/28-8/31 share that deadline, so 1/28 reaches them all and 1/27 only 8/27.
    assert final_notice_from(D("2026-08-31"), 1) == D("2027-01-28")
    cut = cutoffs(D("2027-01-28"), ReminderSettings())
    assert cut[FINAL_NOTICE] == D("2026-08-31")
    assert cutoffs(D("2027-01-27"), ReminderSettings())[FINAL_NOTICE] == D("2026-08-27")
    # Expired once the run date is past the deadline: 3/1 is past 2/28, the deadline of
    # payments 8/28-8/31; 9/1's deadline is 3/1 itself, so it expires on 3/2.
    assert expires_on(D("2026-08-31")) == D("2027-03-01")
    assert expires_on(D("2026-09-01")) == D("2027-03-02")
    assert cutoffs(D("2027-03-01"), ReminderSettings())[EXPIRED] == D("2026-08-31")
    assert cutoffs(D("2027-02-28"), ReminderSettings())[EXPIRED] == D("2026-08-27")
    assert cutoffs(D("2027-03-02"), ReminderSettings())[EXPIRED] == D("2026-09-01")


@pytest.mark.parametrize("final_notice_months", [0, 1, 3])
def test_cutoffs_are_exactly_the_payment_dates_each_rule_has_reached(final_notice_months):
    rules = {
        STALE: stale_from,
        FINAL_NOTICE: lambda p: final_notice_from(p, final_notice_months),
        EXPIRED: expires_on,
    }
    settings = ReminderSettings(final_notice_months=final_notice_months)
    day = D("2026-01-01")
    while day <= D("2028-12-31"):
        for reason, cutoff in cutoffs(day, settings).items():
            rule = rules[reason]
            assert rule(cutoff) <= day < rule(cutoff + ONE_DAY), (reason, day)
        day += ONE_DAY


# -- settings and run dates ---------------------------------------------------------------------


def test_settings_from_the_environment():
    assert ReminderSettings.from_environment({}) == ReminderSettings(50, 1, "operators@kessai.example")
    assert ReminderSettings.from_environment(
        {
            "KESSAI_STALE_SLIP_INLINE_LIMIT": "10",
            "KESSAI_STALE_SLIP_FINAL_NOTICE_MONTHS": "2",
            "KESSAI_OPERATOR_EMAIL": "ops@kessai.example",
        }
    ) == ReminderSettings(10, 2, "ops@kessai.example")
    with pytest.raises(ValueError, match="KESSAI_STALE_SLIP_INLINE_LIMIT='many'"):
        ReminderSettings.from_environment({"KESSAI_STALE_SLIP_INLINE_LIMIT": "many"})
    # A final notice 4 months before the deadline would come before the slip is even stale.
    with pytest.raises(ValueError, match="KESSAI_STALE_SLIP_FINAL_NOTICE_MONTHS=4: expected 0 to 3"):
        ReminderSettings.from_environment({"KESSAI_STALE_SLIP_FINAL_NOTICE_MONTHS": "4"})


def test_a_weekend_is_refused_and_a_declared_closure_does_nothing(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        add_slip(connection, "M1", "1", "2026-11-20")
        # 2027-02-26 (Fri) declared closed: nothing happens; Monday 3/1 claims the slip.
        declare_closure(connection, D("2027-02-26"), "system maintenance")
    # 2027-02-28 is a Sunday; the next business day is Monday 3/1.
    with pytest.raises(BusinessDateError, match=r"2027-02-28 is not a business day in Japan \(Sunday\).*2027-03-01"):
        run(engine, "2027-02-28")
    assert run(engine, "2027-02-26") == {
        "business_date": "2027-02-26",
        "closed": "2027-02-26 was declared closed (臨時休業日): no reminders today; the next run claims them",
    }
    assert reminders(engine) == {} and mails(engine) == []
    run(engine, "2027-03-01")
    assert reminders(engine) == {("1", STALE): "2027-03-01"}


# -- stale reminders ----------------------------------------------------------------------------


def test_the_three_month_boundary_on_month_ends(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        for number, paid in enumerate(["2026-11-26", "2026-11-27", "2026-11-30", "2026-12-01", "2026-12-02"], 1):
            add_slip(connection, "M1", str(number), paid, amount=1000 * number)
    # 2027-02-26 (Fri) reaches payments up to 11/26; 11/30 + 3 months = 2/28 is still ahead.
    first = run(engine, "2027-02-26")
    assert first[STALE] == {
        "slips": 1, "amount": 1000, "merchants": 1, "mails": 1, "operator_alerts": 0, "attachments": 0,
    }
    # 2/27 and 2/28 are the weekend: Monday 3/1 reaches 11/27, 11/30 (2/28) and 12/1 (3/1).
    run(engine, "2027-03-01")
    assert reminders(engine) == {
        ("1", STALE): "2027-02-26",
        ("2", STALE): "2027-03-01",
        ("3", STALE): "2027-03-01",
        ("4", STALE): "2027-03-01",
    }
    second = mails(engine)[1]
    assert (second.kind, second.recipient) == ("stale_slip_reminder", "m1@example.jp")
    assert second.subject == "【ASJペイメント】決済確定処理がお済みでない売上伝票のお知らせ（3件）"
    # Soonest deadline first: 11/27 -> 5/27, 11/30 -> 5/30, 12/1 -> 6/1.
    assert slip_lines(second.body) == [
        "・伝票番号 2　金額 2,000円　入金日 2026年11月27日　確定期限 2027年5月27日",
        "・伝票番号 3　金額 3,000円　入金日 2026年11月30日　確定期限 2027年5月30日",
        "・伝票番号 4　金額 4,000円　入金日 2026年12月1日　確定期限 2027年6月1日",
    ]
    assert "M1商店 御中" in second.body
    assert "ASJ管理画面 > 売上の管理 にて\n　決済確定状況：未確定\n　取消状況：未キャンセル\n" in second.body
    assert "入金日から6ヶ月経過した伝票は処理することができませんのでご注意ください。" in second.body


def test_one_mail_per_merchant_with_its_own_slips_in_deadline_order(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        add_merchant(connection, "M2", "m2@example.jp")
        # Slip numbers are strings of digits: 9 comes before 10 on the same payment date.
        add_slip(connection, "M1", "10", "2026-10-05")
        add_slip(connection, "M1", "9", "2026-10-05")
        add_slip(connection, "M1", "1", "2026-10-20")
        add_slip(connection, "M1", "2", "2026-10-01")
        add_slip(connection, "M2", "000123456789012345", "2026-10-10", amount=1234567)
    summary = run(engine, "2027-01-20")  # a Wednesday; reaches payments up to 2026-10-20
    assert summary[STALE]["merchants"] == 2 and summary["mails"] == 2
    first, second = mails(engine)
    assert first.recipient == "m1@example.jp"
    assert [line.split("　")[0] for line in slip_lines(first.body)] == [
        "・伝票番号 2", "・伝票番号 9", "・伝票番号 10", "・伝票番号 1",
    ]
    assert second.recipient == "m2@example.jp"
    assert slip_lines(second.body) == [
        "・伝票番号 000123456789012345　金額 1,234,567円　入金日 2026年10月10日　確定期限 2027年4月10日"
    ]


def test_confirmed_cancelled_and_unpaid_slips_are_never_reminded(engine):
    registered = datetime(2026, 10, 2, 10, 0, tzinfo=timezone.utc)
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        connection.execute(
            insert(subscriptions).values(
                subscription_id="S1", merchant_id="M1", card_token="tok", amount=500
            )
        )
        add_slip(connection, "M1", "1", "2026-08-03", confirmed_on=D("2026-10-02"), confirmation_registered_at=registered)
        add_slip(connection, "M1", "2", "2026-08-03", cancelled_at=registered)
        # A recurring slip whose charge failed: no payment date, nothing to confirm.
        add_slip(connection, "M1", "3", None, subscription_id="S1", billing_month=D("2026-08-01"))
    # 2027-03-03 (Wed) is past every rule for a payment of 2026-08-03.
    summary = run(engine, "2027-03-03")
    assert reminders(engine) == {} and mails(engine) == []
    assert summary["mails"] == summary["operator_alerts"] == 0
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).where(slips.c.expired_on.is_not(None))).scalar() == 0


def test_a_rerun_mails_nothing_twice_and_a_slip_loaded_late_gets_its_own_mail(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        add_slip(connection, "M1", "1", "2026-10-01")
    run(engine, "2027-01-04")  # Monday; reaches 2026-10-04
    again = run(engine, "2027-01-04")
    assert again[STALE]["slips"] == 0 and len(mails(engine)) == 1
    # A slip paid 10/2 arrives late from the online side; a re-run of the same day tells it alone.
    with engine.begin() as connection:
        add_slip(connection, "M1", "2", "2026-10-02")
    run(engine, "2027-01-04")
    first, second = mails(engine)
    assert [line.split("　")[0] for line in slip_lines(second.body)] == ["・伝票番号 2"]
    assert first.dedupe_key != second.dedupe_key
    assert reminders(engine) == {("1", STALE): "2027-01-04", ("2", STALE): "2027-01-04"}


def test_a_backfill_day_by_day_reminds_each_slip_once(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        day = D("2026-11-20")
        while day <= D("2026-12-03"):
            add_slip(connection, "M1", day.strftime("%m%d"), day.isoformat())
            day += ONE_DAY
    # The business days of the missed week and after: 2/23 is 天皇誕生日, 2/27-2/28 a weekend.
    for day in ["2027-02-22", "2027-02-24", "2027-02-25", "2027-02-26", "2027-03-01", "2027-03-02", "2027-03-03"]:
        run(engine, day)
    told = reminders(engine)
    expected = {
        # The first run reaches everything up to 11/22.
        **{(f"11{d}", STALE): "2027-02-22" for d in ("20", "21", "22")},
        ("1123", STALE): "2027-02-24",  # reached on the holiday, claimed by the next run
        ("1124", STALE): "2027-02-24",
        ("1125", STALE): "2027-02-25",
        ("1126", STALE): "2027-02-26",
        # 11/27 reaches 2/27, 11/28-11/30 reach 2/28, 12/1 reaches 3/1.
        **{(f"11{d}", STALE): "2027-03-01" for d in ("27", "28", "29", "30")},
        ("1201", STALE): "2027-03-01",
        ("1202", STALE): "2027-03-02",
        ("1203", STALE): "2027-03-03",
    }
    assert told == expected
    assert len(mails(engine)) == 7  # one per run
    # Re-running any day of the backfill afterwards finds nothing new.
    for day in ["2027-02-25", "2027-03-01"]:
        assert run(engine, day)[STALE]["slips"] == 0
    assert reminders(engine) == expected and len(mails(engine)) == 7


def test_a_backfill_of_an_earlier_day_after_a_later_one_finds_nothing(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        add_slip(connection, "M1", "1", "2026-11-24")
        add_slip(connection, "M1", "2", "2026-11-30")
        add_slip(connection, "M1", "3", "2026-08-31")
    run(engine, "2027-03-01")
    assert reminders(engine) == {("1", STALE): "2027-03-01", ("2", STALE): "2027-03-01", ("3", EXPIRED): "2027-03-01"}
    # The missed 2/24 (Wed) is backfilled afterwards: slip 1 was stale then, slip 3 due its final
    # notice, but 3/1 has told them already (slip 3 its expiry, a later reason).
    summary = run(engine, "2027-02-24")
    assert [summary[reason]["slips"] for reason in (STALE, FINAL_NOTICE, EXPIRED)] == [0, 0, 0]
    assert len(mails(engine)) == 2


# -- final notice and expiry ------------------------------------------------------------------------


def test_a_final_notice_a_month_before_the_deadline(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        add_slip(connection, "M1", "1", "2026-08-31", amount=5500)
        add_slip(connection, "M1", "2", "2026-08-31", amount=700)
    run(engine, "2026-11-30")  # Monday; 8/31 + 3 months
    with engine.begin() as connection:  # slip 2 is confirmed in the meantime
        connection.execute(
            slips.update()
            .where(slips.c.slip_id == "2")
            .values(confirmed_on=D("2026-12-01"), confirmation_registered_at=datetime(2026, 12, 1, tzinfo=timezone.utc))
        )
    # Deadline 2027-02-28, a month before: 1/28 (Thu). 1/27 has nothing to tell.
    assert run(engine, "2027-01-27")[FINAL_NOTICE]["slips"] == 0
    summary = run(engine, "2027-01-28")
    assert summary[FINAL_NOTICE] == {
        "slips": 1, "amount": 5500, "merchants": 1, "mails": 1, "operator_alerts": 0, "attachments": 0,
    }
    assert run(engine, "2027-01-29")[FINAL_NOTICE]["slips"] == 0
    assert reminders(engine) == {
        ("1", STALE): "2026-11-30", ("2", STALE): "2026-11-30", ("1", FINAL_NOTICE): "2027-01-28",
    }
    notice = mails(engine, "stale_slip_final_notice")[0]
    assert notice.subject == "【ASJペイメント・重要】決済確定期限が近づいている売上伝票のお知らせ（1件）"
    assert slip_lines(notice.body) == ["・伝票番号 1　金額 5,500円　入金日 2026年8月31日　確定期限 2027年2月28日"]
    assert "決済確定状況：未確定" in notice.body


def test_a_slip_first_seen_near_its_deadline_gets_the_final_notice_only(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        add_slip(connection, "M1", "1", "2026-08-10")  # deadline 2027-02-10, final notice from 1/10
    run(engine, "2027-01-12")  # Tuesday (1/11 成人の日)
    run(engine, "2027-01-13")
    assert reminders(engine) == {("1", FINAL_NOTICE): "2027-01-12"}
    # With the final notice on the deadline day itself, that day is a stale reminder's.
    with engine.begin() as connection:
        add_slip(connection, "M1", "2", "2026-08-12")  # deadline 2027-02-12 (Fri)
    run(engine, "2027-02-10", ReminderSettings(final_notice_months=0))
    assert reminders(engine)[("2", STALE)] == "2027-02-10"
    run(engine, "2027-02-12", ReminderSettings(final_notice_months=0))
    assert reminders(engine)[("2", FINAL_NOTICE)] == "2027-02-12"


def test_expiry_the_day_after_the_deadline(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        add_slip(connection, "M1", "1", "2026-08-28", amount=3000)  # deadline 2027-02-28 (Sun)
        add_slip(connection, "M1", "2", "2026-08-31", amount=4000)  # deadline 2027-02-28 (clipped)
        add_slip(connection, "M1", "3", "2026-09-01", amount=5000)  # deadline 2027-03-01 (Mon)
    run(engine, "2027-02-26")  # Friday: final notices for all three (from 1/28 and 2/1)
    # Monday 3/1 is past the deadline of 1 and 2, and the deadline day of 3 (still confirmable).
    summary = run(engine, "2027-03-01")
    assert summary[EXPIRED] == {
        "slips": 2, "amount": 7000, "merchants": 1, "mails": 1, "operator_alerts": 0, "attachments": 0,
    }
    run(engine, "2027-03-02")
    run(engine, "2027-03-03")
    with engine.connect() as connection:
        expired = dict(connection.execute(select(slips.c.slip_id, slips.c.expired_on)).all())
        events = connection.execute(
            select(slips.c.slip_id, slip_events.c.event, slip_events.c.business_date, slip_events.c.detail)
            .join(slips, slips.c.id == slip_events.c.slip_row_id)
            .order_by(slips.c.slip_id)
        ).all()
    assert expired == {"1": D("2027-03-01"), "2": D("2027-03-01"), "3": D("2027-03-02")}
    assert [tuple(event) for event in events] == [
        ("1", "expired", D("2027-03-01"), "confirmation deadline 2027-02-28 passed"),
        ("2", "expired", D("2027-03-01"), "confirmation deadline 2027-02-28 passed"),
        ("3", "expired", D("2027-03-02"), "confirmation deadline 2027-03-01 passed"),
    ]
    told = reminders(engine)
    assert [told[(n, EXPIRED)] for n in "123"] == ["2027-03-01", "2027-03-01", "2027-03-02"]
    expired_mails = mails(engine, "stale_slip_expired")
    assert len(expired_mails) == 2
    assert expired_mails[0].subject == "【ASJペイメント】決済確定期限を過ぎた売上伝票のお知らせ（2件）"
    assert slip_lines(expired_mails[0].body) == [
        "・伝票番号 1　金額 3,000円　入金日 2026年8月28日　確定期限 2027年2月28日",
        "・伝票番号 2　金額 4,000円　入金日 2026年8月31日　確定期限 2027年2月28日",
    ]


def test_the_expiry_date_does_not_depend_on_the_run_that_sees_it(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        add_slip(connection, "M1", "1", "2026-08-31")  # deadline 2027-02-28
    # The runs of 3/1 and 3/2 were missed; 3/3 sees the slip first.
    summary = run(engine, "2027-03-03")
    assert summary[EXPIRED]["slips"] == 1 and summary[STALE]["slips"] == summary[FINAL_NOTICE]["slips"] == 0
    with engine.connect() as connection:
        assert connection.execute(select(slips.c.expired_on)).scalar_one() == D("2027-03-01")
        assert connection.execute(select(slip_events.c.business_date)).scalar_one() == D("2027-03-03")
    assert reminders(engine) == {("1", EXPIRED): "2027-03-03"}


# -- who gets the mail --------------------------------------------------------------------------


def test_a_merchant_without_a_mail_address_is_reported_to_the_operators(engine, caplog):
    with engine.begin() as connection:
        add_merchant(connection, "M1", None)
        add_merchant(connection, "M2", "   ")  # blank counts as none
        add_merchant(connection, "M3", "m3@example.jp")
        add_slip(connection, "M1", "11", "2026-10-01", amount=1100)
        add_slip(connection, "M2", "21", "2026-10-02", amount=2100)
        add_slip(connection, "M3", "31", "2026-10-03", amount=3100)
    with caplog.at_level(logging.WARNING, logger="kessai.stale_slips"):
        summary = run(engine, "2027-01-05")  # Tuesday; reaches 2026-10-05
    assert summary["merchants_without_email"] == ["M1", "M2"]
    assert summary[STALE]["operator_alerts"] == 2 and summary[STALE]["mails"] == 1
    assert "merchant M1 (M1商店) has no mail address: 1 stale slip(s)" in caplog.text
    alerts = mails(engine, "operator_alert")
    assert [alert.recipient for alert in alerts] == ["ops@kessai.example"] * 2
    assert alerts[0].subject == "[kessai] メールアドレス未登録の店舗: M1 M1商店（未確定伝票のお知らせ 1件）"
    assert slip_lines(alerts[0].body) == ["・伝票番号 11　金額 1,100円　入金日 2026年10月1日　確定期限 2027年4月1日"]
    # Each reminder names the mail that told it: the alert for M1 and M2, the merchant's for M3.
    with engine.connect() as connection:
        told = dict(
            connection.execute(
                select(slips.c.slip_id, mail_outbox.c.recipient)
                .join(slip_reminders, slip_reminders.c.slip_row_id == slips.c.id)
                .join(mail_outbox, mail_outbox.c.mail_id == slip_reminders.c.mail_id)
            ).all()
        )
    assert told == {"11": "ops@kessai.example", "21": "ops@kessai.example", "31": "m3@example.jp"}
    assert run(engine, "2027-01-05")["merchants_without_email"] == []


def test_a_long_list_goes_as_a_csv_attachment(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        add_merchant(connection, "M2", "m2@example.jp")
        for number, paid in [("3", "2026-10-02"), ("1", "2026-10-01"), ("2", "2026-10-01")]:
            add_slip(connection, "M1", number, paid, amount=int(number) * 1000)
        add_slip(connection, "M2", "9", "2026-10-01")
        add_slip(connection, "M2", "8", "2026-10-01")
    summary = run(engine, "2027-01-05", ReminderSettings(inline_limit=2))
    assert summary[STALE]["attachments"] == 1
    long, short = mails(engine)
    # Three slips are more than the limit of 2: the list is attached, the body says where.
    assert long.attachment_name == "stale_slip_reminder_M1_20270105.csv"
    assert list(csv.reader(io.StringIO(long.attachment_content))) == [
        ["伝票番号", "金額", "入金日", "確定期限"],
        ['="1"', "1000", "2026-10-01", "2027-04-01"],  # the slip number stays text in Excel
        ['="2"', "2000", "2026-10-01", "2027-04-01"],
        ['="3"', "3000", "2026-10-02", "2027-04-02"],
    ]
    assert slip_lines(long.body) == []
    assert "対象の伝票は3件です。" in long.body and "stale_slip_reminder_M1_20270105.csv" in long.body
    assert "確定期限が最も近い伝票の期限は2027年4月1日です。" in long.body
    # Two slips are within the limit: inline.
    assert short.attachment_name is None and len(slip_lines(short.body)) == 2
