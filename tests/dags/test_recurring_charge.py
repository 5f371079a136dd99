"""The recurring_charge DAG end to end: real Airflow task runs (dag.test), the business database on
SQLite and PostgreSQL, the HTTP card gateway pointed at a real HTTP server, the mails delivered to
a real SMTP server."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

import kessai_tasks
from kessai.calendar.store import declare_closure
from kessai.db.schema import charge_attempts, mail_outbox, recurring_charge_cycles, slips, subscriptions
from kessai.recurring.charge import idempotency_key
from support.gateway_server import API_KEY, gateway_server  # noqa: F401 (a fixture)
from support.recurring_charge_data import add_merchant, add_subscription, japan_time

D = date.fromisoformat
DAG_ID = "recurring_charge"
JAPAN = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def http_gateway(gateway_server, monkeypatch):
    """The runs charge through the HTTP gateway of the Airflow connection, at the test server."""
    connection = {
        "conn_type": "http",
        "host": gateway_server.url,
        "password": API_KEY,
        "extra": {"timeout": 0.5, "max_retries": 1, "backoff": 0.01, "concurrency": 4},
    }
    monkeypatch.setenv("AIRFLOW_CONN_KESSAI_CARD_GATEWAY", json.dumps(connection))
    monkeypatch.delenv("KESSAI_CARD_GATEWAY", raising=False)
    return gateway_server


@pytest.fixture
def no_retries(monkeypatch):
    """A failing task fails the run at once (the DAG's retries wait minutes between tries)."""
    monkeypatch.setitem(kessai_tasks.DEFAULT_ARGS, "retries", 0)


def run(run_dag, day: str | None = None, *, expect: str = "success", **kwargs) -> dict:
    dag_run = run_dag(DAG_ID, day, **kwargs)
    assert dag_run.state == expect, f"the run of {day or kwargs} ended {dag_run.state}; see its task log"
    return {ti.task_id: (ti.state, ti.xcom_pull(task_ids=ti.task_id)) for ti in dag_run.get_task_instances()}


def payment_dates(engine, billing_month: date) -> dict[str, date | None]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(slips.c.subscription_id, slips.c.payment_date).where(slips.c.billing_month == billing_month)
        )
        return dict(rows.all())


def seed(engine) -> None:
    """M1 sends re-payment requests, M2 does not."""
    with engine.begin() as connection:
        add_merchant(connection, "M1", repayment_mail=True)
        add_merchant(connection, "M2")
        for n in range(1, 7):
            add_subscription(
                connection, f"S-OK{n}", "M1", token=f"tok_ok_{n}", amount=1000 * n, created_at=japan_time(2026, 12, n)
            )
        add_subscription(
            connection, "S-TIMEOUT", "M1", token="tok_timeout_1", amount=700, created_at=japan_time(2026, 12, 10)
        )
        add_subscription(
            connection, "S-DECLINE", "M1", token="tok_decline_1", amount=2500, created_at=japan_time(2026, 12, 11)
        )
        add_subscription(
            connection, "S-M2", "M2", token="tok_decline_2", amount=9800, created_at=japan_time(2027, 1, 20)
        )
        add_subscription(connection, "S-STOPPED", "M2", status="stopped", created_at=japan_time(2026, 12, 1))
        # Started in February: its February slip is the online side's first.
        add_subscription(connection, "S-FEB", "M2", created_at=japan_time(2027, 2, 3))


