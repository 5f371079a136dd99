"""`python -m kessai explain SLIP_ID [--merchant M] [--json] [--lang ja]`: every date of a slip
with the rule that set it (kessai.explain.explanation). Reads only; a slip not found or found at several
merchants ends in one line, exit 1 (kessai.cli.main)."""

from __future__ import annotations

import json

from kessai.db.database import make_engine


def command_explain(args) -> int:
    from kessai.calendar.store import load_calendar
    from kessai.explain.explanation import explain_slip, render_text

    with make_engine().connect() as connection:
        explanation = explain_slip(
            connection, args.slip_id, merchant_id=args.merchant, calendar=load_calendar(connection), lang=args.lang
        )
    if args.json:
        print(json.dumps(explanation.as_dict(), ensure_ascii=False, indent=2))
    else:
        print(render_text(explanation), end="")
    return 0


def register(commands) -> None:
    explain = commands.add_parser(
        "explain", help="every date and state of one slip, each with the rule that set it (reads only)"
    )
    explain.add_argument("slip_id", metavar="SLIP_ID", help="the slip number")
    explain.add_argument("--merchant", metavar="M", help="the merchant, when the number exists at several")
    explain.add_argument("--json", action="store_true", help="print the explanation as JSON")
    explain.add_argument("--lang", choices=("en", "ja"), default="en", help="English (default) or Japanese")
    explain.set_defaults(handler=command_explain)
