"""Sub-commands for the payouts: close a closing date, declare where the books start, fill the
closing dates after a bulk load, build the transfer files of a business day, read a transfer file
back before it goes to the bank, import the bank's transfer results (振込不能・組戻し), register
an adjustment (chargeback, reversal, correction)."""

from __future__ import annotations

import getpass
from pathlib import Path

from kessai.cli import command_clock, command_settings, parse_date, refuse_before_its_day
from kessai.clock import Starts
from kessai.db.database import make_engine

# A refused closing or transfer file ends in its reason on one line, exit 1 (kessai.cli.main).


def command_close(args) -> int:
    from kessai.payout.closing import format_summary, run_payout_closing
    from kessai.payout.statement_files import run_statement_files

    settings = command_settings(args)
    refuse_before_its_day(args.closing_date, Starts.DAY_ENDED, "the closing", dry_run=args.dry_run, settings=settings)
    engine = make_engine()
    print(format_summary(run_payout_closing(engine, args.closing_date, dry_run=args.dry_run)))
    files = run_statement_files(engine, args.closing_date, settings.home, dry_run=args.dry_run, configuration=settings)
    print(
        f"  {files.statement_files} statement files, {files.slip_files} slip detail files and the closing summary "
        f"in {files.directory}" + (" (dry run: none written)" if args.dry_run else "")
    )
    return 0


def command_books_start(args) -> int:
    from kessai.payout.closing import declare_books_start

    declared_by = args.by or getpass.getuser()
    with make_engine().begin() as connection:
        declare_books_start(connection, args.start_date, declared_by, args.note, command_clock(args))
    print(
        f"the books start at closing {args.start_date} (declared by {declared_by}): kessai pays the closings from "
        "that date on; confirmed slips of earlier closing dates are taken as paid by the system before it"
    )
    return 0


def command_assign_closing_dates(args) -> int:
    from kessai.calendar.store import prepare_calendar
    from kessai.payout.closing import assign_closing_dates

    with make_engine().begin() as connection:
        done = assign_closing_dates(connection, prepare_calendar(connection))
    print(
        f"{done['closing_dates_filled']} confirmed slips got their closing date"
        f" ({done['slips_written_after_their_closing']} of them after their closing had run: the first open one)"
    )
    return 0


def command_transfer_files(args) -> int:
    from kessai.payout.transfer_files import format_summary, run_payout_transfer_files

    settings = command_settings(args)
    refuse_before_its_day(
        args.business_date, Starts.DAY_BEGUN, "the transfer files", dry_run=args.dry_run, settings=settings
    )
    print(
        format_summary(
            run_payout_transfer_files(
                make_engine(), args.business_date, settings.home, dry_run=args.dry_run, configuration=settings
            )
        )
    )
    return 0


def command_read_transfer_file(args) -> int:
    from kessai.payout.zengin import parse_transfer_file

    parsed = parse_transfer_file(args.path.read_bytes())
    print(
        f"総合振込 from {parsed.remitter_code} {parsed.remitter_name} (bank {parsed.remitter_bank_code}, "
        f"branch {parsed.remitter_branch_code}, account {parsed.remitter_account_number}), transfer date "
        f"{parsed.transfer_date[:2]}/{parsed.transfer_date[2:]}"
    )
    for t in parsed.transfers:
        print(
            f"  {t.bank_code}-{t.branch_code} {t.account_type} {t.account_number} {t.holder_name:<30} {t.amount:>14,}"
            f"  statement {t.customer_code_1}, account {t.customer_code_2}"
        )
    print(f"trailer: {parsed.record_count} transfers, {parsed.amount_total:,} yen (checked against the records)")
    return 0


def command_import_transfer_results(args) -> int:
    from kessai.payout.transfer_returns import TransferResultsRefused, format_summary, run_import

    settings = command_settings(args)
    summary = run_import(
        make_engine(), args.path, now=command_clock(args), dry_run=args.dry_run, configuration=settings
    )
    print(format_summary(summary))
    if summary.unmatched:  # the matched returns are recorded; these changed nothing
        raise TransferResultsRefused(
            f"{len(summary.unmatched)} records of {args.path.name} match no filed transfer and changed nothing "
            "(listed above; operators alerted): check them with the bank"
        )
    return 0


def command_adjust(args) -> int:
    from kessai.payout.adjustments import register_adjustment

    created_by = args.by or getpass.getuser()
    with make_engine().begin() as connection:
        added = register_adjustment(
            connection,
            args.merchant_id,
            args.amount,
            kind=args.kind,
            reason=args.reason,
            created_by=created_by,
            now=command_clock(args),
        )
    print(
        f"adjustment {added.adjustment_id}: {added.kind} of {added.amount:,} yen for merchant "
        f"{added.merchant_id} (by {added.created_by}: {added.reason}), effective {added.effective_on}: "
        f"the closing of {added.closing_date} takes it"
    )
    return 0


def _yen(value: str) -> int:
    import argparse

    try:
        return int(value.replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole yen, e.g. -12000, got {value!r}") from None


def register(commands) -> None:
    close = commands.add_parser("payout-close", help="close a closing date: statements, transfers, files")
    close.add_argument("closing_date", type=parse_date, help="the 15th or a month end, YYYY-MM-DD")
    close.add_argument("--dry-run", action="store_true", help="compute and print, write nothing")
    close.set_defaults(handler=command_close)

    books = commands.add_parser(
        "books-start",
        help="declare the first closing kessai pays (before the first closing ever; earlier slips were paid before)",
    )
    books.add_argument("start_date", type=parse_date, help="the first closing date kessai pays, YYYY-MM-DD")
    books.add_argument("--note", default="", help="why, for the record (e.g. the system it takes over from)")
    books.add_argument("--by", default="", help="who declares it (default: the user running the command)")
    books.set_defaults(handler=command_books_start)

    assign = commands.add_parser(
        "assign-closing-dates",
        help="give confirmed slips without a closing date theirs (run once after a bulk load of slips)",
    )
    assign.set_defaults(handler=command_assign_closing_dates)

    transfer = commands.add_parser(
        "transfer-files", help="build the Zengin transfer files of the payout dates ahead of a business day"
    )
    transfer.add_argument("business_date", type=parse_date, help="YYYY-MM-DD")
    transfer.add_argument("--dry-run", action="store_true", help="build and check, write nothing")
    transfer.set_defaults(handler=command_transfer_files)

    read = commands.add_parser("read-transfer-file", help="read a Zengin transfer file back and check its trailer")
    read.add_argument("path", type=Path)
    read.set_defaults(handler=command_read_transfer_file)

    results = commands.add_parser(
        "import-transfer-results",
        help="record the transfers the bank returned (振込不能・組戻し) from its Zengin result file",
    )
    results.add_argument("path", type=Path, help="the bank's result file (全銀 総合振込 layout with result codes)")
    results.add_argument("--dry-run", action="store_true", help="read, match and print, record nothing")
    results.set_defaults(handler=command_import_transfer_results)

    adjust = commands.add_parser(
        "adjust", help="register a chargeback, reversal or correction for the merchant's next closing"
    )
    adjust.add_argument("merchant_id")
    adjust.add_argument("amount", type=_yen, help="signed whole yen: negative takes money back (e.g. -12000)")
    adjust.add_argument("--kind", required=True, choices=("chargeback", "reversal", "correction"))
    adjust.add_argument("--reason", required=True, help="shown on the statement (e.g. the card company's case number)")
    adjust.add_argument("--by", default="", help="who registers it (default: the user running the command)")
    adjust.set_defaults(handler=command_adjust)
