"""The thin layer between Airflow and the kessai package, shared by the DAG files.

Everything here runs inside a task (nothing at import time but definitions). Below this layer the
kessai package knows nothing of Airflow: it takes a connection and dates.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import pendulum
from airflow.sdk import Param, dag, get_current_context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from kessai import clock
from kessai.calendar.run_dates import resolve_business_date
from kessai.clock import Starts
from kessai.db.database import AIRFLOW_CONNECTION_ID, database_url, make_engine
from kessai.errors import Refusal
from kessai.mail.delivery import DeliveryReport, deliver_pending, due_mail_count
from kessai.mail.operator_alerts import operator_email
from kessai.mail.smtp_client import DEFAULT_SENDER, DEFAULT_SMTP_URL, SmtpSettings
from kessai.settings import Settings, environment_setting

log = logging.getLogger(__name__)

OPERATOR_ALERT_CONNECTION_ID = "smtp_default"


def alert_operators(context) -> None:
    """A task failed for good (its retries used up): mail the operators through the outbox.

    Best effort: when the business database or the SMTP server is what failed, the alert cannot
    be queued or sent and the failure stays in the task log and the UI.
    """
    from kessai.mail.operator_alerts import enqueue_task_failure_alert

    ti = context["ti"]
    params = context.get("params") or {}
    logical_date = context.get("logical_date")
    try:
        business_date = str(resolve_business_date(params.get("business_date"), logical_date))
    except ValueError:
        business_date = "(none)"
    try:
        with business_engine() as engine:
            with engine.begin() as connection:
                enqueue_task_failure_alert(
                    connection,
                    dag_id=ti.dag_id,
                    task_id=ti.task_id,
                    run_id=ti.run_id,
                    try_number=ti.try_number,
                    business_date=business_date,
                    reason=str(context.get("exception") or "see the task log"),
                    log_url=getattr(ti, "log_url", "") or "",
                    failed_at=clock_now(),
                    operator_email=operator_email(),
                )
        deliver_outbox(dry_run=False)
    except Exception:
        log.exception("could not mail the operators about the failure of %s.%s", ti.dag_id, ti.task_id)


# Every kessai DAG retries a failed task with exponential backoff before it fails for good, then
# mails the operators. A refusal (kessai.errors.Refusal) fails at once: see refusals_fail_at_once.
DEFAULT_ARGS = {
    "owner": "kessai",
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "on_failure_callback": alert_operators,
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

# What every kessai DAG has unless its file says otherwise. The timetables read start_date as a
# date in Japan, so it stays at midnight there.
DAG_DEFAULTS = {
    "start_date": pendulum.datetime(2026, 1, 1, tz="Asia/Tokyo"),
    "catchup": False,
    "max_active_runs": 1,
    "default_args": DEFAULT_ARGS,
    "params": RUN_PARAMS,
}


def kessai_dag(*, dag_id: str, schedule, tags: list[str], doc_md: str, **overrides):
    """The @dag decorator with the house defaults (DAG_DEFAULTS), the tag `kessai` first."""
    return dag(dag_id=dag_id, schedule=schedule, tags=["kessai", *tags], doc_md=doc_md, **{**DAG_DEFAULTS, **overrides})


def task_settings() -> Settings:
    """The deployment's settings (kessai.settings), read from the worker's environment: once per
    task, at this boundary, and passed down."""
    return Settings.from_environment()


def clock_now(settings: Settings | None = None) -> datetime:
    """The one clock (SPEC §4.6): KESSAI_AS_OF when set, else the real one; read here, at the
    boundary, and passed down."""
    return clock.now_given(settings.as_of) if settings is not None else clock.now()


def refusals_fail_at_once(function):
    """A task whose work is refused (kessai.errors.Refusal: a wrong or early date, a closing out
    of order, books not started, bad data) fails at once, without retries: no retry changes the
    answer. The failure callback mails the operators in the same minute. Every other error keeps
    the DAG's retries (a lost connection, a server's 5xx). Every task of every DAG wears it."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Refusal as refused:
            raise AirflowFailException(f"refused: {refused}") from None

    run.refusals_fail_at_once = True
    return run


# -- the run protocol: which date a run is for, and whether it may run ---------------------------


@dataclass(frozen=True)
class RunDay:
    """What the first task of a run decided, passed on to the tasks after it (as_xcom/from_xcom)."""

    business_date: date
    as_of: datetime  # the clock reading the run began with (SPEC §4.6)
    dry_run: bool

    def as_xcom(self) -> dict:
        return {
            "business_date": self.business_date.isoformat(),
            "as_of": self.as_of.isoformat(),
            "dry_run": self.dry_run,
        }

    @classmethod
    def from_xcom(cls, value: dict) -> RunDay:
        return cls(date.fromisoformat(value["business_date"]), datetime.fromisoformat(value["as_of"]), value["dry_run"])


