"""The console's FastAPI app: four server-rendered pages (Today, Slip, Calendar, Merchant).

It knows nothing of Airflow: the plugin file passes in who may see it (`guard`, a FastAPI
dependency), where the login page is, how to find the Airflow runs a figure came from, and the
business database. The clock is read once per request (kessai.clock) and passed down.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine

from kessai import clock
from kessai.calendar.run_dates import JAPAN
from kessai.console import pages
from kessai.errors import Refusal
from kessai.settings import Settings

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _yen(value) -> str:
    return "—" if value is None else f"¥{int(value):,}"


def _count(value) -> str:
    return "0" if value is None else f"{int(value):,}"


def _day(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if not isinstance(value, date):
        return str(value)
    return f"{value.isoformat()} ({pages.weekday(value)})"


def _moment(value) -> str:
    """A stored timestamp as Japan time."""
    if not isinstance(value, datetime):
        return "—" if value is None else str(value)
    return value.astimezone(JAPAN).strftime("%Y-%m-%d %H:%M JST")


def _value(value) -> str:
    if isinstance(value, datetime):
        return _moment(value)
    if isinstance(value, date):
        return _day(value)
    return "—" if value is None else str(value)


TEMPLATES.filters.update(yen=_yen, count=_count, day=_day, moment=_moment, value=_value)


def create_app(
    engine_factory: Callable[[], Engine],
    *,
    guard: Callable | None = None,
    login_url: Callable[[str], str] | None = None,
    runs: pages.RunFinder = pages.no_runs,
    configuration: Callable[[], Settings] = Settings.from_environment,
) -> FastAPI:
    """The console app. `guard` is a dependency every page needs (Airflow's authentication);
    `login_url(next)` where a browser without a login is sent; `configuration()` the settings a
    page is drawn with (the clock, the transfer lead days)."""
    app = FastAPI(
        title="kessai console",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(guard)] if guard else [],
    )
    engines: list[Engine] = []

    def engine() -> Engine:
        if not engines:
            engines.append(engine_factory())
        return engines[0]

    def render(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
        # Links are absolute paths under the mount (/kessai) and, for Airflow's own pages, under
        # the API server's root, so they hold from any page and behind a base URL.
        root = request.scope.get("root_path", "").rstrip("/")
        html = TEMPLATES.get_template(name).render(
            page=name.removesuffix(".html"), root=root, airflow=root.rsplit("/", 1)[0] if root else "", **context
        )
        return HTMLResponse(html, status_code=status_code)

    @app.exception_handler(HTTPException)
    async def refused(request: Request, error: HTTPException):
        wants_page = "text/html" in request.headers.get("accept", "")
        if error.status_code in (401, 403) and wants_page and login_url:
            return RedirectResponse(login_url(str(request.url)), status_code=303)
        return JSONResponse({"detail": error.detail}, status_code=error.status_code)

    @app.exception_handler(Refusal)
    async def refusal(request: Request, error: Refusal):
        return render(request, "refusal.html", status_code=400, message=str(error))

    @app.get("/", include_in_schema=False)
    def home(request: Request):
        return RedirectResponse(request.scope.get("root_path", "").rstrip("/") + "/today", status_code=303)

    @app.get("/today", response_class=HTMLResponse)
    def today(request: Request, date: str | None = None):
        settings = configuration()
        now = clock.now_given(settings.as_of)
        with engine().connect() as connection:
            calendar = pages.read_calendar(connection)
            day = pages.parse_day(date, pages.business_date_of(calendar, now.date()))
            data = pages.today_page(connection, day, calendar, runs, settings)
        return render(request, "today.html", now=now, clock_line=clock.describe_given(now, settings.as_of), **data)

    @app.get("/slip", response_class=HTMLResponse)
    def slip(request: Request, q: str = "", merchant: str | None = None, lang: str = "en"):
        with engine().connect() as connection:
            calendar = pages.read_calendar(connection)
            data = pages.slip_page(connection, q, merchant, calendar, lang="ja" if lang == "ja" else "en")
        return render(request, "slip.html", **data)

    @app.get("/calendar", response_class=HTMLResponse)
    def month(request: Request, month: str | None = None):
        now = clock.now_given(configuration().as_of)
        with engine().connect() as connection:
            calendar = pages.read_calendar(connection)
            data = pages.calendar_page(connection, pages.parse_month(month, now.date()), calendar)
        return render(request, "calendar.html", today=now.date(), **data)

    @app.get("/merchant/{merchant_id}", response_class=HTMLResponse)
    def merchant(request: Request, merchant_id: str):
        now = clock.now_given(configuration().as_of)
        with engine().connect() as connection:
            data = pages.merchant_page(connection, merchant_id, now.date())
        if data is None:
            return render(request, "refusal.html", status_code=404, message=f"no merchant {merchant_id!r}")
        return render(request, "merchant.html", **data)

    return app
