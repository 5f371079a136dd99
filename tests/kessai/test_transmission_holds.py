"""One bad slip never blocks a day (SPEC §4.6), on SQLite and PostgreSQL: every per-slip problem
the transmission file cannot carry holds that slip back with its reason, and every other slip goes
out with exact totals, even with an amount of 2^63-1 yen in the table.

Every slip below is registered Wednesday 2026-12-30: 12/31-1/3 are bank holidays, so each is due
Monday 2027-01-04."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError

from kessai.db.schema import card_companies, slips, transmission_holds
from kessai.slips.amounts import DEFAULT_MAX_SLIP_AMOUNT
from kessai.transmission.daily import HOLD_REASONS, format_summary, run_transmission
from kessai.transmission.files import Destination
from support.transmission_builders import D, add_confirmed, add_merchant, batches, files_under, holds, marks

BIGINT_MAX = 9_223_372_036_854_775_807
DAY = "2027-01-04"


@pytest.fixture
def destination(tmp_path) -> Destination:
    return Destination.from_url(str(tmp_path / "transmissions"))


def sent_on(connection) -> dict[str, object]:
    return {slip_id: mark[0] for slip_id, mark in marks(connection).items()}


def trailer(destination, file_name: str) -> bytes:
    return files_under(destination.fs, destination.root)[f"{DAY}/{file_name}"].splitlines()[-1]


def test_an_amount_of_2_63_minus_1_yen_is_held_back_and_every_other_slip_goes(engine, destination):
    with engine.begin() as connection:
        add_merchant(connection)
        add_confirmed(connection, "1", "2026-12-30 10:00", amount=BIGINT_MAX)
        add_confirmed(connection, "2", "2026-12-30 10:00", amount=DEFAULT_MAX_SLIP_AMOUNT)  # the max goes
        add_confirmed(connection, "3", "2026-12-30 10:00", amount=DEFAULT_MAX_SLIP_AMOUNT + 1)
        add_confirmed(connection, "4", "2026-12-30 10:00", amount=1)
        add_confirmed(connection, "5", "2026-12-30 10:00", amount=BIGINT_MAX, card_company="jcb")
        add_confirmed(connection, "6", "2026-12-30 10:00", amount=2500, card_company="jcb")

    summary = run_transmission(engine, D(DAY), destination)

    with engine.connect() as connection:
        assert sent_on(connection) == {"1": None, "2": D(DAY), "3": None, "4": D(DAY), "5": None, "6": D(DAY)}
        assert holds(connection) == [(D(DAY), slip_id, "amount_out_of_range") for slip_id in ("1", "3", "5")]
        # 99,999,999 + 1 = 100,000,000 yen to Visa/Mastercard, 2,500 to JCB.
        assert batches(connection) == [
            (D(DAY), "jcb", "JC_20270104.csv", 1, 1, 2500, 0),
            (D(DAY), "visa_master", "VM_20270104.csv", 1, 2, 100_000_000, 0),
        ]
    assert trailer(destination, "VM_20270104.csv") == b'"T","2","100000000"'
    assert trailer(destination, "JC_20270104.csv") == b'"T","1","2500"'
    assert summary.record_count == 3 and summary.amount_total == 100_002_500
    assert summary.held_count == 3
    assert (
        f"held back: slip 1 of M1 (visa_master, {BIGINT_MAX:,} yen): {HOLD_REASONS['amount_out_of_range']}"
        in format_summary(summary)
    )


def test_the_max_is_a_setting_passed_down_and_a_held_slip_goes_once_its_amount_fits(engine, destination):
    with engine.begin() as connection:
        add_merchant(connection)
        add_confirmed(connection, "1", "2026-12-30 10:00", amount=5000)
        add_confirmed(connection, "2", "2026-12-30 10:00", amount=5001)

    run_transmission(engine, D(DAY), destination, max_amount=5000)
    # The next business day, Tuesday 1/5, with the max raised: slip 2 goes, late.
    run_transmission(engine, D("2027-01-05"), destination, max_amount=10_000)

    with engine.connect() as connection:
        assert holds(connection) == [(D(DAY), "2", "amount_out_of_range")]
        assert marks(connection) == {
            "1": (D(DAY), D(DAY), "visa_master"),
            "2": (D("2027-01-05"), D(DAY), "visa_master"),
        }


def test_an_amount_sqlite_keeps_as_a_text_or_a_real_is_held_back_and_logged(engine, destination):
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's bigint holds whole numbers only")
    with engine.begin() as connection:
        add_merchant(connection)
        add_confirmed(connection, "1", "2026-12-30 10:00", amount=1000)
        add_confirmed(connection, "2", "2026-12-30 10:00")
        add_confirmed(connection, "3", "2026-12-30 10:00")
        add_confirmed(connection, "4", "2026-12-30 10:00")
        # Written around the application: SQLite stores what it cannot read as an integer as it is.
        connection.execute(text("UPDATE slips SET amount = '5,000円' WHERE slip_id = '2'"))
        connection.execute(text("UPDATE slips SET amount = 1500.5 WHERE slip_id = '3'"))
        connection.execute(text("UPDATE slips SET amount = 1e19 WHERE slip_id = '4'"))  # beyond 64 bits

    summary = run_transmission(engine, D(DAY), destination)

    with engine.connect() as connection:
        assert holds(connection) == [(D(DAY), n, "amount_out_of_range") for n in ("2", "3", "4")]
    assert summary.amount_total == 1000
    log = format_summary(summary)
    assert "held back: slip 2 of M1 (visa_master, '5,000円' yen)" in log
    assert "held back: slip 3 of M1 (visa_master, 1,500.5 yen)" in log


def test_a_store_name_with_a_control_character_is_held_back_a_line_break_is_not(engine, destination):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_merchant(connection, "M2", name_en="Shop\tTwo")  # a tab typed into the English name
        add_merchant(connection, "M3", name_kana="ミセ\x1bサン")  # an escape character
        add_merchant(connection, "M4", name_en="Shop\r\nFour")  # a line break: becomes spaces
        for number, merchant in enumerate(("M1", "M2", "M3", "M4"), start=1):
            add_confirmed(connection, str(number), "2026-12-30 10:00", merchant_id=merchant)

    summary = run_transmission(engine, D(DAY), destination)

    with engine.connect() as connection:
        assert sent_on(connection) == {"1": D(DAY), "2": None, "3": None, "4": D(DAY)}
        assert holds(connection) == [
            (D(DAY), "2", "store_name_control_character"),
            (D(DAY), "3", "store_name_control_character"),
        ]
    assert summary.record_count == 2
    assert b'"SHOP FOUR"' in files_under(destination.fs, destination.root)[f"{DAY}/VM_20270104.csv"]


def test_a_nul_in_a_store_name_is_held_back_on_sqlite(engine, destination):
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's text cannot hold a NUL: no merchant row can carry one")
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_merchant(connection, "M2", name_kana="ミセ\x00")
        add_confirmed(connection, "1", "2026-12-30 10:00", merchant_id="M1")
        add_confirmed(connection, "2", "2026-12-30 10:00", merchant_id="M2")

    run_transmission(engine, D(DAY), destination)

    with engine.connect() as connection:
        assert holds(connection) == [(D(DAY), "2", "store_name_control_character")]
        assert sent_on(connection) == {"1": D(DAY), "2": None}


def test_a_control_character_in_the_merchant_id_is_held_back(engine, destination):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_merchant(connection, "M\n2")
        add_confirmed(connection, "1", "2026-12-30 10:00")
        add_confirmed(connection, "2", "2026-12-30 10:00", merchant_id="M\n2")

    run_transmission(engine, D(DAY), destination)

    with engine.connect() as connection:
        assert holds(connection) == [
            (D(DAY), "2", "merchant_id_control_character"),  # its name 店舗M<LF>2 would go out as 店舗M 2
        ]
        assert sent_on(connection) == {"1": D(DAY), "2": None}
    # Every record is one line: header, one slip, trailer.
    assert len(files_under(destination.fs, destination.root)[f"{DAY}/VM_20270104.csv"].splitlines()) == 3


def without_the_file_code_check(connection) -> None:
    """A database that lacks migration 0006's CHECK (restored from before it, or dropped by hand)."""
    connection.exec_driver_sql(
        "ALTER TABLE card_companies DROP CONSTRAINT ck_card_companies_file_code"
        if connection.dialect.name == "postgresql"
        else "PRAGMA ignore_check_constraints = ON"
    )


