"""The payout closing (SPEC §4.4, docs/payout-closing.md).

The run for closing date C (the 15th closes the twice-monthly merchants, the month end both
cycles) issues one payout statement per merchant with slips in C or a balance carried in:

1. Confirmed slips without a closing date get the rule's (a few rows, by a partial index). The
   first closing ever is refused while it would strand slips of earlier closing dates, until the
   operators declare where the books start (payout_books_start). Slips of C that were due to go
   to their card company by C and had not are held back (payout_held_slips, with their reasons)
   and move to their merchant's next closing: nothing is paid that did not go out.
2. One pass over the slips of C (closing_slip_totals, by merchant and card company), then the
   lines (closing_lines): by merchant, card company and the bank account in effect at each slip's
   registration. Slips that carry C without belonging to it move on to a later closing.
3. The statements from the lines, the adjustments (payout_adjustments: chargebacks, corrections,
   returned transfers, effective by C and taken by no closing yet) and the carried-in balances,
   debts included (closing_statements), compared with any issued by an earlier run of C, then
   stored with their lines and their transfers; the adjustments are marked as taken by C. A
   negative net carries forward as a debt, never a negative transfer; nothing is paid to an
   account a transfer came back from (振込不能・組戻し) until another account takes effect.

Closings run in order: C is refused while the closing before it has not run (once any has), since
each statement carries its balance into the next. A re-run of C recomputes, finds the issued
statements equal (else fails, naming them, and changes nothing), and adds only what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    Engine,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
)

from kessai.calendar.business_calendar import BusinessCalendar
from kessai.calendar.rules import (
    MONTHLY,
    PAYOUT_CYCLES,
    TWICE_MONTHLY,
    PayoutCycle,
    closing_dates,
    is_closing_date,
    payout_date,
)
from kessai.calendar.run_dates import JAPAN, BusinessDateError
from kessai.calendar.store import prepare_calendar
from kessai.db.database import sql_text
from kessai.db.schema import (
    Timestamp,
    payout_books_start,
    payout_closings,
    payout_held_slips,
    payout_statement_lines,
    payout_statements,
    payout_transfers,
    slips,
)
from kessai.errors import Refusal
from kessai.kinds import Result

SHOWN = 20  # merchants named in one error message; the rest are counted

# The closing's working set: temporary tables, private to the connection, dropped at the end
# (closing_slip_totals is created by its query).
_work = MetaData()
closing_lines = Table(
    "closing_lines",
    _work,
    Column("merchant_id", String(32), nullable=False),
    Column("card_company", String(16), nullable=False),
    Column("bank_account_id", BigInteger),
    Column("slip_count", BigInteger, nullable=False),
    Column("gross_amount", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("held_back_count", BigInteger, nullable=False, server_default="0"),
    Column("held_back_amount", BigInteger, nullable=False, server_default="0"),
    prefixes=["TEMPORARY"],
)
closing_statements = Table(
    "closing_statements",
    _work,
    Column("merchant_id", String(32), nullable=False),
    Column("payout_date", Date, nullable=False),
    Column("slip_count", BigInteger, nullable=False),
    Column("gross_amount", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("transfer_fee", BigInteger, nullable=False),
    Column("net_amount", BigInteger, nullable=False),
    Column("carried_in", BigInteger, nullable=False),
    Column("carried_forward", BigInteger, nullable=False),
    Column("adjustment_amount", BigInteger, nullable=False),
    prefixes=["TEMPORARY"],
)


class ClosingError(Refusal, ValueError):
    """A closing that must not run, or whose result would contradict what was issued."""


class NotAClosingDate(ClosingError, BusinessDateError):
    """A run was asked to close on a date that is no closing date."""


class BooksNotStarted(ClosingError):
    """The first closing ever would strand the confirmed slips of earlier closing dates."""


def closing_cycles(closing_date: date) -> tuple[str, ...]:
    """The payout cycles that close on closing_date; refuses a date that is no closing date."""
    cycles = tuple(cycle for cycle in PAYOUT_CYCLES if is_closing_date(cycle, closing_date))
    if not cycles:
        raise NotAClosingDate(
            f"{closing_date} is not a closing date: closings are on the 15th (twice-monthly merchants) "
            "and on the last day of each month (all merchants)"
        )
    return cycles


def closing_plan(closing_date: date, calendar: BusinessCalendar) -> dict:
    """The cycles closing on closing_date and their payout dates; refuses a date that is no
    closing date, or whose payout date lies past the calendar's horizon."""
    return {cycle: payout_date(cycle, closing_date, calendar) for cycle in closing_cycles(closing_date)}


