"""The fault suite's small world, and what the jobs leave behind in it, for comparing runs.

One synthetic world (kessai.synthetic.generation, seeded: the same rows on SQLite and PostgreSQL) of a few
merchants, tens of slips paid 2027-01-16..31 and a dozen subscriptions, so every job has work:

- the transmission of Monday 2027-02-01 sends every confirmed slip (and holds back those of an
  unknown card company);
- the closing of 2027-01-31 is the first one (no slip belongs to an earlier closing) and pays
  2027-02-10 (twice-monthly merchants) and 2027-02-25 (monthly);
- the transfer files of 2027-02-08 and 2027-02-22 are the files of those two payout dates (after
  the closing of 2027-02-15, also paid 2027-02-25);
- the reminders of Thursday 2027-05-06 (the first business day of its week) find the unconfirmed
  slips three months old;
- the charge day 2027-03-01 charges the subscriptions' February slips.

`outputs()` reads every row the jobs write by natural keys (a slip by merchant and slip number, a
batch by day and card company, a statement by merchant and closing date...), without surrogate ids
and clock readings, which legitimately differ between two runs (a sequence is not rolled back by a
killed transaction); and every visible file under KESSAI_HOME with its bytes.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

from sqlalchemy import select, update

from kessai.calendar.run_dates import JAPAN
from kessai.db.database import make_engine
from kessai.db.schema import (
    Timestamp,
    bank_accounts,
    charge_attempts,
    mail_outbox,
    payout_closings,
    payout_statement_lines,
    payout_statements,
    payout_transfer_files,
    payout_transfers,
    recurring_charge_cycles,
    slip_events,
    slip_reminders,
    slips,
    subscriptions,
    transmission_batch_merchants,
    transmission_batches,
    transmission_holds,
)
from kessai.synthetic.generation import GenerationPlan, generate

D = date.fromisoformat

TRANSMISSION_DAY = D("2027-02-01")
CLOSING_DATE = D("2027-01-31")
TRANSFER_DAYS = (D("2027-02-08"), D("2027-02-22"))
REMINDER_DAY = D("2027-05-06")
CHARGE_DAY = D("2027-03-01")

PLAN = GenerationPlan(
    seed=20270131,
    merchants=4,
    slips=36,
    subscriptions=12,
    start=D("2027-01-16"),
    end=D("2027-01-31"),
    as_of=datetime.combine(D("2027-01-31"), time(23, 59, 59), JAPAN),
    unconfirmed_share=0.2,
    unknown_card_company_share=0.06,
    twice_monthly_share=0.5,
    stopped_subscription_share=0.1,
    failing_card_share=0.25,
)

# The remitter of the transfer files (environment of every run that builds them).
ZENGIN = {
    "KESSAI_ZENGIN_REMITTER_CODE": "42",
    "KESSAI_ZENGIN_NAME": "ケッサイ",
    "KESSAI_ZENGIN_BANK_CODE": "0005",
    "KESSAI_ZENGIN_BANK_NAME": "",
    "KESSAI_ZENGIN_BRANCH_CODE": "001",
    "KESSAI_ZENGIN_BRANCH_NAME": "",
    "KESSAI_ZENGIN_ACCOUNT_TYPE": "ordinary",
    "KESSAI_ZENGIN_ACCOUNT_NUMBER": "7777777",
}


def seed_world(url: str) -> None:
    """The synthetic world in a fresh, migrated database. A subscription whose token the test
    gateway answers with a 500 every time is made an approved one: a gateway that refuses one card
    for ever is a case of its own (test_gateway_faults), not part of every run."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            generate(connection, PLAN)
            for row in connection.execute(
                select(subscriptions.c.subscription_id, subscriptions.c.card_token).where(
                    subscriptions.c.card_token.like("tok_error_%")
                )
            ).all():
                connection.execute(
                    update(subscriptions)
                    .where(subscriptions.c.subscription_id == row.subscription_id)
                    .values(card_token="tok_ok_" + row.card_token.removeprefix("tok_error_"))
                )
    finally:
        engine.dispose()


# -- what the jobs leave behind ---------------------------------------------------------------

# Each table a job writes: how a row of it is named by what it means rather than by a surrogate id.
_NATURAL = {
    "slips": (slips, ("merchant_id", "slip_id")),
    "transmission_batches": (transmission_batches, ("business_date", "card_company")),
    "payout_statements": (payout_statements, ("merchant_id", "closing_date")),
    "bank_accounts": (bank_accounts, ("merchant_id", "effective_from")),
    "payout_transfer_files": (payout_transfer_files, ("payout_date", "sequence")),
    "mail_outbox": (mail_outbox, ("dedupe_key",)),
}
# Columns holding a surrogate id of another table (not every one is a declared foreign key).
_REFERENCES = {
    "slip_row_id": "slips",
    "transmission_batch_id": "transmission_batches",
    "batch_id": "transmission_batches",
    "statement_id": "payout_statements",
    "bank_account_id": "bank_accounts",
    "transfer_file_id": "payout_transfer_files",
    "mail_id": "mail_outbox",
}
_OWN_IDS = {
    "id",
    "batch_id",
    "statement_id",
    "bank_account_id",
    "transfer_file_id",
    "mail_id",
    "event_id",
    "attempt_id",
}
# Bookkeeping of the delivery that a fault changes without changing what was mailed.
_DELIVERY_BOOKKEEPING = {"attempts", "next_attempt_at", "last_error"}
_WRITTEN = [
    slips,
    transmission_batches,
    transmission_batch_merchants,
    transmission_holds,
    payout_closings,
    payout_statements,
    payout_statement_lines,
    payout_transfer_files,
    payout_transfers,
    slip_reminders,
    slip_events,
    mail_outbox,
    recurring_charge_cycles,
]


