"""The benchmark harness end to end at a tiny size, on SQLite and PostgreSQL: every benchmark gives
its row of the table, and every measured run produced exactly what its floor and its naive
baseline produced (the comparison means nothing otherwise). No timing is asserted."""

from __future__ import annotations

import pytest

from bench import cli
from bench.harness import ResultMismatch, check_same
from bench.measure import Measurement
from bench.outcomes import Charges, MerchantTotals, SlipSet
from conftest import POSTGRES_URL_VARIABLE, postgres_server_url

SIZE = 2_000
ROWS = ["transmission", "closing", "reminder", "reminder selection", "recurring_charge", "confirmation_import"]


def server_url(database: str) -> str:
    if database == "sqlite":
        return cli.DEFAULT_POSTGRES_URL  # not used
    if not postgres_server_url():
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set")
    return postgres_server_url()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_every_benchmark_is_measured_and_gives_what_its_floor_gives(database, tmp_path):
    document = tmp_path / "performance.md"
    document.write_text("# Performance\n\nWritten by hand.\n", encoding="utf-8")
    argv = [
        "--sizes",
        str(SIZE),
        "--database",
        database,
        "--postgres-url",
        server_url(database),
        "--latency-ms",
        "2",
        "--naive-charges",
        "20",
        "--output",
        str(document),
    ]
    args = cli.parse_args(argv)
    rows, setting = cli.run(args, log=lambda text: None)

    assert [row.benchmark for row in rows] == ROWS
    assert {(row.database, row.size) for row in rows} == {(database, SIZE)}
    by_name = {row.benchmark: row for row in rows}
    for row in rows:
        outcomes = row.outcomes
        assert outcomes["measured"] == outcomes["floor"], row.benchmark
        if "naive" in outcomes:  # the sequential charge makes a sample of the charges: its own floor
            assert outcomes["naive"] == outcomes.get("naive_floor", outcomes["measured"]), row.benchmark
        assert row.rows == outcomes["measured"].rows > 0, row.benchmark

    # The same slips transmitted, each with one data record in the files.
    transmitted = by_name["transmission"].outcomes["measured"]
    assert transmitted.records == transmitted.slips.count and isinstance(transmitted.slips, SlipSet)
    # The statements' counts and gross amounts per merchant are the GROUP BY's, every merchant in it.
    statements = by_name["closing"].outcomes["measured"]
    assert isinstance(statements, MerchantTotals) and len(statements.totals) == 20  # 2,000 slips: 20 merchants
    # The same stale slips told; the selection row is the same run's.
    assert by_name["reminder selection"].outcomes == by_name["reminder"].outcomes
    # One charge of each of the 2,000 subscriptions (all active, all started before the month).
    assert by_name["recurring_charge"].outcomes["measured"] == by_name["recurring_charge"].outcomes["floor"]
    assert by_name["recurring_charge"].outcomes["measured"].count == SIZE
    assert by_name["recurring_charge"].outcomes["naive"].count == 20
    assert by_name["recurring_charge"].floor_is_bound
    assert isinstance(by_name["recurring_charge"].outcomes["measured"], Charges)
    # Every row of the upload confirms its slip, as the floor's one UPDATE does.
    assert by_name["confirmation_import"].outcomes["measured"].rows == SIZE

    text = cli.publish(args, "bench/run.sh " + " ".join(argv), rows, setting)
    written = document.read_text(encoding="utf-8")
    assert written.startswith("# Performance\n\nWritten by hand.\n") and text in written
    for name in ROWS:
        assert f"| {name} | 2k |" in written
    assert "Machine: " in written and "Targets:" in written


def test_a_measured_run_that_differs_from_its_floor_is_refused():
    measured = Measurement(1.0, 0, MerchantTotals((("M000001", 3, 3_300),)))
    floor = Measurement(0.5, 0, MerchantTotals((("M000001", 3, 3_300), ("M000002", 1, 500))))
    with pytest.raises(ResultMismatch, match="closing at 2000 slips: the measured run produced"):
        check_same("closing", SIZE, "floor", measured, floor)
    check_same("closing", SIZE, "floor", measured, measured)
