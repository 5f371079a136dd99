"""The main job on the embedded default: three months of kessai through Airflow.

Creates a fresh SQLite business database under KESSAI_HOME with synthetic merchants, slips and
subscriptions, then runs every kessai DAG through Airflow (real DAG runs with dag.test, in this
process) for each date its timetable gives from 2026-12-01 to 2027-03-01: a year end, two month
ends, the charge days (February's falls on 3/1) and the 12/31-1/3 bank holidays. Each run sees the
clock at its scheduled moment (KESSAI_AS_OF), as it would on the day. Things happen between
the runs, as operators and the bank would make them happen: a transfer comes back from the bank
(振込不能) and is paid again once the merchant corrected its account, and a card company charges a
sale back (a chargeback for the merchant's next closing). Before the first run the online side
authorizes (与信) a few open slips through the card gateway's simulator; an operator then cancels
and changes some of them (one void the card side refuses), and the stale-slip run voids what the
expired ones still hold. A card company answers its first file (受領結果) with one record rejected;
the operator sends that slip again. Mails go to a
local SMTP server started here, which saves each as an .eml file. Ends with a summary an operator
can read and where the outputs are. Run it with scripts/demo.sh.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import insert, text

from kessai.calendar.run_dates import JAPAN
from kessai.db.database import database_url, kessai_home, make_engine
from kessai.db.migrations_runner import upgrade
from kessai.db.schema import bank_accounts, settings
from kessai.masking import mask_url
from kessai.payout.bank_master import package_master, update_bank_master
from kessai.payout.zengin import characters, parse_transfer_file
from kessai.synthetic.generation import GenerationPlan, generate

FIRST_DAY = date(2026, 12, 1)
LAST_DAY = date(2027, 3, 1)


class MailboxHandler:
    """Saves every mail it accepts as NNNN.eml in a folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        (self.folder / f"{self.count:05d}.eml").write_bytes(envelope.original_content or envelope.content)
        return "250 OK"


def start_mailbox(folder: Path) -> Controller:
    folder.mkdir(parents=True, exist_ok=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(MailboxHandler(folder), hostname="127.0.0.1", port=port)
    controller.start()
    os.environ["KESSAI_SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    return controller


def japan_midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=JAPAN)


def scheduled_runs(dags) -> list[tuple[datetime, str, datetime]]:
    """Every run the DAGs' timetables give in the period: (starts at, dag_id, logical date)."""
    from airflow.timetables.base import TimeRestriction

    restriction = TimeRestriction(earliest=japan_midnight(FIRST_DAY), latest=japan_midnight(LAST_DAY), catchup=True)
    runs = []
    for dag in dags:
        last = None
        while info := dag.timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction):
            runs.append((info.run_after, dag.dag_id, info.logical_date))
            last = info.data_interval
    return sorted(runs)


# The service's own account the transfer files pay from (振込依頼人): a demo company.
DEMO_REMITTER = {
    "remitter_code": "1234567890",
    "name": "カ）ケッサイ",
    "bank_code": "0005",
    "bank_name": "ミツビシユーエフジェイ",
    "branch_code": "001",
    "branch_name": "ホンテン",
    "account_type": "ordinary",
    "account_number": "1234567",
}


def check_transfer_records(folder: Path) -> str:
    """Every data record of the transfer files read back against the zengin-code package itself:
    its bank and branch exist there and the names are its kana as the record's fields hold them."""
    master = package_master()
    records, wrong = 0, []
    for path in sorted(folder.rglob("*.txt")):
        for t in parse_transfer_file(path.read_bytes()).transfers:
            records += 1
            bank, branch = master.banks.get(t.bank_code), master.branches.get((t.bank_code, t.branch_code))
            if not (
                bank
                and branch
                and t.bank_name == characters(bank[1], 15).rstrip()
                and t.branch_name == characters(branch[1], 15).rstrip()
            ):
                wrong.append(f"{path.name}: {t.bank_code}-{t.branch_code} {t.bank_name} {t.branch_name}")
    if wrong:
        return f"{len(wrong)} of {records} transfer records NOT in the bank master: " + "; ".join(wrong[:5])
    return f"all {records} transfer records name a bank and branch of zengin-code {master.version}, with its kana"


