"""Amounts outside 1..KESSAI_MAX_SLIP_AMOUNT (default 99,999,999 yen) are refused by the commands
that set or confirm them (SPEC §4.6), on SQLite and PostgreSQL: change-amount, confirm and the
confirmation import, each with one line naming the slip and the limit; the import rejects the row,
never the file. A slip with such an amount can only have been written around them (the online
side's own insert), as the tests do.

Slips are paid 2026-08-31 (confirmable until 2027-02-28) and confirmed in Japan on 2027-01-31."""

from __future__ import annotations

from datetime import date

import pytest

from kessai.cli import main
from kessai.db.database import make_engine
from kessai.slips.amounts import AmountSettingError, max_slip_amount
from kessai.slips.confirmation_import import import_confirmations
from kessai.slips.operations import SlipOperationError, change_amount, confirm_slip
from support.slip_builders import add_merchant, add_slip, events, jst, slip

BIGINT_MAX = 9_223_372_036_854_775_807
PAID = date(2026, 8, 31)
CONFIRMED = date(2027, 1, 31)
LIMIT = "outside 1..99,999,999 yen (KESSAI_MAX_SLIP_AMOUNT, default 99,999,999)"


@pytest.fixture
def shop(engine):
    """Merchant M1 with slip 1 (5,000 yen), slip 2 (2^63-1 yen) and slip 3 (100,000,000 yen)."""
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_slip(connection, "1", PAID)
        add_slip(connection, "2", PAID, amount=BIGINT_MAX)
        add_slip(connection, "3", PAID, amount=100_000_000)
    return engine


def refusal(engine, operation, *args, **options) -> SlipOperationError:
    with pytest.raises(SlipOperationError) as caught:
        with engine.begin() as connection:
            operation(connection, *args, **options)
    return caught.value


@pytest.mark.parametrize("amount", [100_000_000, BIGINT_MAX, 2**63, 10**30])
def test_change_amount_refuses_an_amount_above_the_max(shop, amount):
    error = refusal(shop, change_amount, "M1", "1", amount, jst("2026-09-01"))
    assert error.reason == "amount_out_of_range"
    assert str(error) == f"slip 1 of merchant M1: the amount {amount:,} yen is {LIMIT}; nothing was changed"
    with shop.connect() as connection:
        assert slip(connection, "1").amount == 5000 and events(connection, "1") == []


def test_change_amount_takes_the_max_itself_and_the_max_given(shop):
    with shop.begin() as connection:
        change_amount(connection, "M1", "1", 99_999_999, jst("2026-09-01"))
    error = refusal(shop, change_amount, "M1", "1", 1_000_001, jst("2026-09-02"), max_amount=1_000_000)
    assert "the amount 1,000,001 yen is outside 1..1,000,000 yen" in str(error)
    with shop.begin() as connection:
        change_amount(connection, "M1", "1", 1_000_000, jst("2026-09-02"), max_amount=1_000_000)
        assert slip(connection, "1").amount == 1_000_000


@pytest.mark.parametrize("slip_id, amount", [("2", BIGINT_MAX), ("3", 100_000_000)])
def test_confirm_refuses_a_slip_whose_amount_is_out_of_range(shop, slip_id, amount):
    error = refusal(shop, confirm_slip, "M1", slip_id, CONFIRMED, jst("2027-01-31"))
    assert error.reason == "amount_out_of_range"
    assert str(error) == (
        f"slip {slip_id} of merchant M1: the amount {amount:,} yen is {LIMIT}: correct the amount, then confirm again"
    )
    with shop.connect() as connection:
        assert slip(connection, slip_id).confirmed_on is None


def test_confirm_follows_the_max_given(shop):
    with shop.begin() as connection:
        done = confirm_slip(connection, "M1", "3", CONFIRMED, jst("2027-01-31"), max_amount=100_000_000)
    assert done.closing_date == date(2027, 1, 31)


def test_the_import_rejects_the_rows_of_out_of_range_slips_and_applies_the_others(shop):
    upload = b"merchant_id,slip_id,confirmed_on\nM1,1,2027-01-31\nM1,2,2027-01-31\nM1,3,2027-01-31\n"
    with shop.begin() as connection:
        result = import_confirmations(connection, upload, jst("2027-01-31", "10:00"))

    assert result.applied == 1
    assert [(row.line_number, row.reason, row.message) for row in result.rejected] == [
        (
            3,
            "amount_out_of_range",
            f"slip 2 of merchant M1: the amount {BIGINT_MAX:,} yen is {LIMIT}: correct the amount, then confirm again",
        ),
        (
            4,
            "amount_out_of_range",
            f"slip 3 of merchant M1: the amount 100,000,000 yen is {LIMIT}: correct the amount, then confirm again",
        ),
    ]
    with shop.connect() as connection:
        assert [slip(connection, n).confirmed_on for n in ("1", "2", "3")] == [CONFIRMED, None, None]


