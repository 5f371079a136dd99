"""What each console page shows, read from the business database: plain functions over a
connection and dates, returning dicts for the templates. No Airflow here; the Airflow runs a page
links to come from a `RunFinder` the plugin passes in.

Every query is in sql/console/ and reads the slips only through an index (docs/console.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.types import Date

from kessai.calendar.business_calendar import DECLARED_CLOSURE, BusinessCalendar, CalendarHorizonError
from kessai.calendar.rules import (
    PAYOUT_CYCLES,
    add_months,
    billing_month_charged_on,
    closing_dates,
    is_closing_date,
    month_end,
    payout_date,
    recurring_charge_date,
)
from kessai.db.database import sql_text
from kessai.db.schema import Timestamp, calendar_overrides
from kessai.errors import Refusal
from kessai.payout.transfer_files import lead_business_days
from kessai.reminders.stale_slips import expires_on, stale_through
from kessai.settings import Settings

# Stored timestamps come back as aware datetimes (SQLite keeps them as UTC text); dates as dates.
SLIP_TYPES: dict[str, Any] = {
    "payment_date": Date,
    "confirmed_on": Date,
    "billing_month": Date,
    "transmitted_on": Date,
    "transmission_due_on": Date,
    "closing_date": Date,
    "expired_on": Date,
    "confirmation_registered_at": Timestamp,
    "cancelled_at": Timestamp,
    "created_at": Timestamp,
}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
PAYOUT_HORIZON_BUSINESS_DAYS = 10
STATEMENTS_SHOWN = 12
STALE_SLIPS_SHOWN = 200


@dataclass(frozen=True)
class RunLink:
    """An Airflow run a figure came from."""

    dag_id: str
    run_id: str
    state: str


# (dag_id, the dates in Japan the runs stand for) -> {date: [runs]}
RunFinder = Callable[[str, list[date]], dict[date, list[RunLink]]]


def no_runs(_dag_id: str, _days: list[date]) -> dict[date, list[RunLink]]:
    return {}


class ConsoleRefusal(Refusal):
    """A page asked for something that cannot be shown (a bad date or month)."""


# -- helpers -------------------------------------------------------------------------------------


def _rows(connection: Connection, name: str, params: dict, *, expanding: tuple[str, ...] = (), **types) -> list[dict]:
    statement = sql_text(f"console/{name}", connection.dialect.name)
    if expanding:
        statement = statement.bindparams(*(bindparam(key, expanding=True) for key in expanding))
    if types:
        statement = statement.columns(**types)
    return [dict(row._mapping) for row in connection.execute(statement, params)]


@lru_cache(maxsize=8)
def _calendar(reviewed_through: int | None, closures: frozenset[date], openings: frozenset[date]) -> BusinessCalendar:
    kwargs: dict[str, Any] = {"reviewed_through": reviewed_through} if reviewed_through else {}
    return BusinessCalendar(extra_closures=closures, extra_openings=openings, **kwargs)


def read_calendar(connection: Connection) -> BusinessCalendar:
    """The business calendar with the declared closures, read only (the batch keeps its table);
    kept across requests while the overrides stay the same."""
    rows = connection.execute(select(calendar_overrides.c.day, calendar_overrides.c.is_open)).all()
    return _calendar(
        None,
        frozenset(day for day, is_open in rows if not is_open),
        frozenset(day for day, is_open in rows if is_open),
    )


def parse_day(value: str | None, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConsoleRefusal(f"date {value!r} is not a date: write YYYY-MM-DD") from None


def parse_month(value: str | None, default: date) -> date:
    if not value:
        return default.replace(day=1)
    try:
        return date.fromisoformat(value + "-01")
    except ValueError:
        raise ConsoleRefusal(f"month {value!r} is not a month: write YYYY-MM") from None


def weekday(d: date) -> str:
    return WEEKDAYS[d.weekday()]


def _business_days_from(calendar: BusinessCalendar, day: date, count: int) -> list[date]:
    days: list[date] = []
    d = calendar.business_day_on_or_after(day)
    while len(days) < count:
        days.append(d)
        try:
            d = calendar.next_business_day(d)
        except CalendarHorizonError:
            break
    return days


def _business_days_before(calendar: BusinessCalendar, day: date, count: int) -> date:
    for _ in range(count):
        day = calendar.previous_business_day(day)
    return day


# -- Today ---------------------------------------------------------------------------------------


def business_date_of(calendar: BusinessCalendar, today: date) -> date:
    """The business date the Today page shows for a date in Japan: that day if it is a business
    day, else the last business day before it (the latest day the daily jobs ran for)."""
    return calendar.business_day_on_or_before(today)


def closings_due(calendar: BusinessCalendar, day: date) -> list[date]:
    """The closing dates whose run became due since the previous business day: a closing C runs
    from C+1, so on business day D those with C+1 in (previous business day, D]."""
    first = calendar.previous_business_day(day)
    last = day - timedelta(days=1)
    return sorted({c for cycle in PAYOUT_CYCLES for c in closing_dates(cycle, first, last)})


def today_page(
    connection: Connection,
    day: date,
    calendar: BusinessCalendar,
    runs: RunFinder = no_runs,
    configuration: Settings | None = None,
) -> dict:
    """Each job's result for business date `day`, in business terms, with the runs behind it."""
    day_param = {"day": day}
    files = _rows(connection, "transmission_files", day_param)
    holds = _rows(connection, "transmission_holds", day_param)

    billing_month = billing_month_charged_on(day, calendar)
    attempts = _rows(connection, "charge_attempts", day_param)
    cycles = _rows(connection, "charge_cycles", day_param, billing_month=Date, charge_date=Date)

    due = closings_due(calendar, day)
    closings = []
    if due:
        ran = {
            r["closing_date"]: r
            for r in _rows(
                connection, "closings", {"first": due[0], "last": due[-1]}, closing_date=Date, closed_at=Timestamp
            )
        }
        for closing in due:
            cycles_closing = [cycle for cycle in PAYOUT_CYCLES if is_closing_date(cycle, closing)]
            closings.append({"closing_date": closing, "cycles": cycles_closing, "run": ran.get(closing)})

    payout_days = _business_days_from(calendar, day, PAYOUT_HORIZON_BUSINESS_DAYS)
    lead = lead_business_days(connection, configuration)
    window = {"first": payout_days[0], "last": payout_days[-1]}
    by_date = {r["payout_date"]: r for r in _rows(connection, "payouts", window, payout_date=Date)}
    files_by_date: dict[date, list[dict]] = {}
    for f in _rows(connection, "transfer_files", window, payout_date=Date):
        files_by_date.setdefault(f["payout_date"], []).append(f)
    payouts = []
    for payout_day in sorted(by_date):
        row = by_date[payout_day]
        transfer_day = _business_days_before(calendar, payout_day, lead)
        filed, transfers = row["filed"] or 0, row["transfers"] or 0
        state = "filed" if transfers and filed == transfers else ("partly filed" if filed else "not filed yet")
        if not transfers:
            state = "nothing to transfer"
        payouts.append(
            {
                **row,
                "transfer_day": transfer_day,
                "files": files_by_date.get(payout_day, []),
                "state": state,
                "unfiled": transfers - filed,
                "unfiled_amount": (row["transfer_amount"] or 0) - (row["filed_amount"] or 0),
            }
        )

    digests = _rows(connection, "digests", day_param)[0]
    mails = _rows(connection, "mails_waiting", {}, next_attempt_at=Timestamp)

    wanted = {
        "card_transmission": [day],
        "stale_slip_reminder": [day],
        "recurring_charge": [day] if billing_month else [],
        "payout_closing": due,
        "payout_transfer_file": sorted({p["transfer_day"] for p in payouts} | {day}),
    }
    links = {dag_id: runs(dag_id, days) if days else {} for dag_id, days in wanted.items()}
    return {
        "day": day,
        "weekday": weekday(day),
        "transmission": {
            "files": files,
            "holds": holds,
            "record_count": sum(f["record_count"] for f in files),
            "amount_total": sum(int(f["amount_total"]) for f in files),
        },
        "charge": {"billing_month": billing_month, "attempts": attempts, "cycles": cycles},
        "closings": closings,
        "payouts": payouts,
        "payout_horizon": payout_days[-1],
        "lead_days": lead,
        "digests": digests,
        "mails": mails,
        "links": links,
    }