def prepare_business_database(plan: GenerationPlan) -> None:
    engine = make_engine()
    upgrade(engine)
    started = time.monotonic()
    with engine.begin() as connection:
        # The bank master, as an operator loads it (`python -m kessai bank-master update`) before
        # the first transfer file: the accounts the generator makes are at its real branches.
        loaded_at = datetime.combine(FIRST_DAY, datetime.min.time(), tzinfo=JAPAN)
        update_bank_master(connection, package_master(), loaded_at, FIRST_DAY)
        created = generate(connection, plan)
        connection.execute(
            insert(settings),
            [{"key": f"zengin.{field}", "value": value} for field, value in DEMO_REMITTER.items()]
            + [{"key": "payout.transfer_return_fee", "value": "440"}],  # kept from a returned transfer paid again
        )
    print(
        f"  generated in {time.monotonic() - started:.1f}s: "
        + ", ".join(f"{count:,} {table}" for table, count in created.items())
    )
    engine.dispose()


# The first closing the demo runs: the slips of earlier closing dates (the months of data before
# the demo's first day) were paid by the system kessai takes over from.
BOOKS_START = date(2026, 12, 15)


def declare_books_start() -> None:
    """As an operator does once, before the first closing ever (docs/payout-closing.md)."""
    command = [
        sys.executable,
        "-m",
        "kessai",
        "books-start",
        BOOKS_START.isoformat(),
        "--by",
        "demo",
        "--note",
        "the closings before were paid by the previous system",
    ]
    environment = {**os.environ, "KESSAI_AS_OF": japan_midnight(FIRST_DAY).isoformat()}
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    print(f"  python -m kessai books-start {BOOKS_START}: {result.stdout.strip()}")


def kessai_command(*arguments: str, at: datetime) -> str:
    """python -m kessai ARGUMENTS with the clock at `at`, as an operator runs it that day."""
    environment = {**os.environ, "KESSAI_AS_OF": at.isoformat()}
    result = subprocess.run(
        [sys.executable, "-m", "kessai", *arguments], env=environment, capture_output=True, text=True
    )
    if result.returncode:
        raise RuntimeError(f"python -m kessai {' '.join(arguments)}: {result.stderr.strip()}")
    return result.stdout.strip()


def return_a_transfer(at: datetime) -> None:
    """The bank returns the first transfer of the latest payout date as 振込不能 (口座名義相違): its
    result file is the transfer file with the result written in (docs/zengin-transfer-file.md).
    Two days later the merchant registers its account again (a new bank_accounts row, as the
    online side writes it); its next closing pays the amount back to that account."""
    paid = [p for p in (kessai_home() / "transfers").glob("*/sogofurikomi-*.txt") if p.parent.name <= f"{at:%Y-%m-%d}"]
    first_file = min(p for p in paid if p.parent.name == max(q.parent.name for q in paid))
    records = first_file.read_bytes().split(b"\r\n")
    records[1] = records[1][:113] + b"102" + records[1][116:]  # result 1 (振込不能), reason 02 (名義相違)
    folder = kessai_home() / "transfer-results"
    folder.mkdir(exist_ok=True)
    result_file = folder / f"kekka-{at:%Y%m%d}.txt"
    result_file.write_bytes(b"\r\n".join(records))
    print(
        f"  {at:%Y-%m-%d %H:%M} the bank returns a transfer of {first_file.name}: "
        + kessai_command("import-transfer-results", str(result_file), at=at).replace("\n", "\n    ")
    )
    engine = make_engine()
    with engine.begin() as connection:
        account = (
            connection.execute(
                text(
                    "SELECT b.* FROM payout_transfer_returns r JOIN bank_accounts b ON b.bank_account_id = r.bank_account_id"
                )
            )
            .mappings()
            .one()
        )
        corrected = {k: v for k, v in account.items() if k != "bank_account_id"}
        corrected["effective_from"] = at + timedelta(days=2)
        connection.execute(insert(bank_accounts).values(**corrected))
    engine.dispose()
    print(
        f"  {corrected['effective_from']:%Y-%m-%d %H:%M} merchant {account['merchant_id']} registers its account again"
    )


