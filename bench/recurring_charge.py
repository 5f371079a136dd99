"""The recurring charge of CHARGE_DAY (dags/recurring_charge.py) through the HTTP card gateway
against a local gateway with a fixed latency. Its floor is the latency bound: the gateway's
requests x latency / the charges in flight at once; nothing can charge faster.

Measured up to 100k subscriptions (N subscriptions, each charged once): the bound grows linearly.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench.datasets import CHARGE_DAY
from bench.gateway import API_KEY, gateway_stats, latency_gateway
from bench.harness import NAIVE_MAX_SIZE, Bench, Row, check_same
from bench.measure import Context, Measurement, Step
from bench.orm import ChargeAttempt, Slip, Subscription
from bench.outcomes import Charges
from kessai.calendar.store import prepare_calendar
from kessai.db.database import make_engine
from kessai.db.schema import slips, subscriptions
from kessai.gateway.card_gateway import HTTP, gateway_settings
from kessai.gateway.configured import open_card_gateway
from kessai.recurring.charge import ChargeOptions, charge_cycle, idempotency_key
from kessai.recurring.cycle import charge_cycle_on, plan_charge_day
from kessai.recurring.failures import notify_failures
from kessai.recurring.slips import create_recurring_slips, prepare_subscriptions

NAME = "recurring_charge"
MAX_SIZE = 100_000


def utc_now() -> datetime:
    return datetime.now(UTC)


def _settings(context: Context):
    """What the task layer reads from the Airflow connection kessai_card_gateway, as plain fields."""
    return gateway_settings(HTTP, {"host": context.params["gateway_url"], "password": API_KEY, "extra": {}})


def _work(context: Context) -> dict:
    """The DAG's tasks charge_day, create_slips, charge and notify_failures (mail delivery aside),
    each on a connection of its own."""
    settings = _settings(context)
    engine = make_engine(context.url)
    try:
        with engine.begin() as connection:
            plan_charge_day(connection, context.day)
        with engine.connect() as connection:
            cycle = charge_cycle_on(context.day, prepare_calendar(connection))
            create_recurring_slips(connection, cycle)
            connection.commit()
        with engine.connect() as connection:
            cycle = charge_cycle_on(context.day, prepare_calendar(connection))
            gateway = open_card_gateway(settings)
            try:
                charge_cycle(
                    connection, cycle, gateway, clock=utc_now, options=ChargeOptions(concurrency=settings.concurrency)
                )
            finally:
                gateway.close()
        with engine.connect() as connection:
            cycle = charge_cycle_on(context.day, prepare_calendar(connection))
            notify_failures(connection, cycle, clock=utc_now)
            connection.commit()
    finally:
        engine.dispose()
    return {"concurrency": settings.concurrency}


def _paid(context: Context) -> Charges:
    """The slips the charge paid: payment date filled with the charge day."""
    engine = make_engine(context.url)
    try:
        with engine.connect() as connection:
            count, amount = connection.execute(
                select(func.count(), func.coalesce(func.sum(slips.c.amount), 0)).where(
                    slips.c.subscription_id.is_not(None), slips.c.payment_date == context.day
                )
            ).one()
    finally:
        engine.dispose()
    return Charges(count, int(amount))


def _due(dataset: str, limit: int | None = None) -> Charges:
    """What the charge must do: one charge of each active subscription started before the month."""
    billing_month = CHARGE_DAY.replace(day=1)  # the dates of datasets: February, charged on 3/1
    s = subscriptions.c
    due = (
        select(s.amount)
        .where(s.status == "active", s.started_on < billing_month)
        .order_by(s.subscription_id)
        .limit(limit)
        .subquery()
    )
    engine = make_engine(dataset)
    try:
        with engine.connect() as connection:
            count, amount = connection.execute(select(func.count(), func.coalesce(func.sum(due.c.amount), 0))).one()
    finally:
        engine.dispose()
    return Charges(count, int(amount))


def _naive_work(context: Context) -> None:
    """The first `charges` subscriptions one at a time: make the slip, record the attempt, charge,
    wait for the answer, save, commit, next."""
    cycle_day = context.day
    billing_month = cycle_day.replace(day=1)
    engine = make_engine(context.url)
    client = httpx.Client(base_url=context.params["gateway_url"], headers={"Authorization": f"Bearer {API_KEY}"})
    try:
        with Session(engine) as session:
            prepare_subscriptions(session.connection())
            due = (
                select(Subscription)
                .where(Subscription.status == "active", Subscription.started_on < billing_month)
                .order_by(Subscription.subscription_id)
                .limit(context.params["charges"])
            )
            for subscription in session.scalars(due).all():
                slip_id = str(
                    900_000_000_000_000_000
                    + subscription.subscription_number * 1_000_000
                    + billing_month.year * 100
                    + billing_month.month
                )
                slip = Slip(
                    slip_id=slip_id,
                    merchant_id=subscription.merchant_id,
                    card_company=subscription.card_company,
                    card_reference=subscription.card_reference,
                    amount=subscription.amount,
                    subscription_id=subscription.subscription_id,
                    billing_month=billing_month,
                )
                session.add(slip)
                session.flush()
                key = idempotency_key(slip.merchant_id, slip.slip_id, billing_month)
                attempt = ChargeAttempt(
                    slip_row_id=slip.id,
                    billing_month=billing_month,
                    charge_date=cycle_day,
                    attempt_number=1,
                    idempotency_key=key,
                    outcome="pending",
                    started_at=utc_now(),
                )
                session.add(attempt)
                session.commit()
                answer = client.post(
                    "/v1/charges",
                    headers={"Idempotency-Key": key},
                    json={
                        "amount": slip.amount,
                        "currency": "JPY",
                        "card_token": subscription.card_token,
                        "reference": slip.slip_id,
                    },
                ).json()
                attempt.outcome, attempt.gateway_charge_id, attempt.finished_at = (
                    answer["status"],
                    answer["id"],
                    utc_now(),
                )
                if answer["status"] == "succeeded":
                    slip.payment_date = cycle_day
                session.commit()
    finally:
        client.close()
        engine.dispose()


MEASURED = Step(_work, _paid)
NAIVE = Step(_naive_work, _paid)


def _measure_with_gateway(bench: Bench, step: Step, dataset: str, **params) -> tuple[Measurement, dict]:
    with latency_gateway(bench.options.latency) as url:
        measurement = bench.measure(step, dataset, CHARGE_DAY, gateway_url=url, **params)
        return measurement, gateway_stats(url)


def _check_gateway(size: int, what: str, run: Measurement, stats: dict) -> None:
    executed = Charges(stats["executed"], stats["executed_amount"])
    if executed != run.outcome or stats["most_executions_of_a_key"] > 1:
        raise AssertionError(f"{NAME} at {size}: the {what} paid {run.outcome}, the gateway executed {stats}")


def run(bench: Bench, size: int) -> list[Row]:
    if size > MAX_SIZE:
        return []
    dataset = bench.dataset("subscriptions", size)
    due = Measurement(0.0, 0, _due(dataset))
    measured, stats = _measure_with_gateway(bench, MEASURED, dataset)
    check_same(NAME, size, "due charges", measured, due)
    _check_gateway(size, "charge", measured, stats)
    bound = stats["charge_requests"] * bench.options.latency / measured.detail["concurrency"]
    row = Row(
        NAME,
        bench.dialect,
        size,
        measured.outcome.rows,
        measured.seconds,
        bound,
        measured.peak_rss,
        floor_is_bound=True,
        outcomes={"measured": measured.outcome, "floor": due.outcome},
    )
    if size <= NAIVE_MAX_SIZE:
        sample = min(bench.options.naive_charges, measured.outcome.count)
        naive, naive_stats = _measure_with_gateway(bench, NAIVE, dataset, charges=sample)
        sample_due = Measurement(0.0, 0, _due(dataset, sample))
        check_same(NAME, size, "naive baseline", sample_due, naive)
        _check_gateway(size, "naive baseline", naive, naive_stats)
        row.naive_seconds = naive.seconds * measured.outcome.count / sample
        row.naive_note = f"scaled from {sample:,} charges"
        row.outcomes.update(naive=naive.outcome, naive_floor=sample_due.outcome)
    return [row]