# -- Slip ----------------------------------------------------------------------------------------


def search(connection: Connection, query: str) -> dict:
    """Slips with this number (at every merchant) and merchants by id or a part of a name."""
    query = query.strip()
    slips = (
        _rows(connection, "slips_by_number", {"slip_id": query}, **SLIP_TYPES)
        if query.isdigit() and len(query) <= 18
        else []
    )
    pattern = "%" + query.lower().replace("\\", "").replace("%", "").replace("_", "") + "%"
    merchants = _rows(connection, "merchants_search", {"query": query, "pattern": pattern}) if query else []
    return {"query": query, "slips": slips, "merchants": merchants}


def explain(
    connection: Connection, slip_id: str, merchant_id: str, calendar: BusinessCalendar, lang: str = "en"
) -> dict:
    """The slip's explanation (kessai.explain.explanation) as a dict; `available` False where the package has
    no explain module."""
    try:
        from kessai.explain.explanation import explain_slip
    except ImportError:
        return {"available": False}
    try:
        explanation = explain_slip(connection, slip_id, merchant_id=merchant_id, calendar=calendar, lang=lang)
    except Refusal as refusal:
        return {"available": True, "refusal": str(refusal)}
    return {"available": True, **explanation.as_dict()}


def slip_page(
    connection: Connection, query: str, merchant_id: str | None, calendar: BusinessCalendar, lang: str = "en"
) -> dict:
    found: dict[str, Any] = search(connection, query) if query else {"query": "", "slips": [], "merchants": []}
    slips = [s for s in found["slips"] if merchant_id in (None, "", s["merchant_id"])]
    page = {**found, "merchant_id": merchant_id, "slip": None, "explanation": None, "matches": slips}
    if len(slips) == 1:
        page["slip"] = slips[0]
        page["explanation"] = explain(connection, slips[0]["slip_id"], slips[0]["merchant_id"], calendar, lang)
    return page


