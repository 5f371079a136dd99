"""The Zengin (全銀協) 総合振込 transfer file: 120-byte records in Shift_JIS, and the kana rules.

Layout (docs/zengin-transfer-file.md): a header record (1), one data record (2) per transfer, a
trailer record (8) with the count and total, an end record (9). Numeric fields are right-aligned
and zero-filled; character fields are left-aligned and space-filled, in the Zengin character set:
half-width katakana, A-Z, 0-9, space and ( ) - . / ｢ ｣ \\.

to_zengin_kana() converts what merchants typed (full-width or half-width katakana, hiragana,
full-width letters and digits) into that set; parse_transfer_file() reads a file back.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

RECORD_LENGTH = 120
ENCODING = "cp932"
CRLF = b"\r\n"

TRANSFER_KIND = "21"  # 種別コード: 総合振込
CODE_SECTION = "0"  # コード区分: JIS (Shift_JIS)
# 新規コード: 1 the first transfer to a recipient, 2 the first after its account changed, 0 other.
FIRST_TRANSFER, CHANGED_ACCOUNT, OTHER_TRANSFER = "1", "2", "0"
NEW_CODES = (FIRST_TRANSFER, CHANGED_ACCOUNT, OTHER_TRANSFER)
TELEGRAPHIC = "7"  # 振込指定区分: 電信振込

# 預金種目: the recipient may hold savings (4); the remitter only ordinary, checking, other.
ACCOUNT_TYPE_CODES = {"ordinary": "1", "checking": "2", "savings": "4"}
REMITTER_ACCOUNT_TYPE_CODES = {"ordinary": "1", "checking": "2", "other": "9"}

HEADER, DATA, TRAILER, END = "1", "2", "8", "9"

# -- the character set ---------------------------------------------------------------------------

_HALF_WIDTH_KANA = [chr(code) for code in range(0xFF66, 0xFFA0)]  # ｦ ... ﾝ ﾞ ﾟ
_SMALL_KANA = set("ｧｨｩｪｫｬｭｮｯ")
_LONG_VOWEL = "ｰ"
ALLOWED = frozenset(
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ ()-./\\｢｣"
    + "".join(c for c in _HALF_WIDTH_KANA if c not in _SMALL_KANA and c != _LONG_VOWEL)
)

# Full-width katakana (and the combining sound marks NFD leaves) to half-width, derived from
# Unicode's own compatibility mapping of the half-width forms.
_TO_HALF_WIDTH = {unicodedata.normalize("NFKC", c): c for c in _HALF_WIDTH_KANA}

# The Zengin set has no small kana, long vowel mark or middle dot; banks write them as the large
# kana, a hyphen and a full stop. Letters are upper case only.
_ZENGIN_SUBSTITUTES = str.maketrans(
    {
        **dict(zip("ァィゥェォッャュョヮヵヶヰヱ", "アイウエオツヤユヨワカケイエ", strict=True)),
        "ー": "-",
        "‐": "-",
        "−": "-",
        "―": "-",
        "・": ".",
        "「": "｢",
        "」": "｣",
        "¥": "\\",
    }
)


class ZenginCharacterError(ValueError):
    """A name has characters the Zengin character set cannot express (kanji, emoji, ...)."""


def _hiragana_to_katakana(text: str) -> str:
    return "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in text)


def to_zengin_kana(text: str) -> str:
    """`text` in the Zengin character set: half-width katakana (large kana only), A-Z, 0-9 and
    the allowed symbols. Raises ZenginCharacterError naming the characters it cannot convert."""
    # NFKC: full-width letters, digits and symbols to ASCII, half-width kana to full-width (so
    # both spellings take one path); then hiragana to katakana and the Zengin substitutions.
    normalised = _hiragana_to_katakana(unicodedata.normalize("NFKC", text)).upper()
    normalised = normalised.translate(_ZENGIN_SUBSTITUTES)
    # NFD splits ガ into カ and the combining voiced mark; each maps to one half-width character.
    converted = "".join(_TO_HALF_WIDTH.get(c, c) for c in unicodedata.normalize("NFD", normalised))
    bad = sorted({c for c in converted if c not in ALLOWED}, key=converted.index)
    if bad:
        raise ZenginCharacterError(
            f"{text!r} cannot be written in the Zengin character set: {' '.join(bad)} not allowed "
            "(write it in katakana or hiragana, A-Z, 0-9, space and ( ) - . / ｢ ｣)"
        )
    return " ".join(converted.split())


# -- fields ------------------------------------------------------------------------------------


def numeric(value: int | str, width: int, what: str) -> str:
    digits = str(value)
    if not digits.isascii() or not digits.isdigit() or len(digits) > width:
        raise ValueError(f"{what} {value!r} is not a number of at most {width} digits")
    return digits.zfill(width)


def characters(value: str, width: int) -> str:
    """A character field: Zengin kana, left-aligned, cut at the field's width (banks match names
    on what fits), space-filled."""
    converted = to_zengin_kana(value)
    encoded = converted.encode(ENCODING)[:width]  # one byte per character in this set
    return encoded.decode(ENCODING).ljust(width)


def code(value: str, width: int, what: str) -> str:
    """A bank, branch or account code: exactly `width` digits."""
    if not (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) == width):
        raise ValueError(f"{what} {value!r} must be exactly {width} digits")
    return value


def _record(*fields: str) -> str:
    record = "".join(fields)
    if len(record.encode(ENCODING)) != RECORD_LENGTH:  # a layout error, never a data error
        raise AssertionError(f"record of {len(record.encode(ENCODING))} bytes: {record!r}")
    return record


# -- the records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Remitter:
    """The client itself (振込依頼人): the code its bank assigned and the account paid from."""

    remitter_code: str
    name: str
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: str
    account_number: str


@dataclass(frozen=True)
class Transfer:
    """One data record: an amount to one recipient account."""

    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: str
    account_number: str
    holder_name: str
    amount: int
    customer_code_1: int = 0
    customer_code_2: int = 0
    new_code: str = OTHER_TRANSFER


def header_record(remitter: Remitter, transfer_date: date) -> str:
    if remitter.account_type not in REMITTER_ACCOUNT_TYPE_CODES:
        raise ValueError(
            f"remitter account type {remitter.account_type!r}: expected one of {sorted(REMITTER_ACCOUNT_TYPE_CODES)}"
        )
    return _record(
        HEADER,
        TRANSFER_KIND,
        CODE_SECTION,
        numeric(remitter.remitter_code, 10, "remitter code"),
        characters(remitter.name, 40),
        f"{transfer_date:%m%d}",
        code(remitter.bank_code, 4, "remitter bank code"),
        characters(remitter.bank_name, 15),
        code(remitter.branch_code, 3, "remitter branch code"),
        characters(remitter.branch_name, 15),
        REMITTER_ACCOUNT_TYPE_CODES[remitter.account_type],
        code(remitter.account_number, 7, "remitter account number"),
        " " * 17,
    )


def data_record(transfer: Transfer) -> str:
    if transfer.account_type not in ACCOUNT_TYPE_CODES:
        raise ValueError(f"account type {transfer.account_type!r}: expected one of {sorted(ACCOUNT_TYPE_CODES)}")
    if transfer.new_code not in NEW_CODES:
        raise ValueError(f"新規コード {transfer.new_code!r}: expected one of {', '.join(NEW_CODES)}")
    if transfer.amount <= 0:
        raise ValueError(f"transfer amount {transfer.amount} must be positive")
    return _record(
        DATA,
        code(transfer.bank_code, 4, "bank code"),
        characters(transfer.bank_name, 15),
        code(transfer.branch_code, 3, "branch code"),
        characters(transfer.branch_name, 15),
        "0000",  # 手形交換所番号: unused
        ACCOUNT_TYPE_CODES[transfer.account_type],
        code(transfer.account_number, 7, "account number"),
        characters(transfer.holder_name, 30),
        numeric(transfer.amount, 10, "transfer amount"),
        transfer.new_code,
        numeric(transfer.customer_code_1, 10, "customer code 1"),
        numeric(transfer.customer_code_2, 10, "customer code 2"),
        TELEGRAPHIC,
        " ",  # 識別表示: the customer codes are codes, not EDI text
        " " * 7,
    )


def trailer_record(count: int, total: int) -> str:
    return _record(TRAILER, numeric(count, 6, "record count"), numeric(total, 12, "amount total"), " " * 101)


def end_record() -> str:
    return _record(END, " " * 119)


def build_transfer_file(
    remitter: Remitter, transfer_date: date, transfers: list[Transfer], *, line_break: bytes = CRLF
) -> bytes:
    """The whole file, in Shift_JIS, each record followed by `line_break` (CRLF, or b"")."""
    records = [header_record(remitter, transfer_date)]
    records += [data_record(t) for t in transfers]
    records += [trailer_record(len(transfers), sum(t.amount for t in transfers)), end_record()]
    return b"".join(r.encode(ENCODING) + line_break for r in records)


# -- reading a file back -----------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedTransfer:
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: str
    account_number: str
    holder_name: str
    amount: int
    customer_code_1: int
    customer_code_2: int
    new_code: str


@dataclass(frozen=True)
class ParsedTransferFile:
    remitter_code: str
    remitter_name: str
    transfer_date: str  # MMDD, as the header holds it
    remitter_bank_code: str
    remitter_branch_code: str
    remitter_account_number: str
    transfers: list[ParsedTransfer]
    record_count: int
    amount_total: int


class ZenginFormatError(ValueError):
    """A transfer file that does not follow the layout."""


def split_records(data: bytes) -> list[bytes]:
    """The 120-byte records, with or without CRLF after each."""
    if CRLF in data:
        records = data.split(CRLF)
        if records[-1] == b"":
            records.pop()
    else:
        records = [data[i : i + RECORD_LENGTH] for i in range(0, len(data), RECORD_LENGTH)]
    for number, record in enumerate(records, start=1):
        if len(record) != RECORD_LENGTH:
            raise ZenginFormatError(f"record {number} has {len(record)} bytes, not {RECORD_LENGTH}")
    return records


def _field(record: bytes, start: int, width: int) -> str:
    """Bytes start..start+width-1 (1-based, as the layout table counts them)."""
    return record[start - 1 : start - 1 + width].decode(ENCODING)


def parse_transfer_file(data: bytes) -> ParsedTransferFile:
    """Read a file back and check its structure and the trailer's count and total."""
    records = split_records(data)
    kinds = "".join(chr(r[0]) for r in records)
    if len(records) < 3 or kinds[0] != HEADER or kinds[-2:] != TRAILER + END or set(kinds[1:-2]) - {DATA}:
        raise ZenginFormatError(f"record kinds {kinds!r}: expected 1, 2..., 8, 9")
    header, trailer = records[0], records[-2]
    if _field(header, 2, 2) != TRANSFER_KIND:
        raise ZenginFormatError(f"kind {_field(header, 2, 2)!r} is not 総合振込 ({TRANSFER_KIND})")
    transfers = [
        ParsedTransfer(
            bank_code=_field(r, 2, 4),
            bank_name=_field(r, 6, 15).rstrip(),
            branch_code=_field(r, 21, 3),
            branch_name=_field(r, 24, 15).rstrip(),
            account_type=_field(r, 43, 1),
            account_number=_field(r, 44, 7),
            holder_name=_field(r, 51, 30).rstrip(),
            amount=int(_field(r, 81, 10)),
            new_code=_field(r, 91, 1),
            customer_code_1=int(_field(r, 92, 10)),
            customer_code_2=int(_field(r, 102, 10)),
        )
        for r in records[1:-2]
    ]
    parsed = ParsedTransferFile(
        remitter_code=_field(header, 5, 10),
        remitter_name=_field(header, 15, 40).rstrip(),
        transfer_date=_field(header, 55, 4),
        remitter_bank_code=_field(header, 59, 4),
        remitter_branch_code=_field(header, 78, 3),
        remitter_account_number=_field(header, 97, 7),
        transfers=transfers,
        record_count=int(_field(trailer, 2, 6)),
        amount_total=int(_field(trailer, 8, 12)),
    )
    if parsed.record_count != len(transfers) or parsed.amount_total != sum(t.amount for t in transfers):
        raise ZenginFormatError(
            f"trailer says {parsed.record_count} transfers of {parsed.amount_total} yen; the data records "
            f"are {len(transfers)} of {sum(t.amount for t in transfers)} yen"
        )
    return parsed


