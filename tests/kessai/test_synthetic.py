"""The synthetic data generator, on SQLite and PostgreSQL: reproducible from its seed, and every
row it writes keeps the schema and the rules of SPEC §4.1. Small plans only (a few thousand rows)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Date, func, select, text
from sqlalchemy.exc import IntegrityError

from kessai.calendar.business_calendar import BusinessCalendar, CalendarHorizonError
from kessai.calendar.rules import add_months, confirmation_deadline
from kessai.calendar.run_dates import JAPAN
from kessai.cli import main
from kessai.db.bulk_load import indexes_deferred, insert_columns
from kessai.db.database import make_engine
from kessai.db.schema import Timestamp, bank_accounts, merchants, slips, subscriptions
from kessai.gateway.card_gateway import simulated_behaviour
from kessai.payout.bank_master import package_master
from kessai.payout.zengin import to_zengin_kana
from kessai.synthetic.generation import DatabaseNotEmpty, GenerationPlan, generate
from kessai.synthetic.random_columns import add_months_to_days

# Payments 2026-10-01 .. 2027-02-28; confirmations registered until 2027-03-01 10:30 in Japan.
AS_OF = datetime(2027, 3, 1, 10, 30, tzinfo=JAPAN)
PLAN = GenerationPlan(seed=7, merchants=40, slips=3_000, subscriptions=200, as_of=AS_OF)
TABLES = (merchants, bank_accounts, subscriptions, slips)
MASTER = package_master()


def generated(url: str, plan: GenerationPlan = PLAN) -> dict:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            return generate(connection, plan)
    finally:
        engine.dispose()


def table_rows(url: str) -> dict[str, list[tuple]]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: connection.execute(select(table).order_by(*table.primary_key.columns)).all()
                for table in TABLES
            }
    finally:
        engine.dispose()


@pytest.fixture
def plan_engine(engine):
    """The test's database (SQLite and PostgreSQL), filled from PLAN."""
    with engine.begin() as connection:
        generate(connection, PLAN)
    return engine


def query(engine, sql: str, **types) -> list:
    """The rows of `sql`; name the types of date and timestamp columns (SQLite returns text)."""
    with engine.connect() as connection:
        return connection.execute(text(sql).columns(**types)).all()


def scalar(engine, sql: str):
    with engine.connect() as connection:
        return connection.execute(text(sql)).scalar_one()


# -- reproducible ---------------------------------------------------------------------------------


def test_the_same_plan_gives_identical_rows_on_sqlite_and_postgresql(database_url_for):
    on_sqlite, on_postgresql = database_url_for("sqlite"), database_url_for("postgresql")
    assert generated(on_sqlite) == generated(on_postgresql)
    sqlite_rows, postgresql_rows = table_rows(on_sqlite), table_rows(on_postgresql)
    assert len(sqlite_rows["slips"]) == PLAN.slips + PLAN.subscriptions
    assert sqlite_rows == postgresql_rows


def test_the_same_seed_repeats_and_another_seed_differs(database_url_for, dialect):
    first, again, other = (database_url_for(dialect) for _ in range(3))
    generated(first)
    generated(again)
    generated(other, replace(PLAN, seed=PLAN.seed + 1))
    first_rows, other_rows = table_rows(first), table_rows(other)
    assert table_rows(again) == first_rows
    for table in TABLES:
        assert len(other_rows[table.name]) == len(first_rows[table.name])
        assert other_rows[table.name] != first_rows[table.name], table.name


# -- the rules hold -------------------------------------------------------------------------------


def test_slips_keep_the_confirmation_rules(plan_engine):
    # SPEC §4.1: confirmed only when paid, never both confirmed and cancelled, dated on or after the
    # payment date; the registration never before the slip was created nor after as_of.
    assert scalar(plan_engine, "SELECT COUNT(*) FROM slips WHERE payment_date IS NULL") == 0
    both = "SELECT COUNT(*) FROM slips WHERE confirmed_on IS NOT NULL AND cancelled_at IS NOT NULL"
    assert scalar(plan_engine, both) == 0
    assert scalar(plan_engine, "SELECT COUNT(*) FROM slips WHERE confirmed_on < payment_date") == 0
    assert scalar(plan_engine, "SELECT COUNT(*) FROM dated_slips WHERE registered_on < payment_date") == 0
    with plan_engine.connect() as connection:
        moments = connection.execute(
            select(
                func.min(slips.c.created_at),
                func.max(slips.c.confirmation_registered_at),
                func.max(slips.c.cancelled_at),
            )
        ).one()
        early = connection.execute(
            select(func.count()).where(slips.c.confirmation_registered_at < slips.c.created_at)
        ).scalar_one()
    assert early == 0
    assert max(moments[1:]) <= AS_OF
    assert moments[0] >= datetime(2026, 10, 1, tzinfo=JAPAN)  # created on its payment date in Japan