def previous_closing_date(closing_date: date) -> date:
    """The closing date just before closing_date (of either cycle: every closing date is one of the
    twice-monthly cycle's)."""
    return closing_dates(TWICE_MONTHLY, closing_date - timedelta(days=20), closing_date - timedelta(days=1))[-1]


def check_closing_order(connection: Connection, closing_date: date) -> bool:
    """Whether closing_date ran before (a re-run). Refuses a closing that would break the chain of
    carried balances: one whose previous closing has not run, or one before the first that ran."""
    ran = select(payout_closings.c.closing_date)
    if connection.execute(ran.where(payout_closings.c.closing_date == closing_date)).first():
        return True
    later = connection.execute(
        select(func.min(payout_closings.c.closing_date)).where(payout_closings.c.closing_date > closing_date)
    ).scalar()
    if later is not None:
        raise ClosingError(
            f"closing {closing_date} cannot run: closings from {later} on have run already and "
            "carried their balances without it. Closings before the first one that ran are never added."
        )
    earlier = connection.execute(
        select(func.max(payout_closings.c.closing_date)).where(payout_closings.c.closing_date < closing_date)
    ).scalar()
    previous = previous_closing_date(closing_date)
    if earlier is not None and earlier != previous:
        raise ClosingError(
            f"closing {closing_date} cannot run before closing {previous}: the last closing that ran is "
            f"{earlier}. Run (backfill) the closings in order: each carries its balances into the next."
        )
    return False


def _run_sql(connection: Connection, name: str, params: dict):
    """sql/payout/closing/NAME.sql with the closing's parameters (each statement takes those it names)."""
    statement = sql_text(f"payout/closing/{name}", connection.dialect.name)
    if ":closing_end" in statement.text:
        statement = statement.bindparams(bindparam("closing_end", type_=Timestamp()))
    return connection.execute(statement, params)


def _analyze(connection: Connection, *tables: str) -> None:
    """Fresh planner statistics for tables this transaction just filled (PostgreSQL): temporary
    tables are never analysed by autovacuum, and the statements' tables change a lot at once.
    Without them the planner expects a row or two and nests loops over thousands."""
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"ANALYZE {', '.join(tables)}"))


def _drop_work_tables(connection: Connection) -> None:
    for name in ("closing_slip_totals", closing_lines.name, closing_statements.name):
        connection.execute(text(f"DROP TABLE IF EXISTS {name}"))


def _merchant_list(rows, describe) -> str:
    shown = "; ".join(describe(row) for row in rows[:SHOWN])
    return shown + (f"; and {len(rows) - SHOWN} more" if len(rows) > SHOWN else "")


def _check_bank_accounts(connection: Connection, closing_date: date) -> None:
    missing = connection.execute(
        select(
            closing_lines.c.merchant_id, func.sum(closing_lines.c.slip_count), func.sum(closing_lines.c.gross_amount)
        )
        .where(closing_lines.c.bank_account_id.is_(None))
        .group_by(closing_lines.c.merchant_id)
        .order_by(closing_lines.c.merchant_id)
    ).all()
    if missing:
        raise ClosingError(
            f"closing {closing_date} cannot pay merchants without a bank account: "
            + _merchant_list(missing, lambda r: f"{r[0]} ({r[1]} slips, {int(r[2]):,} yen)")
            + ". Register their bank_accounts, then run the closing again; nothing was issued."
        )


