"""docker-compose.yaml's topology, run natively: CeleryExecutor with Redis as the broker,
PostgreSQL for Airflow's metadata and, separately, for the business database, one scheduler, a DAG
processor, the API server and two Celery workers, running a kessai DAG to success."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import create_engine, insert, select, text

from deploy.airflow_stack import AirflowStack
from kessai.db.database import make_engine
from kessai.db.migrations_runner import upgrade
from kessai.db.schema import merchants, slips

pytestmark = pytest.mark.slow

REDIS_URL_VARIABLE = "KESSAI_TEST_REDIS_URL"


@pytest.fixture
def postgres_database():
    """Make empty PostgreSQL databases on the test server; dropped after the test."""
    server = os.environ.get("KESSAI_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("KESSAI_TEST_POSTGRES_URL is not set")
    server = server.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    made = []

    def make(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return server.rsplit("/", 1)[0] + "/" + name

    yield make
    with admin.connect() as connection:
        for name in made:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_dag_runs_to_success_on_celery_workers(tmp_path, postgres_database):
    redis_url = os.environ.get(REDIS_URL_VARIABLE)
    if not redis_url:
        pytest.skip(f"{REDIS_URL_VARIABLE} is not set")
    metadata_url = postgres_database("airflow_meta").replace("+psycopg", "+psycopg2")
    business_url = postgres_database("kessai_business")
    engine = make_engine(business_url)
    upgrade(engine)
    # One slip confirmed on Monday 2027-01-04 (registered 10:00 JST), due Tuesday 2027-01-05.
    with engine.begin() as connection:
        connection.execute(
            insert(merchants).values(
                merchant_id="M1",
                name="テスト商店",
                name_kana="テストシヨウテン",
                name_en="TEST SHOP",
                email="shop@example.jp",
                payout_cycle="monthly",
            )
        )
        connection.execute(
            insert(slips).values(
                slip_id="1001",
                merchant_id="M1",
                card_company="jcb",
                amount=5400,
                payment_date=date(2027, 1, 4),
                confirmed_on=date(2027, 1, 4),
                confirmation_registered_at=datetime(2027, 1, 4, 1, 0, tzinfo=UTC),
            )
        )

    queue = f"kessai_{uuid.uuid4().hex[:8]}"  # its own queue: nothing else on this Redis takes its tasks
    stack = AirflowStack(
        tmp_path / "airflow",
        metadata_url=metadata_url,
        executor="CeleryExecutor",
        extra_env={
            "AIRFLOW__CELERY__BROKER_URL": redis_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_url,
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
            "KESSAI_DATABASE_URL": business_url,
            "KESSAI_HOME": str(tmp_path / "kessai"),
            # Only the DAG under test runs: the others would start their latest due run at once.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        },
    )
    try:
        stack.airflow("db", "migrate")
        stack.start_api_server()
        stack.start("scheduler", "scheduler")
        stack.start("dag-processor", "dag-processor")
        for worker in ("worker-1", "worker-2"):
            stack.start(
                worker,
                "celery",
                "worker",
                "--queues",
                queue,
                "--concurrency",
                "2",
                "--celery-hostname",
                f"{worker}@kessai",
                "--skip-serve-logs",
            )
        stack.wait_until(
            lambda: all("ready" in stack.log(w) for w in ("worker-1", "worker-2")),
            180,
            "both Celery workers to be ready",
        )
        stack.wait_until(
            lambda: (stack.get("/api/v2/dags/card_transmission") or {}).get("dag_id"),
            180,
            "the DAG processor to serialize card_transmission",
        )
        stack.airflow("dags", "unpause", "card_transmission")
        stack.airflow(
            "dags",
            "trigger",
            "card_transmission",
            "--run-id",
            "celery_check",
            "--conf",
            '{"business_date": "2027-01-05"}',
        )

        def finished_run():
            run = stack.get("/api/v2/dags/card_transmission/dagRuns/celery_check") or {}
            return run if run.get("state") in ("success", "failed") else None

        run = stack.wait_until(finished_run, 420, "the triggered run to finish", interval=3)
        assert run["state"] == "success", stack.log("worker-1")[-5000:] + stack.log("worker-2")[-5000:]
        task_instances = stack.get("/api/v2/dags/card_transmission/dagRuns/celery_check/taskInstances")
        assert {ti["queue"] for ti in task_instances["task_instances"]} == {queue}
        assert all(ti["state"] == "success" for ti in task_instances["task_instances"])
    finally:
        stack.stop()

    with engine.connect() as connection:
        assert connection.execute(select(slips.c.transmitted_on)).scalar_one() == date(2027, 1, 5)
    engine.dispose()