@pytest.mark.airflow
def test_february_is_charged_on_march_1st_and_a_killed_run_is_finished_by_the_next(
    run_dag, business, http_gateway, smtp_server, no_retries
):
    seed(business)
    # 2027-02-27 is a Saturday: the scheduled run for February stands for Monday 2027-03-01,
    # its logical date 00:00 in Japan. The gateway goes down after its 4th executed charge.
    http_gateway.outage_after(4)
    tasks = run(run_dag, logical_date=datetime(2027, 3, 1, tzinfo=JAPAN), expect="failed")
    assert tasks["create_slips"][0] == "success" and tasks["charge"][0] == "failed"
    assert tasks["notify_failures"][0] != "success"
    assert http_gateway.executed_total() == 4
    with business.connect() as connection:
        kinds = connection.execute(select(mail_outbox.c.kind)).scalars().all()
    assert kinds == ["operator_alert"]  # the operators hear of the failed task; no failure announced
    [alert] = smtp_server.messages
    assert alert.envelope_to == ["operators@kessai.example"]
    assert "recurring_charge の charge が失敗しました" in alert.subject

    # The operator runs the day again once the gateway is back.
    http_gateway.heal()
    tasks = run(run_dag, "2027-03-01")
    charged_on = D("2027-03-01")
    assert payment_dates(business, D("2027-02-01")) == {
        **{f"S-OK{n}": charged_on for n in range(1, 7)},
        "S-TIMEOUT": charged_on,
        "S-DECLINE": None,
        "S-M2": None,
    }
    with business.connect() as connection:
        keys = [
            idempotency_key(merchant, number, D("2027-02-01"))
            for merchant, number in connection.execute(select(slips.c.merchant_id, slips.c.slip_id)).all()
        ]
    # Exactly one executed charge per slip at the gateway, the lost answers settled by lookup.
    assert {key: http_gateway.executed[key] for key in keys} == {key: 1 for key in keys}
    notified = tasks["notify_failures"][1]
    assert notified["failed_by_reason"] == {"insufficient_funds": 2}
    assert (notified["paid_count"], notified["paid_amount"]) == (7, 21000 + 700)
    assert (notified["failed_count"], notified["failed_amount"]) == (2, 2500 + 9800)
    assert (notified["merchant_notices"], notified["repayment_requests"]) == (2, 1)

    received = sorted((m.envelope_to[0], m.subject) for m in smtp_server.messages if m is not alert)
    assert received == [
        (
            "m1@merchant.example",
            "【ASJペイメント】定期購入・継続課金の決済に失敗した伝票のお知らせ（2027年2月分・1件）",
        ),
        (
            "m2@merchant.example",
            "【ASJペイメント】定期購入・継続課金の決済に失敗した伝票のお知らせ（2027年2月分・1件）",
        ),
        ("s-decline@customer.example", "【テスト商店M1】2027年2月分のお支払いについてのお願い"),
    ]
    (m1_notice,) = smtp_server.messages_to("m1@merchant.example")
    assert "・伝票番号 900000000008202702　金額 2,500円" in m1_notice.text
    ((csv_name, csv_bytes),) = m1_notice.attachments().items()
    assert csv_name == "recurring_charge_failures_M1_202702.csv"
    # The slip number is written as a text code (="..."), so Excel keeps its 18 digits.
    assert '"=""900000000008202702""",S-DECLINE,2027-02,2027-03-01,2500' in csv_bytes.decode("utf-8-sig")

    # A re-run of the day changes nothing: no request reaches the gateway, no mail is sent.
    requests = sum(http_gateway.seen.values()) + sum(http_gateway.lookups.values())
    with business.connect() as connection:
        attempts = connection.execute(select(charge_attempts).order_by(charge_attempts.c.attempt_id)).all()
    tasks = run(run_dag, "2027-03-01")
    assert tasks["charge"][1]["cycle_closed"] is True
    assert sum(http_gateway.seen.values()) + sum(http_gateway.lookups.values()) == requests
    assert len(smtp_server.messages) == 4  # the 3 notices and the earlier alert: nothing new
    with business.connect() as connection:
        assert connection.execute(select(charge_attempts).order_by(charge_attempts.c.attempt_id)).all() == attempts


