"""The operators' console as a person uses it: a real API server with the plugin, Airflow's own
login (simple auth manager, a viewer), each page opened in headless Chromium at 1280x800 and its
DOM checked against the business database; a screenshot of each page.

KESSAI_CONSOLE_SCREENSHOTS=DIR keeps the screenshots there (docs/images: the README's pictures),
made small with pngquant when it is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from datetime import date

import pytest
from sqlalchemy import func, select

from deploy.airflow_stack import AirflowStack
from deploy.chromium import Chromium
from kessai.db.database import make_engine
from kessai.db.migrations_runner import upgrade
from kessai.db.schema import payout_statements, slips, transmission_batches
from support.console_data import CONSOLE_AS_OF, build_world

pytestmark = pytest.mark.slow

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("console-ui")
    business_url = f"sqlite:///{home / 'kessai.sqlite'}"
    engine = make_engine(business_url)
    upgrade(engine)
    engine.dispose()
    build_world(business_url, home / "kessai")
    stack = AirflowStack(
        home,
        metadata_url=f"sqlite:///{home / 'airflow.db'}",
        extra_env={
            "KESSAI_HOME": str(home / "kessai"),
            "KESSAI_DATABASE_URL": business_url,
            "KESSAI_AS_OF": CONSOLE_AS_OF,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "operator:viewer,admin:admin",
        },
    )
    stack.airflow("db", "migrate")
    stack.airflow("dags", "reserialize")  # the runs the Today page links to need their DAGs
    stack.start_api_server()
    stack.business_url = business_url
    yield stack
    stack.stop()


def request(url: str, *, headers=None, data=None):
    """(status, headers, body) without following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, headers=headers or {}, data=json.dumps(data).encode() if data else None)
    if data:
        req.add_header("Content-Type", "application/json")
    try:
        with opener.open(req, timeout=30) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def login(stack, user: str) -> str:
    passwords = json.loads((stack.home / "simple_auth_manager_passwords.json.generated").read_text())
    status, _, body = request(f"{stack.base_url}/auth/token", data={"username": user, "password": passwords[user]})
    assert status in (200, 201), body
    return json.loads(body)["access_token"]


@pytest.fixture(scope="module")
def token(stack):
    """An operator who may only look (the viewer role)."""
    return login(stack, "operator")


def test_an_anonymous_request_is_refused(stack):
    status, _, body = request(f"{stack.base_url}/kessai/today", headers={"Accept": "application/json"})
    assert status == 401, body
    assert "today" not in body.lower()
    # A browser is sent to Airflow's login page, which brings it back afterwards.
    status, headers, _ = request(f"{stack.base_url}/kessai/today", headers={"Accept": "text/html"})
    assert status == 303
    assert headers["Location"].startswith("/auth/login?next=")
    status, _, _ = request(f"{stack.base_url}/kessai/merchant/M000001", headers={"Cookie": "_token=forged"})
    assert status in (401, 403)


