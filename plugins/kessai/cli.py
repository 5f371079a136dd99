"""The operators' command line: `python -m kessai --help`."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from kessai.database import database_url, make_engine

# Feature modules that add their own sub-commands: each has register(subparsers).
FEATURE_COMMANDS: list[str] = [
    "kessai.mail_commands", "kessai.slip_commands", "kessai.synthetic", "kessai.payout_commands",
    "kessai.transmission_commands",
]


def parse_month(value: str) -> tuple[int, int]:
    try:
        year, month = (int(part) for part in value.split("-"))
        date(year, month, 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a month as YYYY-MM, got {value!r}") from None
    return year, month


def parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}") from None


def command_clock():
    """The one clock reading of a command (KESSAI_AS_OF when set, said on stderr)."""
    from kessai import clock

    moment = clock.now()
    if clock.as_of_setting():
        print(f"clock: {clock.describe(moment)}", file=sys.stderr)
    return moment


def refuse_before_its_day(day: date, starts, what: str, *, dry_run: bool = False) -> None:
    """A dated command acts only once its date's moment has come (SPEC §4.6); a dry run may look
    ahead. Raises kessai.clock.TooEarly, which the command prints as its one-line error."""
    from kessai import clock

    moment = command_clock()
    if not dry_run:
        clock.check_not_before(day, starts, moment, what=what)


def command_db_upgrade(args) -> int:
    from kessai.calendar_store import prepare_calendar
    from kessai.migrations_runner import upgrade

    engine = make_engine()
    before, after = upgrade(engine)
    with engine.begin() as connection:
        prepare_calendar(connection)
    state = "already at" if before == after else f"migrated from {before or 'empty'} to"
    print(f"business database {engine.url.render_as_string(hide_password=True)}: {state} revision {after}")
    return 0


def command_calendar(args) -> int:
    from kessai.calendar_report import month_report
    from kessai.calendar_store import load_calendar

    with make_engine().connect() as connection:
        calendar = load_calendar(connection)
    print(month_report(*args.month, calendar))
    return 0


def command_calendar_override(args) -> int:
    from kessai.calendar_store import clear_override, declare_closure, prepare_calendar, reopen_day

    with make_engine().begin() as connection:
        if args.action == "close":
            declare_closure(connection, args.day, args.reason)
        elif args.action == "reopen":
            reopen_day(connection, args.day, args.reason)
        else:
            clear_override(connection, args.day)
        prepare_calendar(connection)
    print(f"{args.day}: {args.action} recorded")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kessai",
        description="kessai: the card-payment back office. The business database is "
        f"KESSAI_DATABASE_URL (now: {database_url()}).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = commands.add_parser("db", help="create or migrate the business database")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="create or migrate the schema (safe to run again)").set_defaults(
        handler=command_db_upgrade
    )

    calendar = commands.add_parser("calendar", help="print a month of the business calendar")
    calendar.add_argument("month", type=parse_month, help="YYYY-MM")
    calendar.set_defaults(handler=command_calendar)

    override = commands.add_parser(
        "calendar-override", help="declare a day closed, re-open a closed day, or clear that"
    )
    override.add_argument("action", choices=("close", "reopen", "clear"))
    override.add_argument("day", type=parse_date, help="YYYY-MM-DD")
    override.add_argument("--reason", default="", help="shown in the calendar and the logs")
    override.set_defaults(handler=command_calendar_override)

    for module_name in FEATURE_COMMANDS:
        __import__(module_name, fromlist=["register"]).register(commands)
    return parser


def schema_problem() -> str | None:
    """Why the business database cannot serve a command yet, or None."""
    from kessai.migrations_runner import current_revision, head_revision

    engine = make_engine()
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    if current != head_revision():
        return (
            f"the business database {engine.url.render_as_string(hide_password=True)} is at schema "
            f"revision {current or '(empty)'}, not {head_revision()}: run `python -m kessai db upgrade`"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    from kessai.business_calendar import CalendarHorizonError

    args = build_parser().parse_args(argv)
    if args.command != "db" and (problem := schema_problem()):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        return args.handler(args)
    except CalendarHorizonError as error:  # an operator's question past the reviewed holidays
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