# Payments of October 2026 looked at in July 2027, when all their deadlines (2027-04-01 to
# 2027-04-30) have passed: late registrations and future dates meet the deadline, not as_of.
LONG_AFTER = replace(
    PLAN,
    slips=2_000,
    subscriptions=50,
    start=date(2026, 10, 1),
    end=date(2026, 10, 31),
    as_of=datetime(2027, 7, 1, 9, 0, tzinfo=JAPAN),
)


@pytest.mark.parametrize("plan", [PLAN, LONG_AFTER], ids=["as_of 2027-03-01", "as_of 2027-07-01"])
def test_confirmations_lie_within_six_months_of_payment(engine, plan):
    with engine.begin() as connection:
        generate(connection, plan)
    # The latest confirmation date and registration date of each payment date, against the
    # deadline the rules give (payment date + 6 months, clipped to the month's end).
    latest = query(
        engine,
        "SELECT payment_date, MAX(confirmed_on) AS confirmed_on, MAX(registered_on) AS registered_on "
        "FROM dated_slips WHERE confirmed_on IS NOT NULL GROUP BY payment_date",
        payment_date=Date,
        confirmed_on=Date,
        registered_on=Date,
    )
    assert len(latest) == (plan.end - plan.start).days + 1
    for payment_date, confirmed_on, registered_on in latest:
        assert confirmed_on <= confirmation_deadline(payment_date), payment_date
        assert registered_on <= confirmation_deadline(payment_date), payment_date
    assert max(row.registered_on - row.payment_date for row in latest) > timedelta(days=60)
    if plan is PLAN:  # some future-dated confirmations lie past as_of
        assert max(row.confirmed_on for row in latest) > AS_OF.date()
    else:  # late registrations and future dates meet the deadline itself
        assert [row for row in latest if row.registered_on == confirmation_deadline(row.payment_date)]
        assert [row for row in latest if row.confirmed_on == confirmation_deadline(row.payment_date)]


def test_the_kinds_of_slips_come_in_the_shares_asked(plan_engine):
    counts = dict(
        query(
            plan_engine,
            "SELECT CASE WHEN cancelled_at IS NOT NULL THEN 'cancelled' "
            "WHEN confirmed_on IS NULL THEN 'unconfirmed' WHEN confirmed_on < registered_on THEN 'backdated' "
            "WHEN confirmed_on > registered_on THEN 'future' ELSE 'on the day' END AS kind, COUNT(*) "
            "FROM dated_slips GROUP BY 1",
        )
    )
    one_off, first_slips = PLAN.slips, PLAN.subscriptions
    # Cancellations only among one-off slips; unconfirmed ones among all; exactly the rounded shares.
    assert counts["cancelled"] == round(PLAN.cancelled_share * one_off) == 60
    assert counts["unconfirmed"] == 240 + 16  # 8% of 3000 one-off slips and of 200 first slips
    # Backdated and future-dated: as asked, less the few whose window was too short (paid on the
    # last day before as_of, or registered on the deadline).
    for kind, share in (("backdated", PLAN.backdated_share), ("future", PLAN.future_share)):
        asked = round(share * one_off) + round(share * first_slips)
        assert 0.9 * asked <= counts[kind] <= asked, kind
    assert sum(counts.values()) == one_off + first_slips


