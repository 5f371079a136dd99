"""The files of the payouts, on SQLite and PostgreSQL: the statement CSVs and the operators'
summary of a closing, and the Zengin transfer files built before the payout dates."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date

import pytest
from sqlalchemy import func, insert, select, update

from kessai.calendar.business_calendar import default_calendar
from kessai.calendar.run_dates import BusinessDateError
from kessai.calendar.store import declare_closure
from kessai.db.schema import (
    bank_accounts,
    mail_outbox,
    payout_transfer_files,
    payout_transfers,
    payout_withheld_transfers,
    settings,
    slips,
)
from kessai.payout.closing import run_payout_closing
from kessai.payout.statement_files import run_statement_files
from kessai.payout.transfer_files import (
    TransferFileError,
    closings_paying_on,
    format_summary,
    payout_window,
    run_payout_transfer_files,
)
from kessai.payout.zengin import parse_transfer_file
from support.excel_csv import read_as_excel
from support.payout_builders import add_bank_account, add_merchant, add_slip, at, statement

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
    for field, value in REMITTER.items():
        monkeypatch.setenv(f"KESSAI_ZENGIN_{field}", value)


def read_csv(path) -> list[list[str]]:
    content = path.read_bytes()
    assert content.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte order mark, for Excel
    assert content.count(b"\r\n") == content.count(b"\n")  # CRLF line ends
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


# -- statement files ----------------------------------------------------------------------------


def test_statement_csv_and_closing_summary(engine, tmp_path):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly", fee_rate_bp=300, transfer_fee=220)
        add_merchant(connection, "M2/X", "monthly", minimum_payout=5_000)
        add_bank_account(connection, "M1", at("2026-12-01"), holder_kana="ｶ)ﾐﾂｷﾞ")
        add_bank_account(connection, "M1", at("2027-01-20"), account_number="7654321", holder_kana="ｶ)ﾐﾂｷﾞ")
        add_bank_account(connection, "M2/X", at("2026-12-01"))
        add_slip(connection, "M1", 10_000, registered_at=at("2027-01-10"))
        add_slip(connection, "M1", 3_000, registered_at=at("2027-01-25"), card_company="jcb")
        add_slip(connection, "M2/X", 1_200, registered_at=at("2027-01-25"))
    run_payout_closing(engine, D("2027-01-31"))
    summary = run_statement_files(engine, D("2027-01-31"), tmp_path)
    folder = tmp_path / "statements" / "2027-01-31"
    assert summary.as_dict() == {
        "closing_date": "2027-01-31",
        "directory": str(folder),
        "statement_files": 2,
        "slip_files": 2,
        "dry_run": False,
    }
    assert sorted(p.name for p in folder.iterdir()) == [
        "closing-summary.csv",
        "slips-M1.csv",
        "slips-M2%2FX.csv",
        "statement-M1.csv",
        "statement-M2%2FX.csv",
    ]

    rows = read_csv(folder / "statement-M1.csv")
    head = ["M1", "店舗 M1", "2027-01-31", "2027-02-25"]
    assert rows[0][:5] == ["区分", "店舗ID", "店舗名", "締め日", "支払予定日"]
    assert rows[0][-5:] == ["項目", "税区分", "税率", "消費税額", "登録番号"]
    # Fees 3% per line: 90 and 300. The transfer fee (220) comes off the new account's 2,910. The
    # codes are written ="0001" (text in Excel); the transfer fee is taxable: 220 × 10/110 = 20.
    bank, branch = '="0001"', '="001"'
    none = [""] * 7  # the adjustment's two columns and the invoice's five
    assert rows[1:] == [
        [
            "明細",
            *head,
            "JCB",
            bank,
            branch,
            "普通",
            '="7654321"',
            "ｶ)ﾐﾂｷﾞ",
            "1",
            "3000",
            "90",
            "",
            "",
            "",
            "",
            "",
            "0",
            "0",
            *none,
        ],
        [
            "明細",
            *head,
            "Visa/Mastercard",
            bank,
            branch,
            "普通",
            '="1234567"',
            "ｶ)ﾐﾂｷﾞ",
            "1",
            "10000",
            "300",
            "",
            "",
            "",
            "",
            "",
            "0",
            "0",
            *none,
        ],
        [
            "振込",
            *head,
            "",
            bank,
            branch,
            "普通",
            '="1234567"',
            "ｶ)ﾐﾂｷﾞ",
            "",
            "",
            "",
            "",
            "",
            "",
            "9700",
            "",
            "",
            "",
            *none,
        ],
        [
            "振込",
            *head,
            "",
            bank,
            branch,
            "普通",
            '="7654321"',
            "ｶ)ﾐﾂｷﾞ",
            "",
            "",
            "",
            "",
            "",
            "",
            "2690",
            "",
            "",
            "",
            *none,
        ],
        [
            "手数料",
            *head,
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "390",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "決済手数料",
            "非課税",
            "",
            "",
            "",
        ],
        [
            "手数料",
            *head,
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "220",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "振込手数料",
            "課税",
            "10%",
            "",
            "",
        ],
        [
            "消費税",
            *head,
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "220",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "10%対象 (税込)",
            "課税",
            "10%",
            "20",
            "",
        ],
        [
            "合計",
            *head,
            "",
            "",
            "",
            "",
            "",
            "",
            "2",
            "13000",
            "390",
            "220",
            "0",
            "0",
            "12390",
            "",
            "",
            "",
            "0",
            "",
            "",
            "",
            "",
            "20",
            "",
        ],
    ]
    # Opened in Excel, the codes keep their zeros.
    excel = read_as_excel((folder / "statement-M1.csv").read_bytes())
    assert [row[6:10] for row in excel[1:3]] == [["0001", "001", "普通", "7654321"], ["0001", "001", "普通", "1234567"]]
    assert read_csv(folder / "closing-summary.csv") == [
        [
            "merchant_id",
            "name",
            "payout_cycle",
            "payout_date",
            "slip_count",
            "gross_amount",
            "fee",
            "transfer_fee",
            "carried_in",
            "carried_forward",
            "net_amount",
            "transfers",
            "status",
            "held_back_slips",
            "held_back_amount",
            "paid_late_slips",
            "paid_late_amount",
            "adjustment_amount",
        ],
        [
            "M1",
            "店舗 M1",
            "monthly",
            "2027-02-25",
            "2",
            "13000",
            "390",
            "220",
            "0",
            "0",
            "12390",
            "2",
            "paid",
            "0",
            "0",
            "0",
            "0",
            "0",
        ],
        [
            "M2/X",
            "店舗 M2/X",
            "monthly",
            "2027-02-25",
            "1",
            "1200",
            "0",
            "0",
            "0",
            "1200",
            "0",
            "0",
            "carried forward",
            "0",
            "0",
            "0",
            "0",
            "0",
        ],
        [
            "SUBTOTAL",
            "",
            "",
            "2027-02-25",
            "3",
            "14200",
            "390",
            "220",
            "0",
            "1200",
            "12390",
            "2",
            "",
            "0",
            "0",
            "0",
            "0",
            "0",
        ],
        ["TOTAL", "", "", "", "3", "14200", "390", "220", "0", "1200", "12390", "2", "", "0", "0", "0", "0", "0"],
    ]
    # A re-run writes the same bytes; a dry run writes nothing.
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    run_statement_files(engine, D("2027-01-31"), tmp_path)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert run_statement_files(engine, D("2027-01-31"), tmp_path / "dry", dry_run=True).slip_files == 2
    assert not (tmp_path / "dry").exists()


# -- transfer files: when -----------------------------------------------------------------------


def test_payout_window_across_golden_week():
    calendar = default_calendar()
    # 2026-04-30 is a Thursday, 5/1 a Friday; 5/2-5/6 are the weekend and Golden Week (5/6 振替休日).
    assert payout_window(calendar, D("2026-04-30"), 2) == [D("2026-05-01"), D("2026-05-07")]
    assert payout_window(calendar, D("2026-05-01"), 2) == [D("2026-05-07"), D("2026-05-08")]
    assert payout_window(calendar, D("2026-05-01"), 1) == [D("2026-05-07")]


def test_closings_paying_on_a_payout_date():
    calendar = default_calendar()
    # 2026-05-10 is a Sunday: the twice-monthly April-end closing is paid Friday 5/8.
    assert closings_paying_on(calendar, D("2026-05-08")) == [D("2026-04-30")]
    # 2026-04-25 is a Saturday: the monthly March-end and the twice-monthly 4/15 closings, on 4/24.
    assert closings_paying_on(calendar, D("2026-04-24")) == [D("2026-03-31"), D("2026-04-15")]
    assert closings_paying_on(calendar, D("2026-04-23")) == []


# -- transfer files: what -----------------------------------------------------------------------


def golden_week_closing(engine) -> dict[str, int]:
    """Twice-monthly merchants closed on 2026-04-30, paid on 5/8."""
    with engine.begin() as connection:
        add_merchant(connection, "T1", "twice_monthly", transfer_fee=330)
        add_merchant(connection, "T2", "twice_monthly")
        add_merchant(connection, "T3", "twice_monthly")
        accounts = {
            "T1-old": add_bank_account(connection, "T1", at("2026-01-01"), holder_kana="やまだ　たろう"),
            "T1-new": add_bank_account(
                connection,
                "T1",
                at("2026-04-20"),
                bank_code="0009",
                account_number="0000001",
                holder_kana="ヤマダ　タロウ",
                account_type="savings",
            ),
            "T2": add_bank_account(
                connection, "T2", at("2026-01-01"), holder_kana="ｽｽﾞｷ ｼｮｳﾃﾝ", bank_name_kana="ミズホ"
            ),
            "T3": add_bank_account(connection, "T3", at("2026-01-01"), holder_kana="佐藤商店"),
        }
        add_slip(connection, "T1", 50_000, registered_at=at("2026-04-16"))
        add_slip(connection, "T1", 30_000, registered_at=at("2026-04-28"))
        add_slip(connection, "T2", 70_000, registered_at=at("2026-04-30", "23:59"))
        add_slip(connection, "T3", 9_000, registered_at=at("2026-04-20"))
    run_payout_closing(engine, D("2026-04-30"))
    return accounts


def test_the_file_is_built_two_business_days_before_the_payout_and_reads_back(engine, tmp_path, remitter):
    accounts = golden_week_closing(engine)
    with engine.begin() as connection:
        connection.execute(
            update(bank_accounts).where(bank_accounts.c.merchant_id == "T3").values(holder_kana="サトウ")
        )
    # 4/30: 5/8 is three business days ahead: nothing yet.
    assert run_payout_transfer_files(engine, D("2026-04-30"), tmp_path).payout_dates == []
    summary = run_payout_transfer_files(engine, D("2026-05-01"), tmp_path)
    (payout,) = summary.payout_dates
    assert payout["payout_date"] == "2026-05-08" and payout["built"] == "sogofurikomi-20260508-01.txt"
    # T1: 50,000 (old account) + 30,000 - 330 (new account); T2 70,000; T3 9,000.
    assert (payout["statements_net"], payout["in_files"], payout["not_filed"]) == (158_670, 158_670, 0)
    parsed = parse_transfer_file((tmp_path / "transfers" / "2026-05-08" / payout["built"]).read_bytes())
    assert (parsed.remitter_code, parsed.remitter_name, parsed.transfer_date) == ("1234567890", "ｶ)ｹﾂｻｲ", "0508")
    assert [
        (t.bank_code, t.account_type, t.account_number, t.holder_name, t.amount, t.customer_code_2)
        for t in parsed.transfers
    ] == [
        ("0001", "1", "1234567", "ﾔﾏﾀﾞ ﾀﾛｳ", 50_000, accounts["T1-old"]),
        ("0009", "4", "0000001", "ﾔﾏﾀﾞ ﾀﾛｳ", 29_670, accounts["T1-new"]),
        ("0001", "1", "1234567", "ｽｽﾞｷ ｼﾖｳﾃﾝ", 70_000, accounts["T2"]),
        ("0001", "1", "1234567", "ｻﾄｳ", 9_000, accounts["T3"]),
    ]
    with engine.connect() as connection:
        nets = sum(statement(connection, m, "2026-04-30")["net_amount"] for m in ("T1", "T2", "T3"))
    assert parsed.amount_total == nets == 158_670 and parsed.record_count == 4


def test_a_name_that_cannot_be_converted_is_left_out_and_named(engine, tmp_path, remitter):
    golden_week_closing(engine)  # T3's holder is written in kanji
    with pytest.raises(
        TransferFileError, match=r"merchant T3, bank account 4 \(9,000 yen\): '佐藤商店' cannot be written"
    ):
        run_payout_transfer_files(engine, D("2026-05-01"), tmp_path)
    folder = tmp_path / "transfers" / "2026-05-08"
    first = (folder / "sogofurikomi-20260508-01.txt").read_bytes()
    assert parse_transfer_file(first).amount_total == 158_670 - 9_000  # the others went in the file

    with engine.begin() as connection:
        connection.execute(
            update(bank_accounts).where(bank_accounts.c.merchant_id == "T3").values(holder_kana="サトウショウテン")
        )
    summary = run_payout_transfer_files(engine, D("2026-05-01"), tmp_path)
    assert summary.payout_dates[0]["built"] == "sogofurikomi-20260508-02.txt"
    second = parse_transfer_file((folder / "sogofurikomi-20260508-02.txt").read_bytes())
    assert [(t.holder_name, t.amount) for t in second.transfers] == [("ｻﾄｳｼﾖｳﾃﾝ", 9_000)]
    assert (folder / "sogofurikomi-20260508-01.txt").read_bytes() == first
    assert summary.payout_dates[0]["in_files"] == 158_670


def test_a_rerun_builds_nothing_again_and_restores_a_lost_file(engine, tmp_path, remitter):
    golden_week_closing(engine)
    with engine.begin() as connection:
        connection.execute(update(bank_accounts).where(bank_accounts.c.merchant_id == "T3").values(holder_kana="ｻﾄｳ"))
    run_payout_transfer_files(engine, D("2026-05-01"), tmp_path)
    path = tmp_path / "transfers" / "2026-05-08" / "sogofurikomi-20260508-01.txt"
    built = path.read_bytes()
    with engine.connect() as connection:
        recorded = connection.execute(select(payout_transfer_files.c.sha256)).scalar_one()
    assert recorded == hashlib.sha256(built).hexdigest()

    # The next business day's run still has 5/8 in its window: it builds nothing new.
    again = run_payout_transfer_files(engine, D("2026-05-07"), tmp_path)
    assert again.payout_dates[0]["built"] is None and again.restored == [] and again.overdue == []
    path.unlink()
    assert run_payout_transfer_files(engine, D("2026-05-01"), tmp_path).restored == [str(path)]
    assert path.read_bytes() == built
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(payout_transfer_files)).scalar() == 1

    path.write_bytes(built.replace(b"0000050000", b"0000500000"))
    with pytest.raises(
        TransferFileError, match="sogofurikomi-20260508-01.txt was built with sha256 .* on disk gives different bytes"
    ):
        run_payout_transfer_files(engine, D("2026-05-01"), tmp_path)
    path.unlink()  # a lost file whose account changed since: not rebuilt differently
    with engine.begin() as connection:
        connection.execute(
            update(bank_accounts).where(bank_accounts.c.merchant_id == "T2").values(account_number="9999999")
        )
    with pytest.raises(TransferFileError, match="the recorded transfers with today's bank accounts"):
        run_payout_transfer_files(engine, D("2026-05-01"), tmp_path)
    assert not path.exists()


def test_the_file_waits_for_the_closing_that_pays_on_its_date(engine, tmp_path, remitter):
    with engine.begin() as connection:
        add_merchant(connection, "T1", "twice_monthly")
        add_bank_account(connection, "T1", at("2026-01-01"))
        add_slip(connection, "T1", 1_000, registered_at=at("2026-04-10"))
    run_payout_closing(engine, D("2026-04-15"))  # the first closing: 4/30 has not run
    with pytest.raises(TransferFileError, match=r"closing 2026-04-30 \(paid on 2026-05-08\) has not run"):
        run_payout_transfer_files(engine, D("2026-05-01"), tmp_path)
    # 4/15 is paid on 4/24 (4/25 is a Saturday), built on 4/22: two business days before.
    summary = run_payout_transfer_files(engine, D("2026-04-22"), tmp_path)
    assert [p["payout_date"] for p in summary.payout_dates] == ["2026-04-24"]


def test_remitter_and_lead_days_from_the_settings_table(engine, tmp_path, monkeypatch):
    golden_week_closing(engine)
    with pytest.raises(TransferFileError, match="set KESSAI_ZENGIN_REMITTER_CODE .*zengin.remitter_code"):
        run_payout_transfer_files(engine, D("2026-05-01"), tmp_path)
    with engine.begin() as connection:
        connection.execute(
            insert(settings),
            [{"key": f"zengin.{field.lower()}", "value": value} for field, value in REMITTER.items()]
            + [{"key": "zengin.lead_business_days", "value": "1"}],
        )
        connection.execute(update(bank_accounts).where(bank_accounts.c.merchant_id == "T3").values(holder_kana="ｻﾄｳ"))
    # One business day ahead of 5/1 is 5/7 only.
    assert run_payout_transfer_files(engine, D("2026-05-01"), tmp_path).payout_dates == []
    monkeypatch.setenv("KESSAI_TRANSFER_LEAD_DAYS", "2")  # the environment wins
    assert run_payout_transfer_files(engine, D("2026-05-01"), tmp_path).payout_dates[0]["in_files"] == 158_670


def test_dry_runs_closed_days_and_holidays(engine, tmp_path, remitter):
    golden_week_closing(engine)
    with engine.begin() as connection:
        connection.execute(update(bank_accounts).where(bank_accounts.c.merchant_id == "T3").values(holder_kana="ｻﾄｳ"))
    dry = run_payout_transfer_files(engine, D("2026-05-01"), tmp_path, dry_run=True)
    assert dry.dry_run and dry.payout_dates[0]["built"] == "sogofurikomi-20260508-01.txt"
    assert not (tmp_path / "transfers").exists()
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(payout_transfer_files)).scalar() == 0
        assert (
            connection.execute(select(func.count()).where(payout_transfers.c.transfer_file_id.is_not(None))).scalar()
            == 0
        )
    with pytest.raises(BusinessDateError, match=r"2026-05-05 is not a business day in Japan \(こどもの日\)"):
        run_payout_transfer_files(engine, D("2026-05-05"), tmp_path)
    with engine.begin() as connection:
        declare_closure(connection, D("2026-05-01"), "system maintenance")
    assert run_payout_transfer_files(engine, D("2026-05-01"), tmp_path).as_dict() == {
        "business_date": "2026-05-01",
        "closed": "2026-05-01 was declared closed (臨時休業日): no transfer file is built on it",
    }


def test_transfers_left_in_no_file_past_their_payout_date_are_reported(engine, tmp_path, remitter):
    golden_week_closing(engine)  # T3's holder name in kanji keeps its transfer out of the file
    with pytest.raises(TransferFileError, match="merchant T3"):
        run_payout_transfer_files(engine, D("2026-05-01"), tmp_path)
    # 5/8 has passed without a correction: the run of 5/11 (Monday) reports it.
    with pytest.raises(TransferFileError, match="merchant T3"):
        run_payout_transfer_files(engine, D("2026-05-07"), tmp_path)
    summary = run_payout_transfer_files(engine, D("2026-05-11"), tmp_path)
    assert summary.overdue == [{"payout_date": "2026-05-08", "transfers": 1, "amount": 9_000}]


def test_a_transfer_with_a_slip_not_transmitted_is_left_out_and_the_operators_alerted_once(engine, tmp_path, remitter):
    accounts = golden_week_closing(engine)
    # T2's slip, registered 4/30 23:59, is in the 4/30 closing (due to go out on Friday 5/1, after it),
    # but the transmission of 5/1 held it back: it has not gone to its card company.
    with engine.begin() as connection:
        connection.execute(update(bank_accounts).where(bank_accounts.c.merchant_id == "T3").values(holder_kana="ｻﾄｳ"))
        connection.execute(update(slips).where(slips.c.merchant_id == "T2").values(transmitted_on=None))

    summary = run_payout_transfer_files(engine, D("2026-05-01"), tmp_path)
    (payout,) = summary.payout_dates
    # Filed: T1 50,000 + 29,670 and T3 9,000; T2's 70,000 is in no file.
    assert (payout["built"], payout["in_files"], payout["not_filed"]) == (
        "sogofurikomi-20260508-01.txt",
        88_670,
        70_000,
    )
    parsed = parse_transfer_file((tmp_path / "transfers" / "2026-05-08" / payout["built"]).read_bytes())
    assert [t.customer_code_2 for t in parsed.transfers] == [accounts["T1-old"], accounts["T1-new"], accounts["T3"]]
    (withheld,) = summary.withheld
    assert (
        withheld["merchant_id"],
        withheld["bank_account_id"],
        withheld["amount"],
        withheld["slip_count"],
        withheld["slip_amount"],
        withheld["closing_date"],
    ) == ("T2", accounts["T2"], 70_000, 1, 70_000, "2026-04-30")
    assert "WITHHELD: merchant T2" in format_summary(summary)

    def alerts():
        with engine.connect() as connection:
            return connection.execute(
                select(mail_outbox.c.recipient, mail_outbox.c.subject, mail_outbox.c.body).where(
                    mail_outbox.c.dedupe_key.like("payout_transfers_withheld:%")
                )
            ).all()

    (alert,) = alerts()
    assert alert.recipient == "operators@kessai.example"
    assert alert.subject == "[kessai] 振込 1 件を振込ファイルから除外しました (2026-05-01)"
    assert "店舗 T2  締め日 2026-04-30" in alert.body and "未送信の伝票 1 件 70,000 円" in alert.body

    # A re-run of 5/1 builds nothing and mails nothing again.
    again = run_payout_transfer_files(engine, D("2026-05-01"), tmp_path)
    assert again.payout_dates[0]["built"] is None and len(again.withheld) == 1
    assert len(alerts()) == 1

    # The slip went out on Thursday 5/7: the run of 5/7 files T2 in a second file for 5/8.
    with engine.begin() as connection:
        connection.execute(update(slips).where(slips.c.merchant_id == "T2").values(transmitted_on=D("2026-05-07")))
    later = run_payout_transfer_files(engine, D("2026-05-07"), tmp_path)
    assert later.withheld == [] and later.payout_dates[0]["built"] == "sogofurikomi-20260508-02.txt"
    assert (later.payout_dates[0]["in_files"], later.payout_dates[0]["not_filed"]) == (158_670, 0)
    assert len(alerts()) == 1
    with engine.connect() as connection:
        recorded = connection.execute(select(payout_withheld_transfers)).mappings().all()
    assert [
        (r["business_date"], r["bank_account_id"], r["slip_count"], r["amount"], r["reason"]) for r in recorded
    ] == [(D("2026-05-01"), accounts["T2"], 1, 70_000, "slips_not_transmitted")]
