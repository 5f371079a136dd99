"""The operators' daily holds report (kessai.transmission.holds_report), on SQLite and PostgreSQL:
its content (new holds by reason and merchant, holds older than 5 business days), one mail per
business day whatever the re-runs, and no mail without holds.

The business days worked by hand: Monday 2027-01-04 (12/31-1/3 are bank holidays), 1/5, 1/6, 1/7,
Friday 1/8, Tuesday 1/12 (Monday 1/11 is 成人の日), 1/13."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kessai.calendar.store import prepare_calendar
from kessai.cli import main
from kessai.db.schema import mail_outbox
from kessai.transmission.daily import run_transmission
from kessai.transmission.files import Destination
from kessai.transmission.holds_report import HoldGroup, enqueue_holds_report, holds_report
from support.transmission_builders import D, add_confirmed, add_merchant

BIGINT_MAX = 9_223_372_036_854_775_807
OPERATORS = "ops@kessai.example"
DAYS = ["2027-01-04", "2027-01-05", "2027-01-06", "2027-01-07", "2027-01-08", "2027-01-12", "2027-01-13"]


@pytest.fixture
def destination(tmp_path) -> Destination:
    return Destination.from_url(str(tmp_path / "transmissions"))


@pytest.fixture
def held_slips(engine):
    """M1 (named) and M2 (no English name) with:
    1  M1  2^63-1 yen              due 1/4, held from 1/4: amount_out_of_range
    2  M2  1,000 yen               due 1/4, held from 1/4: merchant_without_store_names
    3  M1  1,000 yen               due 1/4, sent 1/4
    4  M1  12,345 yen, nicos       registered Thursday 1/7 -> due Friday 1/8, held from 1/8: unknown_card_company
    5  M2  2,000 yen               registered Tuesday 1/12 -> due 1/13, held from 1/13
    6  M1  500 yen, nicos          registered 1/12 -> due 1/13, held from 1/13"""
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_merchant(connection, "M2", name_en=None)
        add_confirmed(connection, "1", "2026-12-30 10:00", amount=BIGINT_MAX)
        add_confirmed(connection, "2", "2026-12-30 10:00", merchant_id="M2")
        add_confirmed(connection, "3", "2026-12-30 10:00")
        add_confirmed(connection, "4", "2027-01-07 10:00", amount=12_345, card_company="nicos")
        add_confirmed(connection, "5", "2027-01-12 10:00", amount=2000, merchant_id="M2")
        add_confirmed(connection, "6", "2027-01-12 11:00", amount=500, card_company="nicos")
    return engine


def run_day(engine, destination, day: str) -> int | None:
    """The DAG's steps for one business day, without Airflow: transmit, then the report."""
    run_transmission(engine, D(day), destination)
    with engine.begin() as connection:
        return enqueue_holds_report(connection, D(day), prepare_calendar(connection), OPERATORS)


def reports(engine) -> list[tuple[str, str, str, str]]:
    o = mail_outbox.c
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(o.dedupe_key, o.recipient, o.subject, o.body)
                .where(o.kind == "transmission_holds_report")
                .order_by(o.mail_id)
            )
        ]


def test_new_holds_by_reason_and_merchant_and_the_holds_older_than_5_business_days(held_slips, destination):
    for day in DAYS:
        run_day(held_slips, destination, day)

    with held_slips.connect() as connection:
        calendar = prepare_calendar(connection)
        first = holds_report(connection, D("2027-01-04"), calendar)
        fifth = holds_report(connection, D("2027-01-12"), calendar)
        last = holds_report(connection, D("2027-01-13"), calendar)

    # 1/4: slips 1 and 2 are new; nothing is old. 5 business days before 1/4: 12/30, 12/29, 12/28,
    # 12/25, 12/24.
    assert (first.held_count, first.new_count, first.aged_count, first.aged_before) == (2, 2, 0, D("2026-12-24"))
    assert first.new == [
        HoldGroup("amount_out_of_range", "M1", "店舗M1", 1, BIGINT_MAX, D("2027-01-04"), 0),
        HoldGroup("merchant_without_store_names", "M2", "店舗M2", 1, 1000, D("2027-01-04"), 0),
    ]
    # 1/12: held since 1/4 is 5 business days (1/5, 1/6, 1/7, 1/8, 1/12): not more than 5 yet.
    assert (fifth.held_count, fifth.new_count, fifth.aged_count, fifth.aged_before) == (3, 0, 0, D("2027-01-04"))
    # 1/13: slips 1 and 2 held 6 business days (1/5, 1/6, 1/7, 1/8, 1/12, 1/13): first held before
    # 1/5, the 5th business day before 1/13. Slip 4, held since 1/8, for 2 (1/12, 1/13): not old.
    assert (last.held_count, last.new_count, last.aged_count, last.aged_before) == (5, 2, 2, D("2027-01-05"))
    assert last.new == [
        HoldGroup("merchant_without_store_names", "M2", "店舗M2", 1, 2000, D("2027-01-13"), 0),
        HoldGroup("unknown_card_company", "M1", "店舗M1", 1, 500, D("2027-01-13"), 0),
    ]
    assert last.aged == [
        HoldGroup("amount_out_of_range", "M1", "店舗M1", 1, BIGINT_MAX, D("2027-01-04"), 6),
        HoldGroup("merchant_without_store_names", "M2", "店舗M2", 1, 1000, D("2027-01-04"), 6),
    ]
    assert last.reasons == ["amount_out_of_range", "merchant_without_store_names", "unknown_card_company"]


