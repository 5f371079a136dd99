"""Backfills as operators run them: `airflow backfill create` with a running scheduler gives
exactly what the runs on the day gave (`airflow dags test DAG DATE`, one date at a time).

The week of 2026-11-02 has a holiday (11/3 文化の日, a Tuesday) and a weekend, so its transmission
days are 11/2, 11/4, 11/5 and 11/6 only. The missed closing is the monthly closing of 2026-10-31
(a Saturday; closings are calendar days), paid 2026-11-25 (a Wednesday).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from deploy.airflow_stack import AirflowStack
from kessai.calendar.run_dates import JAPAN
from kessai.db.database import make_engine
from kessai.db.migrations_runner import upgrade
from kessai.db.schema import bank_accounts, merchants, payout_statements, slips, transmission_batches

pytestmark = pytest.mark.slow

TRANSMISSION_DAYS = [date(2026, 11, 2), date(2026, 11, 4), date(2026, 11, 5), date(2026, 11, 6)]
CLOSING = date(2026, 10, 31)


def jst(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=JAPAN)


# slip number: (payment date, confirmed_on, registered at (JST), cancelled, amount)
SLIPS = {
    "101": (date(2026, 10, 28), date(2026, 10, 30), jst(date(2026, 10, 30), 15), False, 3000),
    "102": (date(2026, 11, 1), date(2026, 11, 2), jst(date(2026, 11, 2), 10), False, 4500),
    "103": (date(2026, 11, 3), date(2026, 11, 4), jst(date(2026, 11, 4), 23, 30), False, 1200),
    "104": (date(2026, 11, 4), date(2026, 11, 9), jst(date(2026, 11, 5), 11), False, 8000),  # future-dated
    "105": (date(2026, 10, 20), date(2026, 11, 2), jst(date(2026, 11, 6), 9), False, 2500),  # backdated
    "106": (date(2026, 11, 4), date(2026, 11, 5), jst(date(2026, 11, 5), 9), False, 7700),
    "107": (date(2026, 11, 2), None, None, True, 9900),  # cancelled, never confirmed
    "108": (date(2026, 10, 14), date(2026, 10, 15), jst(date(2026, 10, 15), 12), False, 10000),
    "109": (date(2026, 10, 25), date(2026, 10, 31), jst(date(2026, 11, 1), 10), False, 600),  # after the closing
}
# Worked by hand: the next business day after max(registered date, confirmed_on).
EXPECTED_TRANSMITTED_ON = {
    "101": date(2026, 11, 2),  # Fri 10/30 -> Mon 11/2
    "102": date(2026, 11, 4),  # Mon 11/2 -> Wed 11/4 (Tue 11/3 文化の日)
    "103": date(2026, 11, 5),  # 23:30 JST on 11/4 is still 11/4 in Japan -> Thu 11/5
    "104": None,  # dated 11/9: goes Tue 11/10, after the week
    "105": None,  # registered Fri 11/6, backdated to 11/2: goes Mon 11/9, after the week
    "106": date(2026, 11, 6),  # Thu 11/5 -> Fri 11/6
    "107": None,
    "108": date(2026, 11, 2),  # confirmed in October, its day never ran: caught up (late) on 11/2
    "109": date(2026, 11, 2),  # registered Sun 11/1 -> Mon 11/2
}
# The 10/31 monthly closing: 101 (due Mon 11/2, after the closing: it stays in it). 108 was due
# 10/16 and went out only on 11/2, after the closing: held back from it (nothing is paid that had not
# gone to the card company by the closing date) and paid with November's. 109 was registered 11/1,
# after it (FAQ: next closing).
EXPECTED_STATEMENT = {"slip_count": 1, "gross_amount": 3000, "payout_date": date(2026, 11, 25)}


def seed(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(merchants).values(
                merchant_id="M1",
                name="さくら商店",
                name_kana="ｻｸﾗｼｮｳﾃﾝ",
                name_en="SAKURA SHOTEN",
                email="shop@example.jp",
                payout_cycle="monthly",
            )
        )
        connection.execute(
            insert(bank_accounts).values(
                merchant_id="M1",
                bank_code="0001",
                bank_name_kana="ﾐｽﾞﾎ",
                branch_code="001",
                branch_name_kana="ﾎﾝﾃﾝ",
                account_type="ordinary",
                account_number="1234567",
                holder_kana="ｻｸﾗｼｮｳﾃﾝ",
                effective_from=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
        for slip_id, (paid, confirmed_on, registered_at, cancelled, amount) in SLIPS.items():
            connection.execute(
                insert(slips).values(
                    slip_id=slip_id,
                    merchant_id="M1",
                    card_company="jcb",
                    card_reference="************4242",
                    amount=amount,
                    payment_date=paid,
                    confirmed_on=confirmed_on,
                    confirmation_registered_at=registered_at,
                    cancelled_at=jst(paid, 18) if cancelled else None,
                )
            )
    engine.dispose()


def outcome(database_url: str, home: Path) -> dict:
    """What the runs produced: each slip's 利用日, the batches, the statement and every file."""
    engine = make_engine(database_url)
    with engine.connect() as connection:
        result = {
            "transmitted_on": dict(connection.execute(select(slips.c.slip_id, slips.c.transmitted_on)).all()),
            "batches": connection.execute(
                select(
                    transmission_batches.c.business_date,
                    transmission_batches.c.card_company,
                    transmission_batches.c.record_count,
                    transmission_batches.c.amount_total,
                    transmission_batches.c.late_count,
                    transmission_batches.c.sha256,
                ).order_by(transmission_batches.c.business_date, transmission_batches.c.card_company)
            ).all(),
            "statements": [
                dict(row._mapping)
                for row in connection.execute(
                    select(
                        payout_statements.c.merchant_id,
                        payout_statements.c.closing_date,
                        payout_statements.c.payout_date,
                        payout_statements.c.slip_count,
                        payout_statements.c.gross_amount,
                        payout_statements.c.net_amount,
                    )
                )
            ],
        }
    engine.dispose()
    result["files"] = {
        str(path.relative_to(home)): path.read_bytes()
        for path in sorted(home.rglob("*"))
        if path.is_file() and path.parent != home
    }
    return result


