"""The bank transfer files of the payouts (docs/zengin-transfer-file.md).

The run for business day D builds, for every payout date P among the next N business days after
D (N = the lead, default 2), a Zengin 総合振込 file of P's transfers not yet in a file. It refuses
while a closing that pays on P has not run, or while the bank master was never loaded. A transfer
with slips behind it that have not gone to their card company, or to an account whose bank or
branch the bank master does not list (unknown, or merged away), is left out (recorded in
payout_withheld_transfers with its reason) and the operators get one alert mail per run about those
left out; it goes in a further file of P once the slips went out or the account was corrected.
Bank and branch names in the file come from the bank master; the 新規コード marks the first transfer
to a merchant (1) and the first to a changed account (2). A transfer whose account cannot be
written (a name
outside the Zengin character set, a malformed code) stays out of the file, is named in the error
the run ends with, and goes in a further file of P once corrected. A file once built is never
rebuilt differently: a re-run re-creates a missing file from the same transfers and checks it
against the checksum recorded when it was built.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine, and_, bindparam, case, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kessai.calendar.business_calendar import BusinessCalendar, check_business_day
from kessai.calendar.rules import PAYOUT_CYCLES, closing_dates, payout_date
from kessai.calendar.store import prepare_calendar
from kessai.db.database import sql_text
from kessai.db.schema import (
    bank_accounts,
    master_banks,
    master_branches,
    payout_closings,
    payout_statement_lines,
    payout_statements,
    payout_transfer_files,
    payout_transfers,
    payout_withheld_transfers,
    settings,
)
from kessai.errors import Refusal
from kessai.files.output_files import PRIVATE_FILE_MODE, safe_child, write_files
from kessai.kinds import ClosedDay, Result, optional
from kessai.mail.operator_alerts import OPERATOR_ALERT_KIND, operator_email
from kessai.mail.outbox import enqueue_mail
from kessai.mail.templates import render_mail
from kessai.payout.bank_master import BankMasterError, check_account, require_loaded
from kessai.payout.bank_master import describe as describe_bank_master_problem
from kessai.payout.bank_master import problem as bank_master_problem
from kessai.payout.zengin import (
    CHANGED_ACCOUNT,
    FIRST_TRANSFER,
    OTHER_TRANSFER,
    Remitter,
    Transfer,
    build_transfer_file,
    data_record,
    parse_transfer_file,
)
from kessai.settings import REMITTER_FIELDS, Settings
from kessai.settings import TRANSFER_LEAD_DAYS_VARIABLE as LEAD_DAYS_VARIABLE

log = logging.getLogger(__name__)

LEAD_DAYS_SETTING = "zengin.lead_business_days"
DEFAULT_LEAD_DAYS = 2

# The remitter (振込依頼人, REMITTER_FIELDS): KESSAI_ZENGIN_<FIELD> in the environment
# (Settings.zengin_remitter), else kessai_settings row zengin.<field>.


class TransferFileError(Refusal, ValueError):
    """Transfers that cannot be filed, or a file that would differ from the one built before."""


def _setting(connection: Connection, key: str, configured: str | None) -> str | None:
    """The value the environment configures, else the kessai_settings row `key`."""
    if configured is not None:
        return configured
    return connection.execute(select(settings.c.value).where(settings.c.key == key)).scalar()


def lead_business_days(connection: Connection, configuration: Settings | None = None) -> int:
    """How many business days before its payout date a transfer file is built: the configuration's
    transfer_lead_days (default: the environment's), else the kessai_settings row, else 2."""
    configured = (configuration or Settings.from_environment()).transfer_lead_days
    value = _setting(connection, LEAD_DAYS_SETTING, None if configured is None else str(configured))
    if value is None:
        return DEFAULT_LEAD_DAYS
    if not value.strip().isdigit() or int(value) < 1:
        raise TransferFileError(
            f"{LEAD_DAYS_VARIABLE} / {LEAD_DAYS_SETTING} = {value!r}: expected a number of days >= 1"
        )
    return int(value)


def load_remitter(connection: Connection, configuration: Settings | None = None) -> Remitter:
    """The remitter: each field from the configuration's zengin_remitter (default: the
    environment's), else its kessai_settings row."""
    configured = (configuration or Settings.from_environment()).zengin_remitter
    values = {name: _setting(connection, f"zengin.{name}", configured.get(name)) for name in REMITTER_FIELDS}
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise TransferFileError(
            "the remitter (振込依頼人) of the transfer files is not configured: set "
            + ", ".join(f"KESSAI_ZENGIN_{name.upper()} (or kessai_settings zengin.{name})" for name in missing)
        )
    return Remitter(**{name: value for name, value in values.items() if value is not None})  # none missing


def check_transfer_day(calendar: BusinessCalendar, day: date) -> str | None:
    """None on a business day; the reason on a day the operator declared closed. Refuses any other."""
    return check_business_day(
        calendar,
        day,
        refused="transfer files are built on business days; the next is {next}",
        closed="no transfer file is built on it",
    )


def payout_window(calendar: BusinessCalendar, day: date, lead_days: int) -> list[date]:
    """The business days after `day`, up to the lead_days-th: the payout dates the run of `day`
    builds files for (a missed run's payout dates are still ahead of the next run)."""
    last = day
    for _ in range(lead_days):
        last = calendar.next_business_day(last)
    return calendar.business_days(day + timedelta(days=1), last)


def closings_paying_on(calendar: BusinessCalendar, payout_day: date) -> list[date]:
    """The closing dates (of any cycle) whose payout date is payout_day."""
    candidates = {
        closing
        for cycle in PAYOUT_CYCLES
        for closing in closing_dates(cycle, payout_day - timedelta(days=62), payout_day)
        if payout_date(cycle, closing, calendar) == payout_day
    }
    return sorted(candidates)


def check_closings_ran(connection: Connection, calendar: BusinessCalendar, payout_day: date) -> None:
    first = connection.execute(select(func.min(payout_closings.c.closing_date))).scalar()
    if first is None:
        return  # no closing has run yet: nothing is due
    ran = set(
        connection.execute(
            select(payout_closings.c.closing_date).where(payout_closings.c.closing_date >= first)
        ).scalars()
    )
    missing = [c for c in closings_paying_on(calendar, payout_day) if c >= first and c not in ran]
    if missing:
        raise TransferFileError(
            f"the transfer file for {payout_day} cannot be built: closing {', '.join(map(str, missing))} "
            f"(paid on {payout_day}) has not run. Run payout_closing for it first, then this run again."
        )


def _transfers_query(payout_day: date):
    """The transfers of payout_day with their accounts, as a file records them (the names and
    新規コード recorded when filed; before 0010 none were: the account's own names and 0)."""
    return (
        select(
            payout_transfers.c.statement_id,
            payout_transfers.c.bank_account_id,
            payout_transfers.c.amount,
            payout_statements.c.merchant_id,
            payout_statements.c.closing_date,
            bank_accounts.c.bank_code,
            func.coalesce(payout_transfers.c.bank_name_kana, bank_accounts.c.bank_name_kana).label("bank_name_kana"),
            bank_accounts.c.branch_code,
            func.coalesce(payout_transfers.c.branch_name_kana, bank_accounts.c.branch_name_kana).label(
                "branch_name_kana"
            ),
            bank_accounts.c.account_type,
            bank_accounts.c.account_number,
            bank_accounts.c.holder_kana,
            func.coalesce(payout_transfers.c.new_code, OTHER_TRANSFER).label("new_code"),
        )
        .join_from(payout_transfers, payout_statements)
        .join(bank_accounts, bank_accounts.c.bank_account_id == payout_transfers.c.bank_account_id)
        .where(payout_transfers.c.payout_date == payout_day)
        .order_by(payout_statements.c.merchant_id, payout_transfers.c.bank_account_id)
    )


def _unfiled_query(payout_day: date):
    """The transfers of payout_day in no file, each with what the bank master says of its bank and
    branch and the 新規コード it gets: one query for all of them (docs/zengin-transfer-file.md)."""
    filed = payout_transfers.alias("filed")
    filed_statements = payout_statements.alias("filed_statements")
    account_paid_before = exists().where(
        filed.c.bank_account_id == payout_transfers.c.bank_account_id, filed.c.transfer_file_id.is_not(None)
    )
    merchant_paid_before = exists().where(
        filed.c.statement_id == filed_statements.c.statement_id,
        filed_statements.c.merchant_id == payout_statements.c.merchant_id,
        filed.c.transfer_file_id.is_not(None),
    )
    slip_count = (
        select(func.coalesce(func.sum(payout_statement_lines.c.slip_count), 0))
        .where(
            payout_statement_lines.c.statement_id == payout_transfers.c.statement_id,
            payout_statement_lines.c.bank_account_id == payout_transfers.c.bank_account_id,
        )
        .scalar_subquery()
    )
    return (
        _transfers_query(payout_day)
        .add_columns(
            master_banks.c.kana.label("master_bank_kana"),
            func.coalesce(master_banks.c.removed_in, case((master_banks.c.bank_code.is_(None), ""))).label(
                "bank_removed_in"
            ),
            master_branches.c.kana.label("master_branch_kana"),
            master_branches.c.removed_in.label("branch_removed_in"),
            case(
                (account_paid_before, OTHER_TRANSFER), (merchant_paid_before, CHANGED_ACCOUNT), else_=FIRST_TRANSFER
            ).label("next_new_code"),
            slip_count.label("slip_count"),
        )
        .outerjoin(master_banks, master_banks.c.bank_code == bank_accounts.c.bank_code)
        .outerjoin(
            master_branches,
            and_(
                master_branches.c.bank_code == bank_accounts.c.bank_code,
                master_branches.c.branch_code == bank_accounts.c.branch_code,
            ),
        )
        .where(payout_transfers.c.transfer_file_id.is_(None))
    )


def _transfer(row, *, from_master: bool = False) -> Transfer:
    """A data record's fields: for a transfer being filed, the names from the bank master and the
    新規コード it gets now; for one filed before, what was recorded when it was."""
    return Transfer(
        bank_code=row.bank_code,
        bank_name=row.master_bank_kana if from_master else row.bank_name_kana,
        branch_code=row.branch_code,
        branch_name=row.master_branch_kana if from_master else row.branch_name_kana,
        account_type=row.account_type,
        account_number=row.account_number,
        holder_name=row.holder_kana,
        amount=int(row.amount),
        customer_code_1=int(row.statement_id),
        customer_code_2=int(row.bank_account_id),
        new_code=row.next_new_code if from_master else row.new_code,
    )


def file_name(payout_day: date, sequence: int) -> str:
    return f"sogofurikomi-{payout_day:%Y%m%d}-{sequence:02d}.txt"


def transfers_directory(home: Path, payout_day: date) -> Path:
    return home / "transfers" / payout_day.isoformat()


@dataclass
class TransferFileRun:
    """What a run built and what it could not file."""

    summary: dict
    new_files: dict[date, dict[str, bytes]] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    withheld: list[dict] = field(default_factory=list)


UNTRANSMITTED = "slips_not_transmitted"


def withhold_unsent_transfers(connection: Connection, day: date, payout_day: date) -> list[dict]:
    """The transfers of payout_day in no file with slips behind them that have not been transmitted
    (nothing is paid that did not go to a card company): recorded as withheld by the run of `day`
    (once per day and transfer) and returned; the file leaves them out."""
    rows = (
        connection.execute(
            sql_text("payout/transfer_files/untransmitted_behind_transfers", connection.dialect.name),
            {"payout_date": payout_day},
        )
        .mappings()
        .all()
    )
    withheld = [
        {
            "payout_date": payout_day.isoformat(),
            "merchant_id": r["merchant_id"],
            "closing_date": str(r["closing_date"]),
            "statement_id": int(r["statement_id"]),
            "bank_account_id": int(r["bank_account_id"]),
            "amount": int(r["amount"]),
            "slip_count": int(r["slip_count"]),
            "slip_amount": int(r["slip_amount"]),
            "reason": UNTRANSMITTED,
            "detail": f"{int(r['slip_count'])} slips behind it ({int(r['slip_amount']):,} yen) not transmitted",
        }
        for r in rows
    ]
    _record_withheld(connection, day, withheld)
    return withheld


def enqueue_withheld_alert(connection: Connection, day: date, withheld: list[dict], recipient: str) -> int:
    """The operators' alert about the transfers the run of `day` left out. Its dedupe key names the
    day and the transfers, so a re-run that leaves out the same ones mails nothing again."""
    subject, body = render_mail("payout_transfers_withheld", business_date=day.isoformat(), transfers=withheld)
    keys = json.dumps(sorted((w["statement_id"], w["bank_account_id"]) for w in withheld))
    digest = hashlib.sha256(keys.encode()).hexdigest()[:16]
    return enqueue_mail(
        connection,
        kind=OPERATOR_ALERT_KIND,
        dedupe_key=f"payout_transfers_withheld:{day.isoformat()}:{digest}",
        recipient=recipient,
        subject=subject,
        body=body,
    )


def withhold_unknown_accounts(connection: Connection, day: date, payout_day: date, rows: list) -> list[dict]:
    """Of the rows of _unfiled_query, those whose bank or branch the bank master does not list (or
    lists as merged away): recorded as withheld by the run of `day` and returned; the file leaves
    them out. Refuses when the bank master was never loaded."""
    if rows:
        require_loaded(connection)
    withheld = []
    for row in rows:
        reason = bank_master_problem(row.bank_removed_in, row.master_branch_kana is not None, row.branch_removed_in)
        if reason:
            withheld.append(
                {
                    "payout_date": payout_day.isoformat(),
                    "merchant_id": row.merchant_id,
                    "closing_date": str(row.closing_date),
                    "statement_id": int(row.statement_id),
                    "bank_account_id": int(row.bank_account_id),
                    "amount": int(row.amount),
                    "slip_count": int(row.slip_count),
                    "slip_amount": None,
                    "reason": reason,
                    "bank_code": row.bank_code,
                    "branch_code": row.branch_code,
                    "detail": describe_bank_master_problem(
                        reason, row.bank_code, row.branch_code, row.bank_removed_in or row.branch_removed_in
                    ),
                }
            )
    _record_withheld(connection, day, withheld)
    return withheld


def check_remitter_account(connection: Connection, remitter: Remitter) -> None:
    """The account the transfers are paid from must be one the (loaded) bank master lists: a wrong
    one makes the bank refuse the whole file."""
    try:
        check_account(connection, remitter.bank_code, remitter.branch_code)
    except BankMasterError as error:
        raise TransferFileError(
            f"the remitter's account (KESSAI_ZENGIN_BANK_CODE {remitter.bank_code}, KESSAI_ZENGIN_BRANCH_CODE "
            f"{remitter.branch_code}): {error}"
        ) from None


def _record_withheld(connection: Connection, day: date, withheld: list[dict]) -> None:
    """Into payout_withheld_transfers, once per day and transfer (a re-run records nothing again)."""
    if withheld:
        insert_ = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
        connection.execute(
            insert_(payout_withheld_transfers).on_conflict_do_nothing(),
            [
                {
                    "business_date": day,
                    "statement_id": w["statement_id"],
                    "bank_account_id": w["bank_account_id"],
                    "slip_count": w["slip_count"],
                    "amount": w["amount"],
                    "reason": w["reason"],
                }
                for w in withheld
            ],
        )


def build_payout_file(
    connection: Connection, day: date, payout_day: date, remitter: Remitter, run: TransferFileRun
) -> dict:
    """A file of payout_day's transfers that are in no file yet, but for those withheld (slips behind
    them not transmitted; a bank or branch the bank master refuses); records it and returns its summary."""
    withheld = {
        (w["statement_id"], w["bank_account_id"]) for w in run.withheld if w["payout_date"] == payout_day.isoformat()
    }
    rows = [
        row
        for row in connection.execute(_unfiled_query(payout_day)).all()
        if (row.statement_id, row.bank_account_id) not in withheld
    ]
    if rows:
        require_loaded(connection)
        check_remitter_account(connection, remitter)
    refused = withhold_unknown_accounts(connection, day, payout_day, rows)
    run.withheld.extend(refused)
    refused_keys = {(w["statement_id"], w["bank_account_id"]) for w in refused}
    filed, transfers = [], []
    for row in rows:
        if (row.statement_id, row.bank_account_id) in refused_keys:
            continue
        transfer = _transfer(row, from_master=True)
        try:
            data_record(transfer)  # checked one by one, so a bad account is named and left out
        except ValueError as error:
            run.rejected.append(
                f"merchant {row.merchant_id}, bank account {row.bank_account_id} ({int(row.amount):,} yen): {error}"
            )
            continue
        filed.append(row)
        transfers.append(transfer)
    if not transfers:
        return {}
    sequence = 1 + (
        connection.execute(
            select(func.coalesce(func.max(payout_transfer_files.c.sequence), 0)).where(
                payout_transfer_files.c.payout_date == payout_day
            )
        ).scalar_one()
    )
    content = build_transfer_file(remitter, payout_day, transfers)
    parsed = parse_transfer_file(content)  # the file as a bank reads it
    total = sum(t.amount for t in transfers)
    if (parsed.record_count, parsed.amount_total) != (len(transfers), total):
        raise TransferFileError(
            f"the file for {payout_day} reads back as {parsed.record_count} / {parsed.amount_total}"
        )
    name = file_name(payout_day, sequence)
    file_id = connection.execute(
        insert(payout_transfer_files)
        .values(
            payout_date=payout_day,
            sequence=sequence,
            file_name=name,
            record_count=len(transfers),
            amount_total=total,
            sha256=hashlib.sha256(content).hexdigest(),
        )
        .returning(payout_transfer_files.c.transfer_file_id)
    ).scalar_one()
    connection.execute(
        update(payout_transfers)
        .where(
            and_(
                payout_transfers.c.statement_id == bindparam("s"), payout_transfers.c.bank_account_id == bindparam("b")
            )
        )
        .values(
            transfer_file_id=file_id,
            bank_name_kana=bindparam("bank_name"),
            branch_name_kana=bindparam("branch_name"),
            new_code=bindparam("code"),
        ),
        [
            {
                "s": row.statement_id,
                "b": row.bank_account_id,
                "bank_name": t.bank_name,
                "branch_name": t.branch_name,
                "code": t.new_code,
            }
            for row, t in zip(filed, transfers, strict=True)
        ],
    )
    run.new_files.setdefault(payout_day, {})[name] = content
    return {"file": name, "sequence": sequence, "records": len(transfers), "amount_total": total}


def check_payout_totals(connection: Connection, payout_day: date) -> dict:
    """The statements' net for payout_day against its transfers and its files' trailers."""
    net = connection.execute(
        select(func.coalesce(func.sum(payout_statements.c.net_amount), 0)).where(
            payout_statements.c.payout_date == payout_day
        )
    ).scalar_one()
    transferred = connection.execute(
        select(func.coalesce(func.sum(payout_transfers.c.amount), 0)).where(
            payout_transfers.c.payout_date == payout_day
        )
    ).scalar_one()
    in_files = connection.execute(
        select(func.coalesce(func.sum(payout_transfer_files.c.amount_total), 0)).where(
            payout_transfer_files.c.payout_date == payout_day
        )
    ).scalar_one()
    unfiled = connection.execute(
        select(func.coalesce(func.sum(payout_transfers.c.amount), 0)).where(
            payout_transfers.c.payout_date == payout_day, payout_transfers.c.transfer_file_id.is_(None)
        )
    ).scalar_one()
    if not int(net) == int(transferred) == int(in_files) + int(unfiled):
        raise TransferFileError(
            f"payout date {payout_day}: the statements' net is {int(net):,} yen, the transfers total "
            f"{int(transferred):,}, the files {int(in_files):,} and {int(unfiled):,} is not filed"
        )
    return {"statements_net": int(net), "in_files": int(in_files), "not_filed": int(unfiled)}


def build_transfer_files(
    connection: Connection,
    day: date,
    calendar: BusinessCalendar,
    *,
    lead_days: int,
    remitter: Remitter,
    alert_recipient: str | None = None,
) -> TransferFileRun:
    """The files for the payout dates in the run's window (see the module's doc); the alert about
    the transfers left out goes to alert_recipient (default: the operators, KESSAI_OPERATOR_EMAIL)."""
    run = TransferFileRun(
        summary={"business_date": day.isoformat(), "lead_business_days": lead_days, "payout_dates": []}
    )
    run.summary["overdue"] = overdue_transfers(connection, day)
    for payout_day in payout_window(calendar, day, lead_days):
        check_closings_ran(connection, calendar, payout_day)
        run.withheld.extend(withhold_unsent_transfers(connection, day, payout_day))
        built = build_payout_file(connection, day, payout_day, remitter, run)
        files = connection.execute(
            select(
                payout_transfer_files.c.file_name,
                payout_transfer_files.c.record_count,
                payout_transfer_files.c.amount_total,
            )
            .where(payout_transfer_files.c.payout_date == payout_day)
            .order_by(payout_transfer_files.c.sequence)
        ).all()
        totals = check_payout_totals(connection, payout_day)
        if not (totals["statements_net"] or files):
            continue
        run.summary["payout_dates"].append(
            {
                "payout_date": payout_day.isoformat(),
                "built": built.get("file"),
                "files": [
                    {"file": f.file_name, "records": f.record_count, "amount_total": int(f.amount_total)} for f in files
                ],
                **totals,
            }
        )
    if run.withheld:
        enqueue_withheld_alert(connection, day, run.withheld, alert_recipient or operator_email())
    return run


def overdue_transfers(connection: Connection, day: date) -> list[dict]:
    """Transfers in no file whose payout date is `day` or earlier (a statement issued after its
    payout date's file, or a transfer left out and never corrected): they need paying by hand."""
    rows = connection.execute(
        select(payout_transfers.c.payout_date, func.count(), func.sum(payout_transfers.c.amount))
        .where(payout_transfers.c.transfer_file_id.is_(None), payout_transfers.c.payout_date <= day)
        .group_by(payout_transfers.c.payout_date)
        .order_by(payout_transfers.c.payout_date)
    ).all()
    return [{"payout_date": p.isoformat(), "transfers": n, "amount": int(a)} for p, n, a in rows]


def file_content(connection: Connection, transfer_file_id: int, payout_day: date, remitter: Remitter) -> bytes:
    """A file built before, re-created from the transfers recorded in it."""
    rows = connection.execute(
        _transfers_query(payout_day).where(payout_transfers.c.transfer_file_id == transfer_file_id)
    ).all()
    return build_transfer_file(remitter, payout_day, [_transfer(row) for row in rows])


def restore_files(connection: Connection, home: Path, payout_days: list[date], remitter: Remitter) -> list[str]:
    """Check the files built before for these payout dates; re-create those missing on disk.

    Refuses when a file on disk, or the one the recorded transfers give now, differs from the
    checksum recorded when it was built: such a file may have gone to the bank already."""
    restored = []
    for row in connection.execute(
        select(payout_transfer_files).where(payout_transfer_files.c.payout_date.in_(payout_days))
    ).mappings():
        path = safe_child(transfers_directory(home, row["payout_date"]), row["file_name"])
        if path.exists():
            content = path.read_bytes()
            source = f"{path} on disk"
        else:
            content = file_content(connection, row["transfer_file_id"], row["payout_date"], remitter)
            source = "the recorded transfers with today's bank accounts and remitter settings"
        if hashlib.sha256(content).hexdigest() != row["sha256"]:
            raise TransferFileError(
                f"transfer file {row['file_name']} was built with sha256 {row['sha256']}, but {source} "
                "gives different bytes. It is not rebuilt: find out what changed before anything goes to the bank."
            )
        if not path.exists():
            write_files(path.parent, {path.name: content}, mode=PRIVATE_FILE_MODE)
            restored.append(str(path))
    return restored


@dataclass(frozen=True, slots=True)
class TransferFilesSummary(Result):
    """A transfer-file run: each payout date in its window (payout_date, built, files, statements_net,
    in_files, not_filed), the transfers overdue, rejected and withheld, and the files re-created
    from their records (None in a dry run, which writes nothing)."""

    business_date: date
    lead_business_days: int
    payout_dates: list[dict]
    overdue: list[dict]
    rejected: list[str]
    withheld: list[dict]
    dry_run: bool
    restored: list[str] = optional()


def run_payout_transfer_files(
    engine: Engine, day: date, home: Path, *, dry_run: bool = False, configuration: Settings | None = None
) -> TransferFilesSummary | ClosedDay:
    """The transfer files of business day `day`; a dry run builds them in a transaction it rolls
    back and writes nothing. Fails after writing the good files when some transfers were rejected.
    `configuration`: the remitter, the lead days and the operators' address (default: the environment's)."""
    configuration = configuration or Settings.from_environment()
    with engine.connect() as connection:
        try:
            calendar = prepare_calendar(connection)
            closed = check_transfer_day(calendar, day)
            if closed:
                connection.commit()
                return ClosedDay(day, closed)
            remitter = load_remitter(connection, configuration)
            run = build_transfer_files(
                connection,
                day,
                calendar,
                lead_days=lead_business_days(connection, configuration),
                remitter=remitter,
                alert_recipient=configuration.operator_email,
            )
        except BaseException:
            connection.rollback()
            raise
        summary = TransferFilesSummary(
            business_date=day,
            lead_business_days=run.summary["lead_business_days"],
            payout_dates=run.summary["payout_dates"],
            overdue=run.summary["overdue"],
            rejected=run.rejected,
            withheld=run.withheld,
            dry_run=dry_run,
        )
        if summary.overdue:
            log.warning("transfers past their payout date are in no file: %s", summary.overdue)
        if dry_run:
            connection.rollback()
            return summary
        connection.commit()
        for payout_day, files in run.new_files.items():
            write_files(transfers_directory(home, payout_day), files, mode=PRIVATE_FILE_MODE)
        payout_days = [date.fromisoformat(p["payout_date"]) for p in run.summary["payout_dates"]]
        summary = replace(summary, restored=restore_files(connection, home, payout_days, remitter))
        connection.rollback()
    if run.rejected:
        raise TransferFileError(
            f"{len(run.rejected)} transfers could not be written and are in no file: "
            + "; ".join(run.rejected)
            + ". Correct the bank accounts (holder_kana etc.) and run again: they go in a further file "
            "for the same payout date. The other transfers were filed: " + format_summary(summary)
        )
    return summary


def format_summary(summary: TransferFilesSummary | ClosedDay) -> str:
    if isinstance(summary, ClosedDay):
        return summary.closed
    lines = [
        f"transfer files of {summary.business_date} (payout dates within {summary.lead_business_days} "
        f"business days){' (dry run: nothing written)' if summary.dry_run else ''}"
    ]
    if not summary.payout_dates:
        lines.append("  no payout date in the window")
    for p in summary.payout_dates:
        lines.append(
            f"  payout {p['payout_date']}: statements' net {p['statements_net']:,} yen; in files {p['in_files']:,}"
            + (f"; NOT FILED {p['not_filed']:,}" if p["not_filed"] else "")
            + (f"; built {p['built']}" if p["built"] else "")
        )
        for f in p["files"]:
            lines.append(f"    {f['file']}: {f['records']} transfers, {f['amount_total']:,} yen")
    for overdue in summary.overdue:
        lines.append(
            f"  OVERDUE: {overdue['transfers']} transfers of {overdue['amount']:,} yen for payout date "
            f"{overdue['payout_date']} are in no file: pay them by hand"
        )
    for w in summary.withheld:
        until = (
            "until they went out"
            if w["reason"] == UNTRANSMITTED
            else f"until bank account {w['bank_account_id']} is corrected"
        )
        lines.append(
            f"  WITHHELD: merchant {w['merchant_id']}, bank account {w['bank_account_id']} "
            f"({w['amount']:,} yen, payout {w['payout_date']}, closing {w['closing_date']}): {w['detail']} ({w['reason']}); "
            f"in no file {until} (operators alerted)"
        )
    for rejected in summary.rejected:
        lines.append(f"  NOT FILED: {rejected}")
    for path in summary.restored or []:
        lines.append(f"  re-created {path} (missing on disk; same bytes as built)")
    return "\n".join(lines)