def charge_back_a_sale(at: datetime) -> None:
    """A card company charges back a sale of the merchant with the most sales in January."""
    engine = make_engine()
    with engine.connect() as connection:
        merchant = connection.execute(
            text(
                "SELECT merchant_id FROM payout_statements WHERE closing_date = '2027-01-31' "
                "ORDER BY gross_amount DESC, merchant_id LIMIT 1"
            )
        ).scalar_one()
    engine.dispose()
    print(
        f"  {at:%Y-%m-%d %H:%M} "
        + kessai_command(
            "adjust",
            merchant,
            "-15000",
            "--kind",
            "chargeback",
            "--reason",
            "JCB chargeback 2027-0042",
            "--by",
            "demo",
            at=at,
        )
    )


def open_slips(connection, order: str, count: int) -> list[tuple[str, str, int]]:
    """Slips paid before the demo's first day and never confirmed, cancelled or expired in the data
    (so open whenever the story acts)."""
    return connection.execute(
        text(
            "SELECT merchant_id, slip_id, amount FROM slips WHERE confirmed_on IS NULL AND cancelled_at IS NULL "
            "AND expired_on IS NULL AND payment_date < :first_day AND subscription_id IS NULL "
            f"ORDER BY {order} LIMIT {count}"
        ),
        {"first_day": FIRST_DAY},
    ).all()


def authorize_and_operate(at: datetime) -> None:
    """The online side authorizes slips through the gateway (the simulator the DAGs use; a token
    starting tok_void_refused_ makes the card side refuse its voids). The two oldest open slips will
    expire during the demo: the stale-slip run voids their authorizations, one refused. Of four
    recent ones an operator cancels two (one void refused: the FAQ's sentence) and changes two: a
    decrease voids the difference, an increase authorizes it first. A fifth is authorized at the sale
    and confirmed: its record carries the approval number and the transmission captures it."""
    from kessai.slips.authorizations import authorize_slip
    from kessai.slips.commands import command_gateway

    engine = make_engine()
    with engine.connect() as connection:
        expiring = open_slips(connection, "payment_date, id", 2)
        recent = open_slips(connection, "payment_date DESC, id", 5)
    gateway = command_gateway()
    try:
        tokens = [
            "tok_demo_expiry",
            "tok_void_refused_expiry",
            "tok_demo_cancel",
            "tok_void_refused_cancel",
            "tok_demo_decrease",
            "tok_demo_increase",
            "tok_demo_sale",
        ]
        for (merchant, slip, amount), token in zip(expiring + recent, tokens, strict=True):
            approval = authorize_slip(engine, gateway, merchant, slip, token, at)
            print(
                f"  {at:%Y-%m-%d %H:%M} the online side authorizes slip {slip} of {merchant}: {amount:,d} yen "
                f"(承認番号 {approval})"
            )
    finally:
        gateway.close()
        engine.dispose()
    (cancel, merchant_c, _), (refused, merchant_r, _) = [(s, m, a) for m, s, a in recent[:2]]
    (decrease, merchant_d, amount_d), (increase, merchant_i, amount_i), (sale, merchant_s, _) = [
        (s, m, a) for m, s, a in recent[2:]
    ]
    later = at + timedelta(hours=1)
    for arguments in (
        ("cancel", merchant_c, cancel),
        ("cancel", merchant_r, refused),
        ("change-amount", merchant_d, decrease, str(amount_d - 500)),
        ("change-amount", merchant_i, increase, str(amount_i + 800)),
        ("confirm", merchant_s, sale, "--on", f"{at:%Y-%m-%d}"),
    ):
        said = kessai_command(*arguments, at=later)
        print(f"  {later:%Y-%m-%d %H:%M} $ python -m kessai {' '.join(arguments)}\n    " + said.replace("\n", "\n    "))


