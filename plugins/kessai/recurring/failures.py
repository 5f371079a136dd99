"""After the charge: the cycle's failed slips (payment date still empty), one failure notice per
merchant with the list as CSV, a re-payment request to each customer of a merchant who enabled
it, and the cycle closed, all in one transaction, and only once every slip of the cycle has a
final outcome (succeeded or declined): a slip left by a gateway fault is never announced as
failed. Dedupe keys make every mail a once-only."""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Date, bindparam, insert, select

from kessai.calendar.run_dates import japan_date_of
from kessai.db.database import sql_text
from kessai.db.schema import recurring_charge_cycles
from kessai.files.csv_files import csv_text
from kessai.gateway.card_gateway import DECLINED, ERROR
from kessai.kinds import Result, optional
from kessai.mail.outbox import enqueue_mail
from kessai.mail.templates import render_mail
from kessai.recurring.charge import ChargeFaults, open_slips
from kessai.recurring.cycle import ChargeCycle, closed_at
from kessai.recurring.repayment_links import BadLinkTemplate, repayment_link
from kessai.recurring.slips import SubscriptionStatus

log = logging.getLogger(__name__)

FAILURE_NOTICE = "recurring_charge_failure"
REPAYMENT_REQUEST = "recurring_repayment_request"
LISTED_IN_MAIL = 20  # failed slips written into the notice's text; the CSV has them all

CSV_HEADER = [
    "伝票番号",
    "継続課金ID",
    "請求月",
    "決済日",
    "金額",
    "カード会社",
    "カード番号",
    "注文者メールアドレス",
    "失敗理由",
    "理由コード",
    "決済回数",
]


def failure_label(last_outcome: str, reason: str) -> str:
    """The reason a slip failed, for merchants, in Japanese."""
    if last_outcome == DECLINED:
        return "カード会社が決済を承認しませんでした"
    if last_outcome == ERROR:
        return "決済の要求が受け付けられませんでした（カード情報をご確認ください）"
    if reason == "subscription_stopped":
        return "継続課金が停止されているため決済していません"
    return "決済処理が行われていません"


def yen(amount: int) -> str:
    return f"{amount:,}"


def japanese_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def japanese_month(d: date) -> str:
    return f"{d.year}年{d.month}月"


def failure_csv(cycle: ChargeCycle, rows) -> str:
    """The failed slips as the CSV attached to the merchant's notice (kessai.files.csv_files: no cell
    runs as a formula)."""
    lines = [CSV_HEADER]
    for row in rows:
        lines.append(
            [
                row.slip_id,
                row.subscription_id,
                cycle.month_label,
                cycle.charge_date.isoformat(),
                row.amount,
                row.card_company_name,
                row.card_reference,
                row.customer_email or "",
                failure_label(row.last_outcome, row.failure_reason),
                row.failure_reason,
                row.attempts,
            ]
        )
    # 伝票番号 (18 digits) and the subscription id stay text in Excel (kessai.files.csv_files).
    return csv_text(lines, numeric_columns=(4, 10), text_columns=(0, 1), lineterminator="\r\n")


@dataclass(frozen=True, slots=True)
class FailureNotices(Result):
    """A cycle's close: its totals (recurring_charge_cycles), and the notices and re-payment
    requests written; a cycle closed before shows its totals alone."""

    billing_month: str  # YYYY-MM
    charge_date: date
    slip_count: int
    paid_count: int
    paid_amount: int
    failed_count: int
    failed_amount: int
    cycle_closed: bool = optional(False)
    failed_by_reason: dict[str, int] = optional()
    merchant_notices: int = optional()
    repayment_requests: int = optional()
    merchants_without_email: list[str] = optional()
    customers_without_email: int = optional()
    bad_link_templates: list[str] = optional()