def test_registrations_fall_at_all_hours_in_japan(plan_engine):
    rows = query(
        plan_engine,
        "SELECT confirmation_registered_at, registered_on FROM dated_slips WHERE confirmed_on IS NOT NULL",
        confirmation_registered_at=Timestamp,
        registered_on=Date,
    )
    japan_hours = Counter(moment.astimezone(JAPAN).hour for moment, _ in rows)
    # registered_on is the date in Japan, which the database computes from the stored timestamp.
    assert all(moment.astimezone(JAPAN).date() == registered_on for moment, registered_on in rows)
    # Before 09:00 in Japan it is still the previous day in UTC; and there are late evenings.
    previous_utc_day = [m for m, day in rows if m.astimezone(UTC).date() == day - timedelta(days=1)]
    assert len(previous_utc_day) >= 0.02 * len(rows)
    assert sum(japan_hours[h] for h in range(21, 24)) > 0
    assert sum(japan_hours[h] for h in range(9, 19)) > 0.6 * len(rows)


def test_some_unconfirmed_slips_are_stale(plan_engine):
    # Stale: paid, unconfirmed, uncancelled, payment date 3 months or more before the run date.
    # On 2027-03-01 that is paid by 2026-12-01.
    stale = scalar(
        plan_engine,
        "SELECT COUNT(*) FROM slips WHERE confirmed_on IS NULL AND cancelled_at IS NULL "
        "AND payment_date <= '2026-12-01'",
    )
    assert stale > 0


def test_slip_numbers_are_digit_strings_unique_per_merchant(plan_engine):
    numbers = query(plan_engine, "SELECT merchant_id, slip_id FROM slips")
    assert len(set(numbers)) == len(numbers)
    assert all(slip_id.isdigit() and 1 <= len(slip_id) <= 18 for _, slip_id in numbers)
    # 18 digits starting with 9 are the recurring slips' numbers; leading zeros are kept.
    assert not [s for _, s in numbers if len(s) == 18 and s.startswith("9")]
    assert [s for _, s in numbers if s.startswith("0")]
    assert {len(s) for _, s in numbers} >= {12, 18}


def test_card_companies_and_masked_references(plan_engine):
    by_company = dict(query(plan_engine, "SELECT card_company, COUNT(*) FROM slips GROUP BY card_company"))
    known = {row[0] for row in query(plan_engine, "SELECT card_company FROM card_companies")}
    assert {"visa_master", "jcb", "amex", "diners"} <= set(by_company)
    unknown = set(by_company) - known
    assert unknown == {"discover"}
    assert by_company["discover"] == round(PLAN.unknown_card_company_share * PLAN.slips) == 3
    references = query(
        plan_engine,
        "SELECT card_company, card_reference FROM slips UNION SELECT card_company, card_reference FROM subscriptions",
    )
    digits = {"amex": 15, "diners": 14}
    for company, reference in references:
        masked, last4 = reference[:-4], reference[-4:]
        assert len(reference) == digits.get(company, 16) and set(masked) == {"*"} and last4.isdigit(), reference


def test_merchants_have_both_cycles_kana_forms_and_missing_names(plan_engine):
    rows = query(plan_engine, "SELECT payout_cycle, name, name_kana, name_en, email, fee_rate_bp FROM merchants")
    assert len(rows) == PLAN.merchants
    assert Counter(r.payout_cycle for r in rows) == {"twice_monthly": 12, "monthly": 28}  # 30% of 40
    kana = [r.name_kana for r in rows if r.name_kana]
    half_width = [k for k in kana if to_zengin_kana(k) == k]
    assert half_width and len(half_width) < len(kana)  # some typed in half-width, some full-width
    assert [r for r in rows if r.name_kana is None] and [r for r in rows if r.name_en is None]
    assert [r for r in rows if r.email is None] and [r for r in rows if r.email]
    assert all(r.name for r in rows)


