"""Sub-commands for the online side's slip operations: confirm, cancel, change-amount,
import-confirmations. cancel and change-amount act on the slip's card authorization too
(kessai.slips.authorizations), through the card gateway the settings name (command_gateway). The one
clock (KESSAI_AS_OF when set), KESSAI_MAX_SLIP_AMOUNT and KESSAI_IMPORT_MAX_BYTES come from the
command's settings, read once by kessai.cli.main, and are passed down. A refusal goes to stderr, with exit status 1 and no
traceback."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kessai.cli import command_clock, command_settings, parse_date
from kessai.db.database import make_engine
from kessai.errors import Refusal
from kessai.gateway.card_gateway import HTTP, GatewayConfigurationError, gateway_settings
from kessai.gateway.configured import open_card_gateway
from kessai.settings import (
    CARD_GATEWAY_API_KEY_VARIABLE as GATEWAY_API_KEY_VARIABLE,
)
from kessai.settings import (
    CARD_GATEWAY_URL_VARIABLE as GATEWAY_URL_VARIABLE,
)
from kessai.settings import (
    Settings,
)
from kessai.slips.authorizations import OperationResult, cancel_with_authorization, change_amount_with_authorization
from kessai.slips.confirmation_import import (
    ENCODING_NAMES,
    ConfirmationFileError,
    default_rejects_path,
    import_confirmations,
)
from kessai.slips.operations import SlipOperationError, confirm_slip

# The card gateway of the commands (the DAGs read the Airflow connection kessai_card_gateway):
# KESSAI_CARD_GATEWAY (simulator or http), and for http its base URL and API key.

# How many rejected rows the summary prints; the rejects file has them all.
SHOWN_REJECTS = 20


def _refused(error: SlipOperationError) -> int:
    print(f"refused ({error.reason}): {error}", file=sys.stderr)
    return 1


def _setting_refused(error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 1


def _whole_yen(value: str) -> int | str:
    """The amount typed, as an int when it is a whole number (of any size); else as typed, for
    change_amount to refuse by name."""
    try:
        return int(value.replace(",", ""))
    except ValueError:
        return value


def command_gateway(settings: Settings | None = None):
    """The card gateway the commands void and authorize through (default: the environment's): the
    simulator (its ledger in KESSAI_HOME, shared with the DAGs') unless KESSAI_CARD_GATEWAY=http or
    KESSAI_CARD_GATEWAY_URL is set."""
    settings = settings or Settings.from_environment()
    url = settings.card_gateway_url
    connection = {"host": url, "password": settings.card_gateway_api_key} if url else None
    if (settings.card_gateway or "").lower() == HTTP and not url:
        raise GatewayConfigurationError(
            f"KESSAI_CARD_GATEWAY=http needs {GATEWAY_URL_VARIABLE} (the gateway's base URL) "
            f"and {GATEWAY_API_KEY_VARIABLE} for the commands"
        )
    gateway = gateway_settings(
        settings.card_gateway,
        connection,
        simulator_ledger=str(settings.home / "card-gateway-simulator.sqlite"),
    )
    return open_card_gateway(gateway)


def _said(result: OperationResult) -> None:
    for line in result.lines:
        print(line)


def command_confirm(args) -> int:
    registered_at = command_clock(args)
    try:
        max_amount = command_settings(args).max_slip_amount
        with make_engine().begin() as connection:
            done = confirm_slip(connection, args.merchant_id, args.slip_id, args.on, registered_at, max_amount)
    except SlipOperationError as error:
        return _refused(error)
    except Refusal as error:
        return _setting_refused(error)
    print(
        f"slip {done.slip_id} of merchant {done.merchant_id} confirmed on {done.confirmed_on} "
        f"(registered {done.registered_on}, closing {done.closing_date})"
    )
    return 0


def command_cancel(args) -> int:
    cancelled_at = command_clock(args)
    try:
        gateway = command_gateway(command_settings(args))
    except GatewayConfigurationError as error:
        return _setting_refused(error)
    try:
        result = cancel_with_authorization(make_engine(), gateway, args.merchant_id, args.slip_id, cancelled_at)
    except SlipOperationError as error:
        return _refused(error)
    finally:
        gateway.close()
    print(f"slip {args.slip_id} of merchant {args.merchant_id} cancelled")
    _said(result)
    return 0


def command_change_amount(args) -> int:
    changed_at = command_clock(args)
    amount = _whole_yen(args.amount)
    try:
        max_amount = command_settings(args).max_slip_amount
        gateway = command_gateway(command_settings(args))
    except (Refusal, GatewayConfigurationError) as error:
        return _setting_refused(error)
    try:
        result = change_amount_with_authorization(
            make_engine(), gateway, args.merchant_id, args.slip_id, amount, changed_at, max_amount
        )
    except SlipOperationError as error:
        return _refused(error)
    finally:
        gateway.close()
    print(f"slip {args.slip_id} of merchant {args.merchant_id}: amount is now {amount:,} yen")
    _said(result)
    return 0


def command_import_confirmations(args) -> int:
    """Exit 0 whatever the rows say; 2 only when the file itself cannot be imported (unreadable,
    larger than KESSAI_IMPORT_MAX_BYTES, not a CSV of the format); 1: a bad setting. The rejects
    file is written before the import commits: when it cannot be written, nothing is imported."""
    registered_at = command_clock(args)
    try:
        max_amount = command_settings(args).max_slip_amount
        max_bytes = command_settings(args).import_max_bytes
    except Refusal as error:
        return _setting_refused(error)
    rejects_path = args.rejects or default_rejects_path(args.file)
    try:
        with make_engine().begin() as connection:
            result = import_confirmations(
                connection, args.file, registered_at, max_amount, rejects_path=rejects_path, max_bytes=max_bytes
            )
    except (OSError, ConfirmationFileError) as error:
        print(f"{args.file}: not imported: {error}", file=sys.stderr)
        return 2

    print(
        f"{args.file}: {result.rows} rows ({ENCODING_NAMES[result.encoding]}), "
        f"registered on {result.registered_on} (Japan)"
    )
    print(f"  applied            {result.applied}")
    print(f"  already confirmed  {result.already_confirmed}  (same date: nothing to do)")
    print(f"  rejected           {result.rejected_count}")
    for reason, count in result.rejected_by_reason().items():
        print(f"    {reason:<20} {count}")
    for row in result.rejected[:SHOWN_REJECTS]:
        print(f"  line {row.line_number}: {row.reason}: {row.message}")
    if result.rejected_count > SHOWN_REJECTS:
        print(f"  ... and {result.rejected_count - SHOWN_REJECTS} more")
    print(f"rejects: {rejects_path}")
    return 0


def _slip_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("merchant_id", metavar="MERCHANT")
    parser.add_argument("slip_id", metavar="SLIP", help="the slip number")


def register(commands) -> None:
    confirm = commands.add_parser("confirm", help="register the confirmation (決済確定) of one slip, now")
    _slip_arguments(confirm)
    confirm.add_argument("--on", type=parse_date, required=True, help="confirmed_on, YYYY-MM-DD")
    confirm.set_defaults(handler=command_confirm)

    cancel = commands.add_parser("cancel", help="cancel (取消) one unconfirmed slip, now")
    _slip_arguments(cancel)
    cancel.set_defaults(handler=command_cancel)

    amount = commands.add_parser("change-amount", help="change the amount of one unconfirmed slip")
    _slip_arguments(amount)
    amount.add_argument("amount", help="the new amount in yen, 1 to KESSAI_MAX_SLIP_AMOUNT (default 99,999,999)")
    amount.set_defaults(handler=command_change_amount)

    upload = commands.add_parser(
        "import-confirmations",
        help="register the confirmations of a CSV (merchant_id, slip_id, confirmed_on), now",
    )
    upload.add_argument(
        "file", type=Path, metavar="FILE.csv", help="at most KESSAI_IMPORT_MAX_BYTES (default 500,000,000) bytes"
    )
    upload.add_argument("--rejects", type=Path, help="where to write the rejected rows (default: FILE.rejects.csv)")
    upload.set_defaults(handler=command_import_confirmations)
