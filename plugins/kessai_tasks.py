"""The thin layer between Airflow and the kessai package, shared by the four DAG files.

Everything here runs inside a task (nothing at import time but definitions). Below this layer the
kessai package knows nothing of Airflow: it takes a connection and dates.
"""

from __future__ import annotations

import logging
import os
from datetime import date, timedelta

from airflow.sdk import Param, get_current_context

from kessai.database import AIRFLOW_CONNECTION_ID, DATABASE_URL_VARIABLE, database_url, make_engine
from kessai.run_dates import resolve_business_date

log = logging.getLogger(__name__)

OPERATOR_ALERT_CONNECTION_ID = "smtp_default"

# Every kessai DAG retries a failed task with exponential backoff before it fails for good.
DEFAULT_ARGS = {
    "owner": "kessai",
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}

RUN_PARAMS = {
    "business_date": Param(
        None,
        type=["null", "string"],
        format="date",
        description="The business date (Japan) this run processes, YYYY-MM-DD. Leave empty to use "
        "the run's logical date; a manual run without a logical date must name it.",
    ),
    "dry_run": Param(
        False,
        type="boolean",
        description="Compute and log what the run would do, write nothing and send nothing.",
    ),
}


def business_date_of_run() -> date:
    """The business date of the current run (param business_date, else the logical date in Japan)."""
    context = get_current_context()
    return resolve_business_date(context["params"].get("business_date"), context.get("logical_date"))


def is_dry_run() -> bool:
    return bool(get_current_context()["params"].get("dry_run"))


def _airflow_connection_uri() -> str | None:
    if os.environ.get(DATABASE_URL_VARIABLE):
        return None
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(AIRFLOW_CONNECTION_ID).get_uri()
    except Exception:  # the connection is optional: no such connection means the embedded default
        log.info("no Airflow connection %r; using the embedded business database", AIRFLOW_CONNECTION_ID)
        return None


def business_engine():
    """An engine on the business database this deployment is configured for (SPEC §6)."""
    return make_engine(database_url(_airflow_connection_uri()))
