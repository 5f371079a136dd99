"""The confirmation import (python -m kessai import-confirmations) of a CSV of N rows against its
floor: one COPY of the file into a staging table and one UPDATE confirming the slips it names.

The data set is N paid, unconfirmed slips (datasets.build_unconfirmed); the file names each once,
every row good, ROW_BYTES bytes a row: 226k rows make a 20 MB file, 2.26M rows a 200 MB one. Both
runs leave the same slips confirmed with the same dates and closing dates; the import also writes
its events and an (empty) rejects file, which the floor does not.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import Date, bindparam, func, select, text

from bench.datasets import unconfirmed_merchant
from bench.harness import Bench, Row, check_same
from bench.measure import Context, Step
from bench.outcomes import SlipSet, slip_set_of
from kessai.calendar.run_dates import JAPAN
from kessai.db.database import make_engine
from kessai.db.schema import Timestamp, slips
from kessai.slips.confirmation_import import import_confirmations

NAME = "confirmation_import"
# Registered on Monday 2027-02-01 in Japan; the slips were paid in December, confirmed in January.
IMPORT_DAY = date(2027, 2, 1)
REGISTERED_AT = datetime.combine(IMPORT_DAY, time(10, 0), JAPAN)
ROW_BYTES = 88  # with its CRLF: 2.26M rows are 199 MB, as the upload the limit was set for
HEADER = "merchant_id,slip_id,confirmed_on,note\r\n"
NOTE = "一括確定"


@dataclass(frozen=True)
class Confirmed:
    """The slips the step confirmed, and how many per (confirmed_on, closing_date)."""

    slips: SlipSet
    by_dates: tuple[tuple[str, str, int], ...]

    @property
    def rows(self) -> int:
        return self.slips.count


def confirmed_on(n: int) -> date:
    return date(2027, 1, n % 28 + 1)


def _write_file(context: Context) -> None:
    """The upload: slip n of its merchant (datasets.unconfirmed_slip) on line n + 2, UTF-8."""
    size = context.params["size"]
    with (context.workdir / "upload.csv").open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        lines = []
        for n in range(size):
            line = f"{unconfirmed_merchant(n)},{n},{confirmed_on(n)},{NOTE}"
            lines.append(line + " " * (ROW_BYTES - 2 - len(line.encode())) + "\r\n")
            if len(lines) == 100_000:
                out.writelines(lines)
                lines = []
        out.writelines(lines)


def _confirmed(context: Context) -> Confirmed:
    engine = make_engine(context.url)
    try:
        with engine.connect() as connection:
            done = slips.c.confirmation_registered_at == REGISTERED_AT
            confirmed = slip_set_of(connection, select(slips.c.id, slips.c.amount).where(done))
            by_dates = connection.execute(
                select(slips.c.confirmed_on, slips.c.closing_date, func.count())
                .where(done)
                .group_by(slips.c.confirmed_on, slips.c.closing_date)
                .order_by(slips.c.confirmed_on, slips.c.closing_date)
            ).all()
    finally:
        engine.dispose()
    return Confirmed(confirmed, tuple((str(a), str(b), int(c)) for a, b, c in by_dates))


def _work(context: Context) -> dict:
    engine = make_engine(context.url)
    try:
        with engine.begin() as connection:
            result = import_confirmations(
                connection,
                context.workdir / "upload.csv",
                REGISTERED_AT,
                rejects_path=context.workdir / "upload.rejects.csv",
            )
    finally:
        engine.dispose()
    return {"applied": result.applied, "rejected": result.rejected_count}


# The floor's one UPDATE: each named slip confirmed, with the closing of its merchant's cycle on or
# after the later of the registration date and confirmed_on (the import checks far more first).
FLOOR_UPDATE = """
UPDATE slips
SET confirmed_on = staging.confirmed_on,
    confirmation_registered_at = :registered_at,
    closing_date = CASE merchants.payout_cycle
                       WHEN 'monthly' THEN business_calendar.monthly_closing_date
                       ELSE business_calendar.twice_monthly_closing_date
                   END
FROM staging, merchants, business_calendar
WHERE slips.merchant_id = staging.merchant_id
  AND slips.slip_id = staging.slip_id
  AND merchants.merchant_id = staging.merchant_id
  AND business_calendar.day = CASE WHEN staging.confirmed_on > :registered_on
                                   THEN staging.confirmed_on ELSE :registered_on END
"""


def _floor_work(context: Context) -> None:
    path = context.workdir / "upload.csv"
    engine = make_engine(context.url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TEMPORARY TABLE staging (merchant_id TEXT, slip_id TEXT, confirmed_on DATE, note TEXT)"
            )
            if connection.dialect.name == "postgresql":
                with (
                    connection.connection.driver_connection.cursor() as cursor,
                    cursor.copy("COPY staging FROM STDIN (FORMAT csv, HEADER true, ENCODING 'UTF8')") as copy,
                    path.open("rb") as upload,
                ):
                    while block := upload.read(1 << 20):
                        copy.write(block)
            else:
                with path.open(encoding="utf-8", newline="") as upload:
                    rows = csv.reader(upload)
                    next(rows)
                    while block := [row for _, row in zip(range(50_000), rows, strict=False)]:
                        connection.exec_driver_sql("INSERT INTO staging VALUES (?, ?, ?, ?)", [tuple(r) for r in block])
            connection.exec_driver_sql("ANALYZE staging")
            connection.execute(
                text(FLOOR_UPDATE).bindparams(
                    bindparam("registered_at", REGISTERED_AT, type_=Timestamp()),
                    bindparam("registered_on", IMPORT_DAY, type_=Date()),
                )
            )
    finally:
        engine.dispose()


MEASURED = Step(_work, _confirmed, prepare=_write_file)
FLOOR = Step(_floor_work, _confirmed, prepare=_write_file)


def run(bench: Bench, size: int) -> list[Row]:
    dataset = bench.dataset("unconfirmed", size)
    measured = bench.measure(MEASURED, dataset, IMPORT_DAY, size=size)
    least = bench.measure(FLOOR, dataset, IMPORT_DAY, size=size)
    check_same(NAME, size, "floor", measured, least)
    return [
        Row(
            NAME,
            bench.dialect,
            size,
            measured.outcome.rows,
            measured.seconds,
            least.seconds,
            measured.peak_rss,
            outcomes={"measured": measured.outcome, "floor": least.outcome},
            details={"measured": measured.detail, "floor": least.detail, "file_bytes": len(HEADER) + size * ROW_BYTES},
        )
    ]