def _check_issued_statements(connection: Connection, closing_date: date) -> None:
    differences = _run_sql(connection, "statement_differences", {"closing_date": closing_date}).mappings().all()
    if differences:

        def describe(row) -> str:
            if row["computed_slip_count"] is None:
                return f"{row['merchant_id']} (issued {row['slip_count']} slips, {int(row['gross_amount']):,} yen; now none)"
            return (
                f"{row['merchant_id']} (issued {row['slip_count']} slips, gross {int(row['gross_amount']):,}, "
                f"net {int(row['net_amount']):,}; the slips now give {row['computed_slip_count']} slips, gross "
                f"{int(row['computed_gross_amount']):,}, net {int(row['computed_net_amount']):,})"
            )

        raise ClosingError(
            f"closing {closing_date} was issued before and its slips no longer give the same statements: "
            + _merchant_list(differences, describe)
            + ". An issued statement is never changed (it may be paid already): find out which slips "
            "changed after the closing and settle the difference by hand. Nothing was written."
        )


def assign_closing_dates(connection: Connection, calendar: BusinessCalendar, through: date | None = None) -> dict:
    """Give the confirmed slips without a closing date, confirmed by `through` (effective_on; all
    by default), the rule's closing (or, for those whose closing has run already, the first one
    still open). Returns how many were filled and written late.

    Normally a few slips, at the start of each closing run; after a bulk load of slips without
    closing dates, run it once beforehand (`python -m kessai assign-closing-dates`): it rewrites
    every such slip, which closing night should not have to do."""
    latest_closed = connection.execute(select(func.max(payout_closings.c.closing_date))).scalar()
    params = {
        "open_from": latest_closed + timedelta(days=1) if latest_closed else calendar.first_day,
        "fill_through": through or calendar.last_day,
    }
    connection.execute(text("DROP TABLE IF EXISTS closing_fill"))
    _run_sql(connection, "closing_fill", params)
    _analyze(connection, "closing_fill")
    filled, written_late = connection.execute(
        text("SELECT COUNT(*), COALESCE(SUM(written_late), 0) FROM closing_fill")
    ).one()
    if filled:
        _run_sql(connection, "assign_closing_dates", params)
    connection.execute(text("DROP TABLE closing_fill"))
    return {"closing_dates_filled": int(filled), "slips_written_after_their_closing": int(written_late)}


def books_start(connection: Connection) -> dict | None:
    """The declared start of the books (python -m kessai books-start), or None."""
    row = connection.execute(select(payout_books_start)).mappings().first()
    return dict(row) if row else None


def check_books_start(connection: Connection, closing_date: date) -> None:
    """Before the first closing ever: refuse it when it would strand confirmed slips of earlier
    closing dates (from the books' start on, if declared), or when it lies before that start."""
    start = books_start(connection)
    if start and closing_date < start["start_date"]:
        raise BooksNotStarted(
            f"closing {closing_date} is before the start of the books ({start['start_date']}, declared "
            f"by {start['declared_by']}): kessai pays the closings from {start['start_date']} on"
        )
    s = slips.c
    query = (
        select(s.closing_date, func.count(), func.sum(s.amount))
        .where(s.confirmed_on.is_not(None), s.closing_date < closing_date)
        .group_by(s.closing_date)
        .order_by(s.closing_date)
    )
    if start:
        query = query.where(s.closing_date >= start["start_date"])
    stranded = connection.execute(query).all()
    if stranded:
        slips_total = sum(int(n) for _, n, _ in stranded)
        yen_total = sum(int(a) for _, _, a in stranded)
        shown = "; ".join(f"{c}: {int(n):,} slips, {int(a):,} yen" for c, n, a in stranded[:SHOWN])
        more = f"; and {len(stranded) - SHOWN} more closing dates" if len(stranded) > SHOWN else ""
        raise BooksNotStarted(
            f"closing {closing_date} would be the first closing ever, but {slips_total:,} confirmed slips "
            f"({yen_total:,} yen) belong to earlier closing dates and would never be paid: {shown}{more}. "
            f"If the system before kessai paid them, declare where the books start: "
            f"python -m kessai books-start {closing_date}; else run the earliest closing first "
            f"({stranded[0][0]})."
        )


