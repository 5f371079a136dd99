"""Synthetic business data for the demo, the benchmarks and tests (docs/synthetic-data.md).

generate(connection, plan) fills an empty business database with merchants, their bank accounts,
subscriptions and slips. The same plan (seed included) gives the same rows, on SQLite and on
PostgreSQL: every column is drawn with numpy from generators seeded by the plan, a fixed number
of rows per generator, and loaded set-based (bulk_load).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, fields
from datetime import date, datetime, time

import numpy as np
from sqlalchemy import Connection, func, select

from kessai.calendar.business_calendar import BusinessCalendar, CalendarHorizonError
from kessai.calendar.rules import CONFIRMATION_WINDOW_MONTHS, confirmation_deadline
from kessai.calendar.run_dates import JAPAN, japan_date_of
from kessai.calendar.store import load_calendar
from kessai.db.bulk_load import indexes_deferred, insert_columns
from kessai.db.database import sql_text
from kessai.db.schema import (
    bank_accounts,
    card_companies,
    master_banks,
    master_branches,
    merchants,
    slips,
    subscriptions,
)
from kessai.gateway import card_gateway
from kessai.payout.bank_master import current_version, package_master, update_bank_master
from kessai.synthetic.merchants import BANK_CODES, MAX_MERCHANTS, bank_account_columns, merchant_columns
from kessai.synthetic.random_columns import (
    SLIP_STREAM,
    SUBSCRIPTION_STREAM,
    add_months_to_days,
    any_times,
    dates,
    labels,
    moments,
    seeded,
    timestamps,
    working_times,
)

# Rows drawn from one generator. Part of what a seed means: changing it changes every data set.
BLOCK_ROWS = 100_000

# A card company code that is not in card_companies: such slips are held back from transmission.
UNKNOWN_CARD_COMPANY = "discover"
CARD_COMPANY_SHARES = {"visa_master": 0.62, "jcb": 0.22, "amex": 0.10, "diners": 0.06}
OTHER_CARD_COMPANY_SHARE = 0.02  # a company added to card_companies beyond these four
CARD_NUMBER_DIGITS = {"amex": 15, "diners": 14}  # others: 16; a reference masks all but 4

# Any token the simulator does not know approves; the others are its documented failing tokens.
APPROVED_TOKEN_PREFIX = "tok_ok_"

# Kinds of slips, by what happened to them.
CONFIRMED, CANCELLED, UNCONFIRMED, BACKDATED, FUTURE_DATED = range(5)
# Of confirmed slips: registered 8 to 200 days after payment, the ones past the deadline
# (payment date + 6 months) on the deadline itself, the last day allowed.
LATE_CONFIRMATION_SHARE = 0.03
LATE_CONFIRMATION_DAYS = (8, 201)

SUBSCRIPTION_PRICES = (500, 980, 1_480, 1_980, 2_980, 3_980, 5_500, 9_800)
MISSING_CUSTOMER_EMAIL_SHARE = 0.05

MAX_SLIPS = 10**9  # keeps every merchant's numbers (SLIP_NUMBERINGS) within 18 digits
MAX_SUBSCRIPTIONS = 99_999_999  # S00000001 ...


@dataclass(frozen=True)
class GenerationPlan:
    """What to generate. Shares are of the slips (cancelled, unconfirmed, backdated, future-dated:
    one kind each; the rest is confirmed on the day it is registered) or of the merchants and
    subscriptions. `slips` counts the one-off slips; every subscription adds its first slip."""

    seed: int = 42
    merchants: int = 200
    slips: int = 100_000
    subscriptions: int = 1_000
    start: date = date(2026, 10, 1)  # payment dates lie in [start, end]
    end: date = date(2027, 2, 28)
    as_of: datetime | None = None  # confirmations registered until; default: the end day's last second in Japan
    backdated_share: float = 0.05
    future_share: float = 0.05
    unconfirmed_share: float = 0.08
    cancelled_share: float = 0.02
    unknown_card_company_share: float = 0.001
    twice_monthly_share: float = 0.3
    bank_account_change_share: float = 0.2
    stopped_subscription_share: float = 0.15
    failing_card_share: float = 0.06  # subscriptions with a declining or timing-out token (half each)

    @property
    def registered_until(self) -> datetime:
        return self.as_of or datetime.combine(self.end, time(23, 59, 59), JAPAN)

    def check(self, calendar: BusinessCalendar) -> None:
        """Raise ValueError (CalendarHorizonError for dates) naming what is wrong with the plan."""
        if self.seed < 0:
            raise ValueError(f"the seed must be 0 or more, not {self.seed}")
        for name, most in (("merchants", MAX_MERCHANTS), ("slips", MAX_SLIPS), ("subscriptions", MAX_SUBSCRIPTIONS)):
            if not 0 <= getattr(self, name) <= most:
                raise ValueError(f"{name} must be between 0 and {most}, not {getattr(self, name)}")
        if self.merchants == 0 and self.slips + self.subscriptions > 0:
            raise ValueError("slips and subscriptions need at least one merchant")
        for field in fields(self):
            if field.name.endswith("_share") and not 0 <= getattr(self, field.name) <= 1:
                raise ValueError(f"{field.name} must be between 0 and 1, not {getattr(self, field.name)}")
        if sum(self.slip_shares) > 1:
            raise ValueError(
                f"cancelled, unconfirmed, backdated and future shares add up to {sum(self.slip_shares):g}, more than 1"
            )
        if self.start > self.end:
            raise ValueError(f"the period starts {self.start} after it ends {self.end}")
        if self.as_of is not None and self.as_of.tzinfo is None:
            raise ValueError(f"as_of {self.as_of} has no time zone")
        if japan_date_of(self.registered_until) < self.end:
            raise ValueError(f"as_of {self.registered_until} is before the period ends ({self.end} in Japan)")
        calendar.check_horizon(self.start)
        calendar.check_horizon(japan_date_of(self.registered_until))
        calendar.check_horizon(confirmation_deadline(self.end))  # the latest confirmation date

    @property
    def slip_shares(self) -> tuple[float, float, float, float]:
        """The shares of the kinds CANCELLED, UNCONFIRMED, BACKDATED, FUTURE_DATED, in that order."""
        return (self.cancelled_share, self.unconfirmed_share, self.backdated_share, self.future_share)


# -- the world the slips are drawn from -------------------------------------------------------


@dataclass
class _World:
    """What every block of slips needs: the plan's dates and the merchants' and companies' columns."""

    plan: GenerationPlan
    start: np.datetime64
    days: int  # in the period
    as_of: int  # epoch seconds
    as_of_day: np.datetime64
    merchant_ids: np.ndarray
    merchant_weights: np.ndarray
    slip_number_base: np.ndarray
    slip_number_width: np.ndarray
    companies: np.ndarray  # the known codes, then UNKNOWN_CARD_COMPANY
    company_weights: np.ndarray  # of the known codes
    card_masks: np.ndarray

    @classmethod
    def of(cls, plan: GenerationPlan, company_codes: list[str], merchant_ids: list[str], traits: dict) -> _World:
        weights = np.array([CARD_COMPANY_SHARES.get(code, OTHER_CARD_COMPANY_SHARE) for code in company_codes])
        companies = [*company_codes, UNKNOWN_CARD_COMPANY]
        return cls(
            plan=plan,
            start=np.datetime64(plan.start, "D"),
            days=(plan.end - plan.start).days + 1,
            as_of=int(plan.registered_until.timestamp()),
            as_of_day=np.datetime64(japan_date_of(plan.registered_until), "D"),
            merchant_ids=np.array(merchant_ids),
            merchant_weights=traits["weight"],
            slip_number_base=traits["slip_number_base"],
            slip_number_width=traits["slip_number_width"],
            companies=np.array(companies),
            company_weights=weights / weights.sum(),
            card_masks=np.array(["*" * (CARD_NUMBER_DIGITS.get(code, 16) - 4) for code in companies]),
        )


