"""Every query the console's pages run reads the slips through an index: PostgreSQL's plan of each,
on a data set of KESSAI_CONSOLE_PLAN_SLIPS slips (default 1,000,000; docs/console.md), has no
sequential scan of `slips`.

The data set is the benchmarks' (bench/datasets.py: six months of payment dates, every slip
confirmed by 1/31 in that closing, the reminders run) plus the day's jobs through the command line:
the transmission of 2027-02-01 and the closing of 2027-01-31. The pages are rendered as an
operator opens them; each statement they send is captured and EXPLAINed with its parameters.
"""

from __future__ import annotations

import os
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select, text

from bench.datasets import build as build_dataset
from bench.datasets import slip_plan
from kessai.console.app import create_app
from kessai.db.database import make_engine
from kessai.db.schema import payout_statements, slips
from support.console_data import REMITTER, kessai

pytestmark = pytest.mark.slow

SIZE = int(os.environ.get("KESSAI_CONSOLE_PLAN_SLIPS", "1000000"))


class Scratch:
    """bench.datasets.build's scratch server: the test's own fresh database."""

    def __init__(self, make):
        self.make = make

    def create(self, _name: str) -> str:
        return self.make("postgresql")


@pytest.fixture
def big(database_url_for, tmp_path, monkeypatch):
    started = time.monotonic()
    url = build_dataset(Scratch(database_url_for), "console", slip_plan(SIZE), slips_history=True)
    for key, value in REMITTER.items():
        monkeypatch.setenv("KESSAI_ZENGIN_" + key.upper(), value)
    home = tmp_path / "home"
    kessai(url, home, "2027-02-01T06:00:00+09:00", "transmit", "2027-02-01")
    kessai(url, home, "2027-02-01T06:00:00+09:00", "books-start", "2027-01-31", "--by", "tests")
    kessai(url, home, "2027-02-01T06:00:00+09:00", "payout-close", "2027-01-31")
    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")
    print(f"\n{SIZE:,} slips built in {time.monotonic() - started:.0f}s")
    yield engine
    engine.dispose()


def test_no_page_reads_the_slips_sequentially(big, monkeypatch):
    monkeypatch.setenv("KESSAI_AS_OF", "2027-03-01T10:00:00+09:00")
    with big.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM slips")).scalar_one() >= SIZE
        slip_id, merchant_id = connection.execute(
            select(slips.c.slip_id, slips.c.merchant_id).where(slips.c.id == SIZE // 2)
        ).one()
        busiest = connection.execute(
            select(payout_statements.c.merchant_id).order_by(payout_statements.c.slip_count.desc()).limit(1)
        ).scalar_one()

    statements: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().upper().startswith(("SELECT", "--", "WITH")):
            statements.append((statement, parameters))

    event.listen(big, "before_cursor_execute", capture)
    client = TestClient(create_app(lambda: big))
    pages = [
        "/today",
        "/today?date=2027-02-01",
        "/today?date=2027-01-27",
        f"/slip?q={slip_id}",
        f"/slip?q={slip_id}&merchant={merchant_id}",
        f"/slip?q={merchant_id}",
        "/calendar?month=2027-02",
        f"/merchant/{merchant_id}",
        f"/merchant/{busiest}",
    ]
    timings = {}
    for page in pages:
        started = time.monotonic()
        assert client.get(page).status_code == 200, page
        timings[page] = time.monotonic() - started
    event.remove(big, "before_cursor_execute", capture)
    print("\n" + "\n".join(f"{page}: {seconds * 1000:.0f} ms" for page, seconds in timings.items()))

    touching_slips = [(s, p) for s, p in statements if " slips" in s]
    assert len(touching_slips) >= 5
    raw = big.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in statements:
            cursor.execute("EXPLAIN " + statement, parameters)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Seq Scan on slips" not in plan, f"{statement}\n{plan}"
    finally:
        raw.close()
    assert max(timings.values()) < 2.0, timings