def declare_books_start(connection: Connection, start_date: date, declared_by: str, note: str, now: datetime) -> None:
    """Record where the books start (the first closing kessai pays). Refused once a closing has
    run (the books have started) and for a date that is no closing date."""
    closing_cycles(start_date)
    first = connection.execute(select(func.min(payout_closings.c.closing_date))).scalar()
    if first is not None:
        raise ClosingError(f"the books started with closing {first}, which has run: the start cannot be declared again")
    connection.execute(payout_books_start.delete())
    connection.execute(
        insert(payout_books_start).values(start_date=start_date, declared_at=now, declared_by=declared_by, note=note)
    )


def hold_back_unsent_slips(connection: Connection, params: dict) -> int:
    """Record the slips of C that were due to go out by C but had not (held_slips.sql) and move
    them to their merchant's next closing. Returns how many rows (slip and reason) were recorded."""
    recorded = _run_sql(connection, "held_slips", params).rowcount
    if recorded:
        _run_sql(connection, "move_held_slips", params)
    _analyze(connection, payout_held_slips.name)
    return recorded


def held_back_of(connection: Connection, closing_date: date) -> dict:
    """The slips closing_date held back: count and amount (each slip once) and, by reason, the
    same (a slip held for two reasons counts under both)."""
    h, s = payout_held_slips.c, slips.c
    where = [h.closing_date == closing_date]
    distinct = (
        select(s.id, s.amount).join_from(payout_held_slips, slips, h.slip_row_id == s.id).where(*where).distinct()
    ).subquery()
    count, amount = connection.execute(select(func.count(), func.coalesce(func.sum(distinct.c.amount), 0))).one()
    reasons = connection.execute(
        select(h.reason, func.count(), func.sum(s.amount))
        .join_from(payout_held_slips, slips, h.slip_row_id == s.id)
        .where(*where)
        .group_by(h.reason)
        .order_by(h.reason)
    ).all()
    return {
        "slips": int(count),
        "amount": int(amount),
        "reasons": {reason: {"slips": int(n), "amount": int(a)} for reason, n, a in reasons},
    }


@dataclass(frozen=True, slots=True)
class ClosingSummary(Result):
    """A closing's statements in counts and totals, what it held back and what it did, as the task
    log and XCom show them."""

    closing_date: date
    statements: int
    paid: int  # statements with a transfer
    carried: int  # statements carrying an amount forward
    debts: int  # statements carrying a debt forward
    slips: int
    gross: int
    fee: int
    transfer_fee: int
    carried_in: int
    carried_forward: int
    net: int
    adjustments: int
    transfers: int
    transfer_total: int
    held_back: dict  # slips, amount, and reasons: {reason: {slips, amount}} (held_back_of)
    paid_late: dict  # slips, amount: held back by an earlier closing, paid now
    books_start: dict | None  # start_date, declared_by, note, declared_at; None before it is declared
    cycles: list[PayoutCycle]
    payout_dates: dict[PayoutCycle, date]
    rerun: bool
    statements_added: int
    closing_dates_filled: int
    slips_written_after_their_closing: int
    slips_moved_to_later_closings: int
    dry_run: bool = False


