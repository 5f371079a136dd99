"""The payout closing of CLOSING_DATE (dags/payout_closing.py) against one GROUP BY over the
closing's slips: the statements' slip counts and gross amounts per merchant are that GROUP BY."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bench.datasets import CLOSING_DATE
from bench.harness import Bench, Row, compare
from bench.measure import Context, Step
from bench.orm import BankAccount, Merchant, PayoutStatement, PayoutStatementLine, Slip
from bench.outcomes import MerchantTotals, merchant_totals
from kessai.calendar.rules import payout_date
from kessai.calendar.run_dates import JAPAN
from kessai.calendar.store import prepare_calendar
from kessai.db.database import make_engine
from kessai.db.schema import payout_statements
from kessai.payout.closing import closing_plan, run_payout_closing
from kessai.payout.statement_files import run_statement_files

NAME = "closing"

FLOOR_SQL = text(
    "SELECT merchant_id, COUNT(*), SUM(amount) FROM slips WHERE closing_date = :closing_date GROUP BY merchant_id"
)
TRANSMITTED_SQL = text(
    "UPDATE slips SET transmitted_on = business_calendar.next_business_day "
    "FROM dated_slips JOIN business_calendar ON business_calendar.day = dated_slips.effective_on "
    "WHERE dated_slips.id = slips.id AND slips.closing_date = :closing_date AND slips.confirmed_on IS NOT NULL"
)


def _transmitted(context: Context) -> None:
    """The slips of the closing as the daily transmissions sent them, each on its transmission date
    (the data set has transmitted nothing: its transmission benchmark sends the backlog), so that
    the closing pays them rather than holding them back (docs/payout-closing.md). Not timed."""
    engine = make_engine(context.url)
    try:
        with engine.begin() as connection:
            connection.execute(TRANSMITTED_SQL, {"closing_date": context.day})
        if engine.dialect.name == "postgresql":  # no dead row versions left for the closing to read
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE slips")
    finally:
        engine.dispose()


def _work(context: Context) -> dict:
    """The DAG's tasks: resolve_closing_date, close, write_statement_files."""
    engine = make_engine(context.url)
    try:
        with engine.begin() as connection:
            closing_plan(context.day, prepare_calendar(connection))
        summary = run_payout_closing(engine, context.day)
        run_statement_files(engine, context.day, context.workdir)
    finally:
        engine.dispose()
    return {"statements": summary.statements}


def _statements(context: Context) -> MerchantTotals:
    s = payout_statements.c
    engine = make_engine(context.url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(s.merchant_id, s.slip_count, s.gross_amount).where(s.closing_date == context.day)
            ).all()
    finally:
        engine.dispose()
    return merchant_totals(rows)


def _group_by(context: Context) -> list:
    engine = make_engine(context.url)
    try:
        with engine.connect() as connection:
            return connection.execute(FLOOR_SQL, {"closing_date": context.day}).all()
    finally:
        engine.dispose()


def _floor_work(context: Context) -> None:
    _group_by(context)


def _floor_outcome(context: Context) -> MerchantTotals:
    return merchant_totals(_group_by(context))  # read-only: the same rows the timed one read


def _naive_work(context: Context) -> None:
    """Each slip of the closing as an object, its merchant and bank account fetched for it, the
    lines summed in Python, each statement and line saved on its own."""
    day = context.day
    closing_end = datetime.combine(day + timedelta(days=1), time.min, JAPAN)
    engine = make_engine(context.url)
    try:
        with Session(engine) as session:
            calendar = prepare_calendar(session.connection())
            lines: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
            for slip in session.scalars(select(Slip).where(Slip.closing_date == day)).all():
                if slip.confirmed_on > day or slip.confirmation_registered_at >= closing_end:
                    continue  # confirmed after the closing: a later one pays it
                merchant = session.get(Merchant, slip.merchant_id)
                accounts = select(BankAccount).where(BankAccount.merchant_id == merchant.merchant_id)
                account = (
                    session.scalars(
                        accounts.where(BankAccount.effective_from <= slip.confirmation_registered_at)
                        .order_by(BankAccount.effective_from.desc())
                        .limit(1)
                    ).first()
                    or session.scalars(accounts.order_by(BankAccount.effective_from).limit(1)).first()
                )
                line = lines[(merchant.merchant_id, slip.card_company, account.bank_account_id)]
                line[0] += 1
                line[1] += slip.amount
            by_merchant: dict[str, list] = defaultdict(list)
            for (merchant_id, card_company, account_id), (count, gross) in lines.items():
                by_merchant[merchant_id].append((card_company, account_id, count, gross))
            for merchant_id, its_lines in sorted(by_merchant.items()):
                merchant = session.get(Merchant, merchant_id)
                fees = [gross * merchant.fee_rate_bp // 10_000 for *_, gross in its_lines]
                gross = sum(line[3] for line in its_lines)
                payable = gross - sum(fees)
                paid = payable - merchant.transfer_fee >= max(merchant.minimum_payout, 1)
                statement = PayoutStatement(
                    merchant_id=merchant_id,
                    closing_date=day,
                    payout_date=payout_date(merchant.payout_cycle, day, calendar),
                    slip_count=sum(line[2] for line in its_lines),
                    gross_amount=gross,
                    fee=sum(fees),
                    transfer_fee=merchant.transfer_fee if paid else 0,
                    net_amount=payable - merchant.transfer_fee if paid else 0,
                    carried_in=0,
                    carried_forward=0 if paid else payable,
                )
                session.add(statement)
                session.flush()
                for (card_company, account_id, count, line_gross), fee in zip(its_lines, fees, strict=True):
                    session.add(
                        PayoutStatementLine(
                            statement_id=statement.statement_id,
                            card_company=card_company,
                            bank_account_id=account_id,
                            slip_count=count,
                            gross_amount=line_gross,
                            fee=fee,
                        )
                    )
                    session.flush()
            session.commit()
    finally:
        engine.dispose()


MEASURED = Step(_work, _statements, _transmitted)
FLOOR = Step(_floor_work, _floor_outcome, _transmitted)
NAIVE = Step(_naive_work, _statements, _transmitted)


def run(bench: Bench, size: int) -> list[Row]:
    return [compare(bench, NAME, size, bench.dataset("slips", size), CLOSING_DATE, MEASURED, FLOOR, NAIVE)]