def test_bank_accounts_in_zengin_kana_some_changing_within_the_period(plan_engine):
    with plan_engine.connect() as connection:
        accounts = connection.execute(select(bank_accounts)).all()
        merchant_ids = set(connection.execute(select(merchants.c.merchant_id)).scalars())
    assert {a.merchant_id for a in accounts} == merchant_ids
    for a in accounts:
        for kana in (a.bank_name_kana, a.branch_name_kana, a.holder_kana):
            assert kana and to_zengin_kana(kana) == kana, kana
        assert len(a.bank_code) == 4 and len(a.branch_code) == 3 and len(a.account_number) == 7
        # A real bank and branch, named as the bank master (zengin-code) names them.
        assert a.bank_name_kana == to_zengin_kana(MASTER.banks[a.bank_code][1])
        assert a.branch_name_kana == to_zengin_kana(MASTER.branches[(a.bank_code, a.branch_code)][1])
    assert len({(a.bank_code, a.branch_code) for a in accounts}) > len(accounts) * 0.9  # many branches, few repeats
    changes = [a for a in accounts if a.effective_from >= datetime(2026, 10, 1, tzinfo=JAPAN)]
    assert len(changes) == round(PLAN.bank_account_change_share * PLAN.merchants) == 8
    assert all(c.effective_from < datetime(2027, 3, 1, tzinfo=JAPAN) for c in changes)


def test_subscriptions_start_with_their_paid_first_slip(plan_engine):
    with plan_engine.connect() as connection:
        rows = connection.execute(
            select(
                subscriptions,
                slips.c.amount.label("slip_amount"),
                slips.c.payment_date,
                slips.c.billing_month,
                slips.c.merchant_id.label("slip_merchant"),
                slips.c.cancelled_at,
            ).join(slips, slips.c.subscription_id == subscriptions.c.subscription_id)
        ).all()
    assert len(rows) == PLAN.subscriptions  # one slip each
    for r in rows:
        assert r.payment_date == r.started_on and r.billing_month == r.payment_date.replace(day=1)
        assert (r.slip_amount, r.slip_merchant, r.cancelled_at) == (r.amount, r.merchant_id, None)
    assert Counter(r.status for r in rows)["stopped"] == round(PLAN.stopped_subscription_share * PLAN.subscriptions)
    behaviours = Counter(simulated_behaviour(r.card_token) for r in rows)
    # 6% failing tokens, split between declining and timing out: 6 each of 200. No token the
    # simulator answers with a server error: that would be a gateway fault, not a card's state.
    assert dict(behaviours) == {"approve": 188, "decline": 6, "timeout": 6}
    assert all(r.card_token.startswith("tok_ok_") for r in rows if simulated_behaviour(r.card_token) == "approve")


def test_generate_refuses_a_database_that_has_data(plan_engine):
    with plan_engine.begin() as connection:
        with pytest.raises(DatabaseNotEmpty, match="already has 40 row"):
            generate(connection, PLAN)
    assert scalar(plan_engine, "SELECT COUNT(*) FROM slips") == PLAN.slips + PLAN.subscriptions


@pytest.mark.parametrize("slips_asked, subscriptions_asked", [(300, 0), (0, 30)])
def test_a_plan_may_have_no_subscriptions_or_no_one_off_slips(engine, slips_asked, subscriptions_asked):
    with engine.begin() as connection:
        summary = generate(connection, replace(PLAN, slips=slips_asked, subscriptions=subscriptions_asked))
    # every subscription brings its first slip
    assert (summary["slips"], summary["subscriptions"]) == (slips_asked + subscriptions_asked, subscriptions_asked)
    assert summary["first_subscription_slips"] == subscriptions_asked


def slips_structure(engine) -> list:
    """The definitions of the slips table's indexes and constraints, as the database prints them."""
    if engine.dialect.name == "postgresql":
        return query(
            engine,
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'slips' UNION ALL "
            "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST('slips' AS regclass) ORDER BY 1",
        )
    return query(engine, "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'slips' ORDER BY name")


def test_loading_keeps_every_index_and_constraint(engine):
    before = slips_structure(engine)
    assert len(before) >= 8  # the table, its indexes and unique constraints
    with engine.begin() as connection:
        generate(connection, PLAN)
    assert slips_structure(engine) == before


def test_a_load_that_breaks_a_constraint_is_rolled_back_whole(engine):
    # Two slips with one number for one merchant: the unique constraint, rebuilt after the load on
    # PostgreSQL and checked row by row on SQLite, refuses them, and nothing of the load remains.
    with engine.begin() as connection:
        connection.execute(merchants.insert().values(merchant_id="M1", name="テスト商店"))
    before = slips_structure(engine)
    with pytest.raises(IntegrityError):
        with engine.begin() as connection:
            with indexes_deferred(connection, slips):
                insert_columns(
                    connection,
                    slips,
                    {
                        "slip_id": np.array(["1001", "1001"]),
                        "merchant_id": ["M1", "M1"],
                        "card_company": ["jcb", "jcb"],
                        "amount": np.array([1000, 2000]),
                        "payment_date": np.array(["2026-10-01", "2026-10-02"], dtype="datetime64[D]"),
                    },
                )
    assert scalar(engine, "SELECT COUNT(*) FROM slips") == 0
    assert slips_structure(engine) == before