def close_payouts(connection: Connection, closing_date: date, calendar: BusinessCalendar) -> ClosingSummary:
    """Close closing_date: issue its payout statements, lines and transfers. Returns the summary.

    Runs in the caller's transaction; the caller commits (or rolls back for a dry run).
    """
    payout_dates = closing_plan(closing_date, calendar)
    cycles = tuple(payout_dates)
    rerun = check_closing_order(connection, closing_date)
    day_after = closing_date + timedelta(days=1)
    params = {
        "closing_date": closing_date,
        "closing_end": datetime.combine(day_after, time.min, tzinfo=JAPAN),
        "day_after_closing": day_after,
        "month_end": MONTHLY in cycles,
        "monthly_payout_date": payout_dates.get(MONTHLY),
        "twice_monthly_payout_date": payout_dates.get(TWICE_MONTHLY),
    }

    filled = assign_closing_dates(connection, calendar, through=closing_date)
    if connection.execute(select(payout_closings.c.closing_date).limit(1)).first() is None:  # the first ever
        check_books_start(connection, closing_date)
    hold_back_unsent_slips(connection, params)
    _drop_work_tables(connection)
    _run_sql(connection, "closing_slip_totals", params)
    misassigned = _run_sql(connection, "misassigned_count", params).scalar()
    if misassigned:  # rare: move them on, then count the slips of C again
        _run_sql(connection, "move_misassigned_slips", params)
        _drop_work_tables(connection)
        _run_sql(connection, "closing_slip_totals", params)
    _work.create_all(connection, checkfirst=False)
    _run_sql(connection, "lines_of_latest_accounts", params)
    _run_sql(connection, "lines_of_earlier_accounts", params)
    _run_sql(connection, "held_back_lines", params)
    _analyze(connection, "closing_slip_totals", closing_lines.name)
    _check_bank_accounts(connection, closing_date)
    _run_sql(connection, "closing_statements", params)
    _analyze(connection, closing_statements.name)
    _check_issued_statements(connection, closing_date)
    added = _run_sql(connection, "insert_statements", params).rowcount
    _run_sql(connection, "take_adjustments", params)
    _run_sql(connection, "insert_lines", params)
    _analyze(connection, payout_statements.name, "payout_statement_lines")
    _run_sql(connection, "insert_transfers", params)
    if not rerun:
        connection.execute(insert(payout_closings).values(closing_date=closing_date))
    _drop_work_tables(connection)

    return ClosingSummary(
        **closing_summary(connection, closing_date),
        cycles=list(cycles),
        payout_dates=payout_dates,
        rerun=rerun,
        statements_added=added,
        **filled,
        slips_moved_to_later_closings=int(misassigned),
    )


def closing_summary(connection: Connection, closing_date: date) -> dict:
    """Counts and totals of the statements of closing_date: the first fields of ClosingSummary."""
    s = payout_statements.c
    totals = connection.execute(
        select(
            func.count(),
            func.count().filter(s.net_amount > 0),
            func.count().filter(s.carried_forward > 0),
            func.count().filter(s.carried_forward < 0),
            func.coalesce(func.sum(s.slip_count), 0),
            func.coalesce(func.sum(s.gross_amount), 0),
            func.coalesce(func.sum(s.fee), 0),
            func.coalesce(func.sum(s.transfer_fee), 0),
            func.coalesce(func.sum(s.carried_in), 0),
            func.coalesce(func.sum(s.carried_forward), 0),
            func.coalesce(func.sum(s.net_amount), 0),
            func.coalesce(func.sum(s.adjustment_amount), 0),
        ).where(s.closing_date == closing_date)
    ).one()
    lines = payout_statement_lines.c
    paid_late = connection.execute(
        select(func.coalesce(func.sum(lines.held_back_count), 0), func.coalesce(func.sum(lines.held_back_amount), 0))
        .select_from(payout_statement_lines.join(payout_statements))
        .where(s.closing_date == closing_date)
    ).one()
    transfers = connection.execute(
        select(func.count(), func.coalesce(func.sum(payout_transfers.c.amount), 0))
        .select_from(payout_transfers.join(payout_statements))
        .where(s.closing_date == closing_date)
    ).one()
    keys = (
        "statements",
        "paid",
        "carried",
        "debts",
        "slips",
        "gross",
        "fee",
        "transfer_fee",
        "carried_in",
        "carried_forward",
        "net",
        "adjustments",
    )
    summary = {"closing_date": closing_date, **{k: int(v) for k, v in zip(keys, totals, strict=True)}}
    summary["transfers"], summary["transfer_total"] = int(transfers[0]), int(transfers[1])
    summary["held_back"] = held_back_of(connection, closing_date)
    summary["paid_late"] = {"slips": int(paid_late[0]), "amount": int(paid_late[1])}
    start = books_start(connection)
    summary["books_start"] = (
        {
            "start_date": start["start_date"].isoformat(),
            "declared_by": start["declared_by"],
            "note": start["note"],
            "declared_at": start["declared_at"].astimezone(JAPAN).strftime("%Y-%m-%d %H:%M JST"),
        }
        if start
        else None
    )
    if summary["transfer_total"] != summary["net"]:  # the transfers are the statements' nets, split
        raise ClosingError(
            f"closing {closing_date}: transfers total {summary['transfer_total']:,} yen but the statements' "
            f"net is {summary['net']:,} yen"
        )
    return summary


