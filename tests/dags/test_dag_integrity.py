"""Every DAG file in dags/ (found by walking the folder) parses cleanly and cheaply, follows the
house rules, and survives the serialization the DAG processor and the scheduler put it through.

The house rules (kessai_tasks.DAG_DEFAULTS, DEFAULT_ARGS, kessai_dag): tagged `kessai`, owned by
kessai, retried with backoff unless refused (every task wears refusals_fail_at_once), the
operators alerted on a failure for good, one run at a time, documented; a DAG run for a business
date is scheduled by a timetable of kessai_timetables; one that is not (no business_date param)
has a cron schedule, or none when it is only ever triggered.

A small example DAG written by the test runs through the same checks, so the timetables' plugin
registration is tested whatever DAG files exist."""

from __future__ import annotations

import json
import textwrap
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.encoders import encode_timetable
from airflow.serialization.serialized_objects import DagSerialization
from sqlalchemy import Engine, event

from kessai_tasks import alert_operators
from support.dags import DAGS_FOLDER
from support.dags import dag_files as walk_dag_files

# SPEC §6: the DAGs the specification names.
DAG_IDS = {"card_transmission", "recurring_charge", "payout_closing", "stale_slip_reminder"}
TIMETABLES = {"BusinessDayTimetable", "RecurringChargeTimetable", "ClosingDateTimetable"}
# A DAG that is not one run per date: a cron schedule, or none when it is only ever triggered.
UNDATED_SCHEDULES = {"CronTriggerTimetable", "CronDataIntervalTimetable", "NullTimetable"}
EXAMPLE = "example DAG"

EXAMPLE_DAG = '''
    """Example: closes the payout cycle on each closing date."""
    from airflow.sdk import task

    from kessai.clock import Starts
    from kessai_tasks import ClosingDates, begin_run, kessai_dag, refusals_fail_at_once
    from kessai_timetables import ClosingDateTimetable


    @kessai_dag(dag_id="timetable_example", schedule=ClosingDateTimetable(run_at="01:30"), tags=[], doc_md=__doc__)
    def timetable_example():
        @task
        @refusals_fail_at_once
        def close():
            return begin_run(ClosingDates(), Starts.DAY_ENDED).as_xcom()

        close()


    timetable_example()
'''


def dag_files() -> list[str]:
    return [str(path) for path in walk_dag_files()] + [EXAMPLE]


@pytest.fixture(params=dag_files(), ids=lambda path: Path(path).name)
def dag_file(request, tmp_path) -> Path:
    if request.param != EXAMPLE:
        return Path(request.param)
    path = tmp_path / "timetable_example.py"
    path.write_text(textwrap.dedent(EXAMPLE_DAG))
    return path


def parse(path: Path) -> DagBag:
    bag = DagBag(dag_folder=path)
    assert bag.import_errors == {}, f"{path.name} does not import: {bag.import_errors}"
    assert bag.dags, f"{path.name} defines no DAG"
    return bag


def test_dag_file_parses(dag_file):
    parse(dag_file)


def parsing_cost(path: Path, monkeypatch) -> tuple[list[str], list[str]]:
    """The SQL statements run (on any engine) and the connections fetched while parsing a file."""
    from airflow.models.connection import Connection
    from airflow.sdk.execution_time import context

    statements: list[str] = []
    fetched: list[str] = []

    def count(_connection, _cursor, statement, *_args):
        statements.append(statement)

    def observing(original):
        def fetch(*args, **kwargs):
            fetched.append(str(kwargs.get("conn_id", args[-1] if args else "")))
            return original(*args, **kwargs)

        return fetch

    # Observe, not replace: every connection look-up still goes where it would have gone.
    monkeypatch.setattr(context, "_get_connection", observing(context._get_connection))
    monkeypatch.setattr(Connection, "get_connection_from_secrets", observing(Connection.get_connection_from_secrets))
    event.listen(Engine, "before_cursor_execute", count)
    try:
        DagBag(dag_folder=path)
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    return statements, fetched


def test_parsing_makes_at_most_one_query_and_fetches_no_connection(airflow_db, dag_file, monkeypatch):
    """Airflow's standard for its own example DAGs; top-level work slows every parsing loop."""
    parse(dag_file)
    statements, fetched = parsing_cost(dag_file, monkeypatch)
    assert len(statements) <= 1, f"parsing {dag_file.name} ran {len(statements)} queries: {statements}"
    assert fetched == [], f"parsing {dag_file.name} fetched connections {fetched}"


def test_top_level_work_is_caught(airflow_db, tmp_path, monkeypatch):
    """The check above can fail: a DAG file that reads a connection and queries at import time."""
    path = tmp_path / "heavy.py"
    path.write_text(
        textwrap.dedent(
            """
            from airflow.sdk import BaseHook, dag  # DagBag skips files that mention no DAG
            from sqlalchemy import create_engine, text

            try:
                BaseHook.get_connection("kessai_db")
            except Exception:
                pass
            with create_engine("sqlite://").connect() as connection:
                connection.execute(text("SELECT 1"))
                connection.execute(text("SELECT 2"))
            """
        )
    )
    statements, fetched = parsing_cost(path, monkeypatch)
    assert fetched == ["kessai_db"]
    assert len(statements) >= 2