# -- the plan and its arithmetic ---------------------------------------------------------------


def test_add_months_to_days_matches_the_rules():
    days = np.arange(np.datetime64("2024-01-01"), np.datetime64("2028-12-31"), dtype="datetime64[D]")
    for months in (6, 1, -1, 13):
        expected = [add_months(d, months) for d in days.tolist()]
        assert add_months_to_days(days, months).tolist() == expected, months


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        # With cancelled 0.02 and future-dated 0.05 of PLAN.
        ({"backdated_share": 0.5, "unconfirmed_share": 0.6}, ValueError, "add up to 1.17"),
        ({"cancelled_share": 1.5}, ValueError, "cancelled_share must be between 0 and 1"),
        ({"as_of": datetime(2027, 3, 1, 10, 0)}, ValueError, "has no time zone"),
        # 2027-02-27 14:30 UTC is 23:30 on 2/27 in Japan: before the last payment date 2/28.
        ({"as_of": datetime(2027, 2, 27, 14, 30, tzinfo=UTC)}, ValueError, "before the period ends"),
        ({"start": date(2027, 3, 1)}, ValueError, "starts 2027-03-01 after it ends"),
        ({"merchants": 0}, ValueError, "need at least one merchant"),
        ({"seed": -1}, ValueError, "seed must be 0 or more"),
        # Payments to 2028-08-31 may be confirmed until 2029-02-28: past the reviewed 2028.
        ({"start": date(2028, 8, 1), "end": date(2028, 8, 31), "as_of": None}, CalendarHorizonError, "2029-02-28"),
    ],
)
def test_a_bad_plan_is_refused_with_the_reason(changes, error, message):
    plan = replace(PLAN, **changes)
    with pytest.raises(error, match=message):
        plan.check(BusinessCalendar(reviewed_through=2028))


def test_the_default_as_of_is_the_last_second_of_the_period_in_japan():
    assert GenerationPlan(end=date(2027, 2, 28)).registered_until == datetime(2027, 2, 28, 23, 59, 59, tzinfo=JAPAN)


# -- command line -------------------------------------------------------------------------------


def test_the_generate_command_prints_what_it_created(database_url, monkeypatch, capsys):
    monkeypatch.setenv("KESSAI_DATABASE_URL", database_url)
    argv = [
        "generate",
        "--slips",
        "500",
        "--merchants",
        "10",
        "--subscriptions",
        "20",
        "--seed",
        "3",
        "--from",
        "2026-11-01",
        "--to",
        "2026-12-31",
        "--as-of",
        "2027-01-05T09:00+09:00",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "(seed 3)" in out
    assert "  merchants: 10\n" in out and "  subscriptions: 20\n" in out and "  slips: 520\n" in out
    assert "  cancelled: 10\n" in out  # 2% of 500
    engine = make_engine(database_url)
    first, last = query(
        engine, "SELECT MIN(payment_date) AS first, MAX(payment_date) AS last FROM slips", first=Date, last=Date
    )[0]
    engine.dispose()
    assert (first, last) == (date(2026, 11, 1), date(2026, 12, 31))
    # Again into the same database: refused, with the reason, and nothing added.
    assert main(argv) == 2
    assert "nothing generated: the business database already has 10 row(s) in merchants" in capsys.readouterr().err


def test_the_generate_command_refuses_a_bad_plan(database_url, monkeypatch, capsys):
    monkeypatch.setenv("KESSAI_DATABASE_URL", database_url)
    assert main(["generate", "--slips", "100", "--cancelled-share", "0.7", "--unconfirmed-share", "0.4"]) == 2
    assert "add up to 1.2, more than 1" in capsys.readouterr().err  # with backdated 0.05 and future 0.05