def answer_a_file(at: datetime) -> None:
    """A card company answers the first file it received the day before: every record accepted but
    one, rejected with its code. The file goes to the folder the card_acknowledgements DAG reads at
    noon."""
    engine = make_engine()
    with engine.connect() as connection:
        file_name, batch_id = connection.execute(
            text(
                "SELECT file_name, batch_id FROM transmission_batches WHERE record_count > 1 AND business_date < :day "
                "ORDER BY business_date DESC, batch_id LIMIT 1"
            ),
            {"day": at.date()},
        ).one()
        records = connection.execute(
            text(
                "SELECT merchant_id, slip_id FROM slips WHERE transmission_batch_id = :batch ORDER BY merchant_id, slip_id"
            ),
            {"batch": batch_id},
        ).all()
    engine.dispose()
    folder = kessai_home() / "acknowledgements"
    folder.mkdir(exist_ok=True)
    lines = ["file_name,merchant_id,slip_id,result,code"] + [
        f"{file_name},{merchant},{slip},{'rejected,E12' if n == 0 else 'accepted,00'}"
        for n, (merchant, slip) in enumerate(records)
    ]
    (folder / f"ack-{at:%Y%m%d}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(
        f"  {at:%Y-%m-%d %H:%M} the card company answers {file_name}: {len(records) - 1} accepted, "
        f"slip {records[0][1]} of {records[0][0]} rejected (E12)"
    )


def resend_the_rejected_slip(at: datetime) -> None:
    """The operator has the rejected slip corrected and sends it again with the next transmission."""
    engine = make_engine()
    with engine.connect() as connection:
        merchant, slip = connection.execute(
            text(
                "SELECT s.merchant_id, s.slip_id FROM transmission_acknowledgements a JOIN slips s ON s.id = a.slip_row_id "
                "WHERE a.result = 'rejected' ORDER BY a.batch_id LIMIT 1"
            )
        ).one()
    engine.dispose()
    print(
        f"  {at:%Y-%m-%d %H:%M} $ python -m kessai resend {merchant} {slip}\n    "
        + kessai_command("resend", merchant, slip, at=at)
    )


# What happens between the runs, at these moments (Japan): the card side before the first run,
# a card company's answers, after the first payouts, and in February.
STORY = [
    (datetime(2026, 12, 1, 8, 0, tzinfo=JAPAN), authorize_and_operate),
    (datetime(2026, 12, 17, 11, 0, tzinfo=JAPAN), answer_a_file),
    (datetime(2026, 12, 17, 15, 0, tzinfo=JAPAN), resend_the_rejected_slip),
    (datetime(2027, 1, 12, 14, 0, tzinfo=JAPAN), return_a_transfer),
    (datetime(2027, 2, 10, 10, 0, tzinfo=JAPAN), charge_back_a_sale),
]


def run_all(dag_ids: list[str]) -> dict[str, dict[str, int]]:
    from airflow.utils.cli import get_bagged_dag

    dags = [get_bagged_dag(None, dag_id) for dag_id in dag_ids]
    for task in (task for dag in dags for task in dag.tasks):
        task.retries = 0  # a demo failure shows at once; the scheduler's runs keep their retries
    by_id = {dag.dag_id: dag for dag in dags}
    runs = scheduled_runs(dags)
    print(f"\n{len(runs)} DAG runs from {FIRST_DAY} to {LAST_DAY} (Japan):")
    outcome: dict[str, dict[str, int]] = {dag_id: {} for dag_id in dag_ids}
    story = list(STORY)
    for number, (run_after, dag_id, logical_date) in enumerate(runs, 1):
        while story and story[0][0] <= run_after:
            moment, event = story.pop(0)
            event(moment)
        started = time.monotonic()
        # The one clock (SPEC §4.6) stands at the run's scheduled moment, as it would on the day:
        # no run may act before its day, and the demo runs three months in a few minutes.
        os.environ["KESSAI_AS_OF"] = run_after.isoformat()
        run = by_id[dag_id].test(logical_date=logical_date)
        state = str(run.state)
        outcome[dag_id][state] = outcome[dag_id].get(state, 0) + 1
        mark = "ok" if state == "success" else state.upper()
        print(
            f"  [{number:3d}/{len(runs)}] {logical_date.astimezone(JAPAN):%Y-%m-%d %a}  {dag_id:<20} "
            f"{mark:<7} {time.monotonic() - started:4.1f}s",
            flush=True,
        )
    return outcome


