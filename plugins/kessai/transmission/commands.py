"""Sub-commands: the card transmission of a business day outside Airflow (a first run, a re-run that
rebuilds the same files, or a dry run), printing what the task log shows; the holds report of a
day, printed as the operators' mail says it; a merchant's 加盟店番号 at a card company; the card
companies' answers (受領結果)."""

from __future__ import annotations

from pathlib import Path

from kessai.cli import command_clock, command_settings, parse_date, refuse_before_its_day
from kessai.clock import Starts
from kessai.db.database import make_engine


def command_transmit(args) -> int:
    from kessai.transmission.daily import format_summary, run_transmission
    from kessai.transmission.files import Destination, transmission_url

    settings = command_settings(args)
    refuse_before_its_day(
        args.business_date, Starts.DAY_BEGUN, "the transmission", dry_run=args.dry_run, settings=settings
    )
    destination = Destination.from_url(args.to or transmission_url(settings))
    engine = make_engine()
    try:  # a refused date ends in its reason, exit 1 (kessai.cli.main)
        summary = run_transmission(
            engine,
            args.business_date,
            destination,
            sender=settings.transmission_sender,
            dry_run=args.dry_run,
            max_amount=settings.max_slip_amount,
        )
    finally:
        engine.dispose()
    print(format_summary(summary))
    return 0


def command_holds_report(args) -> int:
    from kessai.calendar.store import prepare_calendar
    from kessai.transmission.holds_report import holds_report, render_holds_report

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


def command_merchant_number_set(args) -> int:
    from kessai.transmission.merchant_numbers import set_merchant_number

    engine = make_engine()
    try:  # a bad number, merchant or card company ends in its reason, exit 1 (kessai.cli.main)
        with engine.begin() as connection:
            before = set_merchant_number(connection, args.merchant_id, args.card_company, args.number)
    finally:
        engine.dispose()
    change = "unchanged" if before == args.number else (f"was {before}" if before else "new")
    print(f"merchant {args.merchant_id} at {args.card_company}: merchant number {args.number} ({change})")
    return 0


def command_import_acknowledgements(args) -> int:
    from kessai.calendar.run_dates import japan_date_of
    from kessai.kinds import FolderImport
    from kessai.transmission.acknowledgements import format_summary, refuse_unmatched, run_import

    engine = make_engine()
    try:  # a file that cannot be read ends in its reason, exit 1, nothing recorded (kessai.cli.main)
        settings = command_settings(args)
        received_on = japan_date_of(command_clock(args))  # the day in Japan it is read
        summary = run_import(
            engine, args.path, received_on=received_on, dry_run=args.dry_run, alert_recipient=settings.operator_email
        )
    finally:
        engine.dispose()
    result = FolderImport(str(args.path.parent), [summary], args.dry_run)
    print(format_summary(result))
    refuse_unmatched(result)  # the matched answers are recorded; these lines changed nothing
    return 0


def command_resend(args) -> int:
    from kessai.transmission.acknowledgements import resend_rejected

    engine = make_engine()
    try:  # a slip that was not rejected ends in its reason, exit 1 (kessai.cli.main)
        with engine.begin() as connection:
            resent = resend_rejected(connection, args.merchant_id, args.slip_id)
    finally:
        engine.dispose()
    print(
        f"slip {resent.slip_id} of {resent.merchant_id}, rejected in the file of {resent.rejected_on} "
        f"(code {resent.code or '-'}): due again, the next transmission day sends it"
    )
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

    numbers = commands.add_parser(
        "merchant-number", help="a merchant's 加盟店番号 at a card company, as the transmission records carry it"
    )
    actions = numbers.add_subparsers(dest="action", required=True)
    number_set = actions.add_parser("set", help="record (or replace) the merchant's number at the card company")
    number_set.add_argument("merchant_id")
    number_set.add_argument("card_company", help="as in card_companies, e.g. visa_master, jcb")
    number_set.add_argument("number", help="1 to 16 letters or digits, as the card company assigned it")
    number_set.set_defaults(handler=command_merchant_number_set)

    acknowledgements = commands.add_parser(
        "import-acknowledgements", help="record a card company's answers (受領結果): accepted or rejected per slip"
    )
    acknowledgements.add_argument("path", type=Path, help="the card company's acknowledgement file (CSV, UTF-8)")
    acknowledgements.add_argument("--dry-run", action="store_true", help="read, match and print, record nothing")
    acknowledgements.set_defaults(handler=command_import_acknowledgements)

    resend = commands.add_parser(
        "resend", help="send a slip its card company rejected again, once corrected (the next transmission day)"
    )
    resend.add_argument("merchant_id")
    resend.add_argument("slip_id")
    resend.set_defaults(handler=command_resend)