@pytest.mark.airflow
def test_a_closed_charge_day_a_moved_charge_a_refused_date_and_a_backfilled_month(
    run_dag, smtp_server, business, monkeypatch, no_retries
):
    monkeypatch.setenv("KESSAI_CARD_GATEWAY", "simulator")
    with business.begin() as connection:
        add_merchant(connection, "M1")
        add_subscription(connection, "S1", "M1", token="tok_ok_1", amount=1200, created_at=japan_time(2026, 11, 5))
        add_subscription(connection, "S2", "M1", token="tok_timeout_2", amount=800, created_at=japan_time(2026, 12, 20))
        declare_closure(connection, D("2027-03-01"), "system migration")

    # The schedule still runs on 3/1 (it knows only the holidays): declared closed, it does nothing.
    tasks = run(run_dag, "2027-03-01")
    assert tasks["charge_day"][0] == "skipped" and tasks["charge"][0] == "skipped"
    # Saturday 2/27 is refused: February's charge day is not it.
    run(run_dag, "2027-02-27", expect="failed")
    assert payment_dates(business, D("2027-02-01")) == {}

    # With 3/1 closed, February is charged on Tuesday 3/2: first as a dry run, which counts and
    # writes nothing, then for real.
    tasks = run(run_dag, "2027-03-02", dry_run=True)
    assert tasks["create_slips"][1]["created"] == 2
    assert tasks["charge"][1] == {
        "billing_month": "2027-02",
        "charge_date": "2027-03-02",
        "slips_to_create": 2,
        "to_look_up": 0,
        "to_charge": 2,
        "to_charge_amount": 1200 + 800,
    }
    assert payment_dates(business, D("2027-02-01")) == {}
    run(run_dag, "2027-03-02")
    assert payment_dates(business, D("2027-02-01")) == {"S1": D("2027-03-02"), "S2": D("2027-03-02")}

    # January's charge day, Wednesday 2027-01-27, was missed; its backfill (the logical date the
    # schedule gives it) charges January for both (S2 started in December, whose slip was the
    # online side's first), at the amount each subscription has now, paid on 1/27.
    with business.begin() as connection:
        connection.execute(update(subscriptions).where(subscriptions.c.subscription_id == "S2").values(amount=900))
    run(run_dag, logical_date=datetime(2027, 1, 27, tzinfo=JAPAN))
    assert payment_dates(business, D("2027-01-01")) == {"S1": D("2027-01-27"), "S2": D("2027-01-27")}
    assert payment_dates(business, D("2027-02-01")) == {"S1": D("2027-03-02"), "S2": D("2027-03-02")}
    with business.connect() as connection:
        months = connection.execute(
            select(
                recurring_charge_cycles.c.billing_month,
                recurring_charge_cycles.c.charge_date,
                recurring_charge_cycles.c.paid_amount,
            ).order_by(recurring_charge_cycles.c.billing_month)
        ).all()
    assert [tuple(row) for row in months] == [
        (D("2027-01-01"), D("2027-01-27"), 1200 + 900),
        (D("2027-02-01"), D("2027-03-02"), 1200 + 800),
    ]


@pytest.mark.airflow
def test_a_gateway_failing_every_charge_fails_the_run_alerts_the_operators_and_tells_nobody_else(
    run_dag, business, http_gateway, smtp_server, no_retries, monkeypatch
):
    seed(business)  # 9 slips for February: 6 good cards, a late answer, 2 declined cards
    # The breaker from the environment, read by the task: 3 faults in a row, no rate rule.
    monkeypatch.setenv("KESSAI_CHARGE_BREAKER_CONSECUTIVE", "3")
    monkeypatch.setenv("KESSAI_CHARGE_BREAKER_RATE", "100")
    http_gateway.fail_charges(500)
    tasks = run(run_dag, "2027-03-01", expect="failed")
    assert tasks["charge"][0] == "failed" and tasks["notify_failures"][0] == "upstream_failed"
    # 3 faults in a row, plus at most 3 more in flight (4 at once): never the 9 slips.
    faulted = len(http_gateway.seen)
    assert 3 <= faulted <= 6 and http_gateway.executed_total() == 0
    assert payment_dates(business, D("2027-02-01")) == {
        sid: None for sid in (*(f"S-OK{n}" for n in range(1, 7)), "S-TIMEOUT", "S-DECLINE", "S-M2")
    }
    with business.connect() as connection:
        assert connection.execute(select(mail_outbox.c.kind)).scalars().all() == ["operator_alert"]
        assert connection.execute(select(recurring_charge_cycles)).all() == []
    [alert] = smtp_server.messages
    assert alert.envelope_to == ["operators@kessai.example"]
    assert "billing month 2027-02: 9 slip(s) have no final outcome because of card gateway faults" in alert.text
    assert "The circuit breaker stopped the charging: 3 faults in a row." in alert.text
    assert "No customer or merchant was told anything" in alert.text

    # The gateway recovers; the operator clears the run: every slip is charged once, and only now
    # the two declined cards are told, once.
    http_gateway.heal()
    tasks = run(run_dag, "2027-03-01")
    # The faulted charges are looked up first (never executed); S-TIMEOUT's late answer too, after.
    assert tasks["charge"][1]["unknown_resolved"] == {"not_executed": faulted, "succeeded": 1}
    notified = tasks["notify_failures"][1]
    assert (
        notified["paid_count"],
        notified["failed_count"],
        notified["merchant_notices"],
        notified["repayment_requests"],
    ) == (7, 2, 2, 1)
    with business.connect() as connection:
        keys = [
            idempotency_key(merchant, number, D("2027-02-01"))
            for merchant, number in connection.execute(select(slips.c.merchant_id, slips.c.slip_id)).all()
        ]
    assert {key: http_gateway.executed[key] for key in keys} == {key: 1 for key in keys}
    assert sorted(m.envelope_to[0] for m in smtp_server.messages if m is not alert) == [
        "m1@merchant.example",
        "m2@merchant.example",
        "s-decline@customer.example",
    ]