def run_payout_closing(engine: Engine, closing_date: date, *, dry_run: bool = False) -> ClosingSummary:
    """The closing of closing_date in one transaction; a dry run rolls it back. Returns the summary."""
    with engine.connect() as connection:
        try:
            calendar = prepare_calendar(connection)
            summary = close_payouts(connection, closing_date, calendar)
        except BaseException:
            connection.rollback()
            raise
        if dry_run:
            connection.rollback()
        else:
            connection.commit()
    return replace(summary, dry_run=dry_run)


def format_summary(summary: ClosingSummary) -> str:
    """The summary as the lines the task log shows."""
    head = f"closing {summary.closing_date} ({', '.join(summary.cycles)})"
    if summary.dry_run:
        head += " (dry run: nothing written)"
    lines = [
        head,
        f"  {summary.statements} statements ({summary.statements_added} issued by this run"
        + (", a re-run: the others were recomputed and found equal)" if summary.rerun else ")"),
        f"  {summary.paid} paid, {summary.carried} carried forward"
        + (f", {summary.debts} carrying a debt" if summary.debts else "")
        + "; payout dates "
        + ", ".join(f"{cycle} {d}" for cycle, d in summary.payout_dates.items()),
        f"  {summary.slips:,} slips, gross {summary.gross:,} yen, fee {summary.fee:,}, "
        f"transfer fees {summary.transfer_fee:,}, "
        + (f"adjustments {summary.adjustments:,}, " if summary.adjustments else "")
        + f"carried in {summary.carried_in:,}, "
        f"carried forward {summary.carried_forward:,}, net {summary.net:,} yen",
        f"  {summary.transfers} transfers totalling {summary.transfer_total:,} yen",
    ]
    held = summary.held_back
    if held["slips"]:
        lines.append(
            f"  {held['slips']:,} slips ({held['amount']:,} yen) held back: due to go out by "
            f"{summary.closing_date} but not transmitted by then; moved to the next closing ("
            + "; ".join(f"{reason} {r['slips']:,} slips, {r['amount']:,} yen" for reason, r in held["reasons"].items())
            + ")"
        )
    if summary.paid_late["slips"]:
        lines.append(
            f"  {summary.paid_late['slips']:,} slips ({summary.paid_late['amount']:,} yen) held back by an "
            "earlier closing went out since and are paid now (shown on their statement lines)"
        )
    if summary.books_start:
        start = summary.books_start
        lines.append(
            f"  the books start at closing {start['start_date']} (declared by {start['declared_by']} on "
            f"{start['declared_at']}{': ' + start['note'] if start['note'] else ''}); earlier slips are not paid by kessai"
        )
    if summary.closing_dates_filled:
        lines.append(f"  {summary.closing_dates_filled} confirmed slips had no closing date and got the rule's")
    if summary.slips_written_after_their_closing:
        lines.append(
            f"  {summary.slips_written_after_their_closing} of them were written after their closing had run: "
            "they went to the first closing still open (paid late)"
        )
    if summary.slips_moved_to_later_closings:
        lines.append(
            f"  {summary.slips_moved_to_later_closings} slips carried this closing date without belonging "
            "to it (confirmed after it, or their merchant's cycle has no closing that day): moved to a later closing"
        )
    return "\n".join(lines)
