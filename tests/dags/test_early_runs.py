"""No run acts before its day (SPEC §4.6): each DAG refuses a date whose moment has not come at
once (one try, no retries), says the earliest moment, does nothing, and mails the operators; a
dry run may look ahead. The clock is KESSAI_AS_OF, set per test. Worked by hand:
- a business-day job for D may run from D 00:00 in Japan; a closing C from C+1 00:00;
- March 2027's 27th is a Saturday: its charge day is Monday 3/29.
"""

from __future__ import annotations

import logging
from datetime import date

import pytest
from sqlalchemy import func, select

from kessai.db.schema import payout_closings, payout_statements, slips, transmission_batches

EARLY = [
    # (dag, first task, date, KESSAI_AS_OF, the earliest moment the refusal names)
    ("card_transmission", "resolve_business_date", "2026-12-10", "2026-12-05T10:00:00+09:00", "2026-12-10 00:00"),
    ("payout_transfer_file", "resolve_business_date", "2026-12-10", "2026-12-09T23:59:00+09:00", "2026-12-10 00:00"),
    ("transfer_results", "resolve_business_date", "2026-12-10", "2026-12-09T23:59:00+09:00", "2026-12-10 00:00"),
    ("card_acknowledgements", "resolve_business_date", "2026-12-10", "2026-12-09T23:59:00+09:00", "2026-12-10 00:00"),
    ("stale_slip_reminder", "resolve_business_date", "2026-12-07", "2026-12-05T09:00:00+09:00", "2026-12-07 00:00"),
    ("recurring_charge", "charge_day", "2027-03-29", "2026-12-05T10:00:00+09:00", "2027-03-29 00:00"),
    # The closing of 12/15 at 23:00 on 12/15 in Japan (14:00 UTC): the date has not ended.
    ("payout_closing", "resolve_closing_date", "2026-12-15", "2026-12-15T14:00:00+00:00", "2026-12-16 00:00"),
]


@pytest.mark.parametrize(("dag_id", "first_task", "day", "as_of", "earliest"), EARLY, ids=[e[0] for e in EARLY])
def test_a_run_before_its_day_is_refused_at_once_and_the_operators_are_told(
    run_dag, business, smtp_server, monkeypatch, caplog, capfd, dag_id, first_task, day, as_of, earliest
):
    monkeypatch.setenv("KESSAI_AS_OF", as_of)
    monkeypatch.setenv("KESSAI_OPERATOR_EMAIL", "ops@example.jp")
    with caplog.at_level(logging.INFO):
        dag_run = run_dag(dag_id, day)
    assert dag_run.state == "failed"
    [first] = [ti for ti in dag_run.get_task_instances() if ti.task_id == first_task]
    assert (first.state, first.try_number) == ("failed", 1)
    log = caplog.text + capfd.readouterr().out
    assert f"for {day} cannot run yet" in log and f"the earliest moment is {earliest} (Japan)" in log
    assert f"KESSAI_AS_OF={as_of}" in log  # every run logs the clock it was given
    with business.connect() as connection:  # nothing was done
        assert connection.execute(select(func.count()).select_from(transmission_batches)).scalar() == 0
        assert connection.execute(select(func.count()).select_from(payout_closings)).scalar() == 0
        assert connection.execute(select(func.count()).select_from(slips)).scalar() == 0
    [alert] = [mail for mail in smtp_server.messages if mail.envelope_to == ["ops@example.jp"]]
    assert dag_id in alert.subject and first_task in alert.subject
    assert "cannot run yet" in alert.text


def test_the_moment_a_day_begins_the_run_goes_ahead(run_dag, business, monkeypatch):
    # Thursday 2026-12-10 00:00 in Japan is 2026-12-09 15:00 UTC.
    monkeypatch.setenv("KESSAI_AS_OF", "2026-12-09T15:00:00+00:00")
    assert run_dag("card_transmission", "2026-12-10").state == "success"
    with business.connect() as connection:
        assert connection.execute(select(transmission_batches.c.business_date)).scalars().all() == []  # no slips due


def test_a_closing_runs_from_the_first_moment_after_its_date(run_dag, business, monkeypatch):
    monkeypatch.setenv("KESSAI_AS_OF", "2026-12-16T00:00:00+09:00")
    assert run_dag("payout_closing", "2026-12-15").state == "success"
    with business.connect() as connection:
        assert [str(d) for d in connection.execute(select(payout_closings.c.closing_date)).scalars()] == ["2026-12-15"]
        assert connection.execute(select(func.count()).select_from(payout_statements)).scalar() == 0


def test_a_dry_run_may_look_ahead(run_dag, business, monkeypatch, caplog, capfd):
    monkeypatch.setenv("KESSAI_AS_OF", "2026-12-05T10:00:00+09:00")
    with caplog.at_level(logging.INFO):
        assert run_dag("card_transmission", "2026-12-10", dry_run=True).state == "success"
    assert "dry run of card_transmission for 2026-12-10 ahead of its day" in caplog.text + capfd.readouterr().out
    with business.connect() as connection:
        assert connection.execute(select(func.count()).select_from(transmission_batches)).scalar() == 0


def test_a_closing_out_of_order_is_refused_at_once(run_dag, business):
    # The last closing that ran is 2026-12-15: 2027-01-15 cannot run before 2026-12-31.
    with business.begin() as connection:
        connection.execute(payout_closings.insert().values(closing_date=date(2026, 12, 15)))
    dag_run = run_dag("payout_closing", "2027-01-15")
    assert dag_run.state == "failed"
    [close] = [ti for ti in dag_run.get_task_instances() if ti.task_id == "close"]
    assert (close.state, close.try_number) == ("failed", 1)