# -- Calendar ------------------------------------------------------------------------------------


def calendar_page(connection: Connection, month: date, calendar: BusinessCalendar) -> dict:
    """A month as an operator reads it: business days, holidays by name, declared closures,
    closing dates, payout dates and the charge day (kessai.calendar.report, as a table)."""
    first, last = month, month_end(month.year, month.month)
    try:
        calendar.check_horizon(last)
    except CalendarHorizonError as error:
        raise ConsoleRefusal(str(error)) from None
    overrides = {r["day"]: r for r in _rows(connection, "declared_closures", {"first": first, "last": last}, day=Date)}

    notes: dict[date, list[tuple[str, str]]] = {}

    def note(d: date, kind: str, text: str) -> None:
        if first <= d <= last:
            notes.setdefault(d, []).append((kind, text))

    for offset in (0, -1):  # a month's charge day can fall in the next month
        billing = add_months(month, offset)
        charge_day = recurring_charge_date(billing.year, billing.month, calendar)
        note(charge_day, "charge", f"recurring charge for {billing:%Y-%m}")
    for cycle in PAYOUT_CYCLES:
        for closing in closing_dates(cycle, add_months(first, -2), last):
            if first <= closing:
                note(closing, "closing", f"{cycle} closing")
            try:
                paid = payout_date(cycle, closing, calendar)
            except CalendarHorizonError:
                continue
            note(paid, "payout", f"payout of the {cycle} closing {closing:%m-%d}")

    days = []
    d = first
    while d <= last:
        override = overrides.get(d)
        holiday = calendar.holiday_name(d)
        if holiday == DECLARED_CLOSURE and override:
            holiday = f"{DECLARED_CLOSURE} (declared closed: {override['reason']})" if override["reason"] else holiday
        days.append(
            {
                "day": d,
                "weekday": weekday(d),
                "business": calendar.is_business_day(d),
                "holiday": holiday,
                "reopened": bool(override and override["is_open"]),
                "reopen_reason": override["reason"] if override and override["is_open"] else "",
                "notes": notes.get(d, []),
            }
        )
        d += timedelta(days=1)
    # Weeks from Monday, as a wall calendar: None before the 1st and after the last day.
    padded = [None] * first.weekday() + days
    padded += [None] * (-len(padded) % 7)
    return {
        "month": month,
        "days": days,
        "weeks": [padded[i : i + 7] for i in range(0, len(padded), 7)],
        "business_days": sum(1 for day in days if day["business"]),
        "previous": add_months(month, -1),
        "next": add_months(month, 1),
    }


# -- Merchant ------------------------------------------------------------------------------------


def merchant_page(connection: Connection, merchant_id: str, day: date) -> dict | None:
    """A merchant's statements with their lines, carried balances and transfers, and its open
    stale slips as of `day`."""
    found = _rows(connection, "merchant", {"merchant_id": merchant_id})
    if not found:
        return None
    accounts = _rows(connection, "merchant_accounts", {"merchant_id": merchant_id}, effective_from=Timestamp)
    statements = _rows(
        connection,
        "merchant_statements",
        {"merchant_id": merchant_id, "limit": STATEMENTS_SHOWN},
        closing_date=Date,
        payout_date=Date,
    )
    ids = [s["statement_id"] for s in statements]
    lines: dict[int, list[dict]] = {}
    transfers: dict[int, list[dict]] = {}
    if ids:
        for line in _rows(connection, "statement_lines", {"statement_ids": ids}, expanding=("statement_ids",)):
            lines.setdefault(line["statement_id"], []).append(line)
        for transfer in _rows(connection, "statement_transfers", {"statement_ids": ids}, expanding=("statement_ids",)):
            transfers.setdefault(transfer["statement_id"], []).append(transfer)
    for statement in statements:
        statement["lines"] = lines.get(statement["statement_id"], [])
        statement["transfers"] = transfers.get(statement["statement_id"], [])

    through = stale_through(day)
    stale_params = {"merchant_id": merchant_id, "paid_through": through}
    stale = _rows(connection, "open_stale_slips", {**stale_params, "limit": STALE_SLIPS_SHOWN}, payment_date=Date)
    for slip in stale:
        slip["expires_on"] = expires_on(slip["payment_date"])
        slip["deadline"] = slip["expires_on"] - timedelta(days=1)
    totals = _rows(connection, "open_stale_totals", stale_params)[0]
    return {
        "merchant": found[0],
        "accounts": accounts,
        "statements": statements,
        "stale": stale,
        "stale_count": totals["slip_count"] or 0,
        "stale_amount": totals["amount"] or 0,
        "stale_through": through,
        "day": day,
    }