def print_summary(outcome, mailbox: Path) -> None:
    engine = make_engine()
    with engine.connect() as connection:

        def rows(sql: str):
            return connection.execute(text(sql)).all()

        print("\n=== Summary ===")
        print("DAG runs:")
        for dag_id, states in outcome.items():
            print(f"  {dag_id:<20} " + ", ".join(f"{count} {state}" for state, count in sorted(states.items())))

        print("Transmission files per card company (slips, yen):")
        for company, files, records, amount, late in rows(
            "SELECT card_company, count(*), sum(record_count), sum(amount_total), sum(late_count) "
            "FROM transmission_batches GROUP BY card_company ORDER BY card_company"
        ):
            print(f"  {company:<12} {files:3d} files {records:9,d} slips {amount:15,d} yen ({late} late)")
        print("  (late: confirmed before the demo's first day, caught up by its first run)")

        print("Held back from transmission (reason: slips, yen; of them still unsent at the end):")
        held = rows(
            "SELECT h.reason, count(DISTINCT s.id), sum(s.amount), "
            "count(DISTINCT CASE WHEN s.transmitted_on IS NULL THEN s.id END), "
            "sum(CASE WHEN s.transmitted_on IS NULL THEN s.amount ELSE 0 END) "
            "FROM (SELECT DISTINCT slip_row_id, reason FROM transmission_holds) h "
            "JOIN slips s ON s.id = h.slip_row_id GROUP BY h.reason ORDER BY h.reason"
        )
        for reason, slips_held, amount, unsent, unsent_amount in held:
            print(
                f"  {reason:<32} {slips_held:6,d} slips {amount:13,d} yen; unsent {unsent:6,d} ({unsent_amount:,d} yen)"
            )
        if not held:
            print("  none")

        print("Card authorizations (与信: state now, slips):")
        for state, count, amount in rows(
            "SELECT state, count(DISTINCT slip_row_id), sum(amount) FROM slip_authorizations "
            "GROUP BY state ORDER BY state"
        ):
            print(f"  {state:<14} {count:4d} slips {amount:10,d} yen authorized")
        for purpose, outcome, count, amount in rows(
            "SELECT purpose, outcome, count(*), sum(amount) FROM authorization_voids GROUP BY purpose, outcome "
            "ORDER BY purpose, outcome"
        ):
            print(f"  void for {purpose:<9} {outcome:<8} {count:4d} {amount:10,d} yen")
        print(
            "  (refused: カード会社側の事由により与信の取消ができませんでした; the merchant and the operators were mailed)"
        )

        print("Card companies' answers (受領結果):")
        for file_name, result, code, count in rows(
            "SELECT b.file_name, a.result, a.code, count(*) FROM transmission_acknowledgements a "
            "JOIN transmission_batches b ON b.batch_id = a.batch_id GROUP BY b.file_name, a.result, a.code "
            "ORDER BY b.file_name, a.result"
        ):
            print(f"  {file_name:<20} {result:<8} {code:<4} {count:5,d} records")
        for merchant, slip, first, again, closing, held_from in rows(
            "SELECT s.merchant_id, s.slip_id, b.business_date, s.transmitted_on, s.closing_date, "
            "(SELECT min(h.closing_date) FROM payout_held_slips h WHERE h.slip_row_id = s.id) "
            "FROM transmission_acknowledgements a JOIN slips s ON s.id = a.slip_row_id "
            "JOIN transmission_batches b ON b.batch_id = a.batch_id WHERE a.result = 'rejected'"
        ):
            held = f"held back from closing {held_from}" if held_from else "paid with its closing once sent again"
            print(f"  rejected slip {slip} of {merchant}: sent {first}, sent again {again}; closing {closing}: {held}")

        print("Recurring charges (billing month: succeeded / failed):")
        for month, succeeded, failed in rows(
            "SELECT billing_month, sum(CASE WHEN payment_date IS NOT NULL THEN 1 ELSE 0 END), "
            "sum(CASE WHEN payment_date IS NULL THEN 1 ELSE 0 END) FROM slips "
            "WHERE id IN (SELECT slip_row_id FROM charge_attempts) GROUP BY billing_month ORDER BY billing_month"
        ):
            print(f"  {str(month)[:7]}  {succeeded:6,d} charged  {failed:5,d} failed")

        print("Payout statements (closing -> payout date: merchants, net yen):")
        for closing, payout, merchants, net in rows(
            "SELECT closing_date, payout_date, count(*), sum(net_amount) FROM payout_statements "
            "GROUP BY closing_date, payout_date ORDER BY closing_date, payout_date"
        ):
            print(f"  {closing} -> {payout}  {merchants:4d} merchants  {net:15,d} yen")

        print("Held back from the closings (not sent to a card company by the closing date; paid once sent):")
        held_back = rows(
            "SELECT h.closing_date, count(DISTINCT h.slip_row_id), sum(s.amount) FROM "
            "(SELECT DISTINCT closing_date, slip_row_id FROM payout_held_slips) h "
            "JOIN slips s ON s.id = h.slip_row_id GROUP BY h.closing_date ORDER BY h.closing_date"
        )
        for closing, slips_held, amount in held_back:
            print(f"  {closing}  {slips_held:6,d} slips {amount:13,d} yen")
        paid_late = rows(
            "SELECT coalesce(sum(held_back_count), 0), coalesce(sum(held_back_amount), 0) FROM payout_statement_lines"
        )[0]
        print(f"  paid late, once sent: {paid_late[0]:,d} slips {paid_late[1]:,d} yen" if held_back else "  none")
        [(start, unpaid_slips, unpaid_amount)] = rows(
            "SELECT (SELECT min(start_date) FROM payout_books_start), count(*), coalesce(sum(amount), 0) "
            "FROM slips WHERE closing_date < (SELECT min(start_date) FROM payout_books_start)"
        )
        if start:
            print(
                f"  books start at closing {start}: {unpaid_slips:,d} slips ({unpaid_amount:,d} yen) of earlier "
                "closings were the previous system's to pay"
            )

        print("Bank transfer files (Zengin, per payout date):")
        for payout, files, records, amount in rows(
            "SELECT payout_date, count(*), sum(record_count), sum(amount_total) FROM payout_transfer_files "
            "GROUP BY payout_date ORDER BY payout_date"
        ):
            print(f"  {payout}  {files} file(s) {records:5,d} transfers {amount:15,d} yen")

        for business_day, reason, count, amount in rows(
            "SELECT business_date, reason, count(*), sum(amount) FROM payout_withheld_transfers "
            "GROUP BY business_date, reason ORDER BY business_date, reason"
        ):
            why = "slips behind them not sent" if reason == "slips_not_transmitted" else f"bank master: {reason}"
            print(f"  withheld on {business_day}: {count} transfer(s) {amount:,d} yen ({why})")
        [(version, published, banks, branches)] = rows(
            "SELECT version, published_on, bank_count, branch_count FROM bank_master_versions "
            "ORDER BY version_id DESC LIMIT 1"
        )
        [(accounts, at_real_branches)] = rows(
            "SELECT count(*), sum(CASE WHEN bank_master_branches.kana IS NOT NULL "
            "AND bank_master_branches.removed_in IS NULL THEN 1 ELSE 0 END) "
            "FROM bank_accounts LEFT JOIN bank_master_branches USING (bank_code, branch_code)"
        )
        print(
            f"  bank master zengin-code {version} ({published}): {banks:,d} banks, {branches:,d} branches; "
            f"{at_real_branches:,d} of {accounts:,d} bank accounts at a branch it lists"
        )
        print("  " + check_transfer_records(kessai_home() / "transfers"))

        print("Returned transfers (振込不能・組戻し) and adjustments (closing that took them):")
        for merchant, amount, payout, result, reason, fee in rows(
            "SELECT s.merchant_id, r.amount, t.payout_date, r.result, r.reason_code, r.return_fee "
            "FROM payout_transfer_returns r JOIN payout_transfers t ON t.statement_id = r.statement_id "
            "AND t.bank_account_id = r.bank_account_id JOIN payout_statements s ON s.statement_id = r.statement_id"
        ):
            print(
                f"  returned: {merchant} {amount:,d} yen of payout {payout} ({result}, reason {reason}, fee {fee:,d})"
            )
        for merchant, kind, amount, closing in rows(
            "SELECT merchant_id, kind, amount, closing_date FROM payout_adjustments ORDER BY adjustment_id"
        ):
            print(f"  {kind:<18} {merchant} {amount:+,d} yen -> closing {closing or '(a later one)'}")
        for merchant, closing, adjustments, net, carried, transfers in rows(
            "SELECT s.merchant_id, s.closing_date, s.adjustment_amount, s.net_amount, s.carried_forward, "
            "(SELECT count(*) FROM payout_transfers t WHERE t.statement_id = s.statement_id) "
            "FROM payout_statements s WHERE s.adjustment_amount <> 0 ORDER BY s.closing_date, s.merchant_id"
        ):
            print(
                f"  statement {merchant} {closing}: adjustments {adjustments:+,d}, net {net:,d}, "
                f"carried forward {carried:,d}, {transfers} transfer(s)"
            )

        print("Mails (kind: sent / not sent):")
        for kind, sent, unsent in rows(
            "SELECT kind, sum(CASE WHEN sent_at IS NOT NULL THEN 1 ELSE 0 END), "
            "sum(CASE WHEN sent_at IS NULL THEN 1 ELSE 0 END) FROM mail_outbox GROUP BY kind ORDER BY kind"
        ):
            print(f"  {kind:<28} {sent:6,d} sent {unsent:4d} not sent")
        print_mails_per_merchant(rows)
        print_explanations(connection, rows)
    engine.dispose()

    home = kessai_home()
    print("\nOutputs:")
    print(f"  business database   {mask_url(database_url())}")
    for folder in sorted(p for p in home.iterdir() if p.is_dir() and p.name not in ("airflow", "mail")):
        print(f"  {folder.name + '/':<19} {folder}")
    print(f"  mails (.eml)        {mailbox}")
    print(f"  Airflow home        {os.environ['AIRFLOW_HOME']}  (scripts/ui.sh shows these runs)")