@pytest.mark.parametrize(
    "value, limit",
    [
        (None, 99_999_999),
        ("", 99_999_999),
        ("5000", 5000),
        ("1,000,000", 10**6),
        ("999999999999", 10**12 - 1),
    ],
)
def test_the_setting(value, limit):
    assert max_slip_amount({} if value is None else {"KESSAI_MAX_SLIP_AMOUNT": value}) == limit


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5", "1000000000000", str(2**63)])
def test_a_bad_setting_is_refused(value):
    with pytest.raises(AmountSettingError, match="KESSAI_MAX_SLIP_AMOUNT=.* is not a whole number of yen"):
        max_slip_amount({"KESSAI_MAX_SLIP_AMOUNT": value})


# -- the commands: exit 1 with one line, no traceback -------------------------------------------


@pytest.fixture
def recent(business_database, monkeypatch):
    """Slips of M1 paid on 2027-01-31, ten days before the moment the commands register at (the one
    clock, KESSAI_AS_OF: 2027-02-10 10:00 in Japan): 1 (5,000 yen) and 2 (2^63-1 yen)."""
    monkeypatch.setenv("KESSAI_AS_OF", "2027-02-10T10:00:00+09:00")
    paid = date(2027, 1, 31)
    engine = make_engine(business_database)
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_slip(connection, "1", paid)
        add_slip(connection, "2", paid, amount=BIGINT_MAX)
    yield engine, paid
    engine.dispose()


def one_line(text: str) -> str:
    assert text.count("\n") == 1 and "Traceback" not in text, text
    return text.strip()


@pytest.mark.parametrize(
    "typed, shown",
    [
        ("9223372036854775807", "9,223,372,036,854,775,807"),
        ("99999999999999999999999999", "99,999,999,999,999,999,999,999,999"),  # more than 64 bits
        ("100000000", "100,000,000"),
        ("0", "0"),
    ],
)
def test_change_amount_command_refuses_with_one_line(recent, capsys, typed, shown):
    engine, _ = recent
    assert main(["change-amount", "M1", "1", typed]) == 1
    assert one_line(capsys.readouterr().err) == (
        f"refused (amount_out_of_range): slip 1 of merchant M1: the amount {shown} yen is {LIMIT}; nothing was changed"
    )
    with engine.connect() as connection:
        assert slip(connection, "1").amount == 5000


def test_change_amount_command_refuses_what_is_not_a_number_and_follows_the_setting(recent, capsys, monkeypatch):
    engine, _ = recent
    assert main(["change-amount", "M1", "1", "12.5"]) == 1
    assert one_line(capsys.readouterr().err) == (
        "refused (invalid_amount): slip 1 of merchant M1: the amount must be a whole number of yen, not '12.5'"
    )
    monkeypatch.setenv("KESSAI_MAX_SLIP_AMOUNT", "200000000")
    assert main(["change-amount", "M1", "1", "150000000"]) == 0
    assert "amount is now 150,000,000 yen" in capsys.readouterr().out
    monkeypatch.setenv("KESSAI_MAX_SLIP_AMOUNT", "lots")
    assert main(["change-amount", "M1", "1", "6000"]) == 1
    assert one_line(capsys.readouterr().err).startswith("error: KESSAI_MAX_SLIP_AMOUNT='lots' is not a whole number")
    with engine.connect() as connection:
        assert slip(connection, "1").amount == 150_000_000


def test_confirm_command_refuses_a_slip_out_of_range_with_one_line(recent, capsys):
    engine, paid = recent
    assert main(["confirm", "M1", "2", "--on", str(paid)]) == 1
    assert one_line(capsys.readouterr().err) == (
        f"refused (amount_out_of_range): slip 2 of merchant M1: the amount {BIGINT_MAX:,} yen is {LIMIT}: "
        "correct the amount, then confirm again"
    )
    assert main(["confirm", "M1", "1", "--on", str(paid)]) == 0
    with engine.connect() as connection:
        assert slip(connection, "2").confirmed_on is None and slip(connection, "1").confirmed_on == paid


def test_import_command_rejects_the_row_and_applies_the_others(recent, capsys, tmp_path):
    engine, paid = recent
    path = tmp_path / "upload.csv"
    path.write_text(f"merchant_id,slip_id,confirmed_on\nM1,2,{paid}\nM1,1,{paid}\n")
    assert main(["import-confirmations", str(path)]) == 0
    out = capsys.readouterr().out
    assert "applied            1" in out and "    amount_out_of_range  1\n" in out
    assert f"line 2: amount_out_of_range: slip 2 of merchant M1: the amount {BIGINT_MAX:,} yen is {LIMIT}" in out
    rejects = (tmp_path / "upload.rejects.csv").read_text().splitlines()
    assert rejects[1].startswith(
        '2,amount_out_of_range,"slip 2 of merchant M1: the amount 9,223,372,036,854,775,807 yen'
    )