# -- the bank's results (振込不能・組戻し) ---------------------------------------------------------

# The result file is the transfer file as the bank returns it (docs/zengin-transfer-file.md,
# "Returned transfers"): the same records, each data record with its result in the dummy area.
RESULT_POSITION, REASON_POSITION = 114, 115
RESULT_DONE, RESULT_NOT_DELIVERED, RESULT_RECALLED = "0", "1", "2"


class TransferOutcome(StrEnum):
    """What became of a transfer, as the bank's result file says (payout_transfer_returns.result
    stores the last two)."""

    DONE = "done"
    NOT_DELIVERED = "not_delivered"  # 振込不能
    RECALLED = "recalled"  # 組戻し


RESULTS = {RESULT_NOT_DELIVERED: TransferOutcome.NOT_DELIVERED, RESULT_RECALLED: TransferOutcome.RECALLED}


@dataclass(frozen=True)
class TransferResult:
    """One data record of a result file: the transfer as it was sent, and what became of it."""

    record_number: int  # the record's place in the file (the header is 1)
    transfer: ParsedTransfer
    result: TransferOutcome
    reason_code: str  # 不能事由コード, 2 digits ("00": none given)


def parse_transfer_results(data: bytes) -> tuple[ParsedTransferFile, list[TransferResult]]:
    """Read a result file: the transfer file's structure and trailer checks, then each data
    record's 振込結果コード (position 114: 0 done, 1 振込不能, 2 組戻し) and 不能事由コード (115-116)."""
    parsed = parse_transfer_file(data)
    records = split_records(data)[1:-2]
    results = []
    for number, (record, transfer) in enumerate(zip(records, parsed.transfers, strict=True), start=2):
        code, reason = _field(record, RESULT_POSITION, 1), _field(record, REASON_POSITION, 2)
        if code in (" ", RESULT_DONE):
            result = TransferOutcome.DONE
        elif code in RESULTS:
            result = RESULTS[code]
        else:
            raise ZenginFormatError(
                f"record {number}: result code {code!r} at position {RESULT_POSITION} is not 0 (done), "
                "1 (振込不能) or 2 (組戻し)"
            )
        if reason.strip() and not (reason.isascii() and reason.isdigit()):
            raise ZenginFormatError(
                f"record {number}: reason code {reason!r} at position {REASON_POSITION} is not 2 digits"
            )
        results.append(TransferResult(number, transfer, result, reason.strip() or "00"))
    return parsed, results


def result_record(transfer: Transfer, result: str, reason_code: str = "00") -> str:
    """A data record as a result file carries it (tests and demos build result files with it)."""
    codes: dict[str, str] = {v: k for k, v in RESULTS.items()}
    code = codes.get(result, RESULT_DONE)
    record = data_record(transfer)
    return record[: RESULT_POSITION - 1] + code + numeric(reason_code, 2, "reason code") + record[REASON_POSITION + 1 :]


def build_result_file(remitter: Remitter, transfer_date: date, results: list[tuple[Transfer, str, str]]) -> bytes:
    """A result file in the layout parse_transfer_results reads: (transfer, result, reason code)."""
    transfers = [t for t, _, _ in results]
    records = [header_record(remitter, transfer_date)]
    records += [result_record(t, result, reason) for t, result, reason in results]
    records += [trailer_record(len(transfers), sum(t.amount for t in transfers)), end_record()]
    return b"".join(r.encode(ENCODING) + CRLF for r in records)
