"""Files people open (kessai.files.csv_files): no cell of a CSV the project writes runs as a formula in
a spreadsheet: statements and the closing summary, the rejects of a confirmation upload, the
lists attached to mails; on SQLite and PostgreSQL where a database is involved."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import update

from kessai.db.schema import merchants
from kessai.files.csv_files import csv_text, neutralise
from kessai.payout.closing import run_payout_closing
from kessai.payout.statement_files import run_statement_files
from kessai.recurring.cycle import ChargeCycle
from kessai.recurring.failures import failure_csv
from kessai.slips.confirmation_import import import_confirmations
from support.excel_csv import Formula, read_as_excel
from support.payout_builders import add_bank_account, add_merchant, add_slip, at

HYPERLINK = '=HYPERLINK("http://evil.example","x")'


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_each_formula_prefix_is_neutralised_with_a_quote(prefix):
    cell = f"{prefix}1+2"
    assert neutralise(cell) == f"'{prefix}1+2"
    written = next(csv.reader(io.StringIO(csv_text([[cell]]), newline="")))
    assert written == [f"'{prefix}1+2"]


def test_other_cells_and_numbers_are_written_as_they_are():
    assert neutralise("店舗 M1") == "店舗 M1"
    assert neutralise("a=b") == "a=b"  # only a leading character makes a formula
    assert neutralise(" =1") == " =1"
    assert neutralise(-1500) == -1500  # a Python number is never text
    assert neutralise(None) == ""
    assert neutralise("-1500", numeric=True) == "-1500"  # a declared numeric column keeps its numbers
    assert neutralise("-1500") == "'-1500"  # the same text elsewhere is neutralised
    assert neutralise("-1+cmd", numeric=True) == "'-1+cmd"  # text in a numeric column is still text
    assert csv_text([["x", -5, "-5"]], numeric_columns=(2,), lineterminator="\n") == "x,-5,-5\n"


def read_csv(path, encoding="utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode(encoding), newline="")))


def test_a_merchant_name_that_is_a_formula_is_text_in_its_statement_and_the_summary(engine, tmp_path):
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly")
        connection.execute(update(merchants).where(merchants.c.merchant_id == "M1").values(name=HYPERLINK))
        add_bank_account(connection, "M1", at("2026-12-01"), holder_kana="ｶ)ﾐﾂｷﾞ")
        add_slip(connection, "M1", 10_000, registered_at=at("2027-01-10"))
    run_payout_closing(engine, date(2027, 1, 31))
    run_statement_files(engine, date(2027, 1, 31), tmp_path)
    folder = tmp_path / "statements" / "2027-01-31"

    rows = read_csv(folder / "statement-M1.csv")
    assert [row[2] for row in rows[1:]] == ["'" + HYPERLINK] * 5  # 明細, 振込, 手数料 × 2, 合計
    assert rows[-1][rows[0].index("支払金額")] == "10000"  # numbers unchanged
    summary = read_csv(folder / "closing-summary.csv")
    assert summary[1][:2] == ["M1", "'" + HYPERLINK]
    # Read as Excel reads them: no cell is a formula but the ="0001" of a code, which is its text.
    for name in ("statement-M1.csv", "closing-summary.csv", "slips-M1.csv"):
        cells = [cell for row in read_as_excel((folder / name).read_bytes()) for cell in row]
        assert not [cell for cell in cells if isinstance(cell, Formula)], name
        assert "'" + HYPERLINK in cells or name == "slips-M1.csv"


def test_the_rejects_file_gives_back_formula_cells_as_text(engine, tmp_path):
    upload = (
        "merchant_id,slip_id,confirmed_on,memo\r\n"
        f'M1,1,2027-01-31,"{HYPERLINK.replace(chr(34), chr(34) * 2)}"\r\n'
        "+cmd|' /C calc'!A0,2,2027-01-31,x\r\n"
        "M1,@SUM(A1:A2),2027-01-31,-2+3\r\n"
    ).encode()
    path = tmp_path / "upload.rejects.csv"
    with engine.begin() as connection:
        import_confirmations(connection, upload, datetime(2027, 2, 1, 3, tzinfo=UTC), rejects_path=path)

    rows = read_csv(path, "utf-8")
    assert rows[0] == ["line_number", "reason", "message", "merchant_id", "slip_id", "confirmed_on", "memo"]
    assert [row[0] for row in rows[1:]] == ["2", "3", "4"]  # line numbers are numbers
    assert rows[1][3:] == ["M1", '="1"', "2027-01-31", "'" + HYPERLINK]  # the slip number stays text
    assert rows[2][3] == "'+cmd|' /C calc'!A0"
    assert rows[3][4] == "'@SUM(A1:A2)" and rows[3][6] == "'-2+3"
    assert rows[3][2].startswith("slip_id '@SUM(A1:A2)' is not a slip number")  # the cell inside a text


def test_the_failure_list_attached_to_a_merchant_notice_is_neutralised():
    cycle = ChargeCycle(billing_month=date(2027, 1, 1), charge_date=date(2027, 1, 27))
    row = SimpleNamespace(
        slip_id="9000000001",
        subscription_id="S1",
        amount=1_500,
        card_company_name="=cmd()",
        card_reference="************1111",
        customer_email="@evil",
        last_outcome="declined",
        failure_reason="card_declined",
        attempts=2,
    )
    rows = list(csv.reader(io.StringIO(failure_csv(cycle, [row]), newline="")))
    assert rows[1][4] == "1500" and rows[1][10] == "2"
    assert rows[1][5] == "'=cmd()" and rows[1][7] == "'@evil"