# One slip of each kind, as the demo left it (SQL over the demo's small database).
EXAMPLE_SLIPS = {
    "a one-off slip paid, in a transfer file (preferably one sent after the year-end holidays)": (
        "SELECT s.merchant_id, s.slip_id FROM slips s "
        "JOIN payout_statements p ON p.merchant_id = s.merchant_id AND p.closing_date = s.closing_date "
        "JOIN payout_transfers t ON t.statement_id = p.statement_id "
        "WHERE s.subscription_id IS NULL AND t.transfer_file_id IS NOT NULL "
        "ORDER BY CASE WHEN s.transmitted_on = '2027-01-04' THEN 0 ELSE 1 END, s.id LIMIT 1"
    ),
    "a slip held back (at transmission and at a closing)": (
        "SELECT s.merchant_id, s.slip_id FROM payout_held_slips h JOIN slips s ON s.id = h.slip_row_id "
        "ORDER BY CASE WHEN h.reason = 'not_transmitted' THEN 1 ELSE 0 END, s.id LIMIT 1"
    ),
    "a recurring slip failed": (
        "SELECT s.merchant_id, s.slip_id FROM slips s JOIN recurring_charge_cycles c ON c.billing_month = s.billing_month "
        "WHERE s.payment_date IS NULL ORDER BY s.id LIMIT 1"
    ),
    "an expired slip, listed in a digest": (
        "SELECT s.merchant_id, s.slip_id FROM slip_reminders r JOIN slips s ON s.id = r.slip_row_id "
        "WHERE r.reason = 'expired' AND r.mail_id IS NOT NULL ORDER BY s.id LIMIT 1"
    ),
}


