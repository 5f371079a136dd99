"""The words synthetic merchants are named from: store names in Japanese with their katakana and
English, company forms, and banks and branches with their kana (docs/synthetic-data.md)."""

from __future__ import annotations

import re

# (name, katakana, English): the first half of a store name ...
STORE_WORDS = (
    ("さくら", "サクラ", "Sakura"),
    ("青空", "アオゾラ", "Aozora"),
    ("ひまわり", "ヒマワリ", "Himawari"),
    ("富士見", "フジミ", "Fujimi"),
    ("海風", "ウミカゼ", "Umikaze"),
    ("みどり", "ミドリ", "Midori"),
    ("はなまる", "ハナマル", "Hanamaru"),
    ("つばめ", "ツバメ", "Tsubame"),
    ("木漏れ日", "コモレビ", "Komorebi"),
    ("大和", "ヤマト", "Yamato"),
    ("北斗", "ホクト", "Hokuto"),
    ("こはく", "コハク", "Kohaku"),
    ("銀河", "ギンガ", "Ginga"),
    ("よつば", "ヨツバ", "Yotsuba"),
    ("千歳", "チトセ", "Chitose"),
    ("ぴっころ", "ピッコロ", "Piccolo"),
)

# ... and the second: what it sells. Small kana, long vowels and ペ/ジュ test the kana rules.
TRADE_WORDS = (
    ("雑貨店", "ザッカテン", "Zakka"),
    ("書房", "ショボウ", "Books"),
    ("珈琲", "コーヒー", "Coffee"),
    ("茶舗", "チャホ", "Tea"),
    ("ストア", "ストア", "Store"),
    ("工房", "コウボウ", "Workshop"),
    ("食品", "ショクヒン", "Foods"),
    ("酒店", "サケテン", "Liquor"),
    ("ファーム", "ファーム", "Farm"),
    ("化粧品", "ケショウヒン", "Cosmetics"),
    ("ペットショップ", "ペットショップ", "Pet Shop"),
    ("ジュエリー", "ジュエリー", "Jewelry"),
)

# (before the name, before the account holder's kana as banks abbreviate it, English suffix, share)
COMPANY_FORMS = (
    ("", "", "", 0.6),
    ("株式会社", "カ)", " Co., Ltd.", 0.3),
    ("合同会社", "ド)", " LLC", 0.1),
)

# (bank code, name in katakana)
BANKS = (
    ("0001", "ミズホ"),
    ("0005", "ミツビシユーエフジェイ"),
    ("0009", "ミツイスミトモ"),
    ("0010", "リソナ"),
    ("0017", "サイタマリソナ"),
    ("0033", "ペイペイ"),
    ("0036", "ラクテン"),
    ("0138", "ヨコハマ"),
    ("0149", "シズオカ"),
    ("0158", "キョウト"),
    ("0177", "フクオカ"),
)

# (branch code, name in katakana); synthetic: the same codes at every bank
BRANCHES = (
    ("001", "ホンテン"),
    ("101", "シンジュク"),
    ("102", "シブヤ"),
    ("103", "イケブクロ"),
    ("110", "ギンザ"),
    ("201", "ウメダ"),
    ("202", "ナンバ"),
    ("301", "ナゴヤエキマエ"),
    ("401", "サッポロ"),
    ("501", "テンジン"),
)


def email_name(english: str) -> str:
    """The local part of a store's mail address: its English name, lower case, words joined by '-'."""
    return "-".join(re.findall(r"[a-z0-9]+", english.lower()))
