"""A record a card company could clear (docs/transmission-file.md): the merchant's 加盟店番号 at the
card company, the 支払区分, the store names as half-width kana and upper-case ASCII within the
company's limits; a slip whose data cannot be made valid is held back with its reason and every
other slip goes (SPEC §4.6). On SQLite and PostgreSQL.

Every slip below is registered Wednesday 2026-12-30: 12/31-1/3 are bank holidays, so each is due
Monday 2027-01-04; Tuesday 2027-01-05 is the next business day."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select, update

from kessai.calendar.run_dates import JAPAN
from kessai.cli import main
from kessai.db.schema import card_companies, merchant_card_numbers, merchant_change_notices, merchants, slips
from kessai.slips.authorizations import record_authorization
from kessai.transmission.daily import HOLD_REASONS, format_summary, run_transmission
from kessai.transmission.files import Destination
from kessai.transmission.merchant_numbers import BadMerchantNumber, set_merchant_number
from kessai.transmission.store_names import StoreNameError, to_file_english, to_file_kana
from support.transmission_builders import D, add_confirmed, add_merchant, files_under, holds, marks

DAY, NEXT_DAY = "2027-01-04", "2027-01-05"


@pytest.fixture
def destination(tmp_path) -> Destination:
    return Destination.from_url(str(tmp_path / "transmissions"))


def records(destination, day: str, file_name: str) -> list[list[str]]:
    """The data records of a file, split into fields (no field below holds a comma or a quote)."""
    lines = files_under(destination.fs, destination.root)[f"{day}/{file_name}"].decode().splitlines()
    return [[field.strip('"') for field in line.split(",")] for line in lines if line.startswith('"D"')]


# -- the names as the file writes them ----------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "written"),
    [
        ("ミセ", "ﾐｾ"),  # full-width katakana
        ("ｻｸﾗｼｮｳﾃﾝ", "ｻｸﾗｼｮｳﾃﾝ"),  # already half-width: unchanged
        ("がっこう・ストアー", "ｶﾞｯｺｳ･ｽﾄｱｰ"),  # hiragana, small kana, middle dot, long vowel kept
        ("パン　ｆａｃｔｏｒｙ　２", "ﾊﾟﾝ FACTORY 2"),  # full-width letters, digits and space
        ("ヴィラ\nヶ", "ｳﾞｨﾗ ｹ"),  # ヴ is ｳ and the voiced mark; ヶ (none in JIS X 0201) ｹ; a line break a space
        ("  ミセ   ニ ", "ﾐｾ ﾆ"),  # spaces collapsed
    ],
)
def test_kana_is_written_as_half_width_jis_x_0201(typed, written):
    assert to_file_kana(typed) == written
    assert to_file_kana(written) == written
    assert all(len(c.encode("cp932")) == 1 for c in written)  # one byte each in Shift_JIS


@pytest.mark.parametrize(
    ("typed", "written"),
    [
        ("Cafe Bon", "CAFE BON"),
        ("Café Crème", "CAFE CREME"),
        ("ＳＨＯＰ　１", "SHOP 1"),
        ("Tom's & Co.", "TOM'S & CO."),
    ],
)
def test_english_is_written_as_upper_case_ascii(typed, written):
    assert to_file_english(typed) == written


def test_a_name_the_character_set_cannot_hold_is_refused_naming_the_characters():
    with pytest.raises(StoreNameError, match="店 舗 not allowed"):
        to_file_kana("ミセ店舗")
    with pytest.raises(StoreNameError, match="店 not allowed"):
        to_file_english("Shop 店")


# -- hold-backs and the records -----------------------------------------------------------------


def test_each_invalid_record_is_held_with_its_reason_and_the_others_go(engine, destination):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_merchant(connection, "M2", name_kana="ミセ店")  # kanji: no half-width kana for it
        add_merchant(connection, "M3", name_en="Shop 店")  # no ASCII for it
        add_merchant(connection, "M4", name_kana="ミセミセミセ")  # 6 characters: too long for JCB below
        connection.execute(
            update(card_companies)
            .where(card_companies.c.card_company == "jcb")
            .values(name_kana_max_length=5, merchant_number_required=True)
        )
        set_merchant_number(connection, "M1", "jcb", "JC0001")
        add_confirmed(connection, "1", "2026-12-30 10:00", merchant_id="M1")
        add_confirmed(connection, "2", "2026-12-30 10:00", merchant_id="M2")
        add_confirmed(connection, "3", "2026-12-30 10:00", merchant_id="M3")
        add_confirmed(connection, "4", "2026-12-30 10:00", merchant_id="M4")  # Visa/Master: 30 fits
        add_confirmed(connection, "5", "2026-12-30 10:00", merchant_id="M4", card_company="jcb")  # also no number
        add_confirmed(connection, "6", "2026-12-30 10:00", merchant_id="M1", card_company="jcb")
        for slip_id, kind, count in (
            ("7", "installments", 3),
            ("8", "installments", None),
            ("9", "installments", 1),
            ("10", "lump_sum", 2),
            ("11", "revolving", None),
            ("12", "bonus", None),
            ("13", "cash", None),
        ):
            add_confirmed(connection, slip_id, "2026-12-30 10:00", merchant_id="M1")
            connection.execute(
                update(slips).where(slips.c.slip_id == slip_id).values(payment_kind=kind, installments=count)
            )

    summary = run_transmission(engine, D(DAY), destination)
    again = run_transmission(engine, D(DAY), destination)  # a re-run: the same holds and files

    expected_holds = [
        (D(DAY), "10", "payment_kind_invalid"),
        (D(DAY), "13", "payment_kind_invalid"),
        (D(DAY), "2", "store_name_kana_invalid"),
        (D(DAY), "3", "store_name_en_invalid"),
        (D(DAY), "5", "merchant_without_card_number"),
        (D(DAY), "5", "store_name_too_long"),
        (D(DAY), "8", "payment_kind_invalid"),
        (D(DAY), "9", "payment_kind_invalid"),
    ]
    with engine.connect() as connection:
        assert sorted(holds(connection)) == expected_holds
        assert sorted(slip_id for slip_id, mark in marks(connection).items() if mark[0]) == [
            "1",
            "11",
            "12",
            "4",
            "6",
            "7",
        ]
    assert summary.held_count == again.held_count == 7
    assert f"held back: slip 2 of M2 (visa_master, 1,000 yen): {HOLD_REASONS['store_name_kana_invalid']}" in (
        format_summary(summary)
    )
    # Fields 5-6: the names; 11: 加盟店番号 ('' where the company requires none and none is set);
    # 12-13: approval number and transaction id (none recorded here); 14-15: 支払区分 and installments.
    vm = records(destination, DAY, "VM_20270104.csv")
    assert [(r[1], r[4], r[5], r[10], r[13], r[14]) for r in vm] == [
        ("1", "ﾐｾ", "SHOP", "", "10", ""),
        ("11", "ﾐｾ", "SHOP", "", "80", ""),
        ("12", "ﾐｾ", "SHOP", "", "21", ""),
        ("7", "ﾐｾ", "SHOP", "", "61", "3"),
        ("4", "ﾐｾﾐｾﾐｾ", "SHOP", "", "10", ""),
    ]
    assert [(r[1], r[10]) for r in records(destination, DAY, "JC_20270104.csv")] == [("6", "JC0001")]


def test_a_held_slip_goes_late_once_its_merchant_has_a_number_and_the_file_keeps_the_number_it_went_with(
    engine, destination
):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        connection.execute(
            update(card_companies).where(card_companies.c.card_company == "jcb").values(merchant_number_required=True)
        )
        add_confirmed(connection, "1", "2026-12-30 10:00", card_company="jcb")
    run_transmission(engine, D(DAY), destination)
    with engine.begin() as connection:
        assert holds(connection) == [(D(DAY), "1", "merchant_without_card_number")]
        assert set_merchant_number(connection, "M1", "jcb", "12345") is None

    run_transmission(engine, D(NEXT_DAY), destination)
    with engine.begin() as connection:
        assert marks(connection)["1"] == (D(NEXT_DAY), D(DAY), "jcb")
        assert set_merchant_number(connection, "M1", "jcb", "99999") == "12345"
    before = files_under(destination.fs, destination.root)
    run_transmission(engine, D(NEXT_DAY), destination)  # a rebuild after the number changed
    assert files_under(destination.fs, destination.root) == before
    assert [r[10] for r in records(destination, NEXT_DAY, "JC_20270105.csv")] == ["12345"]


def test_a_record_carries_the_approval_number_and_transaction_id_of_its_sale_authorization(engine, destination):
    at = datetime(2026, 12, 20, 14, 0, tzinfo=JAPAN)
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        for slip_id in ("1", "2", "3"):
            add_confirmed(connection, slip_id, "2026-12-30 10:00", amount=3000)
        row_of = dict(connection.execute(select(slips.c.slip_id, slips.c.id)).all())
        record_authorization(
            connection,
            row_of["1"],
            3000,
            card_token="tok_1",
            approval_number="123456",
            transaction_id="tx-sale-1",
            authorized_at=at,
        )
        record_authorization(
            connection,
            row_of["1"],
            500,
            card_token="tok_1",
            approval_number="654321",
            transaction_id="tx-increase-1",
            authorized_at=at,
        )  # an increase: an extra hold
        record_authorization(
            connection,
            row_of["3"],
            3000,
            card_token="tok_3",
            approval_number=None,
            transaction_id="tx-sale-3",
            authorized_at=at,
        )  # no 承認番号 given

    run_transmission(engine, D(DAY), destination)

    assert [(r[1], r[11], r[12]) for r in records(destination, DAY, "VM_20270104.csv")] == [
        ("1", "123456", "tx-sale-1"),
        ("2", "", ""),  # no authorization on record (older data, bulk loads)
        ("3", "", "tx-sale-3"),
    ]


def test_merchant_number_set_refuses_what_it_cannot_take(engine):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        for merchant, company, number, reason in (
            ("M1", "jcb", "12-34", "is not 1 to 16 letters or digits"),
            ("M1", "jcb", "1" * 17, "is not 1 to 16 letters or digits"),
            ("M9", "jcb", "1234", "merchant 'M9' does not exist"),
            ("M1", "nicos", "1234", "card company 'nicos' is not in card_companies"),
        ):
            with pytest.raises(BadMerchantNumber, match=reason):
                set_merchant_number(connection, merchant, company, number)
        assert connection.execute(select(merchant_card_numbers)).all() == []


def test_the_command_sets_a_number_and_a_bad_one_is_one_line(business, capsys):
    with business.begin() as connection:
        add_merchant(connection, "M1")
    assert main(["merchant-number", "set", "M1", "visa_master", "4900001"]) == 0
    assert capsys.readouterr().out == "merchant M1 at visa_master: merchant number 4900001 (new)\n"
    assert main(["merchant-number", "set", "M1", "visa_master", "4900002"]) == 0
    assert capsys.readouterr().out == "merchant M1 at visa_master: merchant number 4900002 (was 4900001)\n"
    assert main(["merchant-number", "set", "M1", "visa_master", "49-2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not 1 to 16 letters or digits" in err[0]
    with business.connect() as connection:
        assert connection.execute(select(merchant_card_numbers.c.merchant_number)).scalar_one() == "4900002"


# -- store-change notices ------------------------------------------------------------------------


def test_a_renamed_merchant_is_told_to_each_card_company_once_effective_the_next_transmission_day(engine, destination):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_merchant(connection, "M2")
        set_merchant_number(connection, "M1", "jcb", "JC0001")
        add_confirmed(connection, "1", "2026-12-30 10:00", merchant_id="M1")
        add_confirmed(connection, "2", "2026-12-30 10:00", merchant_id="M1", card_company="jcb")
        add_confirmed(connection, "3", "2026-12-30 10:00", merchant_id="M2")
    run_transmission(engine, D(DAY), destination)
    with engine.begin() as connection:  # renamed after Monday's run; M2 only retyped the same names
        connection.execute(
            update(merchants)
            .where(merchants.c.merchant_id == "M1")
            .values(name="新店名", name_kana="シンテンメイ", name_en="New Name")
        )
        connection.execute(update(merchants).where(merchants.c.merchant_id == "M2").values(name_kana="ミセ"))

    summary = run_transmission(engine, D(NEXT_DAY), destination)  # Tuesday: no slips, the notices
    run_transmission(engine, D(NEXT_DAY), destination)  # a re-run: the same files
    run_transmission(engine, D("2027-01-06"), destination)  # Wednesday: told once already

    files = files_under(destination.fs, destination.root)
    assert files[f"{NEXT_DAY}/VM_MC_20270105.csv"].decode() == (
        '"H","VM","2027-01-05","MC"\n"M","M1","","新店名","ｼﾝﾃﾝﾒｲ","NEW NAME","2027-01-05"\n"T","1"\n'
    )
    assert files[f"{NEXT_DAY}/JC_MC_20270105.csv"].decode().splitlines()[1] == (
        '"M","M1","JC0001","新店名","ｼﾝﾃﾝﾒｲ","NEW NAME","2027-01-05"'
    )
    assert not [name for name in files if name.startswith("2027-01-06/")]
    assert summary.change_notices == 2
    assert "2 store-change notices (merchants renamed) to the card companies" in format_summary(summary)
    with engine.connect() as connection:
        assert connection.execute(
            select(
                merchant_change_notices.c.merchant_id,
                merchant_change_notices.c.card_company,
                merchant_change_notices.c.effective_on,
            ).order_by(merchant_change_notices.c.card_company)
        ).all() == [("M1", "jcb", D(NEXT_DAY)), ("M1", "visa_master", D(NEXT_DAY))]
