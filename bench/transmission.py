"""The card transmission of TRANSMISSION_DAY (dags/card_transmission.py) against its floor: one COPY
of the due slips, with the columns the file carries, to a file, and one UPDATE marking them.

The floor finds the due slips without the business calendar: on a business day D, a slip's
transmission date (the business day after effective_on) is D or earlier exactly when its
effective_on is before D, i.e. confirmed_on < D and registered before D began in Japan; a range
of the partial index ix_slips_awaiting_transmission. It writes the records' store names as the
files do (half-width kana, upper-case English, within each card company's limits), worked out
once per merchant into a temporary table: the merchants are a small table beside the slips.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import (
    Column,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from bench.datasets import TRANSMISSION_DAY
from bench.harness import Bench, Row, compare
from bench.measure import Context, Step
from bench.orm import Merchant, Slip
from bench.outcomes import SlipSet, slip_set_of
from kessai.calendar.rules import transmission_date
from kessai.calendar.run_dates import JAPAN, japan_date_of
from kessai.calendar.store import prepare_calendar
from kessai.db.database import make_engine
from kessai.db.schema import card_companies, merchant_card_numbers, merchants, slip_authorizations, slips
from kessai.transmission.daily import check_transmission_day, run_transmission
from kessai.transmission.files import CSV_FORMAT, ENCODING, POSTGRES_COPY_FORMAT, Destination
from kessai.transmission.store_names import StoreNameError, to_file_english, to_file_kana

NAME = "transmission"
MASK = "************"  # the card reference keeps its last four characters
PAYMENT_KIND_CODES = {"lump_sum": "10", "installments": "61", "revolving": "80", "bonus": "21"}  # field 14


def file_names(name_kana: str | None, name_en: str | None) -> tuple[str, str] | None:
    """A merchant's kana and English names as the records write them; None when they cannot be."""
    if not name_kana or not name_en:
        return None
    try:
        return to_file_kana(name_kana), to_file_english(name_en)
    except StoreNameError:
        return None


@dataclass(frozen=True)
class Transmitted:
    """The slips marked transmitted on the day, and the data records written for them."""

    slips: SlipSet
    records: int
    records_digest: str  # of the record lines, whatever the files and their order

    @property
    def rows(self) -> int:
        return self.slips.count


def _work(context: Context) -> dict:
    """The DAG's tasks resolve_business_date and transmit, into a local folder."""
    destination = Destination.from_url(str(context.workdir / "transmissions"))
    engine = make_engine(context.url)
    try:
        with engine.begin() as connection:
            check_transmission_day(prepare_calendar(connection), context.day)
        summary = run_transmission(engine, context.day, destination)
    finally:
        engine.dispose()
    return {"files": len(summary.files), "held": summary.held_count}


def _transmitted(context: Context) -> Transmitted:
    """The marks in the database and the data records of every .csv file the step wrote."""
    engine = make_engine(context.url)
    try:
        with engine.connect() as connection:
            marked = slip_set_of(
                connection, select(slips.c.id, slips.c.amount).where(slips.c.transmitted_on == context.day)
            )
    finally:
        engine.dispose()
    count, digest = 0, 0
    for path in sorted(context.workdir.rglob("*.csv")):
        with path.open("rb") as lines:
            for line in lines:
                if line.startswith(b'"D"'):
                    count += 1
                    digest = (digest + int.from_bytes(hashlib.blake2b(line, digest_size=8).digest(), "big")) % 2**64
    return Transmitted(marked, count, f"{digest:016x}")


_floor_names = Table(
    "bench_floor_file_names",
    MetaData(),
    Column("merchant_id", String(32), primary_key=True),
    Column("name_kana", Text),
    Column("name_en", Text),
    prefixes=["TEMPORARY"],
)


def _due(day, names: Table):
    s, m, k = slips.c, merchants.c, card_companies.c
    began = datetime.combine(day, time.min, JAPAN)
    return (
        s.transmitted_on.is_(None),
        s.confirmed_on.is_not(None),
        s.confirmed_on < day,
        s.confirmation_registered_at < began,
        s.cancelled_at.is_(None),
        s.merchant_id == m.merchant_id,
        s.card_company == k.card_company,  # a company unknown there is held back
        m.name != "",  # so is a merchant lacking a store name (NULL compares to nothing)
        s.payment_kind == "lump_sum",  # the data sets' 支払区分
        s.installments.is_(None),
        s.merchant_id == names.c.merchant_id,  # names the file can carry,
        func.length(names.c.name_kana) <= k.name_kana_max_length,  # within the company's limits
        func.length(names.c.name_en) <= k.name_en_max_length,
        or_(k.merchant_number_required.is_(False), merchant_card_numbers.c.merchant_number.is_not(None)),
    )


def _prepare_floor_names(connection) -> Table:
    """Each merchant's names as the files write them, worked out once per merchant."""
    m = merchants.c
    _floor_names.create(connection)
    rows = []
    for merchant_id, name_kana, name_en in connection.execute(select(m.merchant_id, m.name_kana, m.name_en)):
        names = file_names(name_kana, name_en)
        if names is not None:
            rows.append({"merchant_id": merchant_id, "name_kana": names[0], "name_en": names[1]})
    if rows:
        connection.execute(insert(_floor_names), rows)
    return _floor_names


