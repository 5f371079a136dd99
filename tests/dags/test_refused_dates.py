"""A run for a date its DAG does not run on fails its first task at once, with the reason in the
log, whatever the retries (kessai_tasks.refusals_fail_at_once): no retry would change the date.
card_transmission's Saturday is in test_card_transmission.py; a business_date param that is no
date never makes a run (Airflow validates the param's format)."""

from __future__ import annotations

import logging

import pytest

REFUSED = [
    # 2027-01-20 is a Wednesday: closings are on the 15th and the month's last day.
    ("payout_closing", "resolve_closing_date", "2027-01-20", "2027-01-20 is not a closing date"),
    # January 2027's charge day is Wednesday 1/27.
    ("recurring_charge", "charge_day", "2027-01-05", "2027-01-05 is no recurring charge day"),
    # 2027-01-16 is a Saturday.
    (
        "stale_slip_reminder",
        "resolve_business_date",
        "2027-01-16",
        "2027-01-16 is not a business day in Japan (Saturday)",
    ),
    (
        "payout_transfer_file",
        "resolve_business_date",
        "2027-01-16",
        "2027-01-16 is not a business day in Japan (Saturday)",
    ),
    ("transfer_results", "resolve_business_date", "2027-01-16", "2027-01-16 is not a business day in Japan (Saturday)"),
    (
        "card_acknowledgements",
        "resolve_business_date",
        "2027-01-16",
        "2027-01-16 is not a business day in Japan (Saturday)",
    ),
]


@pytest.mark.parametrize(("dag_id", "first_task", "day", "reason"), REFUSED, ids=[r[0] + ":" + r[2] for r in REFUSED])
def test_a_refused_date_fails_the_first_task_at_once(
    run_dag, business_database, caplog, capfd, dag_id, first_task, day, reason
):
    with caplog.at_level(logging.INFO):
        dag_run = run_dag(dag_id, day)
    assert dag_run.state == "failed"
    first = [ti for ti in dag_run.get_task_instances() if ti.task_id == first_task]
    assert [(ti.state, ti.try_number) for ti in first] == [("failed", 1)]
    assert reason in caplog.text + capfd.readouterr().out
