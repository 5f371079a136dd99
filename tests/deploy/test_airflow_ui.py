"""The Airflow UI as operators use it: a real API server over this project's DAGs.

Checks through the REST API that every DAG imported with no error and that the timetables give
the real next run dates, then screenshots the DAG list in headless Chromium and reads the DAG
names back from the rendered page and from the picture (OCR).
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import date, datetime, time, timedelta

import pytest

from deploy.airflow_stack import AirflowStack
from kessai.calendar.rules import (
    add_months,
    billing_month_charged_on,
    is_business_day,
    month_end,
    previous_business_day,
    recurring_charge_date,
)
from kessai.calendar.run_dates import JAPAN

pytestmark = pytest.mark.slow

KESSAI_DAGS = ("card_transmission", "payout_closing", "recurring_charge", "stale_slip_reminder")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",
    "--window-size=1400,1700",
    "--force-device-scale-factor=2",
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow-ui")
    stack = AirflowStack(
        home,
        metadata_url=f"sqlite:///{home / 'airflow.db'}",
        extra_env={"KESSAI_HOME": str(home / "kessai"), "KESSAI_DATABASE_URL": f"sqlite:///{home / 'kessai.sqlite'}"},
    )
    stack.airflow("db", "migrate")
    stack.airflow("dags", "reserialize")  # what the DAG processor does on start-up
    stack.start_api_server()
    yield stack
    stack.stop()


def japan_date(iso_timestamp: str):
    return datetime.fromisoformat(iso_timestamp.replace("Z", "+00:00")).astimezone(JAPAN).date()


def test_every_dag_imported_with_no_error(stack):
    assert stack.get("/api/v2/importErrors")["total_entries"] == 0
    dags = {dag["dag_id"]: dag for dag in stack.get("/api/v2/dags?limit=100")["dags"]}
    assert set(KESSAI_DAGS) <= set(dags)
    for dag_id in KESSAI_DAGS:
        assert dags[dag_id]["tags"], dag_id
        assert not dags[dag_id]["has_import_errors"], dag_id


def business_day_on_or_before(d: date) -> date:
    return d if is_business_day(d) else previous_business_day(d)


def charge_day_on_or_before(d: date) -> date:
    month = date(d.year, d.month, 1)
    while recurring_charge_date(month.year, month.month) > d:
        month = add_months(month, -1)
    return recurring_charge_date(month.year, month.month)


def closing_date_on_or_before(d: date) -> date:
    if d == month_end(d.year, d.month):
        return d
    if d.day >= 15:
        return d.replace(day=15)
    last_month = add_months(d.replace(day=1), -1)
    return month_end(last_month.year, last_month.month)


def latest_started(date_on_or_before, hour: int, days_after: int = 0) -> date:
    """The latest date of a rule whose run has started by now (Japan): where catchup=False begins."""
    now = datetime.now(JAPAN)
    d = date_on_or_before(now.date())
    while datetime.combine(d + timedelta(days=days_after), time(hour), JAPAN) > now:
        d = date_on_or_before(d - timedelta(days=1))
    return d


def test_timetables_show_the_next_real_run_dates(stack):
    """With catchup off, the next run shown is the latest date of each rule whose start time has
    passed (the scheduler runs it at once), and that date is a real date of the rule."""
    dags = {dag["dag_id"]: dag for dag in stack.get("/api/v2/dags?limit=100")["dags"]}

    def shown(dag_id) -> date:
        return japan_date(dags[dag_id]["next_dagrun_logical_date"])

    assert shown("card_transmission") == latest_started(business_day_on_or_before, 6)
    assert is_business_day(shown("card_transmission"))
    assert shown("stale_slip_reminder") == latest_started(business_day_on_or_before, 9)
    assert shown("recurring_charge") == latest_started(charge_day_on_or_before, 10)
    assert billing_month_charged_on(shown("recurring_charge")) is not None
    closing = shown("payout_closing")
    assert closing == latest_started(closing_date_on_or_before, 1, days_after=1)
    assert closing.day == 15 or closing == month_end(closing.year, closing.month)


def chromium(*args: str, user_data_dir) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )


def test_dag_list_screenshot_shows_the_dags(stack, tmp_path):
    page = stack.base_url + "/dags"
    rendered = chromium("--dump-dom", page, user_data_dir=tmp_path / "dom").stdout
    for dag_id in KESSAI_DAGS:
        assert dag_id in rendered, dag_id

    screenshot = stack.home / "dag-list.png"
    chromium(f"--screenshot={screenshot}", page, user_data_dir=tmp_path / "shot")
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = subprocess.run(
        [shutil.which("tesseract") or "tesseract", str(screenshot), "-"], capture_output=True, text=True, check=True
    ).stdout
    for dag_id in KESSAI_DAGS:
        assert dag_id in text.replace(" ", ""), f"{dag_id} not read in the screenshot:\n{text}"