def _copy_to(connection, statement, path) -> None:
    """The rows of the statement as the files' CSV: COPY on PostgreSQL, the csv writer on SQLite."""
    if connection.dialect.name == "postgresql":
        compiled = statement.compile(dialect=connection.dialect)
        with (
            path.open("wb") as file,
            connection.connection.driver_connection.cursor() as cursor,
            cursor.copy(
                f"COPY ({compiled.string}) TO STDOUT ({POSTGRES_COPY_FORMAT})", compiled.construct_params()
            ) as copy,
        ):
            for row in copy:
                file.write(row)
        return
    with path.open("w", encoding=ENCODING, newline="") as file:
        writer = csv.writer(file, **CSV_FORMAT)
        for rows in connection.execute(statement, execution_options={"stream_results": True}).partitions(20_000):
            writer.writerows(rows)


def _floor_work(context: Context) -> None:
    s, m = slips.c, merchants.c
    engine = make_engine(context.url)
    try:
        with engine.connect() as connection:
            merchant_id, slip_id = s.merchant_id, s.slip_id
            if connection.dialect.name == "postgresql":  # byte order, as the files are sorted
                merchant_id, slip_id = merchant_id.collate("C"), slip_id.collate("C")
            names = _prepare_floor_names(connection)
            number = merchant_card_numbers.c
            sale = slip_authorizations.c  # the sale's authorization: approval number, transaction id
            with_number = slips.outerjoin(
                merchant_card_numbers, and_(number.merchant_id == s.merchant_id, number.card_company == s.card_company)
            ).outerjoin(slip_authorizations, and_(sale.slip_row_id == s.id, sale.sequence == 1))
            records = (
                select(
                    literal("D"),
                    s.slip_id,
                    s.merchant_id,
                    m.name,
                    names.c.name_kana,
                    names.c.name_en,
                    s.amount,
                    s.payment_date,
                    s.confirmed_on,
                    literal(MASK) + func.substr(s.card_reference, func.length(s.card_reference) - 3),
                    func.coalesce(number.merchant_number, ""),
                    func.coalesce(sale.approval_number, ""),
                    func.coalesce(sale.transaction_id, ""),
                    case(PAYMENT_KIND_CODES, value=s.payment_kind),
                    func.coalesce(cast(s.installments, Text), ""),
                )
                .select_from(with_number)
                .where(*_due(context.day, names))
                .order_by(s.card_company, merchant_id, slip_id)
            )
            _copy_to(connection, records, context.workdir / "floor.csv")
            due = select(s.id).select_from(with_number).where(*_due(context.day, names))
            connection.execute(update(slips).where(slips.c.id.in_(due)).values(transmitted_on=context.day))
            connection.commit()
    finally:
        engine.dispose()


def _naive_work(context: Context) -> None:
    """Every untransmitted confirmed slip as an object, its transmission date worked out in Python,
    each due one written to its company's file and saved on its own."""
    day = context.day
    engine = make_engine(context.url)
    try:
        with Session(engine) as session:
            calendar = prepare_calendar(session.connection())
            companies = {row.card_company: row for row in session.execute(select(card_companies))}
            file_codes = {company: row.file_code for company, row in companies.items()}
            numbers = {
                (n.merchant_id, n.card_company): n.merchant_number
                for n in session.execute(select(merchant_card_numbers))
            }
            sales = {
                a.slip_row_id: (a.approval_number or "", a.transaction_id or "")
                for a in session.execute(select(slip_authorizations).where(slip_authorizations.c.sequence == 1))
            }
            due = []
            candidates = select(Slip).where(
                Slip.confirmed_on.is_not(None), Slip.cancelled_at.is_(None), Slip.transmitted_on.is_(None)
            )
            for slip in session.scalars(candidates).all():
                registered_on = japan_date_of(slip.confirmation_registered_at)
                if transmission_date(registered_on, slip.confirmed_on, calendar) > day:
                    continue
                merchant = session.get(Merchant, slip.merchant_id)
                company = companies.get(slip.card_company)
                names = file_names(merchant.name_kana, merchant.name_en)
                if company is None or not merchant.name or names is None:
                    continue
                number = numbers.get((slip.merchant_id, slip.card_company))
                if (
                    len(names[0]) > company.name_kana_max_length
                    or len(names[1]) > company.name_en_max_length
                    or (company.merchant_number_required and number is None)
                    or slip.payment_kind != "lump_sum"
                    or slip.installments is not None
                ):
                    continue
                due.append((slip, merchant, names, number or ""))
            due.sort(
                key=lambda entry: (entry[0].card_company, entry[0].merchant_id.encode(), entry[0].slip_id.encode())
            )
            folder = context.workdir / "naive"
            folder.mkdir()
            files = {
                code: (folder / f"{code}_{day:%Y%m%d}.csv").open("w", encoding=ENCODING, newline="")
                for code in file_codes.values()
            }
            writers = {company: csv.writer(files[code], **CSV_FORMAT) for company, code in file_codes.items()}
            try:
                for slip, merchant, (name_kana, name_en), number in due:
                    writers[slip.card_company].writerow(
                        [
                            "D",
                            slip.slip_id,
                            slip.merchant_id,
                            merchant.name,
                            name_kana,
                            name_en,
                            slip.amount,
                            slip.payment_date,
                            slip.confirmed_on,
                            MASK + slip.card_reference[-4:],
                            number,
                            *sales.get(slip.id, ("", "")),
                            PAYMENT_KIND_CODES[slip.payment_kind],
                            "",
                        ]
                    )
                    slip.transmitted_on = day
                    session.flush()
            finally:
                for file in files.values():
                    file.close()
            session.commit()
    finally:
        engine.dispose()


MEASURED = Step(_work, _transmitted)
FLOOR = Step(_floor_work, _transmitted)
NAIVE = Step(_naive_work, _transmitted)


def run(bench: Bench, size: int) -> list[Row]:
    return [compare(bench, NAME, size, bench.dataset("slips", size), TRANSMISSION_DAY, MEASURED, FLOOR, NAIVE)]
