"""Sub-commands for the bank master and the merchants' bank accounts:
`bank-master update` (load the published master), `bank-master show`, `bank-account add`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from kessai.calendar.run_dates import JAPAN, japan_date_of
from kessai.cli import command_clock, parse_date
from kessai.db.database import make_engine


def command_master_update(args) -> int:
    from kessai.payout.bank_master import file_master, package_master, update_bank_master

    master = file_master(args.file, args.version, args.published_on) if args.file else package_master()
    moment = command_clock(args)
    with make_engine().begin() as connection:
        done = update_bank_master(connection, master, moment, japan_date_of(moment))
    head = f"bank master {done.source} version {done.version}: {done.banks:,} banks, {done.branches:,} branches"
    if not done.changed:
        print(f"{head}: already loaded ({done.loaded_at.astimezone(JAPAN):%Y-%m-%d %H:%M} JST); nothing changed")
        return 0
    banks, branches = done.bank_changes or {}, done.branch_changes or {}
    print(
        f"{head}: loaded. Banks {banks['added']} added, {banks['changed']} changed, {banks['removed']} gone; "
        f"branches {branches['added']} added, {branches['changed']} changed, {branches['removed']} gone"
    )
    return 0


def command_master_show(args) -> int:
    from kessai.payout.bank_master import require_loaded

    with make_engine().connect() as connection:
        version = require_loaded(connection)
    print(
        f"bank master {version['source']} version {version['version']} (published {version['published_on'] or '-'}), "
        f"loaded {version['loaded_at'].astimezone(JAPAN):%Y-%m-%d %H:%M} JST: {version['bank_count']:,} banks, "
        f"{version['branch_count']:,} branches"
    )
    return 0


def parse_moment(value: str) -> datetime:
    import argparse

    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a moment as 2027-01-05T10:00+09:00, got {value!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no time zone: add +09:00")
    return moment


def command_account_add(args) -> int:
    from kessai.payout.bank_accounts import register_bank_account

    effective_from = args.effective_from or command_clock(args)
    with make_engine().begin() as connection:
        done = register_bank_account(
            connection,
            args.merchant_id,
            bank_code=args.bank,
            branch_code=args.branch,
            account_type=args.type,
            account_number=args.number,
            holder_kana=args.holder,
            effective_from=effective_from,
        )
    print(
        f"bank account {done.bank_account_id} of merchant {done.merchant_id}: bank {done.bank}, branch {done.branch}, "
        f"{done.account_type} {done.account_number} {done.holder_kana}; pays the slips registered from "
        f"{done.effective_from.isoformat(timespec='seconds')} on"
    )
    return 0


def register(commands) -> None:
    master = commands.add_parser("bank-master", help="the 全銀 bank and branch master the accounts are checked against")
    actions = master.add_subparsers(dest="bank_master_command", required=True, metavar="ACTION")
    update = actions.add_parser("update", help="load the bank master (zengin-code, or a file); safe to run again")
    update.add_argument("--file", type=Path, help="a bank-master CSV file instead of the zengin-code package")
    update.add_argument("--version", help="the file's version (default: the start of its sha256)")
    update.add_argument("--published-on", type=parse_date, help="the file's date, YYYY-MM-DD")
    update.set_defaults(handler=command_master_update)
    actions.add_parser("show", help="the version loaded").set_defaults(handler=command_master_show)

    account = commands.add_parser("bank-account", help="register a merchant's payout bank account")
    account_actions = account.add_subparsers(dest="bank_account_command", required=True, metavar="ACTION")
    add = account_actions.add_parser(
        "add", help="add the account a merchant is paid to (checked against the bank master)"
    )
    add.add_argument("merchant_id")
    add.add_argument("--bank", required=True, help="金融機関コード, 4 digits")
    add.add_argument("--branch", required=True, help="支店コード, 3 digits")
    add.add_argument("--type", default="ordinary", help="ordinary (普通), checking (当座) or savings (貯蓄)")
    add.add_argument("--number", required=True, help="口座番号, 7 digits")
    add.add_argument("--holder", required=True, help="口座名義 in kana")
    add.add_argument(
        "--from",
        dest="effective_from",
        type=parse_moment,
        help="pays slips registered from this moment on (default: now)",
    )
    add.set_defaults(handler=command_account_add)
