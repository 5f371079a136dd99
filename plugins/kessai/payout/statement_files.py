"""The files of a closing, under KESSAI_HOME/statements/<closing_date>/ (docs/payout-closing.md):

- statement-<merchant_id>.csv: what the merchant downloads (支払明細): a row per line (明細: card
  company and bank account, with the slips of it paid late after a hold), a row per transfer (振込),
  a row per reason slips were held back (保留: not transmitted by the closing date), a row per fee
  (手数料: its tax class) and the consumption tax in the fees with the service's 登録番号 (消費税),
  a row per adjustment the closing took (調整: chargebacks, corrections, returned transfers) and
  the statement's totals (合計; 次回繰越 below 0 is a debt carried to the next closing);
- slips-<merchant_id>.csv: the slips behind the statement, each with its dates (入金日, 決済確定日,
  確定処理日, 利用日, 締め日) and the account it is paid to, or why it was held back; streamed;
- closing-summary.csv: one row per statement, a subtotal per payout date and a total row, for
  the operators.

Written through the one safe CSV writer (kessai.files.csv_files: no cell runs as a formula, codes and
slip numbers stay text in Excel), UTF-8 with a byte order mark (or KESSAI_CSV_ENCODING=cp932) and
CRLF line ends, into files of KESSAI_FILE_MODE (kessai.files.output_files). They are written from the
stored statements and slips, so every run of the closing writes the same bytes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from itertools import chain, groupby
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, func, select

from kessai.db.database import sql_text
from kessai.db.schema import (
    bank_accounts,
    card_companies,
    merchants,
    payout_held_slips,
    payout_statement_lines,
    payout_statements,
    payout_transfers,
    slips,
)
from kessai.files.csv_files import csv_bytes, write_csv_stream
from kessai.files.output_files import safe_child, write_files, write_stream
from kessai.kinds import Result
from kessai.payout.adjustments import adjustments_of
from kessai.payout.invoice import STANDARD_RATE_PERCENT, TAX_CLASSES, InvoiceSettings, TaxClass, tax_in
from kessai.settings import Settings

SUMMARY_FILE = "closing-summary.csv"
ACCOUNT_TYPE_NAMES = {"ordinary": "普通", "checking": "当座", "savings": "貯蓄"}

MERCHANT_COLUMNS = [
    "区分",
    "店舗ID",
    "店舗名",
    "締め日",
    "支払予定日",
    "カード会社",
    "金融機関コード",
    "支店コード",
    "預金種目",
    "口座番号",
    "口座名義",
    "件数",
    "売上金額",
    "手数料",
    "振込手数料",
    "前回繰越",
    "次回繰越",
    "支払金額",
    "保留理由",
    "うち前回以前の保留分件数",
    "うち前回以前の保留分金額",
    "調整額",
    "調整内容",
    "項目",
    "税区分",
    "税率",
    "消費税額",
    "登録番号",
]
MERCHANT_TEXT_COLUMNS = (1, 6, 7, 9)  # 店舗ID and the account's codes stay text in Excel
SLIP_COLUMNS = [
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
SLIP_TEXT_COLUMNS = (0, 4, 11, 12, 13)
SLIP_STATUS = {"paid": "支払", "held": "保留"}
SUMMARY_COLUMNS = [
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
]
# The kinds of adjustment as the merchant reads them (docs/payout-closing.md, "Adjustments").
ADJUSTMENT_KINDS = {
    "chargeback": "チャージバック",
    "reversal": "売上取消（カード会社）",
    "correction": "訂正",
    "returned_transfer": "返却された振込の再振込",
    "return_fee": "組戻し・再振込手数料",
}
# Why slips were held back, as the merchant reads it (a reason not listed shows its code).
HELD_BACK_REASONS = {
    "unknown_card_company": "カード会社が登録されていないため未送信",
    "merchant_without_store_names": "店舗名 (漢字・カナ・英字) が登録されていないため未送信",
    "not_transmitted": "締め日までにカード会社へ未送信",
    "rejected_by_card_company": "カード会社が受け付けなかったため保留",
    "awaiting_acknowledgement": "カード会社の受領確認待ちのため保留",
}


def held_back_reason(reason: str) -> str:
    return f"{HELD_BACK_REASONS.get(reason, 'カード会社へ未送信')} ({reason})"


def statements_directory(home: Path, closing_date: date) -> Path:
    return home / "statements" / closing_date.isoformat()


def statement_file_name(merchant_id: str) -> str:
    return f"statement-{quote(merchant_id, safe='')}.csv"


def slip_file_name(merchant_id: str) -> str:
    return f"slips-{quote(merchant_id, safe='')}.csv"


def _csv(rows: list[list], text_columns=(), encoding: str | None = None) -> bytes:
    return csv_bytes(rows, text_columns=text_columns, encoding=encoding)


def _fee_rows(head: list, st, invoice: InvoiceSettings) -> list[list]:
    """The fee rows (手数料) and the tax in them (消費税) of a statement: empty cells between the
    head and the amounts, and the adjustment's two, keep the statement's columns."""

    def row(kind, item, fee, transfer_fee, tax_class="", rate="", tax="", number=""):
        return [
            kind,
            *head,
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            fee,
            transfer_fee,
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            item,
            tax_class,
            rate,
            tax,
            number,
        ]

    rate = f"{STANDARD_RATE_PERCENT}%"
    rows = [
        row(
            "手数料",
            "決済手数料",
            st.fee,
            "",
            TAX_CLASSES[invoice.merchant_fee_class],
            rate if invoice.merchant_fee_class == TaxClass.TAXABLE else "",
        ),
        row(
            "手数料",
            "振込手数料",
            "",
            st.transfer_fee,
            TAX_CLASSES[invoice.transfer_fee_class],
            rate if invoice.transfer_fee_class == TaxClass.TAXABLE else "",
        ),
    ]
    taxable = invoice.taxable_total(int(st.fee), int(st.transfer_fee))
    if taxable:
        rows.append(
            row("消費税", f"{rate}対象 (税込)", taxable, "", "課税", rate, tax_in(taxable), invoice.registration_number)
        )
    return rows


def _account_cells(account) -> list[str]:
    return [
        account.bank_code,
        account.branch_code,
        ACCOUNT_TYPE_NAMES.get(account.account_type, account.account_type),
        account.account_number,
        account.holder_kana,
    ]


def statement_files(
    connection: Connection, closing_date: date, configuration: Settings | None = None
) -> dict[str, bytes]:
    """The closing's files by name: each merchant's statement CSV and the operators' summary (the
    slip detail files are streamed by write_slip_files). `configuration`: the invoice settings and
    the CSV encoding (default: the environment's)."""
    configuration = configuration or Settings.from_environment()
    encoding = configuration.csv_encoding
    invoice = InvoiceSettings.load(connection, configuration.invoice)
    s = payout_statements.c
    statements = connection.execute(
        select(
            s.statement_id,
            s.merchant_id,
            merchants.c.name,
            merchants.c.payout_cycle,
            s.payout_date,
            s.slip_count,
            s.gross_amount,
            s.fee,
            s.transfer_fee,
            s.carried_in,
            s.carried_forward,
            s.net_amount,
            s.adjustment_amount,
        )
        .join_from(payout_statements, merchants)
        .where(s.closing_date == closing_date)
        .order_by(s.merchant_id)
    ).all()
    account_columns = (
        bank_accounts.c.bank_code,
        bank_accounts.c.branch_code,
        bank_accounts.c.account_type,
        bank_accounts.c.account_number,
        bank_accounts.c.holder_kana,
    )
    lines = defaultdict(list)
    for line in connection.execute(
        select(
            payout_statement_lines.c.statement_id,
            card_companies.c.name.label("card_company_name"),
            payout_statement_lines.c.card_company,
            payout_statement_lines.c.slip_count,
            payout_statement_lines.c.gross_amount,
            payout_statement_lines.c.fee,
            payout_statement_lines.c.held_back_count,
            payout_statement_lines.c.held_back_amount,
            *account_columns,
        )
        .join_from(payout_statement_lines, payout_statements)
        .join(bank_accounts)
        .outerjoin(card_companies, card_companies.c.card_company == payout_statement_lines.c.card_company)
        .where(s.closing_date == closing_date)
        .order_by(payout_statement_lines.c.card_company, payout_statement_lines.c.bank_account_id)
    ):
        lines[line.statement_id].append(line)
    transfers = defaultdict(list)
    for transfer in connection.execute(
        select(payout_transfers.c.statement_id, payout_transfers.c.amount, *account_columns)
        .join_from(payout_transfers, payout_statements)
        .join(bank_accounts)
        .where(s.closing_date == closing_date)
        .order_by(payout_transfers.c.bank_account_id)
    ):
        transfers[transfer.statement_id].append(transfer)
    held = defaultdict(list)  # merchant -> (reason, slips, amount), a slip under each of its reasons
    for row in connection.execute(
        select(slips.c.merchant_id, payout_held_slips.c.reason, func.count(), func.sum(slips.c.amount))
        .join_from(payout_held_slips, slips, payout_held_slips.c.slip_row_id == slips.c.id)
        .where(payout_held_slips.c.closing_date == closing_date)
        .group_by(slips.c.merchant_id, payout_held_slips.c.reason)
        .order_by(slips.c.merchant_id, payout_held_slips.c.reason)
    ):
        held[row[0]].append((row[1], int(row[2]), int(row[3])))
    held_slips = {  # merchant -> (slips, amount), each slip once
        row[0]: (int(row[1]), int(row[2]))
        for row in connection.execute(
            select(slips.c.merchant_id, func.count(), func.sum(slips.c.amount))
            .where(
                slips.c.id.in_(
                    select(payout_held_slips.c.slip_row_id).where(payout_held_slips.c.closing_date == closing_date)
                )
            )
            .group_by(slips.c.merchant_id)
        )
    }
    adjustments = defaultdict(list)
    for adjustment in adjustments_of(connection, closing_date):
        adjustments[adjustment["merchant_id"]].append(adjustment)
    width = len(MERCHANT_COLUMNS)

    files = {}
    summary_rows: list[list[Any]] = [SUMMARY_COLUMNS]
    for st in statements:
        head = [st.merchant_id, st.name, closing_date.isoformat(), st.payout_date.isoformat()]
        rows: list[list[Any]] = [MERCHANT_COLUMNS]
        for line in lines[st.statement_id]:
            rows.append(
                [
                    "明細",
                    *head,
                    line.card_company_name or line.card_company,
                    *_account_cells(line),
                    line.slip_count,
                    line.gross_amount,
                    line.fee,
                    "",
                    "",
                    "",
                    "",
                    "",
                    line.held_back_count,
                    line.held_back_amount,
                ]
            )
        for transfer in transfers[st.statement_id]:
            rows.append(
                ["振込", *head, "", *_account_cells(transfer), "", "", "", "", "", "", transfer.amount, "", "", ""]
            )
        for reason, count, amount in held[st.merchant_id]:
            rows.append(
                [
                    "保留",
                    *head,
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    count,
                    amount,
                    "",
                    "",
                    "",
                    "",
                    "",
                    held_back_reason(reason),
                    "",
                    "",
                ]
            )
        rows += _fee_rows(head, st, invoice)
        for a in adjustments[st.merchant_id]:
            rows.append(
                ["調整", *head, *[""] * 16, a["amount"], f"{ADJUSTMENT_KINDS.get(a['kind'], a['kind'])}: {a['reason']}"]
            )
        rows.append(
            [
                "合計",
                *head,
                "",
                "",
                "",
                "",
                "",
                "",
                st.slip_count,
                st.gross_amount,
                st.fee,
                st.transfer_fee,
                st.carried_in,
                st.carried_forward,
                st.net_amount,
                "",
                "",
                "",
                st.adjustment_amount,
                "",
                "",
                "",
                "",
                tax_in(invoice.taxable_total(int(st.fee), int(st.transfer_fee))),
                invoice.registration_number,
            ]
        )
        files[statement_file_name(st.merchant_id)] = _csv(
            [row + [""] * (width - len(row)) for row in rows], MERCHANT_TEXT_COLUMNS, encoding
        )
        summary_rows.append(
            [
                st.merchant_id,
                st.name,
                st.payout_cycle,
                st.payout_date.isoformat(),
                st.slip_count,
                st.gross_amount,
                st.fee,
                st.transfer_fee,
                st.carried_in,
                st.carried_forward,
                st.net_amount,
                len(transfers[st.statement_id]),
                "paid"
                if st.net_amount > 0
                else "debt carried forward"
                if st.carried_forward < 0
                else "carried forward",
                *held_slips.get(st.merchant_id, (0, 0)),
                sum(line.held_back_count for line in lines[st.statement_id]),
                sum(int(line.held_back_amount) for line in lines[st.statement_id]),
                st.adjustment_amount,
            ]
        )

    def total(label: str, payout_date: str, rows: list[list]) -> list:
        sums = [sum(int(row[i]) for row in rows) for i in range(4, 12)]
        return [label, "", "", payout_date, *sums, "", *[sum(int(row[i]) for row in rows) for i in range(13, 18)]]

    statement_rows = summary_rows[1:]
    # A month-end closing pays monthly merchants on one date and twice-monthly ones on another: a
    # subtotal per payout date, each the total of that date's transfer files.
    for payout_day in sorted({row[3] for row in statement_rows}):
        summary_rows.append(total("SUBTOTAL", payout_day, [row for row in statement_rows if row[3] == payout_day]))
    summary_rows.append(total("TOTAL", "", statement_rows))
    files[SUMMARY_FILE] = _csv(summary_rows, (0,), encoding)
    return files


def _slip_row(row, payout_date: date, closing_date: date, card_names: dict) -> list:
    return [
        row.merchant_id,
        closing_date.isoformat(),
        payout_date.isoformat(),
        SLIP_STATUS[row.status],
        row.slip_id,
        card_names.get(row.card_company, row.card_company),
        int(row.amount),
        _day(row.payment_date),
        _day(row.confirmed_on),
        _day(row.registered_on),
        _day(row.usage_date),
        row.bank_code,
        row.branch_code,
        row.account_number,
        "○" if row.paid_late else "",
        held_back_reason(row.reasons) if row.reasons else "",
    ]


def _day(value) -> str:
    """A DATE column as YYYY-MM-DD (SQLite gives text, PostgreSQL a date)."""
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def write_slip_files(
    connection: Connection, closing_date: date, directory: Path | None, encoding: str | None = None
) -> int:
    """The slips behind each statement of the closing, one file per merchant, streamed from one
    query (sql/payout/statement_files/slip_detail.sql); directory None counts them only."""
    payout_dates = dict(
        connection.execute(
            select(payout_statements.c.merchant_id, payout_statements.c.payout_date).where(
                payout_statements.c.closing_date == closing_date
            )
        ).all()
    )
    card_names = dict(connection.execute(select(card_companies.c.card_company, card_companies.c.name)).all())
    result = connection.execution_options(stream_results=True, yield_per=5_000).execute(
        sql_text("payout/statement_files/slip_detail", connection.dialect.name), {"closing_date": closing_date}
    )
    written = 0
    for merchant_id, rows in groupby(result, key=lambda row: row.merchant_id):
        if merchant_id not in payout_dates:
            continue  # held slips of a merchant without a statement in this closing
        detail = (_slip_row(row, payout_dates[merchant_id], closing_date, card_names) for row in rows)
        written += 1
        if directory is None:
            for _ in detail:
                pass
            continue
        path = safe_child(directory, slip_file_name(merchant_id))
        write_stream(path, partial(_write_slip_detail, detail, encoding))
    return written


def _write_slip_detail(detail: Iterable[Sequence], encoding: str | None, out: IO[bytes]) -> None:
    write_csv_stream(out, chain([SLIP_COLUMNS], detail), text_columns=SLIP_TEXT_COLUMNS, encoding=encoding)


@dataclass(frozen=True, slots=True)
class StatementFiles(Result):
    """What a closing's files are: the folder, the statement and slip detail files (besides the
    closing summary), and whether they were only counted (a dry run)."""

    closing_date: date
    directory: str
    statement_files: int
    slip_files: int
    dry_run: bool


def run_statement_files(
    engine: Engine, closing_date: date, home: Path, *, dry_run: bool = False, configuration: Settings | None = None
) -> StatementFiles:
    """Write the closing's files (a dry run only counts them). Returns what was written.
    `configuration`: the invoice settings and the CSV encoding (default: the environment's)."""
    configuration = configuration or Settings.from_environment()
    directory = statements_directory(home, closing_date)
    with engine.connect() as connection:
        files = statement_files(connection, closing_date, configuration)
        if not dry_run:
            write_files(directory, files)
        slip_files = write_slip_files(
            connection, closing_date, None if dry_run else directory, configuration.csv_encoding
        )
    return StatementFiles(
        closing_date=closing_date,
        directory=str(directory),
        statement_files=len(files) - 1,
        slip_files=slip_files,
        dry_run=dry_run,
    )