def business_env(tmp_path: Path, name: str) -> dict[str, str]:
    return {"KESSAI_DATABASE_URL": f"sqlite:///{tmp_path / name}.sqlite", "KESSAI_HOME": str(tmp_path / name)}


def test_a_backfill_gives_what_the_runs_on_the_day_gave(tmp_path):
    on_time, backfilled = business_env(tmp_path, "on_time"), business_env(tmp_path, "backfilled")
    for env in (on_time, backfilled):
        seed(env["KESSAI_DATABASE_URL"])

    # The runs on the day, one date at a time, as `airflow dags test` runs them.
    runner = AirflowStack(tmp_path / "airflow_on_time", metadata_url=f"sqlite:///{tmp_path / 'on_time_meta.db'}")
    runner.airflow("db", "migrate")
    for day in TRANSMISSION_DAYS:  # each at its scheduled moment, 06:00 in Japan
        at_six = {**on_time, "KESSAI_AS_OF": f"{day.isoformat()}T06:00:00+09:00"}
        runner.airflow("dags", "test", "card_transmission", day.isoformat(), env=at_six)
    closing_night = {**on_time, "KESSAI_AS_OF": f"{CLOSING + timedelta(days=1)}T01:00:00+09:00"}
    runner.airflow("dags", "test", "payout_closing", CLOSING.isoformat(), env=closing_night)

    # The backfill, through the scheduler, over the whole week (weekend and holiday included).
    stack = AirflowStack(
        tmp_path / "airflow_backfill",
        metadata_url=f"sqlite:///{tmp_path / 'backfill_meta.db'}",
        extra_env={**backfilled, "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"},  # backfill runs only
    )
    try:
        stack.airflow("db", "migrate")
        stack.airflow("dags", "reserialize")
        stack.start_api_server()
        stack.start("scheduler", "scheduler")
        # One run at a time, oldest first, as docs/operations.md says: a transmission day claims
        # everything due by then, so a later day run first would take the earlier days' slips.
        stack.airflow(
            "backfill",
            "create",
            "--dag-id",
            "card_transmission",
            "--from-date",
            "2026-11-02",
            "--to-date",
            "2026-11-08",
            "--max-active-runs",
            "1",
        )
        stack.airflow(
            "backfill",
            "create",
            "--dag-id",
            "payout_closing",
            "--from-date",
            CLOSING.isoformat(),
            "--to-date",
            CLOSING.isoformat(),
            "--max-active-runs",
            "1",
        )

        def finished_runs(dag_id: str, expected: int):
            runs = (stack.get(f"/api/v2/dags/{dag_id}/dagRuns?limit=50") or {}).get("dag_runs", [])
            done = [run for run in runs if run["state"] in ("success", "failed")]
            return runs if len(done) == expected == len(runs) else None

        transmission_runs = stack.wait_until(
            lambda: finished_runs("card_transmission", 4), 600, "the four backfilled transmission days", interval=3
        )
        closing_runs = stack.wait_until(
            lambda: finished_runs("payout_closing", 1), 300, "the backfilled closing", interval=3
        )
    finally:
        stack.stop()

    def japan_dates(runs):
        return sorted(datetime.fromisoformat(run["logical_date"]).astimezone(JAPAN).date() for run in runs)

    # Only real dates: no run for the holiday 11/3 or the weekend 11/7-11/8.
    assert japan_dates(transmission_runs) == TRANSMISSION_DAYS
    assert japan_dates(closing_runs) == [CLOSING]
    assert {run["run_type"] for run in transmission_runs + closing_runs} == {"backfill"}
    assert {run["state"] for run in transmission_runs + closing_runs} == {"success"}, stack.log("scheduler")[-3000:]

    expected = outcome(on_time["KESSAI_DATABASE_URL"], Path(on_time["KESSAI_HOME"]))
    assert expected["transmitted_on"] == EXPECTED_TRANSMITTED_ON
    [statement] = expected["statements"]
    assert {key: statement[key] for key in EXPECTED_STATEMENT} == EXPECTED_STATEMENT
    assert [batch.business_date for batch in expected["batches"] if batch.record_count] == TRANSMISSION_DAYS
    assert any(name.startswith("transmissions/") for name in expected["files"])
    assert any(name.startswith("statements/") for name in expected["files"])

    assert outcome(backfilled["KESSAI_DATABASE_URL"], Path(backfilled["KESSAI_HOME"])) == expected