# -- slips ------------------------------------------------------------------------------------


def _confirmations(rng, world: _World, payment_days, created_at, kinds) -> dict:
    """Confirmation and cancellation columns for slips of the given kinds (SPEC §4.1): a slip is
    confirmed only when paid, on or after its payment date, dated and registered by the deadline
    (payment date + 6 months) and never after as_of; only unconfirmed slips are cancelled."""
    n = len(payment_days)
    deadline = add_months_to_days(payment_days, CONFIRMATION_WINDOW_MONTHS)
    registration_deadline = np.minimum(deadline, world.as_of_day)
    late = rng.random(n) < LATE_CONFIRMATION_SHARE
    delay = np.where(late, rng.integers(*LATE_CONFIRMATION_DAYS, n), rng.geometric(0.5, n) - 1)
    delay = np.where(kinds == BACKDATED, rng.geometric(0.1, n), delay)  # registered days after it is dated
    registered_days = np.minimum(payment_days + delay, registration_deadline)
    registered_at = moments(rng, registered_days, working_times(rng, n), created_at, world.as_of)
    days_since_payment = (registered_days - payment_days).astype(np.int64)
    back = np.where(days_since_payment > 0, 1 + (rng.random(n) * days_since_payment).astype(np.int64), 0)
    ahead = rng.geometric(0.1, n)
    confirmed_on = np.select(
        [kinds == BACKDATED, kinds == FUTURE_DATED],
        [registered_days - back, np.minimum(registered_days + ahead, deadline)],
        registered_days,
    )
    cancel_days = np.minimum(payment_days + rng.geometric(0.4, n) - 1, world.as_of_day)
    cancelled_at = moments(rng, cancel_days, any_times(rng, n), created_at, world.as_of)
    confirmed = np.isin(kinds, (CONFIRMED, BACKDATED, FUTURE_DATED))
    cancelled = kinds == CANCELLED
    return {
        "confirmed_on": dates(confirmed_on, confirmed),
        "confirmation_registered_at": timestamps(registered_at, confirmed),
        "cancelled_at": timestamps(cancelled_at, cancelled),
    }