def test_the_plugin_and_its_navigation_entries(stack, token):
    status, _, body = request(f"{stack.base_url}/api/v2/plugins", headers={"Authorization": f"Bearer {token}"})
    assert status == 200, body
    [plugin] = [p for p in json.loads(body)["plugins"] if p["name"] == "kessai_console"]
    assert [app["url_prefix"] for app in plugin["fastapi_apps"]] == ["/kessai"]
    assert {view["name"] for view in plugin["external_views"]} == {"kessai Today", "kessai Slip", "kessai Calendar"}
    status, _, page = request(f"{stack.base_url}/kessai/today", headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and 'id="business-date">2027-02-01<' in page


@pytest.fixture(scope="module")
def browser(stack, token, tmp_path_factory):
    chromium = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    chromium.set_cookie(stack.base_url, "_token", token)  # what the UI's login leaves in the browser
    yield chromium
    chromium.close()


def screenshot(browser, stack, name: str):
    path = browser.screenshot(stack.home / f"console-{name}.png")
    assert path.read_bytes()[:8] == PNG
    if keep := os.environ.get("KESSAI_CONSOLE_SCREENSHOTS"):
        target = os.path.join(keep, path.name)
        quantised = (
            shutil.which("pngquant")
            and subprocess.run(["pngquant", "--force", "--quality=50-90", "--output", target, str(path)]).returncode
            == 0
        )
        if not quantised:  # no pngquant, or the picture would lose too much
            shutil.copy(path, target)


def visible_text(browser) -> str:
    return re.sub(r"\s+", " ", browser.evaluate("document.body.innerText"))


def trigger(stack, dag_id: str, body: dict) -> str:
    status, _, answer = request(
        f"{stack.base_url}/api/v2/dags/{dag_id}/dagRuns",
        data=body,
        headers={"Authorization": f"Bearer {login(stack, 'admin')}"},
    )
    assert status == 200, answer
    return json.loads(answer)["dag_run_id"]


def test_today_in_the_browser(stack, browser):
    # The runs behind the figures: the scheduled transmission of 2/1 (logical date 2/1 00:00 in
    # Japan) and a manual reminder run naming the date in its param (no logical date).
    transmission = trigger(stack, "card_transmission", {"logical_date": "2027-01-31T15:00:00Z"})
    reminder = trigger(stack, "stale_slip_reminder", {"logical_date": None, "conf": {"business_date": "2027-02-01"}})
    engine = make_engine(stack.business_url)
    with engine.connect() as connection:
        files = connection.execute(
            select(
                func.count(),
                func.sum(transmission_batches.c.record_count),
                func.sum(transmission_batches.c.amount_total),
            ).where(transmission_batches.c.business_date == date(2027, 2, 1))
        ).one()
        closing_net = connection.execute(
            select(func.sum(payout_statements.c.net_amount)).where(
                payout_statements.c.closing_date == date(2027, 1, 31)
            )
        ).scalar_one()
    engine.dispose()
    assert browser.open(f"{stack.base_url}/kessai/today").endswith("/kessai/today")
    text = visible_text(browser)
    assert "Business date 2027-02-01 (Mon)" in text
    assert f"all {files[1]:,} ¥{files[2]:,}" in text
    assert browser.evaluate("document.querySelectorAll('#transmission tr[data-card-company]').length") == files[0]
    assert f"¥{closing_net:,}" in browser.evaluate(
        "document.querySelector('tr[data-closing=\"2027-01-31\"]').innerText"
    )
    links = browser.evaluate("[...document.querySelectorAll('a[data-run]')].map(a => decodeURIComponent(a.pathname))")
    assert f"/dags/card_transmission/runs/{transmission}" in links
    assert f"/dags/stale_slip_reminder/runs/{reminder}" in links
    assert "card_transmission run 2027-02-01: queued" in text
    screenshot(browser, stack, "today")
    assert browser.evaluate("document.documentElement.scrollWidth") <= 1280  # no sideways scrolling


def test_slip_in_the_browser(stack, browser):
    engine = make_engine(stack.business_url)
    with engine.connect() as connection:
        slip = connection.execute(
            select(slips.c.slip_id, slips.c.merchant_id, slips.c.amount)
            .where(slips.c.closing_date == date(2027, 1, 31))
            .order_by(slips.c.id)
            .limit(1)
        ).one()
    engine.dispose()
    browser.open(f"{stack.base_url}/kessai/slip?q={slip.slip_id}")
    assert browser.evaluate("document.getElementById('slip-id').textContent") == slip.slip_id
    amount = browser.evaluate("document.querySelector('tr[data-field=\"amount\"] td').textContent")
    assert amount == f"¥{slip.amount:,}"
    assert "2027-01-31" in browser.evaluate("document.querySelector('tr[data-field=\"closing_date\"] td').textContent")
    screenshot(browser, stack, "slip")
    assert browser.evaluate("document.documentElement.scrollWidth") <= 1280


def test_calendar_in_the_browser(stack, browser):
    browser.open(f"{stack.base_url}/kessai/calendar?month=2027-02")
    # 20 weekdays less 建国記念の日 (2/11) and 天皇誕生日 (2/23).
    assert browser.evaluate("document.getElementById('business-days').textContent") == "18"
    assert "天皇誕生日" in browser.evaluate("document.querySelector('td[data-day=\"2027-02-23\"]').innerText")
    screenshot(browser, stack, "calendar")
    assert browser.evaluate("document.documentElement.scrollWidth") <= 1280


def test_merchant_in_the_browser(stack, browser):
    engine = make_engine(stack.business_url)
    with engine.connect() as connection:
        statement = connection.execute(
            select(payout_statements.c.merchant_id, payout_statements.c.net_amount)
            .where(payout_statements.c.closing_date == date(2027, 1, 31))
            .order_by(payout_statements.c.net_amount.desc())
            .limit(1)
        ).one()
    engine.dispose()
    browser.open(f"{stack.base_url}/kessai/merchant/{statement.merchant_id}")
    net = browser.evaluate("document.querySelector('tr[data-statement=\"2027-01-31\"] td.net').textContent")
    assert net == f"¥{statement.net_amount:,}"
    screenshot(browser, stack, "merchant")
    assert browser.evaluate("document.documentElement.scrollWidth") <= 1280


def test_the_ui_navigation_opens_the_console(stack, browser):
    """The UI's entry for Today shows the console's page inside Airflow's own frame."""
    browser.open(f"{stack.base_url}/plugin/kessai-today")
    source = None
    for _ in range(150):  # the UI is a React app: the frame appears once it has rendered
        source = browser.evaluate("(document.querySelector('iframe') || {}).src")
        if source:
            break
        time.sleep(0.2)
    assert source == f"{stack.base_url}/kessai/today"
    for _ in range(150):  # and the page in it once it has loaded
        if browser.evaluate(
            "document.querySelector('iframe').contentDocument?.getElementById('business-date')?.textContent"
        ):
            break
        time.sleep(0.2)
    assert (
        browser.evaluate("document.querySelector('iframe').contentDocument.getElementById('business-date').textContent")
        == "2027-02-01"
    )
    screenshot(browser, stack, "in-airflow")
