"""The thin layer between Airflow and the kessai package, shared by the DAG files.

Everything here runs inside a task (nothing at import time but definitions). Below this layer the
kessai package knows nothing of Airflow: it takes a connection and dates.
"""

from __future__ import annotations

import functools
import logging
import os
from contextlib import contextmanager
from datetime import date, datetime, timedelta

from airflow.sdk import Param, get_current_context
from airflow.sdk.exceptions import AirflowFailException

from kessai import clock
from kessai.clock import Starts
from kessai.database import AIRFLOW_CONNECTION_ID, DATABASE_URL_VARIABLE, database_url, make_engine
from kessai.errors import Refusal
from kessai.mail_delivery import DeliveryReport, deliver_pending, due_mail_count
from kessai.operator_alerts import operator_email
from kessai.run_dates import resolve_business_date
from kessai.smtp_client import DEFAULT_SENDER, DEFAULT_SMTP_URL, SMTP_URL_VARIABLE, SmtpSettings

log = logging.getLogger(__name__)

OPERATOR_ALERT_CONNECTION_ID = "smtp_default"

def alert_operators(context) -> None:
    """A task failed for good (its retries used up): mail the operators through the outbox.

    Best effort: when the business database or the SMTP server is what failed, the alert cannot
    be queued or sent and the failure stays in the task log and the UI.
    """
    from kessai.operator_alerts import enqueue_task_failure_alert

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


def clock_now() -> datetime:
    """The one clock (SPEC §4.6): KESSAI_AS_OF when set, else the real one; read here, at the
    boundary, and passed down."""
    return clock.now()


def business_date_of_run(starts: Starts) -> date:
    """The business date of the current run (param business_date, else the logical date in
    Japan), once its moment has come.

    Reads the clock once and logs it (naming KESSAI_AS_OF when set). Work for a date whose moment
    has not come (`starts`: the date has begun, or for a closing ended, in Japan) is refused with
    kessai.clock.TooEarly, which fails the task at once; a dry run may look ahead.
    """
    context = get_current_context()
    business_date = resolve_business_date(context["params"].get("business_date"), context.get("logical_date"))
    moment = clock_now()
    log.info("clock: %s", clock.describe(moment))
    what = context["dag"].dag_id
    if is_dry_run():
        if moment < clock.earliest_moment(business_date, starts):
            log.info("dry run of %s for %s ahead of its day: computed, nothing written", what, business_date)
    else:
        clock.check_not_before(business_date, starts, moment, what=what)
    return business_date


def refusals_fail_at_once(function):
    """A task whose work is refused (kessai.errors.Refusal: a wrong or early date, a closing out
    of order, books not started, bad data) fails at once, without retries: no retry changes the
    answer. The failure callback mails the operators in the same minute. Every other error keeps
    the DAG's retries (a lost connection, a server's 5xx)."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Refusal as refused:
            raise AirflowFailException(f"refused: {refused}") from None

    return run


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


def _airflow_connection_uri() -> str | None:
    if os.environ.get(DATABASE_URL_VARIABLE):
        return None
    connection = _optional_connection(AIRFLOW_CONNECTION_ID)
    return connection.get_uri() if connection else None


@contextmanager
def business_engine():
    """An engine on the business database this deployment is configured for (SPEC §6), for the
    block's work; its connections are closed when the block ends."""
    engine = make_engine(database_url(_airflow_connection_uri()))
    try:
        yield engine
    finally:
        engine.dispose()


# -- mail ---------------------------------------------------------------------------------------


def _flag(value) -> bool:
    """A connection extra meant as a boolean; "false" written as a string means false."""
    return value.strip().lower() in ("true", "1", "yes") if isinstance(value, str) else bool(value)


def smtp_settings() -> SmtpSettings:
    """KESSAI_SMTP_URL if set, else the Airflow connection `smtp_default` read as Airflow's SMTP
    provider reads it (host, port, login, password; extras from_email, disable_ssl, disable_tls,
    timeout, ssl_context, and our reply_to, message_id_domain), else Mailpit on localhost:1025."""
    if os.environ.get(SMTP_URL_VARIABLE):
        return SmtpSettings.from_environment()
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
    now = clock_now()  # the one clock reading of this task
    with business_engine() as engine:
        if dry_run:
            with engine.connect() as connection:
                due = due_mail_count(connection, now)
            log.info("dry run: %d mail(s) due, none sent", due)
            return {"due": due}
        smtp = smtp_settings()
        report = deliver_pending(engine, smtp, now, operator_email=operator_email())
    log.info("mail delivery through %s: %s", smtp.describe(), report.summary())
    if report.deferred:
        log.info("deferred mails (tried again later):\n%s", DeliveryReport.table(report.deferred))
    if report.given_up:
        log.warning("given-up mails, for the operators:\n%s", DeliveryReport.table(report.given_up))
    return report.counts()


# -- card gateway -------------------------------------------------------------------------------

CARD_GATEWAY_CONNECTION_ID = "kessai_card_gateway"
CARD_GATEWAY_VARIABLE = "KESSAI_CARD_GATEWAY"  # simulator | http
CHARGE_CONCURRENCY_VARIABLE = "KESSAI_CHARGE_CONCURRENCY"


def card_gateway_settings():
    """The card gateway of this deployment as plain settings: KESSAI_CARD_GATEWAY, else the HTTP
    gateway of the Airflow connection `kessai_card_gateway` when it exists, else the simulator
    (its ledger in KESSAI_HOME). docs/card-gateway.md."""
    from kessai.card_gateway import SIMULATOR, gateway_settings
    from kessai.database import kessai_home

    kind = os.environ.get(CARD_GATEWAY_VARIABLE)
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
        simulator_ledger=str(kessai_home() / "card-gateway-simulator.sqlite"),
        concurrency=os.environ.get(CHARGE_CONCURRENCY_VARIABLE),
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
