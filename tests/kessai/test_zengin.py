"""The Zengin 総合振込 format and its kana rules (kessai.payout.zengin): no database."""

from __future__ import annotations

from datetime import date

import pytest

from kessai.payout.zengin import (
    RECORD_LENGTH,
    Remitter,
    Transfer,
    ZenginCharacterError,
    ZenginFormatError,
    build_transfer_file,
    data_record,
    header_record,
    parse_transfer_file,
    split_records,
    to_zengin_kana,
    trailer_record,
)

REMITTER = Remitter(
    remitter_code="123456789",
    name="カ）ケッサイ",
    bank_code="0005",
    bank_name="ミツビシユーエフジェイ",
    branch_code="001",
    branch_name="ホンテン",
    account_type="ordinary",
    account_number="7654321",
)


def transfer(**overrides) -> Transfer:
    values = dict(
        bank_code="0001",
        bank_name="ミズホ",
        branch_code="002",
        branch_name="シンジュクニシグチエキマエシテン",
        account_type="ordinary",
        account_number="1234567",
        holder_name="ヤマダ　タロウ",
        amount=12_345,
        customer_code_1=17,
        customer_code_2=3,
    )
    return Transfer(**{**values, **overrides})


@pytest.mark.parametrize(
    ("typed", "zengin"),
    [
        ("ヤマダ　タロウ", "ﾔﾏﾀﾞ ﾀﾛｳ"),  # full-width katakana and space
        ("やまだ たろう", "ﾔﾏﾀﾞ ﾀﾛｳ"),  # hiragana
        ("ｷｬﾝﾃﾞｨｰ", "ｷﾔﾝﾃﾞｲ-"),  # half-width as typed: small kana made large, long vowel a hyphen
        ("ショップ・パピプペポ", "ｼﾖﾂﾌﾟ.ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ"),  # small kana, middle dot, semi-voiced marks
        ("ヴィーナス", "ｳﾞｲ-ﾅｽ"),  # ヴ is ｳ and the voiced mark
        ("カ）ヤマダショウジ", "ｶ)ﾔﾏﾀﾞｼﾖｳｼﾞ"),  # full-width parenthesis of the company abbreviation
        ("ＡＢＣ　ｓｈｏｐ　１２３", "ABC SHOP 123"),  # full-width letters and digits, lower case
        ("「テスト」／ヨコハマ－１", "｢ﾃｽﾄ｣/ﾖｺﾊﾏ-1"),
        ("ヲヰヱヵヶ", "ｦｲｴｶｹ"),
        ("  ﾔﾏﾀﾞ   ﾀﾛｳ ", "ﾔﾏﾀﾞ ﾀﾛｳ"),  # spaces trimmed and single
    ],
)
def test_names_as_merchants_type_them_become_zengin_kana(typed, zengin):
    assert to_zengin_kana(typed) == zengin


@pytest.mark.parametrize(
    ("typed", "bad"), [("山田商店", "山 田 商 店"), ("ヤマダ＆タロウ", "&"), ("ヤマダ,タロウ", ","), ("ｶﾌｪ☕", "☕")]
)
def test_a_name_outside_the_character_set_is_refused_naming_the_characters(typed, bad):
    with pytest.raises(ZenginCharacterError, match=f"cannot be written in the Zengin character set: {bad} not allowed"):
        to_zengin_kana(typed)


def test_header_record_layout():
    record = header_record(REMITTER, date(2027, 3, 25)).encode("cp932")
    assert len(record) == RECORD_LENGTH
    assert record[0:1] == b"1"  # データ区分
    assert record[1:3] == b"21"  # 種別コード: 総合振込
    assert record[3:4] == b"0"  # コード区分: JIS
    assert record[4:14] == b"0123456789"  # 依頼人コード, zero-filled
    assert record[14:54] == "ｶ)ｹﾂｻｲ".encode("cp932").ljust(40)  # 依頼人名, space-filled
    assert record[54:58] == b"0325"  # 振込指定日 MMDD
    assert record[58:62] == b"0005"
    assert record[62:77] == "ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ".encode("cp932").ljust(15)
    assert record[77:80] == b"001"
    assert record[80:95] == "ﾎﾝﾃﾝ".encode("cp932").ljust(15)
    assert record[95:96] == b"1"  # 普通
    assert record[96:103] == b"7654321"
    assert record[103:120] == b" " * 17


