"""`python -m kessai explain`: every date of a slip with the rule that set it, on SQLite and
PostgreSQL, in English and Japanese. The facts are made by the real jobs' package functions
(transmission, closing, transfer files, the recurring charge through the simulator, the stale-slip
reminder); the dates are worked out by hand in each test's docstring."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import update

from kessai.calendar.store import load_calendar
from kessai.cli import main
from kessai.db.schema import merchants, slips
from kessai.explain.explanation import SlipAmbiguous, SlipNotFound, explain_slip, render_text
from kessai.gateway.card_gateway import SimulatorGateway
from kessai.payout.closing import run_payout_closing
from kessai.payout.transfer_files import run_payout_transfer_files
from kessai.recurring.charge import ChargeOptions, charge_cycle
from kessai.recurring.cycle import ChargeCycle
from kessai.recurring.failures import notify_failures
from kessai.recurring.slips import create_recurring_slips
from kessai.reminders.stale_slips import ReminderSettings, remind_stale_slips
from kessai.transmission.daily import run_transmission
from kessai.transmission.files import Destination
from support.payout_builders import add_bank_account, add_merchant, at
from support.recurring_charge_data import add_subscription, clock, japan_time, slip_rows
from support.slip_builders import add_slip
from support.transmission_builders import add_confirmed

D = date.fromisoformat
REMITTER = {
    "REMITTER_CODE": "1234567890",
    "NAME": "カ）ケッサイ",
    "BANK_CODE": "0005",
    "BANK_NAME": "ミツビシユーエフジェイ",
    "BRANCH_CODE": "001",
    "BRANCH_NAME": "ホンテン",
    "ACCOUNT_TYPE": "checking",
    "ACCOUNT_NUMBER": "7777777",
}


@pytest.fixture
def remitter(monkeypatch):
    for name, value in REMITTER.items():
        monkeypatch.setenv(f"KESSAI_ZENGIN_{name}", value)


def explain(engine, slip_id: str, lang: str = "en", merchant_id: str | None = None):
    with engine.connect() as connection:
        return explain_slip(connection, slip_id, merchant_id=merchant_id, calendar=load_calendar(connection), lang=lang)


def by_key(explanation) -> dict[str, list]:
    found: dict[str, list] = {}
    for step in explanation.steps:
        found.setdefault(step.key, []).append(step)
    return found


def one(explanation, key: str):
    (step,) = by_key(explanation)[key]
    return step


def add_shop(connection, merchant_id: str, cycle: str, **columns) -> None:
    add_merchant(
        connection,
        merchant_id,
        cycle,
        name_kana="ミセ",
        name_en="Shop",
        email=f"{merchant_id.lower()}@shop.example",
        **columns,
    )
    add_bank_account(connection, merchant_id, at("2026-01-01"))


# -- a one-off slip paid -------------------------------------------------------------------------


def one_off_paid(engine, tmp_path) -> None:
    """A twice-monthly merchant M1.

    1001, 5,000 yen paid Sun 2026-12-20, registered Wed 2026-12-30 14:05: sent Mon 2027-01-04 (12/31
    and 1/1-1/3 bank holidays, 1/1 元日, 1/2-1/3 the weekend); closing Thu 12/31 (the first on or
    after 12/30); paid on the 10th of the next month, Sun 1/10, rolled back over the weekend to Fri
    1/8; in the transfer file the run of Wed 1/6 builds (1/8 is within its next two business days).

    1002, 3,000 yen, registered 12/30 too, but written after the closing of 12/31 had run: it
    goes to the first closing still open, Fri 1/15 (paid Mon 1/25), and, due on 1/4, it goes out
    late with the run of Tue 1/5.
    """
    destination = Destination.from_url(str(tmp_path / "transmissions"))
    with engine.begin() as connection:
        add_shop(connection, "M1", "twice_monthly")
        add_confirmed(connection, "1001", "2026-12-30 14:05", merchant_id="M1", amount=5000, paid="2026-12-20")
    run_transmission(engine, D("2027-01-04"), destination)
    run_payout_closing(engine, D("2026-12-31"))
    run_payout_transfer_files(engine, D("2027-01-06"), tmp_path / "home")
    with engine.begin() as connection:
        add_confirmed(connection, "1002", "2026-12-30 15:00", merchant_id="M1", amount=3000, paid="2026-12-20")
        connection.execute(update(slips).where(slips.c.slip_id == "1002").values(created_at=at("2027-01-05", "09:00")))
    run_transmission(engine, D("2027-01-05"), destination)
    run_payout_closing(engine, D("2027-01-15"))


def test_a_one_off_slip_paid(engine, tmp_path, remitter):
    one_off_paid(engine, tmp_path)
    explanation = explain(engine, "1001")
    assert (explanation.merchant_id, explanation.kind, explanation.amount) == ("M1", "one_off", 5000)
    assert [step.key for step in explanation.steps] == [
        "payment_date",
        "confirmation",
        "deadline",
        "transmission",
        "closing",
        "statement",
        "payout",
        "transfer",
        "stale",
        "expiry",
    ]
    assert one(explanation, "payment_date").value == "2026-12-20 (Sun)"
    confirmation = one(explanation, "confirmation")
    assert confirmation.value == "registered 2026-12-30 14:05 JST; confirmed_on 2026-12-30 (Wed)"
    assert confirmation.rule == "takes effect on max(registered 2026-12-30, confirmed_on 2026-12-30) = 2026-12-30 (Wed)"
    assert one(explanation, "deadline").value == "2027-06-20 (Sun)"  # 12/20 + 6 months
    transmission = one(explanation, "transmission")
    assert (transmission.value, transmission.state) == ("2027-01-04 (Mon)", "done")
    assert transmission.rule.startswith(
        "next_business_day(max(registered 2026-12-30, confirmed_on 2026-12-30)) = 2027-01-04 (Mon): skipped "
        "12/31-1/3 bank holidays; 1/1 元日 (national holiday); 1/2-1/3 the weekend; sent on 2027-01-04 in batch #"
    )
    assert "to visa_master, file VM_20270104.csv (#1, 1 slip)" in transmission.rule
    closing = one(explanation, "closing")
    assert (closing.value, closing.state) == ("2026-12-31 (Thu)", "done")
    assert closing.rule == (
        "twice_monthly (closes on the 15th and the last day of each month): the first closing on or after "
        "max(registered, confirmed_on) = 2026-12-30 is 2026-12-31"
    )
    statement = one(explanation, "statement")
    assert statement.value.endswith(": 1 slip, gross 5,000 yen, net 5,000 yen")
    assert "the slip is on its line visa_master / bank account 0001-001 1234567 (1 slip, 5,000 yen)" in statement.rule
    payout = one(explanation, "payout")
    assert (payout.value, payout.state) == ("2027-01-08 (Fri)", "done")
    assert payout.rule == (
        "closing 2026-12-31 (twice_monthly) is paid on the 10th of the next month: 2027-01-10 (Sun), no business day "
        "(1/9-1/10 the weekend): moved to the previous business day, 2027-01-08 (Fri)"
    )
    transfer = one(explanation, "transfer")
    assert transfer.state == "done" and transfer.value.startswith("in file sogofurikomi-20270108-01.txt (built ")
    assert transfer.rule == "5,000 yen to 0001-001 1234567 on 2027-01-08"
    stale = one(explanation, "stale")
    assert (stale.value, stale.state) == ("2027-03-20 (Sat)", "info")
    assert stale.rule.endswith("confirmed on 2026-12-30, before it: never stale")
    assert one(explanation, "expiry").value == "does not apply"

    japanese = explain(engine, "1001", "ja")
    assert [step.key for step in japanese.steps] == [step.key for step in explanation.steps]
    assert [step.state for step in japanese.steps] == [step.state for step in explanation.steps]
    assert [step.title for step in japanese.steps] == [
        "入金日",
        "決済確定",
        "確定期限",
        "送信日（利用日）",
        "締め日",
        "支払明細",
        "支払予定日",
        "振込",
        "督促対象日",
        "失効",
    ]
    assert one(japanese, "confirmation").value == "確定処理日 2026-12-30 14:05（日本時間）、決済確定日 2026-12-30(水)"
    assert one(japanese, "transmission").rule.startswith(
        "max(確定処理日 2026-12-30, 決済確定日 2026-12-30) の翌営業日 = 2027-01-04(月)："
        "12/31-1/3 銀行休業日、1/1 元日(祝日)、1/2-1/3 土日を除く。"
    )
    assert one(japanese, "closing").rule == (
        "月2回入金（15日・月末締め）：max(確定処理日, 決済確定日) = 2026-12-30 以後最初の締め日 = 2026-12-31"
    )
    assert one(japanese, "payout").rule == (
        "締め日 2026-12-31（月2回入金）は翌月10日払い：2027-01-10(日)、営業日でない（1/9-1/10 土日）ため前営業日 2027-01-08(金)"
    )
    assert one(japanese, "transfer").value.startswith("振込ファイル sogofurikomi-20270108-01.txt（")


def test_a_slip_written_after_its_closing_ran_and_sent_late(engine, tmp_path, remitter):
    one_off_paid(engine, tmp_path)
    explanation = explain(engine, "1002")
    transmission = one(explanation, "transmission")
    # Due Mon 1/4 (as 1001); the row came after that run: sent with the next, Tue 1/5, a business day late.
    assert (
        transmission.value
        == "2027-01-05 (Tue) (late by 1 business days: its transmission day was missed: it went with the next run)"
    )
    assert transmission.rule.startswith(
        "next_business_day(max(registered 2026-12-30, confirmed_on 2026-12-30)) = 2027-01-04 (Mon)"
    )
    closing = one(explanation, "closing")
    assert (closing.value, closing.state) == ("2027-01-15 (Fri)", "done")
    assert "is 2026-12-31; written after closing 2026-12-31 had run (" in closing.rule
    assert closing.rule.endswith("): it went to the first closing still open, 2027-01-15 (paid late, not lost)")
    payout = one(explanation, "payout")
    assert (payout.value, payout.state) == ("2027-01-25 (Mon)", "pending")  # no transfer file built yet
    assert payout.rule == "closing 2027-01-15 (twice_monthly) is paid on the 25th of the same month: 2027-01-25 (Mon)"
    assert one(explanation, "transfer").value == "not in a file yet"
    japanese = explain(engine, "1002", "ja")
    assert one(japanese, "transmission").value == "2027-01-05(火)（1営業日遅れ：送信日の処理がなく次の処理で送信）"
    assert "。締め処理 2026-12-31（" in one(japanese, "closing").rule
    assert one(japanese, "closing").rule.endswith(
        "実行）の後に登録されたため、未実行の最初の締め日 2027-01-15 に入りました（遅れて支払）"
    )


# -- a slip held back -----------------------------------------------------------------------------


def held_back(engine, tmp_path) -> Destination:
    """A monthly merchant M2. 2001, 10,000 yen, card company `discover` (unknown), paid Mon
    2027-01-18, registered Wed 1/20: due Thu 1/21, held back by that run; the closing of Sun 1/31
    holds it back (due by 1/31, not sent) and moves it to Sun 2/28."""
    destination = Destination.from_url(str(tmp_path / "transmissions"))
    with engine.begin() as connection:
        add_shop(connection, "M2", "monthly")
        add_confirmed(
            connection,
            "2001",
            "2027-01-20 10:00",
            merchant_id="M2",
            amount=10_000,
            card_company="discover",
            paid="2027-01-18",
        )
    run_transmission(engine, D("2027-01-21"), destination)
    run_payout_closing(engine, D("2027-01-15"))
    run_payout_closing(engine, D("2027-01-31"))
    return destination


def test_a_slip_held_back_at_transmission_and_at_the_closing(engine, tmp_path):
    destination = held_back(engine, tmp_path)
    explanation = explain(engine, "2001")
    assert [step.key for step in explanation.steps] == [
        "payment_date",
        "confirmation",
        "deadline",
        "transmission",
        "hold",
        "closing",
        "hold",
        "statement",
        "payout",
        "stale",
        "expiry",
    ]
    transmission = one(explanation, "transmission")
    assert (transmission.value, transmission.state) == ("due 2027-01-21 (Thu); not sent", "held")
    transmission_hold, closing_hold = by_key(explanation)["hold"]
    assert (transmission_hold.value, transmission_hold.state) == ("held back: unknown_card_company", "held")
    assert transmission_hold.rule == (
        "the transmission run of 1/21 held it back (unknown_card_company: its card company discover is not in "
        "card_companies): one bad slip never blocks a day; not sent yet: correct it and the next run sends it (late)"
    )
    closing = one(explanation, "closing")
    assert (closing.value, closing.state) == ("2027-02-28 (Sun)", "pending")
    assert closing.rule == (
        "monthly (closes on the last day of each month): the first closing on or after max(registered, confirmed_on) = "
        "2027-01-20 is 2027-01-31; held back at closing 2027-01-31 (below): moved to 2027-02-28"
    )
    assert (closing_hold.value, closing_hold.state) == ("held back at 2027-01-31: unknown_card_company", "held")
    assert closing_hold.rule == (
        "due to go out by the closing (transmission date 2027-01-21) but not sent by 2027-01-31 (its card company is "
        "not in card_companies): nothing is paid that did not go to a card company; moved to the merchant's next "
        "closing, 2027-02-28"
    )
    assert (one(explanation, "statement").value, one(explanation, "statement").state) == ("not issued yet", "pending")
    assert one(explanation, "payout").value == "2027-03-25 (Thu)"  # February's closing: the 25th of March

    japanese = explain(engine, "2001", "ja")
    assert one(japanese, "transmission").value == "予定 2027-01-21(木)、未送信"
    assert [step.value for step in by_key(japanese)["hold"]] == [
        "保留：unknown_card_company",
        "2027-01-31 の締めで保留：unknown_card_company",
    ]
    assert one(japanese, "closing").rule.endswith("。締め 2027-01-31 で保留（下記）：2027-02-28 に移動")

    # Corrected, it goes out on Wed 2/3, nine business days late, and is paid with February's closing.
    with engine.begin() as connection:
        connection.execute(update(slips).where(slips.c.slip_id == "2001").values(card_company="visa_master"))
    run_transmission(engine, D("2027-02-03"), destination)
    run_payout_closing(engine, D("2027-02-15"))
    run_payout_closing(engine, D("2027-02-28"))
    explanation = explain(engine, "2001")
    transmission = one(explanation, "transmission")
    assert (transmission.value, transmission.state) == (
        "2027-02-03 (Wed) (late by 9 business days: held back first (below))",
        "done",
    )
    transmission_hold, closing_hold = by_key(explanation)["hold"]
    assert transmission_hold.state == "done" and transmission_hold.rule.endswith("; sent on 2027-02-03 once corrected")
    assert (one(explanation, "closing").value, one(explanation, "closing").state) == ("2027-02-28 (Sun)", "done")
    assert (closing_hold.value, closing_hold.state) == ("held back at 2027-01-31: unknown_card_company", "done")
    statement = one(explanation, "statement")
    assert statement.value.endswith(": 1 slip, gross 10,000 yen, net 10,000 yen")
    assert statement.rule.endswith("; paid late: the line counts it among 1 slips held back by an earlier closing")


# -- a recurring slip failed ----------------------------------------------------------------------


FEBRUARY = ChargeCycle(D("2027-02-01"), D("2027-03-01"))


def test_a_recurring_slip_failed(engine):
    """February 2027 is charged on Mon 3/1 (2/27-2/28 the weekend); the issuer declines the card:
    the slip keeps an empty payment date, the month closes with it failed, the merchant gets its
    notice and the customer a re-payment request."""
    with engine.begin() as connection:
        connection.execute(
            merchants.insert().values(
                merchant_id="M3", name="テスト商店M3", email="m3@merchant.example", repayment_mail_enabled=True
            )
        )
        add_subscription(
            connection, "S-DECLINE", "M3", token="tok_decline_1", amount=3300, created_at=japan_time(2027, 1, 2)
        )
        create_recurring_slips(connection, FEBRUARY)
    with engine.connect() as connection:
        charge_cycle(connection, FEBRUARY, SimulatorGateway(), clock=clock, options=ChargeOptions(concurrency=1))
    with engine.begin() as connection:
        notify_failures(connection, FEBRUARY, clock=clock)
        slip_id = slip_rows(connection, D("2027-02-01"))["S-DECLINE"]["slip_id"]

    explanation = explain(engine, slip_id)
    assert explanation.kind == "recurring"
    assert [step.key for step in explanation.steps] == [
        "billing_month",
        "charge",
        "charge_attempt",
        "payment_date",
        "charge_failed",
        "mail",
        "mail",
    ]
    assert one(explanation, "billing_month").value == "2027-02"
    charge = one(explanation, "charge")
    assert (charge.value, charge.state) == ("2027-03-01 (Mon)", "done")
    assert charge.rule == "business_day_on_or_after(2027-02-27) = 2027-03-01 (Mon): skipped 2/27-2/28 the weekend"
    attempt = one(explanation, "charge_attempt")
    assert (attempt.title, attempt.value, attempt.state) == (
        "Charge attempt 1",
        "declined by the issuer (card_declined)",
        "failed",
    )
    failed = one(explanation, "charge_failed")
    assert (failed.value, failed.state) == ("failed: card_declined", "failed")
    assert failed.rule.startswith("the charge of 2027-02 closed at ")
    request, notice = by_key(explanation)["mail"]  # in the order written
    assert notice.title == "Failure notice to the merchant" and notice.value.endswith(
        "in the outbox, not sent yet (m3@merchant.example)"
    )
    assert request.title == "Re-payment request to the customer"
    assert request.value.endswith("(s-decline@customer.example)") and request.state == "pending"
    payment = one(explanation, "payment_date")
    assert (payment.value, payment.state) == ("not paid", "failed")

    japanese = explain(engine, slip_id, "ja")
    assert one(japanese, "billing_month").value == "2027年2月分"
    assert (
        one(japanese, "charge").rule
        == "請求月の27日（2027-02-27）、営業日でなければ翌営業日 = 2027-03-01(月)：2/27-2/28 土日を除く"
    )
    assert one(japanese, "charge_attempt").value == "カード会社が承認せず (card_declined)"
    assert [step.title for step in by_key(japanese)["mail"]] == [
        "再決済のお願い（注文者あて）",
        "決済失敗のお知らせ（店舗あて）",
    ]
    assert one(japanese, "payment_date").value == "未入金"


# -- an expired slip ------------------------------------------------------------------------------


def test_an_expired_slip(engine):
    """Paid Tue 2026-06-30, never confirmed: stale from 9/30, deadline 12/30, expired from Thu 12/31
    (a bank holiday: the first run after, Mon 2027-01-04, marks it). The weekly digest of Mon
    12/21 lists it as open, a final notice (the deadline 9 days away); that of Mon 1/4 (2027-W01)
    as expired."""
    settings = ReminderSettings(operator_email="ops@kessai.example")
    with engine.begin() as connection:
        add_shop(connection, "M4", "monthly")
        add_slip(connection, "4001", D("2026-06-30"), merchant_id="M4", amount=1200)
    for day in ("2026-12-21", "2027-01-04"):
        with engine.begin() as connection:
            remind_stale_slips(connection, D(day), settings)

    explanation = explain(engine, "4001")
    assert [step.key for step in explanation.steps] == [
        "payment_date",
        "confirmation",
        "deadline",
        "stale",
        "expiry",
        "mail",
        "mail",
    ]
    assert (one(explanation, "confirmation").value, one(explanation, "confirmation").state) == (
        "not confirmed",
        "failed",
    )
    deadline = one(explanation, "deadline")
    assert deadline.value == "2026-12-30 (Wed)"
    assert deadline.rule.startswith("payment date 2026-06-30 + 6 months = 2026-12-30")
    stale = one(explanation, "stale")
    assert (stale.value, stale.state) == ("2026-09-30 (Wed)", "done")
    expiry = one(explanation, "expiry")
    assert (expiry.value, expiry.state) == ("2026-12-31 (Thu)", "failed")
    assert expiry.rule == (
        "the day after the deadline 2026-12-30: it can no longer be confirmed; marked expired by the reminder run of 2027-01-04"
    )
    open_digest, expired_digest = by_key(explanation)["mail"]
    assert open_digest.rule == (
        "digest 2026-W52 as of 2026-12-21 (the run of 2026-12-21): listed as open, deadline 2026-12-30 "
        "(a final notice: within 14 days)"
    )
    assert expired_digest.rule == "digest 2027-W01 as of 2027-01-04 (the run of 2027-01-04): listed as expired"
    assert open_digest.state == expired_digest.state == "pending"  # in the outbox: mail_delivery sends them

    japanese = explain(engine, "4001", "ja")
    assert one(japanese, "expiry").title == "失効" and one(japanese, "expiry").value == "2026-12-31(木)"
    assert [step.rule for step in by_key(japanese)["mail"]] == [
        "2026-W52（2026-12-21 時点、2026-12-21 の処理）：未確定として記載、確定期限 2026-12-30（最終のお知らせ：14日以内）",
        "2027-W01（2027-01-04 時点、2027-01-04 の処理）：失効した伝票として記載",
    ]


# -- look-up and the command line ------------------------------------------------------------------


def two_merchants_one_number(engine) -> None:
    with engine.begin() as connection:
        for merchant_id in ("M1", "M2"):
            add_shop(connection, merchant_id, "monthly")
            add_slip(connection, "777", D("2027-01-05"), merchant_id=merchant_id, amount=800)


def test_a_number_at_several_merchants_needs_the_merchant(engine):
    two_merchants_one_number(engine)
    with pytest.raises(
        SlipAmbiguous, match=r"^slip number 777 exists at 2 merchants \(M1, M2\): say which with --merchant$"
    ):
        explain(engine, "777")
    assert explain(engine, "777", merchant_id="M2").merchant_id == "M2"
    with pytest.raises(SlipNotFound, match="^slip 778 not found at any of the 2 merchants"):
        explain(engine, "778")
    with pytest.raises(SlipNotFound, match="^slip 777 not found at merchant M9"):
        explain(engine, "777", merchant_id="M9")
    with pytest.raises(SlipNotFound, match="a slip number is 1 to 18 digits"):
        explain(engine, "12a")


def test_the_command(business, capsys):
    two_merchants_one_number(business)
    assert main(["explain", "777", "--merchant", "M1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("slip 777 of merchant M1 (one-off, 800 yen, visa_master)\n")
    assert "\n[pending] Confirmation" in text
    assert "\n[info]    Confirmation deadline  2027-07-05 (Mon)\n" in text

    assert main(["explain", "777", "--merchant", "M1", "--lang", "ja"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("店舗 M1 の伝票 777（通常、800円、visa_master）\n")
    assert "\n[参考] 確定期限    2027-07-05(月)\n" in text

    assert main(["explain", "777", "--merchant", "M1", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["merchant_id"], document["slip_id"], document["kind"]) == ("M1", "777", "one_off")
    assert document["steps"][0] == {
        "key": "payment_date",
        "title": "Payment date",
        "value": "2027-01-05 (Tue)",
        "rule": "the day the card payment was authorised (written by the online side)",
        "state": "done",
    }

    assert main(["explain", "777"]) == 1
    captured = capsys.readouterr()
    assert captured.err == "error: slip number 777 exists at 2 merchants (M1, M2): say which with --merchant\n"
    assert main(["explain", "999"]) == 1
    assert capsys.readouterr().err == "error: slip 999 not found at any of the 2 merchants: check the slip number\n"


def test_render_text_aligns_one_block_a_step(engine):
    two_merchants_one_number(engine)
    lines = render_text(explain(engine, "777", merchant_id="M1")).splitlines()
    blocks = [lines[i : i + 3] for i in range(2, len(lines), 3)]
    value_column = {block[0].index(block[0].split("  ")[-1].strip()) for block in blocks}
    rule_column = {len(block[1]) - len(block[1].lstrip()) for block in blocks}
    assert len(value_column) == 1 and rule_column == value_column


def test_a_backdated_confirmation_an_adjustment_and_a_cancellation(engine):
    """A monthly merchant M5 (the FAQ's case). 5001, paid Sun 2027-01-10, 5,000 yen changed to
    4,000 on 1/20, confirmed on Mon 2/1 with the date 1/31: it counts from 2/1, so toward the
    February-end closing, paid Thu 3/25; sent Tue 2/2. 5002 is cancelled on 1/15."""
    from kessai.slips.operations import cancel_slip, change_amount, confirm_slip
    from support.slip_builders import jst

    with engine.begin() as connection:
        add_shop(connection, "M5", "monthly")
        add_slip(connection, "5001", D("2027-01-10"), merchant_id="M5", amount=5000)
        add_slip(connection, "5002", D("2027-01-10"), merchant_id="M5", amount=700)
        change_amount(connection, "M5", "5001", 4000, jst("2027-01-20", "11:00"))
        confirm_slip(connection, "M5", "5001", D("2027-01-31"), jst("2027-02-01", "10:00"))
        cancel_slip(connection, "M5", "5002", jst("2027-01-15", "09:30"))

    explanation = explain(engine, "5001")
    assert [step.key for step in explanation.steps] == [
        "payment_date",
        "confirmation",
        "deadline",
        "transmission",
        "closing",
        "statement",
        "payout",
        "stale",
        "expiry",
        "adjustment",
    ]
    assert one(explanation, "confirmation").rule == (
        "takes effect on max(registered 2027-02-01, confirmed_on 2027-01-31) = 2027-02-01 (Mon); confirmed_on is "
        "backdated: it counts from its registration, 2027-02-01"
    )
    transmission = one(explanation, "transmission")
    assert (transmission.value, transmission.state) == ("due 2027-02-02 (Tue); not sent", "pending")
    closing = one(explanation, "closing")
    assert (closing.value, closing.state) == ("2027-02-28 (Sun)", "pending")
    assert closing.rule.endswith(
        "is 2027-02-28; its backdated confirmed_on alone would give 2027-01-31, but it was registered after that "
        "closing: it counts toward the next one"
    )
    assert one(explanation, "payout").value == "2027-03-25 (Thu)"
    adjustment = one(explanation, "adjustment")
    assert (adjustment.value, adjustment.rule) == (
        "5,000 yen → 4,000 yen",
        "changed at 2027-01-20 11:00 JST, before confirmation (a confirmed slip's amount can no longer change)",
    )
    assert one(explain(engine, "5001", "ja"), "closing").rule.endswith(
        "。過去日付の決済確定日だけなら 2027-01-31 ですが、その締め日の後に確定処理したため次の締めに入ります"
    )

    cancelled = explain(engine, "5002")
    assert [step.key for step in cancelled.steps] == ["payment_date", "cancellation", "deadline", "stale", "expiry"]
    assert one(cancelled, "cancellation").value == "2027-01-15 09:30 JST"
    assert one(cancelled, "stale").rule.endswith("; cancelled on 2027-01-15, before it")
    assert one(cancelled, "expiry").value == "does not apply"


def test_a_slip_closed_under_the_merchant_s_former_cycle(engine, tmp_path):
    """M6, twice-monthly, has 6001 registered Tue 2027-01-05, sent Wed 1/6, closed on Fri 1/15
    (paid Mon 1/25); then it turns monthly: by today's settings the rule gives 1/31, and 1/15 is no
    closing date of its cycle. Both are said; the statement's payout date is shown."""
    with engine.begin() as connection:
        add_shop(connection, "M6", "twice_monthly")
        add_confirmed(connection, "6001", "2027-01-05 10:00", merchant_id="M6", paid="2027-01-04")
    run_transmission(engine, D("2027-01-06"), Destination.from_url(str(tmp_path / "transmissions")))
    run_payout_closing(engine, D("2027-01-15"))
    with engine.begin() as connection:
        connection.execute(update(merchants).where(merchants.c.merchant_id == "M6").values(payout_cycle="monthly"))
    explanation = explain(engine, "6001")
    closing = one(explanation, "closing")
    assert (closing.value, closing.state) == ("2027-01-15 (Fri)", "done")
    assert closing.rule.endswith(
        "is 2027-01-31; it carries 2027-01-15: its merchant's cycle has changed since, or it carried a closing date "
        "without belonging to it and was moved to a later closing"
    )
    payout = one(explanation, "payout")
    assert payout.value == "2027-01-25 (Mon)"
    assert payout.rule.startswith("2027-01-15 is no closing date of the merchant's cycle now (monthly)")


def test_a_slip_held_back_for_many_days_names_the_first_and_last_run(engine, tmp_path):
    """2001 (held_back above) held by the runs of Thu 1/21, Fri 1/22, Mon 1/25 ... Thu 1/28: six
    runs, said as a range."""
    destination = held_back(engine, tmp_path)
    for day in ("2027-01-22", "2027-01-25", "2027-01-26", "2027-01-27", "2027-01-28"):
        run_transmission(engine, D(day), destination)
    transmission_hold, _ = by_key(explain(engine, "2001"))["hold"]
    assert transmission_hold.rule.startswith("the transmission runs of 6 days, 1/21 to 1/28 held it back (")
    transmission_hold, _ = by_key(explain(engine, "2001", "ja"))["hold"]
    assert transmission_hold.rule.startswith("1/21～1/28（6回） の送信処理で保留（")
