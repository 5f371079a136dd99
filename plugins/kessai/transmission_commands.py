"""Sub-commands: the card transmission of a business day outside Airflow (a first run, a re-run that
rebuilds the same files, or a dry run), printing what the task log shows; the holds report of a
day, printed as the operators' mail says it."""

from __future__ import annotations

from kessai.cli import parse_date, refuse_before_its_day
from kessai.clock import Starts
from kessai.database import make_engine


def command_transmit(args) -> int:
    from kessai.slip_amounts import max_slip_amount
    from kessai.transmission import format_summary, run_transmission
    from kessai.transmission_file import Destination, transmission_url

    refuse_before_its_day(args.business_date, Starts.DAY_BEGUN, "the transmission", dry_run=args.dry_run)
    destination = Destination.from_url(args.to or transmission_url())
    engine = make_engine()
    try:  # a refused date or a bad KESSAI_MAX_SLIP_AMOUNT ends in its reason, exit 1 (kessai.cli.main)
        summary = run_transmission(
            engine, args.business_date, destination, dry_run=args.dry_run, max_amount=max_slip_amount()
        )
    finally:
        engine.dispose()
    print(format_summary(summary))
    return 0


def command_holds_report(args) -> int:
    from kessai.calendar_store import prepare_calendar
    from kessai.transmission_holds_report import holds_report, render_holds_report

    engine = make_engine()
    try:
        with engine.begin() as connection:
            report = holds_report(connection, args.business_date, prepare_calendar(connection))
    finally:
        engine.dispose()
    if report is None:
        print(f"the transmission of {args.business_date} held no slip back: no holds report")
        return 0
    subject, body = render_holds_report(report)
    print(f"{subject}\n\n{body}", end="")
    return 0


def register(commands) -> None:
    transmit = commands.add_parser(
        "transmit", help="send a business day's confirmed slips to the card companies (again: the same files)"
    )
    transmit.add_argument("business_date", type=parse_date, help="YYYY-MM-DD, a business day")
    transmit.add_argument("--dry-run", action="store_true", help="compute and print, write nothing")
    transmit.add_argument("--to", metavar="URL", help="where the files go (default: KESSAI_TRANSMISSION_URL)")
    transmit.set_defaults(handler=command_transmit)

    report = commands.add_parser(
        "holds-report", help="print the held-back slips of a business day's transmission (the operators' mail)"
    )
    report.add_argument("business_date", type=parse_date, help="YYYY-MM-DD, a transmitted business day")
    report.set_defaults(handler=command_holds_report)
