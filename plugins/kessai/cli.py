"""The operators' command line: `python -m kessai --help`.

Every command ends a failure with one line on stderr, `error: <what failed>: <what to do>`, and
exit code 1; a usage error (a bad option or argument) exits 2 with argparse's message. No
traceback unless `--debug`. No password of any URL appears in what is printed (kessai.masking).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from kessai.db.database import database_url, make_engine
from kessai.masking import mask_text, mask_url
from kessai.settings import Settings

# Feature modules that add their own sub-commands: each has register(subparsers).
FEATURE_COMMANDS: list[str] = [
    "kessai.mail.commands",
    "kessai.slips.commands",
    "kessai.synthetic.generation",
    "kessai.payout.commands",
    "kessai.transmission.commands",
    "kessai.payout.bank_commands",
    "kessai.explain.commands",
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


def command_settings(args=None) -> Settings:
    """The settings of a command: read once by main (args.settings), else from the environment."""
    settings = getattr(args, "settings", None)
    return settings if settings is not None else Settings.from_environment()


def command_clock(args=None):
    """The one clock reading of a command: KESSAI_AS_OF when set, else the real clock."""
    from kessai import clock

    return clock.now_given(command_settings(args).as_of)


def refuse_before_its_day(
    day: date, starts, what: str, *, dry_run: bool = False, settings: Settings | None = None
) -> None:
    """A dated command acts only once its date's moment has come (SPEC §4.6); a dry run may look
    ahead. Raises kessai.clock.TooEarly, which the command prints as its one-line error. Says the
    clock on stdout, as the runs log it, when KESSAI_AS_OF sets it."""
    from kessai import clock

    settings = settings or Settings.from_environment()
    moment = clock.now_given(settings.as_of)
    if settings.as_of is not None:
        print(f"clock: {clock.describe_given(moment, settings.as_of)}")
    if not dry_run:
        clock.check_not_before(day, starts, moment, what=what)


def command_db_upgrade(args) -> int:
    from kessai.calendar.store import prepare_calendar
    from kessai.db.migrations_runner import upgrade

    engine = make_engine()
    before, after = upgrade(engine)
    with engine.begin() as connection:
        prepare_calendar(connection)
    state = "already at" if before == after else f"migrated from {before or 'empty'} to"
    print(f"business database {mask_url(engine.url.render_as_string(hide_password=False))}: {state} revision {after}")
    return 0


def command_calendar(args) -> int:
    from kessai.calendar.report import month_report
    from kessai.calendar.store import load_calendar

    with make_engine().connect() as connection:
        calendar = load_calendar(connection)
    year, month = args.month
    print(month_report(year, month, calendar))
    return 0


def command_calendar_override(args) -> int:
    from kessai.calendar.store import clear_override, declare_closure, prepare_calendar, reopen_day

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
        f"KESSAI_DATABASE_URL (now: {mask_url(database_url())}).",
    )
    parser.add_argument("--debug", action="store_true", help="on a failure, show the traceback")
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
    _debug_everywhere(commands)
    return parser


def _debug_everywhere(subparsers) -> None:
    """--debug is accepted after a command too (python -m kessai transmit 2027-01-05 --debug)."""
    for command in subparsers.choices.values():
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                _debug_everywhere(action)


def schema_problem(settings: Settings | None = None) -> str | None:
    """Why the business database cannot serve a command yet, or None. An embedded database file
    that does not exist is not created here (a mistyped path would make an empty database)."""
    from kessai.db.migrations_runner import current_revision, head_revision

    url = database_url(settings=settings)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return (
            f"the business database {url.removeprefix('sqlite:///')} does not exist: set KESSAI_DATABASE_URL "
            "to the business database, or create it with `python -m kessai db upgrade`"
        )
    engine = make_engine(url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    if current != head_revision():
        return (
            f"the business database {mask_url(url)} is at schema "
            f"revision {current or '(empty)'}, not {head_revision()}: run `python -m kessai db upgrade`"
        )
    return None


def failure_line(error: BaseException) -> str:
    """One line for a command's failure: what failed and what to do, with no password in it."""
    from sqlalchemy.exc import ArgumentError, DataError, DBAPIError, IntegrityError, OperationalError

    from kessai.calendar.business_calendar import CalendarHorizonError
    from kessai.errors import Refusal, TransientFault

    database = mask_url(database_url())
    if isinstance(error, OperationalError):
        line = (
            f"the business database {database} cannot be used: {_first_line(error.orig)}. Check "
            "KESSAI_DATABASE_URL and that the database exists and its server is up"
        )
    elif isinstance(error, (DataError, OverflowError)):
        cause = error.orig if isinstance(error, DBAPIError) else error
        line = (
            f"a value is out of range for the business database: {_first_line(cause)}. Check the numbers "
            "given (an amount is whole yen, 1 to KESSAI_MAX_SLIP_AMOUNT)"
        )
    elif isinstance(error, IntegrityError):
        line = (
            f"the business database refused the change: {_first_line(error.orig)}. Check the ids given; "
            "run it again with --debug if they are right"
        )
    elif isinstance(error, DBAPIError):
        line = f"the business database {database} failed: {_first_line(error.orig)}. Run the command again; if it fails again, run it with --debug"
    elif isinstance(error, ArgumentError):
        line = f"KESSAI_DATABASE_URL {database} cannot be used: {_first_line(error)}. Give a SQLAlchemy URL"
    elif isinstance(error, (Refusal, TransientFault, CalendarHorizonError)):
        line = str(error).strip() or type(error).__name__  # kessai's own words: what failed, what to do
    elif isinstance(error, (ValueError, LookupError, RuntimeError)):
        line = _first_line(error)
    elif isinstance(error, OSError):
        line = f"{_first_line(error)}. Check the path and its permissions"
    else:
        line = f"unexpected {type(error).__name__}: {_first_line(error)}. Run the command again with --debug for the traceback"
    return mask_text(line)


def _first_line(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0].strip() if text else type(error).__name__


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # a usage error exits 2 here
    try:
        args.settings = Settings.from_environment()  # the command's one reading of its settings
        if args.command != "db" and (problem := schema_problem(args.settings)):
            print(f"error: {problem}", file=sys.stderr)
            return 1
        return args.handler(args)
    except Exception as error:  # noqa: BLE001 - every failure ends in one line (the traceback with --debug)
        if args.debug:
            raise
        print(f"error: {failure_line(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