@pytest.mark.parametrize("file_code", ["", "N/C", "NC-1", "..", "ＮＣ", "n c"])
def test_the_database_refuses_a_file_code_that_cannot_name_a_file(engine, file_code):
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert(card_companies).values(card_company="nicos", name="NICOS", file_code=file_code))


@pytest.mark.parametrize("file_code", ["", "N/C", "NC-1", "..", "ＮＣ", "n c"])
def test_a_card_company_whose_file_code_cannot_name_a_file_holds_its_slips(engine, destination, file_code):
    with engine.begin() as connection:
        add_merchant(connection)
        without_the_file_code_check(connection)
        connection.execute(insert(card_companies).values(card_company="nicos", name="NICOS", file_code=file_code))
        add_confirmed(connection, "1", "2026-12-30 10:00")
        add_confirmed(connection, "2", "2026-12-30 10:00", card_company="nicos")

    summary = run_transmission(engine, D(DAY), destination)

    with engine.connect() as connection:
        assert holds(connection) == [(D(DAY), "2", "card_company_file_code_invalid")]
        assert sent_on(connection) == {"1": D(DAY), "2": None}
    assert sorted(files_under(destination.fs, destination.root)) == [
        f"{DAY}/VM_20270104.csv",
        f"{DAY}/VM_20270104.csv.sha256",
    ]
    assert [batch["card_company"] for batch in summary.batches] == ["visa_master"]

    # Fixed: the slip goes with Tuesday 1/5's run, late.
    with engine.begin() as connection:
        connection.execute(
            update(card_companies).where(card_companies.c.card_company == "nicos").values(file_code="NC")
        )
    run_transmission(engine, D("2027-01-05"), destination)
    with engine.connect() as connection:
        assert marks(connection)["2"] == (D("2027-01-05"), D(DAY), "nicos")


