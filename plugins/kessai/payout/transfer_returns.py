"""Returned transfers (振込不能・組戻し, docs/zengin-transfer-file.md, "Returned transfers").

The bank's result file (kessai.payout.zengin.parse_transfer_results) names each transfer by the customer
codes the transfer file wrote (顧客コード1: the statement, 顧客コード2: the bank account). Each
returned one that matches a filed transfer — same statement, account, amount and account number —
is recorded once (payout_transfer_returns, unique per transfer), with two adjustments for the
merchant's next closing: the amount back (returned_transfer) and the return fee off
(return_fee, when the fee is not 0). The closings pay nothing to that account again: the balance
is carried until another account takes effect, then paid to it. The merchant is mailed
(transfer_returned) and the operators get one alert per file.

A record that matches no filed transfer changes nothing and is reported; a file read again, or a
transfer returned again by another file, changes nothing and mails nobody again.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select, tuple_

from kessai.calendar.run_dates import japan_date_of
from kessai.db.schema import (
    bank_accounts,
    merchants,
    payout_statements,
    payout_transfer_files,
    payout_transfer_returns,
    payout_transfers,
    settings,
)
from kessai.errors import Refusal
from kessai.files.output_files import make_folder, safe_child
from kessai.kinds import FolderImport, Result, optional
from kessai.mail.operator_alerts import OPERATOR_ALERT_KIND, operator_email
from kessai.mail.outbox import enqueue_mail
from kessai.mail.templates import render_mail
from kessai.payout.adjustments import AdjustmentKind, add_adjustment
from kessai.payout.zengin import (
    ACCOUNT_TYPE_CODES,
    TransferOutcome,
    TransferResult,
    ZenginFormatError,
    parse_transfer_results,
)
from kessai.settings import (
    TRANSFER_RETURN_FEE_VARIABLE as RETURN_FEE_VARIABLE,
)
from kessai.settings import (
    Settings,
)

log = logging.getLogger(__name__)

RETURN_FEE_SETTING = "payout.transfer_return_fee"
CREATED_BY = "transfer results"

# 不能事由コード as kessai reads them (the bank's own list may be longer: an unknown code is shown as is).
REASONS = {
    "00": "理由の記載なし",
    "01": "該当口座なし",
    "02": "口座名義相違",
    "03": "口座解約済",
    "04": "預金種目相違",
    "05": "取引停止口座",
    "06": "受取人の申し出による受取拒否",
    "09": "その他",
}
RESULT_NAMES = {TransferOutcome.NOT_DELIVERED: "振込不能", TransferOutcome.RECALLED: "組戻し"}


class TransferResultsRefused(Refusal, ValueError):
    """A result file that cannot be read, or records in it that match no transfer."""


def reason_text(code: str) -> str:
    return f"{REASONS.get(code, '銀行の不能事由コード')} ({code})"


def return_fee(connection: Connection, configuration: Settings | None = None) -> int:
    """The fee kept from a returned transfer paid again: KESSAI_TRANSFER_RETURN_FEE (the
    configuration's transfer_return_fee, default: the environment's), else the kessai_settings row
    payout.transfer_return_fee, else 0."""
    configured = (configuration or Settings.from_environment()).transfer_return_fee
    if configured is not None:
        return configured
    value = connection.execute(select(settings.c.value).where(settings.c.key == RETURN_FEE_SETTING)).scalar()
    if value is None:
        return 0
    if not value.strip().isdigit():
        raise TransferResultsRefused(
            f"the return fee {value!r} ({RETURN_FEE_VARIABLE} or kessai_settings {RETURN_FEE_SETTING}) must be "
            "whole yen, 0 or more"
        )
    return int(value)


@dataclass(frozen=True, slots=True)
class ResultFile(Result):
    """One result file's import: its records, the returns recorded now (returned) and before
    (already_recorded), the records matching no transfer, the later transfers to a returned
    account; where it was moved once recorded."""

    file: str
    sha256: str
    records: int
    returned: list[dict]
    already_recorded: list[dict]
    unmatched: list[str]
    ahead_to_returned_accounts: list[dict]
    dry_run: bool
    moved_to: str = optional()


@dataclass
class ResultImport:
    file: str
    sha256: str
    records: int = 0
    returned: list[dict] = field(default_factory=list)  # recorded by this import
    known: list[dict] = field(default_factory=list)  # recorded before (a file read again)
    unmatched: list[str] = field(default_factory=list)
    ahead: list[dict] = field(default_factory=list)  # other transfers to a returned account, still to come

    def result(self, dry_run: bool) -> ResultFile:
        return ResultFile(
            self.file, self.sha256, self.records, self.returned, self.known, self.unmatched, self.ahead, dry_run
        )


def _transfers_named(connection: Connection, results: list[TransferResult]) -> dict:
    keys = [(r.transfer.customer_code_1, r.transfer.customer_code_2) for r in results]
    t, s, b = payout_transfers.c, payout_statements.c, bank_accounts.c
    rows = (
        connection.execute(
            select(
                t.statement_id,
                t.bank_account_id,
                t.amount,
                t.payout_date,
                t.transfer_file_id,
                s.merchant_id,
                s.closing_date,
                b.bank_code,
                b.branch_code,
                b.account_type,
                b.account_number,
                merchants.c.name.label("merchant_name"),
                merchants.c.email,
                payout_transfer_returns.c.transfer_return_id,
            )
            .join_from(payout_transfers, payout_statements)
            .join(bank_accounts, b.bank_account_id == t.bank_account_id)
            .join(merchants, merchants.c.merchant_id == s.merchant_id)
            .outerjoin(
                payout_transfer_returns,
                (payout_transfer_returns.c.statement_id == t.statement_id)
                & (payout_transfer_returns.c.bank_account_id == t.bank_account_id),
            )
            .where(tuple_(t.statement_id, t.bank_account_id).in_(keys))
        )
        .mappings()
        .all()
    )
    return {(int(r["statement_id"]), int(r["bank_account_id"])): r for r in rows}


def _mismatch(result: TransferResult, row) -> str | None:
    """Why a record does not match the transfer its customer codes name, or None."""
    p = result.transfer
    if row is None:
        return "no transfer has these customer codes"
    if row["transfer_file_id"] is None:
        return "that transfer is in no transfer file"
    sent = (
        row["bank_code"],
        row["branch_code"],
        ACCOUNT_TYPE_CODES.get(row["account_type"]),
        row["account_number"],
        int(row["amount"]),
    )
    read = (p.bank_code, p.branch_code, p.account_type, p.account_number, p.amount)
    if sent != read:
        return (
            f"the transfer was {sent[4]:,} yen to {sent[0]}-{sent[1]} {sent[3]}, the record says "
            f"{read[4]:,} yen to {read[0]}-{read[1]} {read[3]}"
        )
    return None


def import_transfer_results(
    connection: Connection, name: str, data: bytes, *, now: datetime, fee: int, alert_recipient: str | None = None
) -> ResultImport:
    """Record the returns of one result file (see the module's doc), in the caller's transaction."""
    try:
        _, results = parse_transfer_results(data)
    except (ZenginFormatError, UnicodeDecodeError, ValueError) as error:
        raise TransferResultsRefused(
            f"transfer result file {name} cannot be read: {error}. Nothing was recorded"
        ) from None
    run = ResultImport(file=name, sha256=hashlib.sha256(data).hexdigest(), records=len(results))
    returns = [r for r in results if r.result != TransferOutcome.DONE]
    transfers = _transfers_named(connection, returns) if returns else {}
    registered_on = japan_date_of(now)
    mails, recorded = [], set()
    for result in returns:
        key = (result.transfer.customer_code_1, result.transfer.customer_code_2)
        row = transfers.get(key)
        why = _mismatch(result, row)
        if why:
            run.unmatched.append(
                f"record {result.record_number} (statement {key[0]}, account {key[1]}, {result.transfer.amount:,} yen, "
                f"{RESULT_NAMES[result.result]} {reason_text(result.reason_code)}): {why}"
            )
            continue
        assert row is not None  # _mismatch names a missing transfer
        returned = {
            "merchant_id": row["merchant_id"],
            "statement_id": key[0],
            "bank_account_id": key[1],
            "amount": int(row["amount"]),
            "payout_date": row["payout_date"].isoformat(),
            "closing_date": row["closing_date"].isoformat(),
            "result": result.result,
            "reason_code": result.reason_code,
            "reason": reason_text(result.reason_code),
            "return_fee": fee,
        }
        if row["transfer_return_id"] is not None or key in recorded:  # read before, or twice in this file
            run.known.append(returned)
            continue
        recorded.add(key)
        return_id = connection.execute(
            insert(payout_transfer_returns)
            .values(
                statement_id=key[0],
                bank_account_id=key[1],
                amount=returned["amount"],
                result=result.result,
                reason_code=result.reason_code,
                result_file=name,
                result_file_sha256=run.sha256,
                return_fee=fee,
                registered_at=now,
                registered_on=registered_on,
            )
            .returning(payout_transfer_returns.c.transfer_return_id)
        ).scalar_one()
        what = f"{RESULT_NAMES[result.result]} {reason_text(result.reason_code)}: 支払予定日 {returned['payout_date']} の振込"
        added = add_adjustment(
            connection,
            row["merchant_id"],
            returned["amount"],
            kind=AdjustmentKind.RETURNED_TRANSFER,
            reason=what,
            created_by=CREATED_BY,
            now=now,
            transfer_return_id=return_id,
        )
        if fee:
            add_adjustment(
                connection,
                row["merchant_id"],
                -fee,
                kind=AdjustmentKind.RETURN_FEE,
                reason=what,
                created_by=CREATED_BY,
                now=now,
                transfer_return_id=return_id,
            )
        returned["repaid_from_closing"] = added.closing_date.isoformat()
        returned["merchant_mailed"] = bool(row["email"])
        run.returned.append(returned)
        mails.append((row, returned))
    run.ahead = transfers_ahead(
        connection, [(r["statement_id"], r["bank_account_id"]) for r in run.returned], registered_on
    )
    for row, returned in mails:
        if row["email"]:
            _mail_merchant(connection, row, returned)
    if run.returned or run.unmatched:
        _alert_operators(connection, run, alert_recipient or operator_email())
    return run


def transfers_ahead(connection: Connection, returned: list[tuple[int, int]], day) -> list[dict]:
    """Other transfers to the accounts just returned whose payout date is `day` or later: issued
    before the return, they are not stopped (an issued statement is never changed); the operators
    are told, to ask the bank to hold them or to import their return when it comes."""
    if not returned:
        return []
    t, s = payout_transfers.c, payout_statements.c
    rows = connection.execute(
        select(
            s.merchant_id, t.statement_id, t.bank_account_id, t.payout_date, t.amount, payout_transfer_files.c.file_name
        )
        .join_from(payout_transfers, payout_statements)
        .outerjoin(payout_transfer_files, payout_transfer_files.c.transfer_file_id == t.transfer_file_id)
        .where(
            t.bank_account_id.in_({account for _, account in returned}),
            t.payout_date >= day,
            tuple_(t.statement_id, t.bank_account_id).not_in(returned),
        )
        .order_by(t.payout_date, s.merchant_id)
    ).all()
    return [
        {
            "merchant_id": m,
            "statement_id": int(st),
            "bank_account_id": int(b),
            "payout_date": p.isoformat(),
            "amount": int(a),
            "file": f or "",
        }
        for m, st, b, p, a, f in rows
    ]


def _mail_merchant(connection: Connection, row, returned: dict) -> None:
    subject, body = render_mail(
        "transfer_returned",
        merchant_name=row["merchant_name"],
        result=RESULT_NAMES[returned["result"]],
        reason=returned["reason"],
        payout_date=returned["payout_date"],
        closing_date=returned["closing_date"],
        amount=f"{returned['amount']:,}",
        bank_code=row["bank_code"],
        branch_code=row["branch_code"],
        account_number=row["account_number"],
        return_fee=f"{returned['return_fee']:,}",
        repaid=f"{returned['amount'] - returned['return_fee']:,}",
    )
    enqueue_mail(
        connection,
        kind="transfer_returned",
        dedupe_key=f"transfer_returned:{returned['statement_id']}:{returned['bank_account_id']}",
        recipient=row["email"],
        subject=subject,
        body=body,
    )


def _alert_operators(connection: Connection, run: ResultImport, recipient: str) -> None:
    subject, body = render_mail(
        "transfer_returns", file=run.file, returned=run.returned, unmatched=run.unmatched, ahead=run.ahead
    )
    enqueue_mail(
        connection,
        kind=OPERATOR_ALERT_KIND,
        dedupe_key=f"transfer_returns:{run.sha256}",
        recipient=recipient,
        subject=subject,
        body=body,
    )


def run_import(
    engine: Engine, path: Path, *, now: datetime, dry_run: bool = False, configuration: Settings | None = None
) -> ResultFile:
    """Import one result file in one transaction (a dry run rolls it back). Returns the summary.
    `configuration`: the return fee and the operators' address (default: the environment's)."""
    configuration = configuration or Settings.from_environment()
    data = path.read_bytes()
    with engine.connect() as connection:
        try:
            run = import_transfer_results(
                connection,
                path.name,
                data,
                now=now,
                fee=return_fee(connection, configuration),
                alert_recipient=configuration.operator_email,
            )
        except BaseException:
            connection.rollback()
            raise
        if dry_run:
            connection.rollback()
        else:
            connection.commit()
    return run.result(dry_run)


def results_folder(home: Path, configuration: Settings | None = None) -> Path:
    """Where the bank's result files are put for the transfer_results DAG: KESSAI_TRANSFER_RESULTS_DIR
    (the configuration's transfer_results_dir; default: the environment's), else KESSAI_HOME/transfer-results."""
    configured = (configuration or Settings.from_environment()).transfer_results_dir
    return configured if configured is not None else home / "transfer-results"


def move_to_done(path: Path) -> Path:
    """Move an imported file into done/ beside it; a different file of the same name already there
    keeps its name and this one gets its checksum's start appended."""
    done = make_folder(path.parent / "done")
    target = safe_child(done, path.name)
    if target.exists():
        if target.read_bytes() == path.read_bytes():
            path.unlink()
            return target
        target = safe_child(done, f"{path.name}.{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}")
    shutil.move(str(path), target)
    return target