def _zfill(numbers: np.ndarray, width) -> np.ndarray:
    """The numbers as digit strings padded with zeros to width (numpy's zfill refuses no rows)."""
    digits = numbers.astype(str)
    return np.strings.zfill(digits, width) if len(digits) else digits


def _slip_columns(world: _World, number: np.ndarray, merchant, company, last4, amount, payment_days, created_at):
    """The columns every slip has; `number` is its index among all the generated slips."""
    slip_number = world.slip_number_base[merchant] + number
    return {
        "slip_id": _zfill(slip_number, world.slip_number_width[merchant]),
        "merchant_id": world.merchant_ids[merchant],
        "card_company": world.companies[company],
        "card_reference": np.strings.add(world.card_masks[company], _zfill(last4, 4)),
        "amount": amount,
        "payment_date": dates(payment_days),
        "created_at": timestamps(created_at),
    }


def _one_off_slips(world: _World, block: int) -> dict:
    """Block `block` of the one-off slips, their payment dates rising through the period."""
    plan = world.plan
    rng = seeded(plan.seed, SLIP_STREAM, block)
    number = np.arange(block * BLOCK_ROWS, min((block + 1) * BLOCK_ROWS, plan.slips))
    n = len(number)
    merchant = rng.choice(len(world.merchant_ids), n, p=world.merchant_weights)
    company = rng.choice(len(world.company_weights), n, p=world.company_weights)
    unknown = labels(rng, n, [plan.unknown_card_company_share]) == 1
    company = np.where(unknown, len(world.companies) - 1, company)
    amount = np.clip(np.round(rng.lognormal(np.log(3_300), 1.0, n), -1), 100, 2_000_000).astype(np.int64)
    payment_days = world.start + ((number + rng.random(n)) * world.days / plan.slips).astype(np.int64)
    created_at = moments(rng, payment_days, any_times(rng, n), 0, world.as_of)
    kinds = labels(rng, n, plan.slip_shares)
    last4 = rng.integers(0, 10_000, n)
    columns = _slip_columns(world, number, merchant, company, last4, amount, payment_days, created_at)
    columns.update(subscription_id=[None] * n, billing_month=[None] * n)
    columns.update(_confirmations(rng, world, payment_days, created_at, kinds))
    return columns


# The simulator's failing tokens the generator draws: cards the issuer declines, and charges whose
# answer is lost (settled by lookup). Not tok_error_: a server error every time is a gateway fault,
# not a card's state, and would keep every month open (SPEC §4.6).
SYNTHETIC_FAILING_CARDS = ("decline", "timeout")


