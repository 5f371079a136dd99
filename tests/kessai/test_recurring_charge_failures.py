"""Detection of the failed recurring charges by their empty payment date, the merchants' failure
notices and the customers' re-payment requests in the outbox, once (SPEC §4.3), on SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from sqlalchemy import insert, select, update

from kessai.db.schema import charge_attempts, merchants, recurring_charge_cycles, slips, subscriptions
from kessai.gateway.card_gateway import SimulatorGateway
from kessai.recurring.charge import ChargeFaults, ChargeOptions, charge_cycle
from kessai.recurring.cycle import ChargeCycle
from kessai.recurring.failures import notify_failures
from kessai.recurring.slips import create_recurring_slips
from support.excel_csv import read_as_excel
from support.recurring_charge_data import (
    add_merchant,
    add_subscription,
    attempt_rows,
    clock,
    japan_time,
    outbox_rows,
    slip_rows,
)

D = date.fromisoformat
# 2027-02-27 is a Saturday: February 2027 is charged on Monday 2027-03-01.
FEBRUARY = ChargeCycle(D("2027-02-01"), D("2027-03-01"))
OPTIONS = ChargeOptions(concurrency=2, batch_size=10)


def seed_and_charge(engine) -> None:
    """M1 (re-payment mails on): two paid, two declined, one declined without customer mail,
    one stopped after its slip was made. M2 (mails off): one declined. M3: all paid."""
    with engine.begin() as connection:
        add_merchant(connection, "M1", repayment_mail=True)
        add_merchant(connection, "M2")
        add_merchant(connection, "M3")
        add_subscription(connection, "S-OK1", "M1", token="tok_ok_1", amount=1200, created_at=japan_time(2027, 1, 1))
        add_subscription(
            connection, "S-DECLINE", "M1", token="tok_decline_1", amount=3300, created_at=japan_time(2027, 1, 2)
        )
        add_subscription(
            connection, "S-DECLINE2", "M1", token="tok_decline_4", amount=4400, created_at=japan_time(2027, 1, 3)
        )
        add_subscription(
            connection,
            "S-NOMAIL",
            "M1",
            token="tok_decline_2",
            amount=500,
            created_at=japan_time(2027, 1, 4),
            customer_email=None,
        )
        add_subscription(connection, "S-STOPPED", "M1", token="tok_ok_2", amount=800, created_at=japan_time(2027, 1, 5))
        add_subscription(
            connection, "S-OK2", "M1", token="tok_timeout_1", amount=2000, created_at=japan_time(2027, 1, 6)
        )
        add_subscription(connection, "S-M2", "M2", token="tok_decline_3", amount=10000)
        add_subscription(connection, "S-M3", "M3", token="tok_ok_3", amount=600)
        create_recurring_slips(connection, FEBRUARY)
        connection.execute(
            update(subscriptions).where(subscriptions.c.subscription_id == "S-STOPPED").values(status="stopped")
        )
    with engine.connect() as connection:
        charge_cycle(connection, FEBRUARY, SimulatorGateway(), clock=clock, options=OPTIONS)


def notify(engine):
    with engine.begin() as connection:
        return notify_failures(connection, FEBRUARY, clock=clock)


def test_failures_are_the_slips_without_payment_date_and_each_gets_its_mail_once(engine):
    seed_and_charge(engine)
    summary = notify(engine)
    assert summary.as_dict() == {
        "billing_month": "2027-02",
        "charge_date": "2027-03-01",
        # Paid: S-OK1 1200, S-OK2 2000 (its timeout settled by lookup), S-M3 600.
        "slip_count": 8,
        "paid_count": 3,
        "paid_amount": 1200 + 2000 + 600,
        # Failed: S-DECLINE 3300, S-DECLINE2 4400, S-NOMAIL 500, S-STOPPED 800, S-M2 10000.
        "failed_count": 5,
        "failed_amount": 3300 + 4400 + 500 + 800 + 10000,
        "failed_by_reason": {"card_declined": 4, "subscription_stopped": 1},
        "merchant_notices": 2,  # M1 and M2; M3 had no failure
        "repayment_requests": 2,  # M1's S-DECLINE and S-DECLINE2: S-NOMAIL has no address, S-STOPPED stopped
        "merchants_without_email": [],
        "customers_without_email": 1,
        "bad_link_templates": [],
    }
    with engine.connect() as connection:
        mails = outbox_rows(connection)
    assert [(m["kind"], m["recipient"], m["dedupe_key"]) for m in mails] == [
        (
            "recurring_repayment_request",
            "s-decline@customer.example",
            "recurring_repayment_request:M1:900000000002202702",
        ),
        (
            "recurring_repayment_request",
            "s-decline2@customer.example",
            "recurring_repayment_request:M1:900000000003202702",
        ),
        ("recurring_charge_failure", "m1@merchant.example", "recurring_charge_failure:M1:2027-02"),
        ("recurring_charge_failure", "m2@merchant.example", "recurring_charge_failure:M2:2027-02"),
    ]
    notice = mails[2]
    assert notice["subject"] == "【ASJペイメント】定期購入・継続課金の決済に失敗した伝票のお知らせ（2027年2月分・4件）"
    assert "テスト商店M1 御中" in notice["body"]
    assert "2027年3月1日に定期購入・継続課金（2027年2月分）の決済処理を行いましたが" in notice["body"]
    assert "次の4件、合計9,000円の伝票は決済に失敗しました" in notice["body"]
    assert "・伝票番号 900000000002202702　金額 3,300円　カード会社が決済を承認しませんでした\n" in notice["body"]
    assert "・伝票番号 900000000003202702　金額 4,400円　カード会社が決済を承認しませんでした\n" in notice["body"]
    assert "・伝票番号 900000000005202702　金額 800円　継続課金が停止されているため決済していません\n" in notice["body"]
    assert "900000000001202702" not in notice["body"]  # paid
    assert "注文者の方2名には、ASJペイメントから再決済のお願いをお送りしました" in notice["body"]
    assert "再決済のお願いをお送りしました" not in mails[3]["body"]  # M2 did not enable it
    assert notice["attachment_name"] == "recurring_charge_failures_M1_202702.csv"
    table = list(csv.reader(io.StringIO(notice["attachment_content"])))
    assert table[0] == [
        "伝票番号",
        "継続課金ID",
        "請求月",
        "決済日",
        "金額",
        "カード会社",
        "カード番号",
        "注文者メールアドレス",
        "失敗理由",
        "理由コード",
        "決済回数",
    ]
    assert table[1][5:8] == ["Visa/Mastercard", "************4242", "s-decline@customer.example"]
    assert [row[:5] + row[8:] for row in table[1:]] == [
        [
            '="900000000002202702"',
            "S-DECLINE",
            "2027-02",
            "2027-03-01",
            "3300",
            "カード会社が決済を承認しませんでした",
            "card_declined",
            "1",
        ],
        [
            '="900000000003202702"',
            "S-DECLINE2",
            "2027-02",
            "2027-03-01",
            "4400",
            "カード会社が決済を承認しませんでした",
            "card_declined",
            "1",
        ],
        [
            '="900000000004202702"',
            "S-NOMAIL",
            "2027-02",
            "2027-03-01",
            "500",
            "カード会社が決済を承認しませんでした",
            "card_declined",
            "1",
        ],
        [
            '="900000000005202702"',
            "S-STOPPED",
            "2027-02",
            "2027-03-01",
            "800",
            "継続課金が停止されているため決済していません",
            "subscription_stopped",
            "0",
        ],
    ]
    # Opened in Excel, the 18-digit slip numbers stay what they are (not 9.00000000000220E+17).
    excel = read_as_excel(notice["attachment_content"].encode())
    assert [row[0] for row in excel[1:]] == [
        "900000000002202702",
        "900000000003202702",
        "900000000004202702",
        "900000000005202702",
    ]
    request = mails[0]
    assert request["subject"] == "【テスト商店M1】2027年2月分のお支払いについてのお願い"
    assert "ご注文番号: 900000000002202702" in request["body"] and "ご請求額  : 3,300円" in request["body"]
    assert "お問い合わせ先: テスト商店M1（m1@merchant.example）" in request["body"]
    # No link template, no instructions: the customer is asked to re-pay through the merchant.
    assert "テスト商店M1へ再決済のお手続きをお願いいたします。" in request["body"]
    assert "https://" not in request["body"]
    assert request["attachment_name"] is None

    # The cycle is closed with its totals; a re-run writes no mail and charges nothing.
    again = notify(engine)
    assert again.cycle_closed is True and again.failed_count == 5 and again.paid_amount == 3800
    with engine.connect() as connection:
        assert outbox_rows(connection) == mails
        closed = connection.execute(select(recurring_charge_cycles)).mappings().one()
        assert (closed["charge_date"], closed["slip_count"], closed["failed_amount"]) == (D("2027-03-01"), 8, 19000)
        attempts = attempt_rows(connection)
        assert charge_cycle(connection, FEBRUARY, SimulatorGateway(), clock=clock, options=OPTIONS).cycle_closed
        assert create_recurring_slips(connection, FEBRUARY).cycle_closed
        assert attempt_rows(connection) == attempts


def test_the_online_first_slip_of_the_month_is_not_the_batch_s_and_is_not_counted(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_subscription(connection, "S-NEW", "M1", created_at=japan_time(2027, 2, 10), amount=900)
        # The online side's first slip of February, paid at sign-up.
        connection.execute(
            insert(slips).values(
                slip_id="123",
                merchant_id="M1",
                card_company="visa_master",
                amount=900,
                payment_date=D("2027-02-10"),
                subscription_id="S-NEW",
                billing_month=D("2027-02-01"),
            )
        )
        assert create_recurring_slips(connection, FEBRUARY).created == 0
    summary = notify(engine)
    assert (summary.slip_count, summary.failed_count, summary.merchant_notices) == (0, 0, 0)


def test_no_failure_is_notified_while_a_charge_outcome_is_unknown(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_subscription(connection, "S1", "M1")
        create_recurring_slips(connection, FEBRUARY)
        slip_row_id = slip_rows(connection, FEBRUARY.billing_month)["S1"]["id"]
        # A run died after writing its pending attempt.
        connection.execute(
            insert(charge_attempts).values(
                slip_row_id=slip_row_id,
                billing_month=FEBRUARY.billing_month,
                charge_date=FEBRUARY.charge_date,
                attempt_number=1,
                idempotency_key="recurring:M1:900000000001202702:2027-02",
                outcome="pending",
                started_at=clock(),
            )
        )
    with pytest.raises(
        ChargeFaults,
        match=r"1 slip\(s\) without a final outcome \(0 to be charged again .* 1 whose outcome is unknown\)",
    ):
        notify(engine)
    with engine.connect() as connection:
        assert outbox_rows(connection) == []
        assert connection.execute(select(recurring_charge_cycles)).all() == []


def test_a_gateway_fault_is_no_card_failure_and_keeps_the_month_open(engine):
    """The simulator's tok_error_ card: a server error every time. Its slip is charged again by each
    run and never announced failed; the decline beside it waits for it."""
    with engine.begin() as connection:
        add_merchant(connection, "M1", repayment_mail=True)
        add_subscription(
            connection, "S-DECLINE", "M1", token="tok_decline_1", amount=3300, created_at=japan_time(2027, 1, 1)
        )
        add_subscription(
            connection, "S-ERROR", "M1", token="tok_error_1", amount=4400, created_at=japan_time(2027, 1, 2)
        )
        create_recurring_slips(connection, FEBRUARY)
    for run in (1, 2):
        with engine.connect() as connection, pytest.raises(ChargeFaults) as raised:
            charge_cycle(connection, FEBRUARY, SimulatorGateway(), clock=clock, options=OPTIONS)
        assert str(raised.value).startswith(
            "billing month 2027-02: 1 slip(s) have no final outcome because of card gateway faults "
            "(1 to be charged again, 0 whose outcome the gateway has not confirmed yet). This run: "
            f"{2 if run == 1 else 1} charge(s) sent, 0 succeeded, {1 if run == 1 else 0} declined, "
            "faults: server_error_500 1; 0 held back. No customer or merchant was told anything"
        )
        with pytest.raises(ChargeFaults, match=r"1 slip\(s\) without a final outcome \(1 to be charged again"):
            notify(engine)
    with engine.connect() as connection:
        attempts = [
            (a["subscription_id"], a["attempt_number"], a["outcome"], a["reason"]) for a in attempt_rows(connection)
        ]
        assert outbox_rows(connection) == []
        assert connection.execute(select(recurring_charge_cycles)).all() == []
        assert {sid: row["payment_date"] for sid, row in slip_rows(connection, FEBRUARY.billing_month).items()} == {
            "S-DECLINE": None,
            "S-ERROR": None,
        }
    # The decline is final and not charged again; the fault's slip is charged by every run, with
    # the same key, and its lookup each time finds nothing executed.
    assert attempts == [
        ("S-DECLINE", 1, "declined", "card_declined"),
        ("S-ERROR", 1, "not_executed", "server_error_500"),
        ("S-ERROR", 2, "not_executed", "server_error_500"),
    ]


def test_a_merchant_without_mail_address_is_reported_not_lost(engine):
    with engine.begin() as connection:
        connection.execute(insert(merchants).values(merchant_id="M9", name="無連絡商店"))  # no email
        add_subscription(connection, "S1", "M9", token="tok_decline_1")
        create_recurring_slips(connection, FEBRUARY)
    with engine.connect() as connection:
        charge_cycle(connection, FEBRUARY, SimulatorGateway(), clock=clock, options=OPTIONS)
    summary = notify(engine)
    assert (summary.failed_count, summary.merchant_notices, summary.merchants_without_email) == (1, 0, ["M9"])


def test_a_long_failure_list_is_cut_in_the_text_and_complete_in_the_csv(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        for n in range(1, 23):
            add_subscription(
                connection, f"S{n:02d}", "M1", token=f"tok_decline_{n}", amount=100, created_at=japan_time(2027, 1, n)
            )
        create_recurring_slips(connection, FEBRUARY)
    with engine.connect() as connection:
        charge_cycle(connection, FEBRUARY, SimulatorGateway(), clock=clock, options=OPTIONS)
    notify(engine)
    with engine.connect() as connection:
        (notice,) = outbox_rows(connection)
    # 22 failures: the text lists the first 20 by slip number, the CSV all 22.
    assert notice["body"].count("・伝票番号 9000000000") == 20
    assert "伝票番号 900000000020202702" in notice["body"] and "900000000021202702" not in notice["body"]
    assert "・ほか2件\n" in notice["body"]
    assert len(list(csv.reader(io.StringIO(notice["attachment_content"])))) == 1 + 22
