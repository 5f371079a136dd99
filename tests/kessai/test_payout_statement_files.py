"""The 支払明細 files of a closing on SQLite and PostgreSQL: the slip detail behind a statement,
the fees' tax and the 登録番号, the payout-date subtotals of the closing summary, Excel's reading
of the codes, Shift_JIS, and a backfill writing the same bytes."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from sqlalchemy import update

from kessai.db.schema import slips
from kessai.files.csv_files import csv_text
from kessai.payout.closing import run_payout_closing
from kessai.payout.invoice import InvoiceSettingError
from kessai.payout.statement_files import run_statement_files
from kessai.settings import Settings
from support.excel_csv import Formula, read_as_excel
from support.payout_builders import add_bank_account, add_merchant, add_slip, at

D = date.fromisoformat
SLIP_NUMBER = "900000000072030001"  # 18 digits: Excel would make it 9.00000000007203E+17
REGISTRATION = "T7000012050002"  # T + a 法人番号 with its check digit (7)


def rows_of(path, encoding="utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode(encoding), newline="")))


def test_the_excel_model_loses_codes_a_plain_csv_writes_and_keeps_the_text_codes():
    plain = csv_text([["0010", "0554354", SLIP_NUMBER]]).encode()
    assert read_as_excel(plain) == [[10.0, 554354.0, 900000000072030000.0]]  # zeros and digits lost
    kept = csv_text([["0010", "0554354", SLIP_NUMBER, "A-1", "=1+1"]], text_columns=(0, 1, 2, 3, 4)).encode()
    assert read_as_excel(kept) == [["0010", "0554354", SLIP_NUMBER, "A-1", "'=1+1"]]
    assert not any(isinstance(cell, Formula) for cell in read_as_excel(kept)[0])


def january(engine) -> dict[str, str]:
    """Merchant M (monthly, 3 % fee, 330 yen transfer fee), January 2027, paid 2/25:
    - `paid`: registered 1/8, transmitted 1/12 (1/11 is 成人の日), slip number of 18 digits;
    - `on_closing_day`: confirmed on 1/31 (a Sunday), goes out 2/1, after the closing;
    - `held`: registered 1/20, due 1/21, never transmitted: held back."""
    with engine.begin() as connection:
        add_merchant(connection, "M", "monthly", fee_rate_bp=300, transfer_fee=330)
        add_bank_account(
            connection,
            "M",
            at("2026-12-01"),
            bank_code="0010",
            branch_code="554",
            account_number="0554354",
            holder_kana="ｶ)ｴﾑ",
        )
        slip_ids = {
            "paid": add_slip(connection, "M", 10_000, registered_at=at("2027-01-08"), payment_date="2027-01-05"),
            "on_closing_day": add_slip(
                connection, "M", 5_000, registered_at=at("2027-01-31", "09:00"), transmitted_on=None
            ),
            "held": add_slip(connection, "M", 7_000, registered_at=at("2027-01-20"), transmitted_on=None),
        }
        connection.execute(update(slips).where(slips.c.slip_id == slip_ids["paid"]).values(slip_id=SLIP_NUMBER))
    slip_ids["paid"] = SLIP_NUMBER
    run_payout_closing(engine, D("2027-01-31"))
    return slip_ids


def test_the_slip_detail_behind_a_statement_and_a_backfill_writes_the_same_bytes(engine, tmp_path):
    ids = january(engine)
    run_statement_files(engine, D("2027-01-31"), tmp_path)
    folder = tmp_path / "statements" / "2027-01-31"
    rows = rows_of(folder / "slips-M.csv")
    assert rows[0] == [
        "店舗ID",
        "締め日",
        "支払予定日",
        "区分",
        "伝票番号",
        "カード会社",
        "金額",
        "入金日",
        "決済確定日",
        "確定処理日",
        "利用日",
        "金融機関コード",
        "支店コード",
        "口座番号",
        "前回以前の保留分",
        "保留理由",
    ]
    head = ["M", "2027-01-31", "2027-02-25"]
    account = ['="0010"', '="554"', '="0554354"']
    assert rows[1:] == [
        [
            *head,
            "支払",
            f'="{SLIP_NUMBER}"',
            "Visa/Mastercard",
            "10000",
            "2027-01-05",
            "2027-01-08",
            "2027-01-08",
            "2027-01-12",
            *account,
            "",
            "",
        ],
        # Confirmed on the closing day: paid now, goes to its card company on Monday 2/1 (its 利用日).
        [
            *head,
            "支払",
            f'="{ids["on_closing_day"]}"',
            "Visa/Mastercard",
            "5000",
            "2027-01-31",
            "2027-01-31",
            "2027-01-31",
            "2027-02-01",
            *account,
            "",
            "",
        ],
        [
            *head,
            "保留",
            f'="{ids["held"]}"',
            "Visa/Mastercard",
            "7000",
            "2027-01-20",
            "2027-01-20",
            "2027-01-20",
            "",
            "",
            "",
            "",
            "",
            "締め日までにカード会社へ未送信 (not_transmitted)",
        ],
    ]
    excel = read_as_excel((folder / "slips-M.csv").read_bytes())
    assert [row[4] for row in excel[1:]] == [SLIP_NUMBER, ids["on_closing_day"], ids["held"]]
    assert excel[1][11:14] == ["0010", "554", "0554354"]

    # The slip of 1/31 goes out on 2/1; a backfill of the closing's files months later: same bytes.
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with engine.begin() as connection:
        connection.execute(
            update(slips).where(slips.c.slip_id == ids["on_closing_day"]).values(transmitted_on=D("2027-02-01"))
        )
    run_payout_closing(engine, D("2027-01-31"))
    run_statement_files(engine, D("2027-01-31"), tmp_path)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_fees_with_their_tax_class_the_tax_and_the_registration_number(engine, tmp_path, monkeypatch):
    january(engine)
    monkeypatch.setenv("KESSAI_INVOICE_REGISTRATION_NUMBER", REGISTRATION)
    run_statement_files(engine, D("2027-01-31"), tmp_path)
    rows = rows_of(tmp_path / "statements" / "2027-01-31" / "statement-M.csv")
    item, tax = rows[0].index("項目"), rows[0].index("消費税額")  # the invoice's columns come last
    fees = {row[0] + row[item]: row for row in rows if row[0] in ("手数料", "消費税", "合計")}
    # Gross 15,000 (the held 7,000 is not in it): fee 3 % = 450, 非課税; transfer fee 330 taxed at 10 %
    # inside it: 330 × 10/110 = 30.
    assert fees["手数料決済手数料"][13:15] + fees["手数料決済手数料"][item:] == [
        "450",
        "",
        "決済手数料",
        "非課税",
        "",
        "",
        "",
    ]
    assert fees["手数料振込手数料"][13:15] + fees["手数料振込手数料"][item:] == [
        "",
        "330",
        "振込手数料",
        "課税",
        "10%",
        "",
        "",
    ]
    assert fees["消費税10%対象 (税込)"][13] == "330"
    assert fees["消費税10%対象 (税込)"][item:] == ["10%対象 (税込)", "課税", "10%", "30", REGISTRATION]
    assert fees["合計"][13:18] == ["450", "330", "0", "0", "14220"]  # the amounts are the closing's
    assert fees["合計"][tax:] == ["30", REGISTRATION]

    # A merchant fee made taxable: one tax on both, rounded down once: (450 + 330) × 10/110 = 70.9 → 70.
    monkeypatch.setenv("KESSAI_MERCHANT_FEE_TAX_CLASS", "taxable")
    run_statement_files(engine, D("2027-01-31"), tmp_path)
    rows = rows_of(tmp_path / "statements" / "2027-01-31" / "statement-M.csv")
    (tax_row,) = [row for row in rows if row[0] == "消費税"]
    assert (tax_row[13], tax_row[tax]) == ("780", "70")

    monkeypatch.setenv("KESSAI_INVOICE_REGISTRATION_NUMBER", "T7000012050003")
    with pytest.raises(InvoiceSettingError, match="the check digit is 7, the number gives 6"):
        run_statement_files(engine, D("2027-01-31"), tmp_path)


def test_shift_jis_on_request(engine, tmp_path, monkeypatch):
    january(engine)
    monkeypatch.setenv("KESSAI_CSV_ENCODING", "cp932")
    run_statement_files(engine, D("2027-01-31"), tmp_path)
    folder = tmp_path / "statements" / "2027-01-31"
    for name in ("statement-M.csv", "slips-M.csv", "closing-summary.csv"):
        content = (folder / name).read_bytes()
        assert not content.startswith(b"\xef\xbb\xbf")
        assert read_as_excel(content, "cp932")[0][0] in ("区分", "店舗ID", "merchant_id")
    assert read_as_excel((folder / "slips-M.csv").read_bytes(), "cp932")[1][4] == SLIP_NUMBER
    monkeypatch.setenv("KESSAI_CSV_ENCODING", "latin-1")
    with pytest.raises(ValueError, match="KESSAI_CSV_ENCODING='latin-1': expected utf-8-sig"):
        run_statement_files(engine, D("2027-01-31"), tmp_path)


def test_the_closing_summary_has_a_subtotal_per_payout_date(engine, tmp_path):
    # At a month end, monthly merchants are paid on the 25th of the next month, twice-monthly ones
    # on the 10th: 2027-01-31 pays 2/25 and 2/10.
    with engine.begin() as connection:
        for merchant, cycle, amount in (
            ("A", "monthly", 1_000),
            ("B", "twice_monthly", 2_000),
            ("C", "monthly", 4_000),
        ):
            add_merchant(connection, merchant, cycle)
            add_bank_account(connection, merchant, at("2026-12-01"))
            add_slip(connection, merchant, amount, registered_at=at("2027-01-20"))
    run_payout_closing(engine, D("2027-01-15"))
    run_payout_closing(engine, D("2027-01-31"))
    run_statement_files(engine, D("2027-01-31"), tmp_path)
    rows = rows_of(tmp_path / "statements" / "2027-01-31" / "closing-summary.csv")
    assert [row[:5] + row[10:12] for row in rows[1:]] == [
        ["A", "店舗 A", "monthly", "2027-02-25", "1", "1000", "1"],
        ["B", "店舗 B", "twice_monthly", "2027-02-10", "1", "2000", "1"],
        ["C", "店舗 C", "monthly", "2027-02-25", "1", "4000", "1"],
        ["SUBTOTAL", "", "", "2027-02-10", "1", "2000", "1"],
        ["SUBTOTAL", "", "", "2027-02-25", "2", "5000", "2"],
        ["TOTAL", "", "", "", "3", "7000", "3"],
    ]


def test_the_settings_handed_in_are_used_not_the_environment(engine, tmp_path, monkeypatch):
    january(engine)
    monkeypatch.setenv("KESSAI_CSV_ENCODING", "latin-1")  # both refused, were they read
    monkeypatch.setenv("KESSAI_INVOICE_REGISTRATION_NUMBER", "T7000012050003")
    given = Settings(csv_encoding="cp932", invoice={"invoice_registration_number": REGISTRATION})
    run_statement_files(engine, D("2027-01-31"), tmp_path, configuration=given)
    content = (tmp_path / "statements" / "2027-01-31" / "statement-M.csv").read_bytes()
    assert not content.startswith(b"\xef\xbb\xbf")
    rows = read_as_excel(content, "cp932")
    assert rows[0][0] == "区分" and any(REGISTRATION in row for row in rows)