def import_folder(
    engine: Engine, folder: Path, *, now: datetime, dry_run: bool = False, configuration: Settings | None = None
) -> FolderImport:
    """Import every file in folder (not its sub-folders, not hidden files), oldest name first, each
    in its own transaction, moving each to done/ once recorded. Refuses at the end, naming them,
    when records matched no transfer (the files are in done/: a re-import changes nothing)."""
    folder = make_folder(folder) if not dry_run else folder
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) if folder.exists() else []
    summaries = []
    for path in files:
        summary = run_import(engine, path, now=now, dry_run=dry_run, configuration=configuration)
        if not dry_run:
            summary = replace(summary, moved_to=str(move_to_done(path)))
        summaries.append(summary)
    result = FolderImport(str(folder), summaries, dry_run)
    unmatched = [f"{s.file}: {u}" for s in summaries for u in s.unmatched]
    if unmatched:
        raise TransferResultsRefused(
            f"{len(unmatched)} records of the transfer results match no filed transfer and changed nothing: "
            + "; ".join(unmatched)
            + ". Check them with the bank (operators alerted); the other returns were recorded. "
            + format_summary(result)
        )
    return result


def format_import(summary: ResultFile) -> list[str]:
    lines = [
        f"transfer results {summary.file}: {summary.records} records"
        + (" (dry run: nothing recorded)" if summary.dry_run else "")
    ]
    for r in summary.returned:
        lines.append(
            f"  RETURNED: merchant {r['merchant_id']}, statement {r['statement_id']} (closing {r['closing_date']}), "
            f"account {r['bank_account_id']}: {r['amount']:,} yen of payout {r['payout_date']}, "
            f"{RESULT_NAMES[r['result']]} {r['reason']}; paid again less a fee of {r['return_fee']:,} yen from the "
            f"closing of {r['repaid_from_closing']} on, once another account takes effect (merchant and operators mailed)"
        )
    for r in summary.already_recorded:
        lines.append(
            f"  already recorded: statement {r['statement_id']}, account {r['bank_account_id']} ({r['amount']:,} yen)"
        )
    for u in summary.unmatched:
        lines.append(f"  UNMATCHED: {u}")
    for a in summary.ahead_to_returned_accounts:
        lines.append(
            f"  AHEAD: merchant {a['merchant_id']}, statement {a['statement_id']}: {a['amount']:,} yen to the returned "
            f"account {a['bank_account_id']} on {a['payout_date']} ({a['file'] or 'in no file yet'}), issued before the "
            "return: ask the bank to hold it, or import its return when it comes"
        )
    if not (summary.returned or summary.already_recorded or summary.unmatched):
        lines.append("  no returned transfer")
    if summary.moved_to is not None:
        lines.append(f"  moved to {summary.moved_to}")
    return lines


def format_summary(result: FolderImport | ResultFile) -> str:
    if isinstance(result, ResultFile):
        return "\n".join(format_import(result))
    if not result.files:
        return f"no transfer result file in {result.folder}"
    return "\n".join(line for s in result.files for line in format_import(s))
