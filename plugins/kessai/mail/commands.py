"""Command line for the mail outbox: `python -m kessai deliver-mail` and `mail-requeue`."""

from __future__ import annotations

import sys
from datetime import timedelta

from kessai.cli import command_clock, command_settings
from kessai.db.database import make_engine
from kessai.mail.delivery import DeliveryReport, RetryPolicy, deliver_pending, due_mail_count, requeue_mail
from kessai.mail.operator_alerts import DEFAULT_OPERATOR_EMAIL, OPERATOR_EMAIL_VARIABLE
from kessai.mail.smtp_client import SMTP_URL_VARIABLE, SmtpSettings, SmtpUnavailable


def register(commands) -> None:
    defaults = RetryPolicy()
    deliver = commands.add_parser(
        "deliver-mail",
        help=f"send the due mails of the outbox through the SMTP server at {SMTP_URL_VARIABLE} "
        "(default: Mailpit on localhost:1025)",
    )
    deliver.add_argument("--max-attempts", type=int, default=defaults.max_attempts, help="give up after this many")
    deliver.add_argument(
        "--backoff-minutes",
        type=float,
        default=defaults.backoff_base.total_seconds() / 60,
        help="wait after the first failure; doubled after each further one",
    )
    deliver.add_argument(
        "--backoff-cap-hours",
        type=float,
        default=defaults.backoff_cap.total_seconds() / 3600,
        help="the longest wait between two attempts",
    )
    deliver.add_argument(
        "--operator-email",
        help=f"where alerts about given-up mails go (default: {OPERATOR_EMAIL_VARIABLE}, else {DEFAULT_OPERATOR_EMAIL})",
    )
    deliver.add_argument("--dry-run", action="store_true", help="only count the due mails")
    deliver.set_defaults(handler=command_deliver_mail)

    requeue = commands.add_parser("mail-requeue", help="give given-up mails a fresh set of attempts")
    requeue.add_argument("mail_ids", type=int, nargs="+", metavar="MAIL_ID")
    requeue.set_defaults(handler=command_mail_requeue)


def command_deliver_mail(args) -> int:
    now = command_clock(args)
    engine = make_engine()
    try:
        if args.dry_run:
            with engine.connect() as connection:
                print(f"{due_mail_count(connection, now)} mail(s) due; dry run, nothing sent")
            return 0
        policy = RetryPolicy(
            max_attempts=args.max_attempts,
            backoff_base=timedelta(minutes=args.backoff_minutes),
            backoff_cap=timedelta(hours=args.backoff_cap_hours),
        )
        settings = command_settings(args)
        smtp = SmtpSettings.of(settings)
        operators = args.operator_email or settings.operator_email
        try:
            report = deliver_pending(engine, smtp, now, policy=policy, operator_email=operators)
        except SmtpUnavailable as error:
            print(f"error: no mail sent: {error}", file=sys.stderr)
            return 1
    finally:
        engine.dispose()
    print(f"mail delivery through {smtp.describe()}: {report.summary()}")
    if report.deferred or report.given_up:
        print(DeliveryReport.table(report.deferred + report.given_up))
    return 0


def command_mail_requeue(args) -> int:
    engine = make_engine()
    try:
        with engine.begin() as connection:
            missing = [mail_id for mail_id in args.mail_ids if not requeue_mail(connection, mail_id)]
    finally:
        engine.dispose()
    for mail_id in missing:
        print(f"mail {mail_id}: not a given-up, unsent mail; left as it is", file=sys.stderr)
    print(f"{len(args.mail_ids) - len(missing)} mail(s) requeued for the next delivery")
    return 1 if missing else 0