def callbacks(task) -> list:
    value = task.on_failure_callback
    return list(value) if isinstance(value, (list, tuple)) else [value]


def test_dag_follows_the_house_rules(dag_file):
    for dag_id, dag in parse(dag_file).dags.items():
        assert "kessai" in dag.tags, f"{dag_id} lacks the tag kessai"
        assert dag.doc_md and dag.doc_md.strip(), f"{dag_id} has no doc_md"
        assert "dry_run" in dag.params, f"{dag_id} lacks the dry_run param"
        assert dag.max_active_runs == 1, f"{dag_id} allows {dag.max_active_runs} runs at once"
        assert dag.catchup is False, f"{dag_id} catches up on its own: backfills are the operators' choice"
        for task in dag.tasks:
            name = f"{dag_id}.{task.task_id}"
            assert task.owner == "kessai", f"{name} is owned by {task.owner}"
            assert task.retries >= 1 and task.retry_exponential_backoff, f"{name} does not retry with backoff"
            assert alert_operators in callbacks(task), f"{name} does not alert the operators when it fails"
            callable_ = getattr(task, "python_callable", None)
            assert getattr(callable_, "refusals_fail_at_once", False), f"{name}: a refusal would be retried"


def test_the_house_rules_can_fail(tmp_path):
    """The checks above can fail: a DAG written with Airflow's defaults breaks each of them."""
    path = tmp_path / "plain.py"
    path.write_text(
        textwrap.dedent(
            """
            import pendulum
            from airflow.sdk import dag, task


            @dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Tokyo"))
            def plain():
                @task
                def noop():
                    pass

                noop()


            plain()
            """
        )
    )
    with pytest.raises(AssertionError, match="lacks the tag kessai"):
        test_dag_follows_the_house_rules(path)


def test_dag_has_a_schedule_of_its_kind(dag_file):
    for dag_id, dag in parse(dag_file).dags.items():
        if "business_date" not in dag.params:
            # Not one run per date (mail delivery every ten minutes), or only ever triggered.
            kind = type(dag.timetable).__name__
            assert kind in UNDATED_SCHEDULES, f"{dag_id} has no business_date param and is scheduled by {kind}"
            continue
        timetable = type(dag.timetable)
        assert (timetable.__module__, timetable.__name__ in TIMETABLES) == ("kessai_timetables", True), (
            f"{dag_id} is scheduled by {timetable.__module__}.{timetable.__name__}, not a business-day "
            "timetable from kessai_timetables"
        )
        # The timetables read start_date as a date in Japan; a start at any other time of day
        # would leave the first run's logical date (00:00 in Japan) before the tasks' start_date,
        # and Airflow would create that run without tasks.
        start = dag.start_date.astimezone(ZoneInfo("Asia/Tokyo"))
        assert start.time() == time(0, 0), f"{dag_id} starts at {start}, not at midnight in Japan"


def test_dag_survives_serialization(dag_file):
    """What the DAG processor stores and the scheduler reads back: this is where a timetable that
    is not registered under the path the DAG imports it by fails ("... is not registered")."""
    for dag_id, dag in parse(dag_file).dags.items():
        stored = json.loads(json.dumps(DagSerialization.to_dict(dag)))
        scheduler_dag = DagSerialization.from_dict(stored)
        assert scheduler_dag.dag_id == dag_id
        assert set(scheduler_dag.task_ids) == set(dag.task_ids)
        assert encode_timetable(scheduler_dag.timetable) == stored["dag"]["timetable"]
        assert scheduler_dag.timetable.summary, f"{dag_id}: the UI shows no schedule"
        assert set(scheduler_dag.params.keys()) == set(dag.params.keys())


def test_an_unregistered_timetable_fails_the_round_trip(tmp_path):
    """The check above can fail: a timetable class defined outside the plugin is not registered."""
    path = tmp_path / "unregistered.py"
    path.write_text(
        textwrap.dedent(
            """
            import pendulum
            from airflow.sdk import dag, task

            from kessai_timetables import BusinessDayTimetable


            class LocalTimetable(BusinessDayTimetable):
                pass


            @dag(schedule=LocalTimetable(), start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Tokyo"))
            def unregistered():
                @task
                def noop():
                    pass

                noop()


            unregistered()
            """
        )
    )
    (dag,) = parse(path).dags.values()
    with pytest.raises(Exception, match="is not registered"):
        DagSerialization.to_dict(dag)


def test_walking_finds_every_dag_file():
    """The walk finds the DAG files, the SPEC's DAGs among them, each file with its DAG."""
    names = {path.stem for path in walk_dag_files()}
    assert DAG_IDS <= names


def test_the_four_dags_exist():
    bag = DagBag(dag_folder=DAGS_FOLDER)
    assert bag.import_errors == {}
    missing = DAG_IDS - set(bag.dags)
    assert not missing, f"dags/ lacks the DAGs {sorted(missing)} (SPEC §6)"
