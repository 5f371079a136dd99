"""The operators' console in the Airflow UI (docs/console.md): a FastAPI app the API server mounts
under /kessai, with an entry in the UI's navigation for each page.

This file is the only part that knows Airflow: who may see the console (Airflow's own login: the
JWT of the UI's `_token` cookie or a bearer token; anyone else is sent to the login page or
refused), where the business database is (as the DAGs find it), and which Airflow run each figure
came from. The pages themselves are kessai.console.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
from airflow.api_fastapi.core_api.security import requires_access_view
from airflow.plugins_manager import AirflowPlugin

from kessai.calendar.run_dates import JAPAN
from kessai.console.app import create_app
from kessai.console.pages import RunLink
from kessai.db.database import AIRFLOW_CONNECTION_ID, database_url, make_engine
from kessai.settings import Settings

log = logging.getLogger(__name__)

URL_PREFIX = "/kessai"


def business_engine():
    """The business database as the DAGs resolve it: KESSAI_DATABASE_URL, else the Airflow
    connection kessai_db, else the embedded SQLite file."""
    settings = Settings.from_environment()
    uri = None
    if not settings.database_url:
        try:
            from airflow.models.connection import Connection

            uri = Connection.get_connection_from_secrets(AIRFLOW_CONNECTION_ID).get_uri()
        except Exception:  # no such connection: the embedded default
            log.info("no Airflow connection %r; the console reads the embedded database", AIRFLOW_CONNECTION_ID)
    return make_engine(database_url(uri, settings))


def airflow_runs(dag_id: str, days: list[date]) -> dict[date, list[RunLink]]:
    """The runs of `dag_id` standing for each day: logical date `day` 00:00 in Japan (the
    timetables' convention), or a manual run naming it in its `business_date` param."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    if not days:
        return {}
    start = datetime.combine(min(days), time.min, tzinfo=JAPAN)
    end = datetime.combine(max(days) + timedelta(days=1), time.min, tzinfo=JAPAN)
    found: dict[date, list[RunLink]] = {}
    try:
        with create_session() as session:
            rows = session.execute(
                select(DagRun.run_id, DagRun.state, DagRun.logical_date, DagRun.conf)
                .where(DagRun.dag_id == dag_id)
                .where(((DagRun.logical_date >= start) & (DagRun.logical_date < end)) | DagRun.logical_date.is_(None))
                .order_by(DagRun.id)
            ).all()
    except Exception:  # the links are a convenience: a page still shows its figures without them
        log.exception("could not read the runs of %s", dag_id)
        return {}
    wanted = set(days)
    for run_id, state, logical_date, conf in rows:
        if logical_date is not None:
            day = logical_date.astimezone(JAPAN).date()
        else:
            try:
                day = date.fromisoformat(str((conf or {}).get("business_date", "")))
            except ValueError:
                continue
        if day in wanted:
            found.setdefault(day, []).append(RunLink(dag_id, run_id, str(state)))
    return found


def login_url(next_url: str) -> str:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_url_login(next_url=next_url)


console_app = create_app(
    business_engine,
    guard=requires_access_view(AccessView.WEBSITE),
    login_url=login_url,
    runs=airflow_runs,
)

PAGES = (("Today", "today"), ("Slip", "slip"), ("Calendar", "calendar"))


class KessaiConsolePlugin(AirflowPlugin):
    name = "kessai_console"
    fastapi_apps = [{"app": console_app, "url_prefix": URL_PREFIX, "name": "kessai console"}]
    external_views = [
        {
            "name": f"kessai {title}",
            "href": f"{URL_PREFIX.lstrip('/')}/{path}",
            "url_route": f"kessai-{path}",
            "destination": "nav",
            "category": "kessai",
        }
        for title, path in PAGES
    ]