def test_every_reason_at_once_holds_only_the_bad_slips_and_a_rerun_changes_nothing(engine, destination):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_merchant(connection, "M2", name_en=None)
        add_merchant(connection, "M3", name_en="Shop\x07")
        without_the_file_code_check(connection)
        connection.execute(insert(card_companies).values(card_company="nicos", name="NICOS", file_code="N C"))
        add_confirmed(connection, "1", "2026-12-30 10:00", amount=1200)
        add_confirmed(connection, "2", "2026-12-30 10:00", card_company="unknown")
        add_confirmed(connection, "3", "2026-12-30 10:00", merchant_id="M2")
        add_confirmed(connection, "4", "2026-12-30 10:00", amount=BIGINT_MAX, merchant_id="M3")
        add_confirmed(connection, "5", "2026-12-30 10:00", card_company="nicos")
        add_confirmed(connection, "6", "2026-12-30 10:00", amount=3400, card_company="amex")
        add_merchant(connection, "M\t4")
        add_confirmed(connection, "7", "2026-12-30 10:00", merchant_id="M\t4")

    first = run_transmission(engine, D(DAY), destination)
    written = files_under(destination.fs, destination.root)
    again = run_transmission(engine, D(DAY), destination)

    with engine.connect() as connection:
        assert holds(connection) == [
            (D(DAY), "2", "unknown_card_company"),
            (D(DAY), "3", "merchant_without_store_names"),
            (D(DAY), "4", "amount_out_of_range"),
            (D(DAY), "4", "store_name_control_character"),
            (D(DAY), "5", "card_company_file_code_invalid"),
            (D(DAY), "7", "merchant_id_control_character"),
            (D(DAY), "7", "store_name_control_character"),  # 店舗M<tab>4
        ]
        assert sent_on(connection) == {
            "1": D(DAY),
            "2": None,
            "3": None,
            "4": None,
            "5": None,
            "6": D(DAY),
            "7": None,
        }
    assert first.amount_total == 4600 and first.held_count == 5
    assert files_under(destination.fs, destination.root) == written
    assert not again.claimed and again.batches == first.batches
    # Every reason but the records' own rules (test_transmission_card_records.py) is tested here.
    record_rules = {
        "store_name_kana_invalid",
        "store_name_en_invalid",
        "store_name_too_long",
        "merchant_without_card_number",
        "payment_kind_invalid",
    }
    assert {hold["reason"] for hold in first.held} == set(HOLD_REASONS) - record_rules


def test_the_migrated_schema_allows_every_hold_reason(engine):
    with engine.begin() as connection:
        add_merchant(connection)
        add_confirmed(connection, "1", "2026-12-30 10:00")
        slip_row_id = connection.execute(select(slips.c.id)).scalar_one()
        connection.execute(
            insert(transmission_holds),
            [{"business_date": D(DAY), "slip_row_id": slip_row_id, "reason": reason} for reason in HOLD_REASONS],
        )