def _names(connection) -> dict[str, dict]:
    names = {}
    for table_name, (table, key) in _NATURAL.items():
        id_column = next(c for c in table.primary_key.columns)
        names[table_name] = {
            row[0]: tuple(row[1:]) for row in connection.execute(select(id_column, *(table.c[k] for k in key)))
        }
    return names


def _row(table, row, names) -> tuple:
    values = []
    for column in table.columns:
        value = row._mapping[column.name]
        if column.name in _REFERENCES and table.name != _REFERENCES[column.name]:
            values.append((column.name, None if value is None else names[_REFERENCES[column.name]][value]))
        elif column.name in _OWN_IDS:
            continue  # the table's own surrogate id
        elif table is mail_outbox and column.name in _DELIVERY_BOOKKEEPING:
            continue
        elif isinstance(column.type, Timestamp):
            # A clock reading differs between runs; whether it is set does not (sent, given up, ...),
            # except for the moments the online side wrote, which are data.
            if table is slips and column.name in ("confirmation_registered_at", "cancelled_at"):
                values.append((column.name, value))
            else:
                values.append((column.name, value is not None))
        else:
            values.append((column.name, value))
    return tuple(values)


def tables(url: str) -> dict[str, list[tuple]]:
    """Every row the jobs write, by natural keys, sorted."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            names = _names(connection)
            return {
                table.name: sorted((_row(table, row, names) for row in connection.execute(select(table))), key=repr)
                for table in _WRITTEN
            }
    finally:
        engine.dispose()


def charges(url: str) -> dict[tuple, list[str]]:
    """(merchant, slip number) -> the outcomes of its charge attempts, in order."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(slips.c.merchant_id, slips.c.slip_id, charge_attempts.c.outcome)
                .join(slips, slips.c.id == charge_attempts.c.slip_row_id)
                .order_by(charge_attempts.c.slip_row_id, charge_attempts.c.attempt_number)
            ).all()
    finally:
        engine.dispose()
    outcomes: dict[tuple, list[str]] = {}
    for merchant_id, slip_id, outcome in rows:
        outcomes.setdefault((merchant_id, slip_id), []).append(outcome)
    return outcomes


def files(home: Path) -> dict[str, bytes]:
    """Every visible file under KESSAI_HOME (relative path -> bytes), not the database's own."""
    if not home.exists():
        return {}
    return {
        str(path.relative_to(home)): path.read_bytes()
        for path in sorted(home.rglob("*"))
        if path.is_file() and not path.name.startswith(".") and ".sqlite" not in path.name
    }


def hidden_files(home: Path) -> list[str]:
    """Temporary files a killed writer left (a dot-name: no consumer picks them up)."""
    return sorted(str(p.relative_to(home)) for p in home.rglob(".*") if p.is_file()) if home.exists() else []


def outputs(url: str, home: Path) -> dict:
    return {"tables": tables(url), "files": files(home)}


def diff(expected: dict, actual: dict) -> list[str]:
    """What differs between two outputs, a line each (an empty list when they are equal)."""
    lines = []
    for table in sorted(set(expected["tables"]) | set(actual["tables"])):
        want, got = expected["tables"].get(table, []), actual["tables"].get(table, [])
        if want != got:
            missing = [r for r in want if r not in got]
            extra = [r for r in got if r not in want]
            lines.append(
                f"table {table}: {len(missing)} rows missing, {len(extra)} extra: "
                f"missing {missing[:2]} extra {extra[:2]}"
            )
    for name in sorted(set(expected["files"]) | set(actual["files"])):
        if expected["files"].get(name) != actual["files"].get(name):
            state = (
                "missing" if name not in actual["files"] else "extra" if name not in expected["files"] else "differs"
            )
            lines.append(f"file {name}: {state}")
    return lines


# -- the jobs the suite disturbs, and where each starts ---------------------------------------

JOBS = {
    "transmit": {"day": TRANSMISSION_DAY.isoformat()},
    "close": {"day": CLOSING_DATE.isoformat()},
    "transfer_files": {"days": [day.isoformat() for day in TRANSFER_DAYS]},
    "remind": {"day": REMINDER_DAY.isoformat()},
    "deliver": {},
    "recurring_charge": {"day": CHARGE_DAY.isoformat()},  # and the gateway, from the test
}


def prepare(url: str, home: Path, job: str) -> None:
    """Bring a seeded world to where `job` starts, by the runs before it (in this process): the
    closing follows the transmission, the transfer files the closing; the delivery has the
    reminders' mails in its outbox."""
    import os
    from contextlib import ExitStack
    from unittest import mock

    from kessai.cli import main
    from kessai.reminders.stale_slips import ReminderSettings, remind_stale_slips

    steps = {
        "close": ["transmit"],
        "transfer_files": ["transmit", "close", "close_15th"],
        "deliver": ["remind_only"],
    }.get(job, [])
    with ExitStack() as stack:
        stack.enter_context(
            mock.patch.dict(os.environ, {**ZENGIN, "KESSAI_DATABASE_URL": url, "KESSAI_HOME": str(home)})
        )
        for step in steps:
            if step == "transmit":
                assert main(["transmit", JOBS["transmit"]["day"]]) == 0
            elif step == "close":
                assert main(["payout-close", JOBS["close"]["day"]]) == 0
            elif step == "close_15th":  # the twice-monthly closing paid with the monthly one on 2/25
                assert main(["payout-close", "2027-02-15"]) == 0
            else:
                engine = make_engine(url)
                with engine.begin() as connection:
                    remind_stale_slips(connection, REMINDER_DAY, ReminderSettings.from_environment())
                engine.dispose()
