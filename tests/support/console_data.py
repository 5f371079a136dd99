"""A small business database as the console's tests read it, made by the jobs themselves (the
command line, each at its moment), so the pages show what real runs write.

The world: payment dates 2026-10-01 to 2027-01-31, books starting at the 2027-01-31 closing. The
charge day 2027-01-27 charges January's subscriptions through the card gateway simulator (some cards
declined) and closes the month; the business day 2027-01-29 (Fri) sends the
backlog; 1/31 closes both cycles (run 2/1 01:30); Monday
2027-02-01 sends that weekend's slips and writes the weekly stale-slip digests; the mail delivery
(a real SMTP server, tests/support/smtp_server.py) has one digest refused for good (550: given up) and
one for now (450: deferred). The console's clock: 2027-02-01 10:00.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import insert, select

from kessai.calendar.run_dates import JAPAN
from kessai.calendar.store import prepare_calendar
from kessai.db.database import make_engine
from kessai.db.schema import mail_outbox, settings
from kessai.gateway.card_gateway import SimulatorGateway
from kessai.recurring.charge import ChargeFaults, charge_cycle
from kessai.recurring.cycle import charge_cycle_on
from kessai.recurring.failures import notify_failures
from kessai.recurring.slips import create_recurring_slips
from kessai.reminders.stale_slips import ReminderSettings, remind_stale_slips
from kessai.synthetic.generation import GenerationPlan, generate
from support.smtp_server import SmtpTestServer

TODAY = date(2027, 2, 1)
CHARGE_DAY = date(2027, 1, 27)
CONSOLE_AS_OF = "2027-02-01T10:00:00+09:00"
REMITTER = {
    "remitter_code": "1234567890",
    "name": "カ）ケッサイ",
    "bank_code": "0005",
    "bank_name": "ミツビシユーエフジェイ",
    "branch_code": "001",
    "branch_name": "ホンテン",
    "account_type": "ordinary",
    "account_number": "1234567",
}
PLAN = GenerationPlan(
    seed=7,
    merchants=12,
    slips=1500,
    subscriptions=60,
    start=date(2026, 10, 1),
    end=date(2027, 1, 31),
    as_of=datetime(2027, 2, 1, 9, 0, tzinfo=JAPAN),
    unknown_card_company_share=0.01,
    failing_card_share=0.2,
)


def kessai(url: str, home: Path, as_of: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    environment = {**os.environ, "KESSAI_DATABASE_URL": url, "KESSAI_HOME": str(home), "KESSAI_AS_OF": as_of}
    result = subprocess.run([sys.executable, "-m", "kessai", *args], env=environment, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"kessai {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def charge_january(engine) -> None:
    """The recurring charge's tasks for 2027-01-27, as the DAG runs them: create the month's slips,
    charge them, and (when every charge has an outcome) notify the failures and close the month."""
    moment = datetime(2027, 1, 27, 10, 0, tzinfo=JAPAN)
    with engine.connect() as connection:
        cycle = charge_cycle_on(CHARGE_DAY, prepare_calendar(connection))
        create_recurring_slips(connection, cycle)
        connection.commit()
        try:
            charge_cycle(connection, cycle, SimulatorGateway(), clock=lambda: moment)
            connection.commit()
            notify_failures(connection, cycle, clock=lambda: moment)
        except ChargeFaults:  # calls timed out: the month stays open, nobody is told
            pass
        connection.commit()


def build_world(url: str, home: Path) -> None:
    """Fill the (migrated, empty) business database at `url`."""
    engine = make_engine(url)
    with engine.begin() as connection:
        generate(connection, PLAN)
        connection.execute(insert(settings), [{"key": f"zengin.{k}", "value": v} for k, v in REMITTER.items()])
    kessai(url, home, "2027-01-29T07:00:00+09:00", "books-start", "2027-01-31", "--by", "tests")
    charge_january(engine)
    kessai(url, home, "2027-01-29T07:00:00+09:00", "transmit", "2027-01-29")
    kessai(url, home, "2027-02-01T01:30:00+09:00", "payout-close", "2027-01-31")
    kessai(url, home, "2027-02-01T06:00:00+09:00", "transmit", "2027-02-01")
    with engine.begin() as connection:
        remind_stale_slips(connection, TODAY, ReminderSettings())
        recipients = sorted(
            connection.execute(
                select(mail_outbox.c.recipient).where(mail_outbox.c.kind == "stale_slip_digest")
            ).scalars()
        )
    server = SmtpTestServer()
    server.start()
    try:
        server.refuse_recipient(recipients[0], 550)
        server.refuse_recipient(recipients[1], 450)
        os.environ["KESSAI_SMTP_URL"] = server.url
        kessai(url, home, "2027-02-01T09:30:00+09:00", "deliver-mail", check=False)
    finally:
        os.environ.pop("KESSAI_SMTP_URL", None)
        server.stop()
    engine.dispose()
