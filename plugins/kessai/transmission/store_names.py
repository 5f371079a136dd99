"""The store names as a transmission record carries them (docs/transmission-file.md): the kana name
in half-width JIS X 0201 katakana, the English name in upper-case ASCII. Worked out once per
merchant by each claim (refresh_file_names), not once per slip; a name that cannot be made valid
keeps its reason, and the claim holds back its merchant's slips (sql/transmission/holds.*.sql).

The length limits are each card company's (card_companies.name_kana_max_length,
name_en_max_length); every character here is one byte in Shift_JIS, so a length in characters is
one in bytes too.
"""

from __future__ import annotations

import hashlib
import unicodedata

from sqlalchemy import Connection, delete, insert, select

from kessai.db.schema import merchant_file_names, merchants
from kessai.payout.zengin import _hiragana_to_katakana

# JIS X 0201's katakana half: ｡ ｢ ｣ ､ ･ ｦ ... ﾝ ﾞ ﾟ, keyed by what NFKC makes of each (the
# full-width form), so that both spellings a merchant may type take one path.
_HALF_WIDTH_KANA = [chr(code) for code in range(0xFF61, 0xFFA0)]
_TO_HALF_WIDTH = {unicodedata.normalize("NFKC", c): c for c in _HALF_WIDTH_KANA}
# Full-width kana that JIS X 0201 lacks, written as the nearest it has; dashes as its long vowel.
_KANA_SUBSTITUTES = str.maketrans(
    {**dict(zip("ヮヵヶヰヱ", "ワカケイエ", strict=True)), "‐": "ｰ", "−": "ｰ", "―": "ｰ", "－": "ｰ"}
)
KANA_ALLOWED = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ ()-./,&'" + "".join(_HALF_WIDTH_KANA))
EN_ALLOWED = frozenset(chr(code) for code in range(0x20, 0x7F))
REFRESH_CHUNK = 5_000


class StoreNameError(ValueError):
    """A store name with characters the file's character set cannot express."""


def _without_controls(text: str) -> str:
    # A control character holds the slip back for its own reason (store_name_control_character);
    # a line break becomes a space, as the snapshot of the names writes it.
    return "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)


def _checked(converted: str, allowed: frozenset[str], text: str, what: str) -> str:
    bad = sorted({c for c in converted if c not in allowed}, key=converted.index)
    if bad:
        raise StoreNameError(f"{what} {text!r} cannot be written in the file: {' '.join(bad)} not allowed")
    return " ".join(converted.split())


def to_file_kana(text: str) -> str:
    """`text` as half-width JIS X 0201 katakana, A-Z, 0-9, space and ( ) - . / , & '."""
    normalised = _hiragana_to_katakana(unicodedata.normalize("NFKC", _without_controls(text))).upper()
    normalised = normalised.translate(_KANA_SUBSTITUTES)
    # NFD splits ガ into カ and the combining voiced mark; each maps to one half-width character.
    converted = "".join(_TO_HALF_WIDTH.get(c, c) for c in unicodedata.normalize("NFD", normalised))
    return _checked(converted, KANA_ALLOWED, text, "store name kana")


def to_file_english(text: str) -> str:
    """`text` in upper-case printable ASCII: full-width letters to ASCII, accents dropped (é to E)."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", _without_controls(text)))
    converted = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    return _checked(converted, EN_ALLOWED, text, "English store name")


def names_sha256(name: str | None, name_kana: str | None, name_en: str | None) -> str:
    """One value for the three names as typed (a store-change notice is sent once per value)."""
    return hashlib.sha256("\x00".join(value or "" for value in (name, name_kana, name_en)).encode()).hexdigest()


def _file_names(merchant_id: str, name: str | None, name_kana: str | None, name_en: str | None) -> dict:
    row = {
        "merchant_id": merchant_id,
        "name_kana": None,
        "name_en": None,
        "kana_problem": None,
        "en_problem": None,
        "names_sha256": names_sha256(name, name_kana, name_en),
    }
    for value, convert, name, problem in (
        (name_kana, to_file_kana, "name_kana", "kana_problem"),
        (name_en, to_file_english, "name_en", "en_problem"),
    ):
        if value is None:
            continue  # an empty name is held back as merchant_without_store_names
        try:
            row[name] = convert(value)
        except StoreNameError as error:
            row[problem] = str(error)
    return row


def refresh_file_names(connection: Connection) -> None:
    """Work out every merchant's names as the files write them, in the caller's transaction."""
    connection.execute(delete(merchant_file_names))
    m = merchants.c
    rows = connection.execute(select(m.merchant_id, m.name, m.name_kana, m.name_en)).all()
    for start in range(0, len(rows), REFRESH_CHUNK):
        chunk = rows[start : start + REFRESH_CHUNK]
        connection.execute(insert(merchant_file_names), [_file_names(*row) for row in chunk])