def test_the_mail_of_a_day_says_what_is_held_and_what_to_do(held_slips, destination):
    for day in DAYS:
        run_day(held_slips, destination, day)

    mails = reports(held_slips)
    assert [key for key, *_ in mails] == [f"transmission_holds_report:{day}" for day in DAYS]
    assert {recipient for _, recipient, *_ in mails} == {OPERATORS}
    _, _, subject, body = mails[-1]
    assert subject == "[kessai] 送信保留の伝票があります (2027-01-13: 保留 5件、うち新規 2件、5営業日超 2件)"
    assert "2027-01-13 のカード会社への売上送信 (card_transmission) で、5件の伝票を" in body
    new, aged = body.split("■ 本日の新規保留 (new holds): 2件\n")[1].split("■ 5営業日を超えて保留中の伝票")
    assert new.splitlines()[:4] == [
        "  理由: 加盟店の店舗名 (name / name_kana / name_en) が未設定 (merchant_without_store_names)",
        "    M2 店舗M2: 1件 2,000円",
        "  理由: カード会社が card_companies に未登録 (unknown_card_company)",
        "    M1 店舗M1: 1件 500円",
    ]
    assert aged.splitlines()[:6] == [
        " (held more than 5 business days, still unsent): 2件",
        "  (2027-01-05 より前から保留されている伝票です。早めに対処してください。)",
        "  理由: 金額が 1円〜KESSAI_MAX_SLIP_AMOUNT の範囲外 (amount_out_of_range)",
        "    M1 店舗M1: 1件 9,223,372,036,854,775,807円 / 保留開始 2027-01-04 (6営業日)",
        "  理由: 加盟店の店舗名 (name / name_kana / name_en) が未設定 (merchant_without_store_names)",
        "    M2 店舗M2: 1件 1,000円 / 保留開始 2027-01-04 (6営業日)",
    ]
    what_to_do = body.split("■ 対処方法 (what to do)\n")[1]
    assert "加盟店に正しい金額を確認してください。" in what_to_do
    assert "card_companies に行を追加して" in what_to_do
    assert "python -m kessai holds-report 2027-01-13" in body
    # A day with old holds only: nothing new, said so.
    _, _, subject, body = mails[1]
    assert subject == "[kessai] 送信保留の伝票があります (2027-01-05: 保留 2件、うち新規 0件、5営業日超 0件)"
    assert "  本日新たに保留となった伝票はありません。" in body


def test_one_report_per_business_day_whatever_the_reruns_and_backfills(held_slips, destination):
    for day in DAYS[:3]:
        first = run_day(held_slips, destination, day)
    before = reports(held_slips)

    # Re-runs of 1/6 and a backfill of 1/4 after 1/6: the same mail ids, nothing new.
    assert run_day(held_slips, destination, "2027-01-06") == first
    run_day(held_slips, destination, "2027-01-04")
    assert reports(held_slips) == before and len(before) == 3


def test_no_holds_no_mail(engine, destination):
    with engine.begin() as connection:
        add_merchant(connection)
        add_confirmed(connection, "1", "2026-12-30 10:00")

    assert run_day(engine, destination, "2027-01-04") is None
    assert run_day(engine, destination, "2027-01-05") is None  # nothing at all to send
    assert reports(engine) == []


def test_the_holds_report_command(held_slips, database_url, destination, monkeypatch, capsys):
    monkeypatch.setenv("KESSAI_DATABASE_URL", database_url)
    run_transmission(held_slips, D("2027-01-04"), destination)
    run_transmission(held_slips, D("2027-01-05"), destination)

    assert main(["holds-report", "2027-01-04"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("[kessai] 送信保留の伝票があります (2027-01-04: 保留 2件、うち新規 2件、5営業日超 0件)\n\n")
    assert "    M1 店舗M1: 1件 9,223,372,036,854,775,807円" in out
    assert reports(held_slips) == []  # printed, not mailed
    assert main(["holds-report", "2027-01-06"]) == 0  # not transmitted yet
    assert capsys.readouterr().out == "the transmission of 2027-01-06 held no slip back: no holds report\n"


def test_every_hold_reason_has_its_words_and_its_action_in_the_report():
    from pathlib import Path

    from kessai.transmission.daily import HOLD_REASONS

    template = (
        Path(__file__).resolve().parents[2] / "plugins/kessai/templates/mail/transmission_holds_report.txt"
    ).read_text()
    labels, actions = template.split("{%- set actions", 1)
    for reason in HOLD_REASONS:
        assert f'"{reason}":' in labels and f'"{reason}":' in actions, reason