def _subscriptions_and_first_slips(world: _World) -> tuple[dict, dict]:
    """The subscriptions, each started in the period with its first slip (paid, never cancelled)."""
    plan = world.plan
    rng = seeded(plan.seed, SUBSCRIPTION_STREAM)
    n = plan.subscriptions
    merchant = rng.choice(len(world.merchant_ids), n, p=world.merchant_weights)
    company = rng.choice(len(world.company_weights), n, p=world.company_weights)
    last4 = rng.integers(0, 10_000, n)
    amount = rng.choice(SUBSCRIPTION_PRICES, n).astype(np.int64)
    stopped = labels(rng, n, [plan.stopped_subscription_share]) == 1
    no_email = labels(rng, n, [MISSING_CUSTOMER_EMAIL_SHARE]) == 1
    failing = [card_gateway.SIMULATED_TOKEN_PREFIXES[behaviour] for behaviour in SYNTHETIC_FAILING_CARDS]
    token_kind = labels(rng, n, [plan.failing_card_share / len(failing)] * len(failing))
    prefixes = [APPROVED_TOKEN_PREFIX, *failing]
    token_ids = rng.integers(0, 2**63, n)
    payment_days = world.start + rng.integers(0, world.days, n)
    created_at = moments(rng, payment_days, any_times(rng, n), 0, world.as_of)
    subscription_ids = [f"S{i + 1:08d}" for i in range(n)]
    number = plan.slips + np.arange(n)  # after the one-off slips
    first_slips = _slip_columns(world, number, merchant, company, last4, amount, payment_days, created_at)
    subscription_columns = {
        "subscription_id": subscription_ids,
        "merchant_id": first_slips["merchant_id"],
        "customer_email": [None if no_email[i] else f"customer{i + 1:08d}@example.net" for i in range(n)],
        "card_token": [f"{prefixes[kind]}{token:016x}" for kind, token in zip(token_kind, token_ids, strict=True)],
        "card_company": first_slips["card_company"],
        "card_reference": first_slips["card_reference"],
        "amount": amount,
        "status": np.where(stopped, "stopped", "active"),
        "started_on": first_slips["payment_date"],
        "created_at": first_slips["created_at"],
    }
    kinds = labels(rng, n, (0.0, *plan.slip_shares[1:]))
    first_slips.update(
        subscription_id=subscription_ids,
        billing_month=dates(payment_days.astype("datetime64[M]").astype("datetime64[D]")),
    )
    first_slips.update(_confirmations(rng, world, payment_days, created_at, kinds))
    return subscription_columns, first_slips


# -- loading ----------------------------------------------------------------------------------


class DatabaseNotEmpty(RuntimeError):
    """Synthetic data goes only into a business database without merchants, subscriptions or slips."""


def _require_empty(connection: Connection) -> None:
    for table in (merchants, subscriptions, slips):
        count = connection.execute(select(func.count()).select_from(table)).scalar_one()
        if count:
            raise DatabaseNotEmpty(
                f"the business database already has {count} row(s) in {table.name}: synthetic data is "
                "generated into an empty one (create a new database, then `python -m kessai db upgrade`)"
            )


def _master_branches(connection: Connection, loaded_at: datetime) -> dict[str, list[tuple[str, str, str]]]:
    """The current branches of the synthetic accounts' banks, from the bank master; a master never
    loaded is loaded first from the zengin-code package, as `python -m kessai bank-master update`
    does, dated the plan's last registration (so the same plan gives the same rows)."""
    if current_version(connection) is None:
        update_bank_master(connection, package_master(), loaded_at, japan_date_of(loaded_at))
    rows = connection.execute(
        select(master_banks.c.bank_code, master_banks.c.kana, master_branches.c.branch_code, master_branches.c.kana)
        .join_from(master_branches, master_banks, master_banks.c.bank_code == master_branches.c.bank_code)
        .where(
            master_banks.c.bank_code.in_(BANK_CODES),
            master_banks.c.removed_in.is_(None),
            master_branches.c.removed_in.is_(None),
        )
        .order_by(master_branches.c.bank_code, master_branches.c.branch_code)
    ).all()
    branches: dict[str, list[tuple[str, str, str]]] = {}
    for bank_code, bank_kana, branch_code, branch_kana in rows:
        branches.setdefault(bank_code, []).append((bank_kana, branch_code, branch_kana))
    missing = [code for code in BANK_CODES if code not in branches]
    if missing:
        raise RuntimeError(
            f"the bank master lists no branch of bank {', '.join(missing)}: update it "
            "(`python -m kessai bank-master update`)"
        )
    return branches