def notify_failures(
    connection: Connection, cycle: ChargeCycle, *, clock, repayment_link_secret: bytes | None = None
) -> FailureNotices:
    """Detect the cycle's failures, write the notices to the outbox and close the cycle.

    A re-payment request carries a link where the merchant set a link template (signed with
    repayment_link_secret; without one the run is refused, LinkSecretMissing), else the merchant's
    own instructions, else the merchant's contact.

    Call after the charge, inside one transaction. Refuses (ChargeFaults) while a slip of the
    cycle has no final outcome: a charge of unknown outcome (the slip may have been paid), or a
    slip left to charge after a gateway fault. Nobody is told anything, and the month stays open.
    """
    if (closed := closed_at(connection, cycle)) is not None:
        stored = (
            connection.execute(
                select(recurring_charge_cycles).where(recurring_charge_cycles.c.billing_month == cycle.billing_month)
            )
            .mappings()
            .one()
        )
        log.info("billing month %s was closed at %s: its notices went out then", cycle.month_label, closed)
        return FailureNotices(cycle.month_label, cycle.charge_date, **_totals(stored), cycle_closed=True)
    remaining = open_slips(connection, cycle)
    if any(remaining.values()):
        raise ChargeFaults(
            f"billing month {cycle.month_label} has {sum(remaining.values())} slip(s) without a final outcome "
            f"({remaining['chargeable']} to be charged again after gateway faults, {remaining['unresolved']} "
            f"whose outcome is unknown): run the charge task again (clear `charge` with downstream) before "
            f"failures are notified; nothing was sent"
        )
    month = bindparam("billing_month", cycle.billing_month, type_=Date)
    failed = connection.execute(
        sql_text("recurring/charge/failed_slips", connection.dialect.name).bindparams(month),
        execution_options={"yield_per": 500},
    )
    reasons: Counter = Counter()
    notices = requests = 0
    merchants_without_email: list[str] = []
    bad_link_templates: list[str] = []
    customers_without_email = 0
    written_on = japan_date_of(clock())
    for merchant_id, group in itertools.groupby(failed, key=lambda row: row.merchant_id):
        rows = list(group)
        reasons.update(row.failure_reason for row in rows)
        merchant = rows[0]
        asked = 0
        if merchant.repayment_mail_enabled:
            for row in rows:
                if row.subscription_status != SubscriptionStatus.ACTIVE:
                    continue  # a customer who stopped the subscription is not asked to pay
                if not row.customer_email:
                    customers_without_email += 1
                    continue
                if not _request_repayment(connection, cycle, row, repayment_link_secret, written_on):
                    if merchant_id not in bad_link_templates:
                        bad_link_templates.append(merchant_id)
                asked += 1
        requests += asked
        if merchant.merchant_email:
            _notify_merchant(connection, cycle, rows, asked)
            notices += 1
        else:
            merchants_without_email.append(merchant_id)
    totals = (
        connection.execute(sql_text("recurring/charge/cycle_totals", connection.dialect.name).bindparams(month))
        .mappings()
        .one()
    )
    connection.execute(
        insert(recurring_charge_cycles).values(
            billing_month=cycle.billing_month, charge_date=cycle.charge_date, closed_at=clock(), **totals
        )
    )
    if merchants_without_email:
        log.warning("merchants with failed slips but no mail address (not notified): %s", merchants_without_email)
    if bad_link_templates:
        log.warning(
            "merchants whose re-payment link template makes no link (their instructions sent instead): %s",
            bad_link_templates,
        )
    summary = FailureNotices(
        cycle.month_label,
        cycle.charge_date,
        **_totals(totals),
        failed_by_reason=dict(sorted(reasons.items())),
        merchant_notices=notices,
        repayment_requests=requests,
        merchants_without_email=merchants_without_email,
        customers_without_email=customers_without_email,
        bad_link_templates=bad_link_templates,
    )
    log.info("recurring charge of %s closed: %s", cycle.month_label, summary.as_dict())
    return summary


def _totals(row) -> dict[str, Any]:
    keys = ("slip_count", "paid_count", "paid_amount", "failed_count", "failed_amount")
    return {key: int(row[key]) for key in keys}


def _notify_merchant(connection: Connection, cycle: ChargeCycle, rows: list, asked: int) -> None:
    merchant = rows[0]
    attachment_name = f"recurring_charge_failures_{merchant.merchant_id}_{cycle.billing_month:%Y%m}.csv"
    subject, body = render_mail(
        FAILURE_NOTICE,
        merchant_name=merchant.merchant_name,
        billing_month=japanese_month(cycle.billing_month),
        charge_date=japanese_date(cycle.charge_date),
        failed_count=len(rows),
        failed_amount=yen(sum(row.amount for row in rows)),
        slips=[
            {
                "slip_id": row.slip_id,
                "amount": yen(row.amount),
                "reason": failure_label(row.last_outcome, row.failure_reason),
            }
            for row in rows[:LISTED_IN_MAIL]
        ],
        more=max(len(rows) - LISTED_IN_MAIL, 0),
        attachment_name=attachment_name,
        repayment_mail_enabled=bool(merchant.repayment_mail_enabled),
        repayment_requests=asked,
    )
    enqueue_mail(
        connection,
        kind=FAILURE_NOTICE,
        dedupe_key=f"{FAILURE_NOTICE}:{merchant.merchant_id}:{cycle.month_label}",
        recipient=merchant.merchant_email,
        subject=subject,
        body=body,
        attachment_name=attachment_name,
        attachment_content=failure_csv(cycle, rows),
    )


def _repayment_path(row, secret: bytes | None, written_on: date) -> tuple[dict, bool]:
    """The way the customer pays again: the merchant's link (signed, expiring), else its own
    instructions, else its contact (the template's last case). False when the merchant's link
    template could make no link (the rest of the path stands in for it)."""
    path = {
        "repayment_url": "",
        "link_expires_on": "",
        "repayment_instructions": (row.repayment_instructions or "").strip(),
    }
    template = (row.repayment_url_template or "").strip()
    if not template:
        return path, True
    try:
        link = repayment_link(template, secret, row.merchant_id, row.slip_id, written_on)
    except BadLinkTemplate as error:
        log.warning("merchant %s: %s; slip %s: its instructions are sent instead", row.merchant_id, error, row.slip_id)
        return path, False
    return {**path, "repayment_url": link.url, "link_expires_on": japanese_date(link.expires_on)}, True


def _request_repayment(connection: Connection, cycle: ChargeCycle, row, secret: bytes | None, written_on: date) -> bool:
    path, link_ok = _repayment_path(row, secret, written_on)
    subject, body = render_mail(
        REPAYMENT_REQUEST,
        merchant_name=row.merchant_name,
        merchant_email=row.merchant_email or "",
        billing_month=japanese_month(cycle.billing_month),
        charge_date=japanese_date(cycle.charge_date),
        slip_id=row.slip_id,
        amount=yen(row.amount),
        **path,
    )
    enqueue_mail(
        connection,
        kind=REPAYMENT_REQUEST,
        dedupe_key=f"{REPAYMENT_REQUEST}:{row.merchant_id}:{row.slip_id}",
        recipient=row.customer_email,
        subject=subject,
        body=body,
    )
    return link_ok