def test_data_record_layout():
    record = data_record(transfer()).encode("cp932")
    assert len(record) == RECORD_LENGTH
    assert record[0:1] == b"2"
    assert record[1:5] == b"0001"
    assert record[5:20] == "ﾐｽﾞﾎ".encode("cp932").ljust(15)
    assert record[20:23] == b"002"
    # 15 bytes: the branch name is cut, as banks match on what fits.
    assert record[23:38] == "ｼﾝｼﾞﾕｸﾆｼｸﾞﾁｴｷﾏｴ".encode("cp932")  # ...ｼﾃﾝ cut off
    assert record[38:42] == b"0000"  # 手形交換所番号: unused
    assert record[42:43] == b"1"
    assert record[43:50] == b"1234567"
    assert record[50:80] == "ﾔﾏﾀﾞ ﾀﾛｳ".encode("cp932").ljust(30)
    assert record[80:90] == b"0000012345"
    assert record[90:91] == b"0"  # 新規コード
    assert record[91:101] == b"0000000017"  # 顧客コード1: the statement
    assert record[101:111] == b"0000000003"  # 顧客コード2: the bank account
    assert record[111:112] == b"7"  # 電信振込
    assert record[112:120] == b" " * 8  # 識別表示 and the dummy


def test_trailer_and_end_records():
    assert trailer_record(3, 1_234_567).encode("cp932") == b"8000003000001234567" + b" " * 101


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"bank_code": "001"}, "bank code '001' must be exactly 4 digits"),
        ({"account_number": "12345678"}, "account number '12345678' must be exactly 7 digits"),
        ({"account_type": "foreign"}, "account type 'foreign'"),
        ({"amount": 0}, "must be positive"),
        ({"amount": 10_000_000_000}, "transfer amount 10000000000 is not a number of at most 10 digits"),
        ({"holder_name": "山田"}, "Zengin character set"),
    ],
)
def test_bad_transfers_are_refused(override, message):
    with pytest.raises(ValueError, match=message):
        data_record(transfer(**override))


def test_savings_accounts_of_recipients():
    assert data_record(transfer(account_type="savings"))[42] == "4"


def test_a_file_reads_back_with_its_totals():
    transfers = [
        transfer(),
        transfer(amount=1, holder_name="ｽｽﾞｷ", account_type="checking"),
        transfer(amount=9_999_999_999),
    ]
    content = build_transfer_file(REMITTER, date(2028, 1, 7), transfers)
    assert content.count(b"\r\n") == 6 and len(content) == 6 * 122
    parsed = parse_transfer_file(content)
    assert (parsed.remitter_code, parsed.remitter_name, parsed.transfer_date) == ("0123456789", "ｶ)ｹﾂｻｲ", "0107")
    assert (parsed.record_count, parsed.amount_total) == (3, 12_345 + 1 + 9_999_999_999)
    assert [(t.holder_name, t.account_type, t.amount) for t in parsed.transfers] == [
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "1", 12_345),
        ("ｽｽﾞｷ", "2", 1),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "1", 9_999_999_999),
    ]
    assert parsed.transfers[0].customer_code_1 == 17


def test_a_file_without_line_breaks_reads_back_too():
    content = build_transfer_file(REMITTER, date(2027, 3, 25), [transfer()], line_break=b"")
    assert len(content) == 4 * RECORD_LENGTH
    assert parse_transfer_file(content).amount_total == 12_345


def test_a_wrong_trailer_or_a_short_record_is_caught():
    records = split_records(build_transfer_file(REMITTER, date(2027, 3, 25), [transfer(), transfer()]))
    records[3] = trailer_record(2, 12_346).encode("cp932")
    with pytest.raises(
        ZenginFormatError, match="trailer says 2 transfers of 12346 yen; the data records are 2 of 24690"
    ):
        parse_transfer_file(b"\r\n".join(records))
    with pytest.raises(ZenginFormatError, match="record 2 has 119 bytes"):
        parse_transfer_file(b"\r\n".join([records[0], records[1][:-1], *records[2:]]))
    with pytest.raises(ZenginFormatError, match="record kinds '129': expected 1, 2..., 8, 9"):
        parse_transfer_file(b"\r\n".join([records[0], records[1], records[4]]))
