"""The files of a closing, under KESSAI_HOME/statements/<closing_date>/ (docs/payout-closing.md):

- statement-<merchant_id>.csv: what the merchant downloads (支払明細): a row per line (明細: card
  company and bank account, with the slips of it paid late after a hold), a row per transfer (振込),
  a row per reason slips were held back (保留: not transmitted by the closing date), a row per
  adjustment the closing took (調整: chargebacks, corrections, returned transfers) and the
  statement's totals (合計; 次回繰越 below 0 is a debt carried to the next closing);
- closing-summary.csv: one row per statement and a total row, for the operators.

UTF-8 with a byte order mark and CRLF line ends, so Excel opens them as they are. They are written
from the stored statements, so every run of the closing writes the same bytes, through the one
safe CSV writer (kessai.csv_files: no cell runs as a formula) into files of KESSAI_FILE_MODE
(kessai.output_files).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Connection, Engine, func, select

from kessai.csv_files import csv_text
from kessai.output_files import write_files
from kessai.payout_adjustments import adjustments_of
from kessai.schema import (
    bank_accounts,
    card_companies,
    merchants,
    payout_held_slips,
    payout_statement_lines,
    payout_statements,
    payout_transfers,
    slips,
)

ENCODING = "utf-8-sig"
SUMMARY_FILE = "closing-summary.csv"
ACCOUNT_TYPE_NAMES = {"ordinary": "普通", "checking": "当座", "savings": "貯蓄"}

MERCHANT_COLUMNS = [
    "区分", "店舗ID", "店舗名", "締め日", "支払予定日", "カード会社", "金融機関コード", "支店コード",
    "預金種目", "口座番号", "口座名義", "件数", "売上金額", "手数料", "振込手数料", "前回繰越",
    "次回繰越", "支払金額", "保留理由", "うち前回以前の保留分件数", "うち前回以前の保留分金額",
    "調整額", "調整内容",
]
SUMMARY_COLUMNS = [
    "merchant_id", "name", "payout_cycle", "payout_date", "slip_count", "gross_amount", "fee",
    "transfer_fee", "carried_in", "carried_forward", "net_amount", "transfers", "status",
    "held_back_slips", "held_back_amount", "paid_late_slips", "paid_late_amount", "adjustment_amount",
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


def _csv(rows: list[list]) -> bytes:
    return csv_text(rows, lineterminator="\r\n").encode(ENCODING)


def _account_cells(account) -> list[str]:
    return [
        account.bank_code,
        account.branch_code,
        ACCOUNT_TYPE_NAMES.get(account.account_type, account.account_type),
        account.account_number,
        account.holder_kana,
    ]


def statement_files(connection: Connection, closing_date: date) -> dict[str, bytes]:
    """The closing's files by name: each merchant's statement CSV and the operators' summary."""
    s = payout_statements.c
    statements = connection.execute(
        select(s.statement_id, s.merchant_id, merchants.c.name, merchants.c.payout_cycle, s.payout_date,
               s.slip_count, s.gross_amount, s.fee, s.transfer_fee, s.carried_in, s.carried_forward, s.net_amount,
               s.adjustment_amount)
        .join_from(payout_statements, merchants)
        .where(s.closing_date == closing_date)
        .order_by(s.merchant_id)
    ).all()
    account_columns = (bank_accounts.c.bank_code, bank_accounts.c.branch_code, bank_accounts.c.account_type,
                       bank_accounts.c.account_number, bank_accounts.c.holder_kana)
    lines = defaultdict(list)
    for line in connection.execute(
        select(payout_statement_lines.c.statement_id, card_companies.c.name.label("card_company_name"),
               payout_statement_lines.c.card_company, payout_statement_lines.c.slip_count,
               payout_statement_lines.c.gross_amount, payout_statement_lines.c.fee,
               payout_statement_lines.c.held_back_count, payout_statement_lines.c.held_back_amount, *account_columns)
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
            .where(slips.c.id.in_(select(payout_held_slips.c.slip_row_id)
                                  .where(payout_held_slips.c.closing_date == closing_date)))
            .group_by(slips.c.merchant_id)
        )
    }
    adjustments = defaultdict(list)
    for adjustment in adjustments_of(connection, closing_date):
        adjustments[adjustment["merchant_id"]].append(adjustment)
    width = len(MERCHANT_COLUMNS)

    files = {}
    summary_rows = [SUMMARY_COLUMNS]
    for st in statements:
        head = [st.merchant_id, st.name, closing_date.isoformat(), st.payout_date.isoformat()]
        rows = [MERCHANT_COLUMNS]
        for line in lines[st.statement_id]:
            rows.append(["明細", *head, line.card_company_name or line.card_company, *_account_cells(line),
                         line.slip_count, line.gross_amount, line.fee, "", "", "", "", "",
                         line.held_back_count, line.held_back_amount])
        for transfer in transfers[st.statement_id]:
            rows.append(["振込", *head, "", *_account_cells(transfer), "", "", "", "", "", "", transfer.amount,
                         "", "", ""])
        for reason, count, amount in held[st.merchant_id]:
            rows.append(["保留", *head, "", "", "", "", "", "", count, amount, "", "", "", "", "",
                         held_back_reason(reason), "", ""])
        for a in adjustments[st.merchant_id]:
            rows.append(["調整", *head, *[""] * 16, a["amount"],
                         f"{ADJUSTMENT_KINDS.get(a['kind'], a['kind'])}: {a['reason']}"])
        rows.append(["合計", *head, "", "", "", "", "", "", st.slip_count, st.gross_amount, st.fee,
                     st.transfer_fee, st.carried_in, st.carried_forward, st.net_amount, "", "", "",
                     st.adjustment_amount, ""])
        files[statement_file_name(st.merchant_id)] = _csv([row + [""] * (width - len(row)) for row in rows])
        summary_rows.append([st.merchant_id, st.name, st.payout_cycle, st.payout_date.isoformat(), st.slip_count,
                             st.gross_amount, st.fee, st.transfer_fee, st.carried_in, st.carried_forward,
                             st.net_amount, len(transfers[st.statement_id]),
                             "paid" if st.net_amount > 0
                             else "debt carried forward" if st.carried_forward < 0 else "carried forward",
                             *held_slips.get(st.merchant_id, (0, 0)),
                             sum(line.held_back_count for line in lines[st.statement_id]),
                             sum(int(line.held_back_amount) for line in lines[st.statement_id]),
                             st.adjustment_amount])
    totals = [sum(int(st[i]) for st in statements) for i in range(5, 12)]
    extra = [sum(int(row[i]) for row in summary_rows[1:]) for i in range(13, 18)]
    summary_rows.append(["TOTAL", "", "", "", *totals, sum(len(t) for t in transfers.values()), "", *extra])
    files[SUMMARY_FILE] = _csv(summary_rows)
    return files


def run_statement_files(engine: Engine, closing_date: date, home: Path, *, dry_run: bool = False) -> dict:
    """Write the closing's files (a dry run only counts them). Returns what was written."""
    with engine.connect() as connection:
        files = statement_files(connection, closing_date)
    directory = statements_directory(home, closing_date)
    if not dry_run:
        write_files(directory, files)
    return {
        "closing_date": closing_date.isoformat(),
        "directory": str(directory),
        "statement_files": len(files) - 1,
        "dry_run": dry_run,
    }
