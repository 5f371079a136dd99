"""The DAG recurring_slips creates February 2027's slips on its first business day; the merchant
cancels one; the recurring_charge run of 2027-03-01 charges the rest, and the customer whose card
is declined gets a re-payment request with the merchant's signed link."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import date

from sqlalchemy import select, update

from kessai.db.schema import mail_outbox, merchants, slips
from support.recurring_charge_data import add_merchant, add_subscription, japan_time, slip_rows

FEBRUARY = date(2027, 2, 1)
SECRET = "dag-test-secret-0123456789abcdefghij"


def test_slips_ahead_then_the_charge_day_with_a_re_payment_link(run_dag, business, smtp_server, monkeypatch):
    monkeypatch.setenv("KESSAI_CARD_GATEWAY", "simulator")
    monkeypatch.setenv("KESSAI_REPAYMENT_LINK_SECRET", SECRET)
    with business.begin() as connection:
        add_merchant(connection, "M1", repayment_mail=True)
        connection.execute(
            update(merchants).values(
                repayment_url_template="https://shop-m1.example/repay?slip={slip_id}&token={token}"
            )
        )
        add_subscription(connection, "S-OK", "M1", token="tok_ok_1", amount=1200, created_at=japan_time(2027, 1, 1))
        add_subscription(
            connection, "S-NO", "M1", token="tok_decline_1", amount=3300, created_at=japan_time(2027, 1, 2)
        )
        add_subscription(connection, "S-CANCEL", "M1", token="tok_ok_2", amount=800, created_at=japan_time(2027, 1, 3))

    ahead = run_dag("recurring_slips", "2027-02-01")
    assert ahead.state == "success"
    assert ahead.get_task_instance("create_slips").xcom_pull(task_ids="create_slips")["created"] == 3
    with business.begin() as connection:
        rows = slip_rows(connection, FEBRUARY)
        assert sorted(rows) == ["S-CANCEL", "S-NO", "S-OK"]
        connection.execute(
            update(slips).where(slips.c.id == rows["S-CANCEL"]["id"]).values(cancelled_at=japan_time(2027, 2, 20))
        )

    charged = run_dag("recurring_charge", "2027-03-01")
    assert charged.state == "success"
    with business.connect() as connection:
        rows = slip_rows(connection, FEBRUARY)
        [request] = connection.execute(
            select(mail_outbox).where(mail_outbox.c.kind == "recurring_repayment_request")
        ).all()
    assert rows["S-OK"]["payment_date"] == date(2027, 3, 1)
    assert rows["S-CANCEL"]["payment_date"] is None and rows["S-NO"]["payment_date"] is None
    slip_id = rows["S-NO"]["slip_id"]
    # Written on the charge day's run under the tests' clock (2029-12-31 in Japan): valid 30 days.
    message = f"M1:{slip_id}:20300130".encode()
    signature = (
        base64.urlsafe_b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest()).decode().rstrip("=")
    )
    assert f"  https://shop-m1.example/repay?slip={slip_id}&token=20300130.{signature}\n" in request.body
    assert SECRET not in request.body
    [sent] = smtp_server.messages_to("s-no@customer.example")
    assert f"token=20300130.{signature}" in sent.text
