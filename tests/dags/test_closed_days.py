"""A day the operator declared closed, the same in every DAG that runs for a business date: the
schedule (which knows only the national holidays) still starts the run, and its first task skips
it with the reason, so the run shows skipped tasks and the reason in the log, never a green run
that did nothing. A closing date is no business day's matter: the closing runs."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from sqlalchemy import func, select

from kessai.calendar.store import declare_closure
from kessai.db.schema import payout_closings
from support.dags import dags_by_id

# Wednesday 2027-03-31 is a business day, the month's closing date and no charge day; the charge
# day of February 2027 is Monday 2027-03-01.
CLOSED_DAY = {"recurring_charge": "2027-03-01"}
DEFAULT_CLOSED_DAY = "2027-03-31"


def dated_dags() -> list[str]:
    """Every DAG that runs for a business date, but the closing (closing dates are never closed)."""
    return sorted(
        dag_id for dag_id, dag in dags_by_id().items() if "business_date" in dag.params and dag_id != "payout_closing"
    )


@pytest.mark.parametrize("dag_id", dated_dags())
def test_a_declared_closed_day_skips_the_run_with_its_reason(run_dag, business, caplog, capfd, dag_id):
    day = CLOSED_DAY.get(dag_id, DEFAULT_CLOSED_DAY)
    with business.begin() as connection:
        declare_closure(connection, date.fromisoformat(day), "system migration")
    with caplog.at_level(logging.INFO):
        dag_run = run_dag(dag_id, day)
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert set(states.values()) == {"skipped"}, states
    assert f"{day} was declared closed" in caplog.text + capfd.readouterr().out


def test_a_closing_date_declared_closed_still_closes(run_dag, business):
    with business.begin() as connection:
        declare_closure(connection, date(2027, 3, 31), "system migration")
    dag_run = run_dag("payout_closing", "2027-03-31")
    assert dag_run.state == "success"
    with business.connect() as connection:
        assert connection.execute(select(func.count()).select_from(payout_closings)).scalar() == 1