def print_explanations(connection, rows) -> None:
    """Every date of one slip of each kind with the rule that set it (python -m kessai explain)."""
    from kessai.calendar.store import load_calendar
    from kessai.explain.explanation import explain_slip, render_text

    calendar = load_calendar(connection)
    print("One slip of each kind, explained (add --lang ja for Japanese, --json for a program):")
    for kind, sql in EXAMPLE_SLIPS.items():
        found = rows(sql)
        if not found:
            print(f"\n  {kind}: none in this run")
            continue
        merchant_id, slip_id = found[0]
        print(f"\n  {kind}:\n  $ python -m kessai explain {slip_id} --merchant {merchant_id}")
        explanation = explain_slip(connection, slip_id, merchant_id=merchant_id, calendar=calendar)
        print("\n".join("    " + line if line else "" for line in render_text(explanation).splitlines()))


def print_mails_per_merchant(rows) -> None:
    """Whether any merchant was flooded: per kind of mail to merchants, the most and the median a
    merchant got (merchants without any count as 0), and the most stale-slip digests (reminder,
    final notice and expiry in one) a merchant got in one ISO week of business dates."""
    merchant_count = rows("SELECT count(*) FROM merchants")[0][0]
    per_kind: dict[str, list[int]] = {}
    for kind, count in rows(
        "SELECT o.kind, count(*) FROM mail_outbox o JOIN merchants m ON m.email = o.recipient "
        "GROUP BY o.kind, m.merchant_id"
    ):
        per_kind.setdefault(kind, []).append(count)
    print(f"Mails per merchant ({merchant_count} merchants: max / median):")
    for kind, counts in sorted(per_kind.items()):
        counts = sorted(counts + [0] * (merchant_count - len(counts)))
        print(f"  {kind:<28} {counts[-1]:4d} max {statistics.median(counts):6.1f} median")
    weeks = Counter(
        (merchant, day.isocalendar()[:2])
        for merchant, day in rows("SELECT merchant_id, business_date FROM stale_slip_digests")
        for day in [date.fromisoformat(str(day))]
    )
    print(f"  stale-slip mails to one merchant in one week: at most {max(weeks.values(), default=0)}")
    (unmentioned,) = rows(
        "SELECT count(*) FROM slips s WHERE s.expired_on IS NOT NULL AND NOT EXISTS ("
        "SELECT 1 FROM stale_slip_digests d WHERE d.merchant_id = s.merchant_id "
        "AND d.paid_through >= s.payment_date AND d.business_date < s.expired_on)"
    )[0]
    print(f"  slips expired without a digest listing them before their deadline: {unmentioned}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slips", type=int, default=20_000)
    parser.add_argument("--merchants", type=int, default=60)
    parser.add_argument("--subscriptions", type=int, default=400)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    # The progress lines below say what each run did; the task logs are in the UI (scripts/ui.sh).
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

    home = kessai_home()
    print(f"kessai demo: business database and outputs under {home} (a fresh start each time)")
    for stale in ("kessai.sqlite", "kessai.sqlite-wal", "kessai.sqlite-shm", "airflow"):
        path = home / stale
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    for folder in home.iterdir() if home.exists() else ():
        if folder.is_dir():
            shutil.rmtree(folder)
    home.mkdir(parents=True, exist_ok=True)
    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)

    print("Creating the business database with synthetic data...")
    prepare_business_database(
        GenerationPlan(
            seed=args.seed,
            merchants=args.merchants,
            slips=args.slips,
            subscriptions=args.subscriptions,
            start=FIRST_DAY - timedelta(days=120),
            end=LAST_DAY - timedelta(days=1),
            as_of=japan_midnight(LAST_DAY),
        )
    )
    print("Creating Airflow's metadata database...")
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)

    declare_books_start()
    mailbox = home / "mail"
    controller = start_mailbox(mailbox)
    try:
        outcome = run_all(
            [
                "card_transmission",
                "card_acknowledgements",
                "recurring_slips",
                "recurring_charge",
                "payout_closing",
                "payout_transfer_file",
                "transfer_results",
                "stale_slip_reminder",
                "operator_digest",
            ]
        )
    finally:
        controller.stop()
    print_summary(outcome, mailbox)
    failed = sum(count for states in outcome.values() for state, count in states.items() if state != "success")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