class CalendarRule(Protocol):
    """Which dates a DAG runs on. `closed_reason` returns None for a date the DAG works on and the
    reason for a date the operator declared closed; it refuses (kessai.errors.Refusal) any other."""

    def closed_reason(self, day: date) -> str | None: ...


def _on_calendar(check: Callable[[Any], Any]) -> Any:
    """check(calendar) with the business database's calendar (its table refreshed)."""
    from kessai.calendar.store import prepare_calendar

    with business_engine() as engine, engine.begin() as connection:
        return check(prepare_calendar(connection))


@dataclass(frozen=True)
class BusinessDays:
    """Business days in Japan. `check(calendar, day)` is the job's own check, with its wording;
    by default kessai.calendar.business_calendar.check_business_day with `refused` and `closed`."""

    check: Callable[..., str | None] | None = None
    refused: str = "this job runs on business days only; the next one is {next}"
    closed: str = "nothing is done on it; the next business day's run catches up"

    def closed_reason(self, day: date) -> str | None:
        from kessai.calendar.business_calendar import check_business_day

        check = self.check
        if check is not None:
            return _on_calendar(lambda calendar: check(calendar, day))
        return _on_calendar(
            lambda calendar: check_business_day(calendar, day, refused=self.refused, closed=self.closed)
        )


@dataclass(frozen=True)
class ChargeDays:
    """The recurring charge day of each month (kessai.recurring.cycle.plan_charge_day); the reason of
    a declared closure says where the charge moved."""

    def closed_reason(self, day: date) -> str | None:
        from kessai.recurring.cycle import plan_charge_day

        with business_engine() as engine, engine.begin() as connection:
            plan = plan_charge_day(connection, day)
        if plan["closed"]:
            return plan["message"]
        log.info("charge day %s: billing month %s", plan["charge_date"], plan["billing_month"])
        return None


@dataclass(frozen=True)
class ClosingDates:
    """The closing dates (the 15th, the month end), business days or not: a declared closure only
    moves payout dates, so a closing date is never closed."""

    def closed_reason(self, day: date) -> str | None:
        from kessai.payout.closing import closing_plan

        plan = _on_calendar(lambda calendar: closing_plan(day, calendar))
        log.info("closing %s: %s", day, ", ".join(f"{cycle} merchants, paid on {d}" for cycle, d in plan.items()))
        return None


@dataclass(frozen=True)
class AnyDay:
    """Every date, with no calendar to read."""

    def closed_reason(self, day: date) -> str | None:
        return None


def begin_run(rule: CalendarRule, starts: Starts) -> RunDay:
    """The first step of every run: which business date it is for, and whether it may run.

    The date is the param business_date, else the logical date in Japan (a manual run without a
    logical date must name it). The clock is read once and logged (naming KESSAI_AS_OF when set).
    Work for a date whose moment has not come (`starts`) is refused with kessai.clock.TooEarly; a
    dry run may look ahead. A date outside the DAG's `rule` is refused too: under
    refusals_fail_at_once the task fails at once and the operators are mailed. A date the
    operator declared closed skips the run: this task and the ones after it end skipped, the
    reason in the log. Otherwise the run goes ahead with the RunDay returned.
    """
    context = get_current_context()
    what = context["dag"].dag_id
    business_date = resolve_business_date(context["params"].get("business_date"), context.get("logical_date"))
    settings = task_settings()
    moment = clock_now(settings)
    log.info("clock: %s", clock.describe_given(moment, settings.as_of))
    dry_run = is_dry_run()
    if dry_run:
        if moment < clock.earliest_moment(business_date, starts):
            log.info("dry run of %s for %s ahead of its day: computed, nothing written", what, business_date)
    else:
        clock.check_not_before(business_date, starts, moment, what=what)
    closed = rule.closed_reason(business_date)
    if closed:
        log.warning("%s for %s skipped: %s", what, business_date, closed)
        raise AirflowSkipException(closed)
    log.info("business date %s%s", business_date, " (dry run)" if dry_run else "")
    return RunDay(business_date, moment, dry_run)


def is_dry_run() -> bool:
    return bool(get_current_context()["params"].get("dry_run"))


def _optional_connection(connection_id: str):
    """The Airflow connection, or None when there is none (each has a documented default)."""
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(connection_id)
    except Exception:  # no such connection; the caller falls back to its default
        log.info("no Airflow connection %r; using the default", connection_id)
        return None


def _airflow_connection_uri(settings: Settings | None = None) -> str | None:
    configured = settings.database_url if settings is not None else environment_setting("database_url")
    if configured:
        return None
    connection = _optional_connection(AIRFLOW_CONNECTION_ID)
    return connection.get_uri() if connection else None


@contextmanager
def business_engine(settings: Settings | None = None):
    """An engine on the business database this deployment is configured for (SPEC §6), for the
    block's work; its connections are closed when the block ends. Without `settings` only the
    database's own settings are read (the failure callback must reach the database even when
    another setting is what failed)."""
    engine = make_engine(database_url(_airflow_connection_uri(settings), settings))
    try:
        yield engine
    finally:
        engine.dispose()