def generate(connection: Connection, plan: GenerationPlan) -> dict[str, int]:
    """Fill the empty business database with the plan's data; returns what it holds then."""
    plan.check(load_calendar(connection))
    _require_empty(connection)
    company_codes = list(
        connection.execute(select(card_companies.c.card_company).order_by(card_companies.c.card_company)).scalars()
    )
    merchant_rows, traits = merchant_columns(plan)
    merchant_ids = merchant_rows["merchant_id"]
    world = _World.of(plan, company_codes, merchant_ids, traits)
    insert_columns(connection, merchants, merchant_rows)
    insert_columns(
        connection,
        bank_accounts,
        bank_account_columns(plan, merchant_ids, traits, _master_branches(connection, plan.registered_until)),
    )
    subscription_columns, first_slips = _subscriptions_and_first_slips(world)
    insert_columns(connection, subscriptions, subscription_columns)
    with indexes_deferred(connection, slips):
        for block in range(-(-plan.slips // BLOCK_ROWS)):
            insert_columns(connection, slips, _one_off_slips(world, block))
        insert_columns(connection, slips, first_slips)
    return summarize(connection)


def summarize(connection: Connection) -> dict[str, int]:
    """What the business database holds, by the kinds the generator makes."""
    row = connection.execute(sql_text("synthetic/summary", connection.dialect.name)).mappings().one()
    summary = {name: int(value or 0) for name, value in row.items()}
    tokens = connection.execute(select(subscriptions.c.card_token)).scalars()
    behaviours = Counter(map(card_gateway.simulated_behaviour, tokens))
    for behaviour in ("approve", *card_gateway.SIMULATED_TOKEN_PREFIXES):
        summary[f"card_tokens_{behaviour}"] = behaviours[behaviour]
    return summary


# -- command line -----------------------------------------------------------------------------


def register(subparsers) -> None:
    from kessai.cli import parse_date

    parser = subparsers.add_parser(
        "generate",
        help="fill an empty business database with synthetic merchants, subscriptions and slips",
        description="Generate reproducible synthetic data (docs/synthetic-data.md) into the business database.",
    )
    defaults = GenerationPlan()
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--merchants", type=int, default=defaults.merchants)
    parser.add_argument("--slips", type=int, default=defaults.slips, help="one-off slips (each subscription adds one)")
    parser.add_argument("--subscriptions", type=int, default=defaults.subscriptions)
    parser.add_argument("--from", dest="start", type=parse_date, default=defaults.start, help="first payment date")
    parser.add_argument("--to", dest="end", type=parse_date, default=defaults.end, help="last payment date")
    parser.add_argument(
        "--as-of",
        type=_parse_moment,
        help="confirmations registered until this moment, e.g. 2027-03-01T09:00+09:00 "
        "(default: the last second of --to in Japan)",
    )
    for share in ("backdated", "future", "unconfirmed", "cancelled", "unknown_card_company"):
        name = f"{share}_share"
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float, default=getattr(defaults, name))
    parser.set_defaults(handler=command_generate)


def _parse_moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a moment as YYYY-MM-DDTHH:MM+09:00, got {value!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no time zone: add one, e.g. +09:00")
    return moment


def command_generate(args) -> int:
    from kessai.db.database import make_engine
    from kessai.masking import mask_url

    names = {field.name for field in fields(GenerationPlan)}
    plan = GenerationPlan(**{name: value for name, value in vars(args).items() if name in names})
    engine = make_engine()
    try:
        with engine.begin() as connection:
            summary = generate(connection, plan)
    except (ValueError, CalendarHorizonError, DatabaseNotEmpty) as error:
        print(f"nothing generated: {error}", file=sys.stderr)
        return 2
    print(f"generated into {mask_url(engine.url.render_as_string(hide_password=False))} (seed {plan.seed}):")
    for name, value in summary.items():
        print(f"  {name.replace('_', ' ')}: {value}")
    return 0