# -- mail ---------------------------------------------------------------------------------------


def _flag(value) -> bool:
    """A connection extra meant as a boolean; "false" written as a string means false."""
    return value.strip().lower() in ("true", "1", "yes") if isinstance(value, str) else bool(value)


def smtp_settings(settings: Settings | None = None) -> SmtpSettings:
    """KESSAI_SMTP_URL if set, else the Airflow connection `smtp_default` read as Airflow's SMTP
    provider reads it (host, port, login, password; extras from_email, disable_ssl, disable_tls,
    timeout, ssl_context, and our reply_to, message_id_domain), else Mailpit on localhost:1025."""
    configured = settings.smtp_url if settings is not None else environment_setting("smtp_url")
    if configured:
        return SmtpSettings.from_url(configured)
    connection = _optional_connection(OPERATOR_ALERT_CONNECTION_ID)
    if connection is None:
        return SmtpSettings.from_url(DEFAULT_SMTP_URL)
    extra = connection.extra_dejson
    # The provider's defaults: implicit TLS unless disable_ssl, else STARTTLS unless disable_tls.
    use_ssl = not _flag(extra.get("disable_ssl", False))
    starttls = not use_ssl and not _flag(extra.get("disable_tls", False))
    return SmtpSettings(
        host=connection.host or "localhost",
        port=connection.port or (465 if use_ssl else 587 if starttls else 25),
        username=connection.login or None,
        password=connection.password or None,
        use_ssl=use_ssl,
        starttls=starttls,
        timeout=float(extra.get("timeout", 30)),
        sender=extra.get("from_email") or DEFAULT_SENDER,
        reply_to=extra.get("reply_to") or None,
        message_id_domain=extra.get("message_id_domain") or None,
        verify_certificate=extra.get("ssl_context") != "none",
    )


def deliver_outbox(dry_run: bool | None = None) -> dict[str, int]:
    """Send the due mails of the outbox: the last task of every DAG that writes mails.

    The task succeeds when mails were given up (a bounce, a bad row, a mail that kept failing):
    they are logged as a WARNING table and each is reported to KESSAI_OPERATOR_EMAIL by a notice
    in the operators' daily digest (dags/operator_digest.py). It fails (and Airflow retries it) when the SMTP
    server cannot be reached. Returns the counts by outcome. `dry_run` defaults to the run's param.
    """
    if dry_run is None:
        dry_run = is_dry_run()
    settings = task_settings()
    now = clock_now(settings)  # the one clock reading of this task
    with business_engine(settings) as engine:
        if dry_run:
            with engine.connect() as connection:
                due = due_mail_count(connection, now)
            log.info("dry run: %d mail(s) due, none sent", due)
            return {"due": due}
        smtp = smtp_settings(settings)
        report = deliver_pending(engine, smtp, now, operator_email=settings.operator_email)
    log.info("mail delivery through %s: %s", smtp.describe(), report.summary())
    if report.deferred:
        log.info("deferred mails (tried again later):\n%s", DeliveryReport.table(report.deferred))
    if report.given_up:
        log.warning("given-up mails, for the operators:\n%s", DeliveryReport.table(report.given_up))
    return report.counts()


# -- card gateway -------------------------------------------------------------------------------

CARD_GATEWAY_CONNECTION_ID = "kessai_card_gateway"


def card_gateway_settings(settings: Settings | None = None):
    """The card gateway of this deployment as plain settings: KESSAI_CARD_GATEWAY, else the HTTP
    gateway of the Airflow connection `kessai_card_gateway` when it exists, else the simulator
    (its ledger in KESSAI_HOME). docs/card-gateway.md."""
    from kessai.gateway.card_gateway import SIMULATOR, gateway_settings

    settings = settings if settings is not None else task_settings()
    kind = settings.card_gateway
    wants_simulator = (kind or "").strip().lower() == SIMULATOR
    connection = None if wants_simulator else _optional_connection(CARD_GATEWAY_CONNECTION_ID)
    fields = None
    if connection is not None:
        fields = {
            "host": connection.host,
            "schema": connection.schema,
            "port": connection.port,
            "password": connection.password,
            "extra": connection.extra_dejson,
        }
    return gateway_settings(
        kind,
        fields,
        simulator_ledger=str(settings.home / "card-gateway-simulator.sqlite"),
        concurrency=settings.charge_concurrency,
    )


# -- object storage -----------------------------------------------------------------------------


def object_storage(url: str):
    """An fsspec filesystem and the path in it for a URL (a local path, memory://, s3://...).

    Through Airflow's object storage when it knows the scheme, so `s3://aws_default@bucket/path`
    uses that Airflow connection's credentials; otherwise fsspec alone.
    """
    import fsspec
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io.fs import has_fs

    if has_fs(fsspec.utils.get_protocol(url)):
        path = ObjectStoragePath(url)
        return path.fs, path.path
    return fsspec.core.url_to_fs(url)
