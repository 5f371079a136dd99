"""Synthetic merchants and their bank accounts (docs/synthetic-data.md): Japanese store names with
their kana, in full-width or half-width, and English; the accounts' names in Zengin kana."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Protocol

import numpy as np

from kessai.calendar.business_calendar import CALENDAR_START
from kessai.calendar.rules import MONTHLY, TWICE_MONTHLY
from kessai.payout.zengin import to_zengin_kana
from kessai.synthetic.random_columns import (
    BANK_ACCOUNT_STREAM,
    MERCHANT_STREAM,
    labels,
    moments,
    seeded,
    timestamps,
    working_times,
)


class MerchantPlan(Protocol):
    """What the merchants and their accounts are drawn from: the parts of a GenerationPlan
    (kessai.synthetic.generation) they read, so that this module needs nothing of that one."""

    @property
    def seed(self) -> int: ...
    @property
    def merchants(self) -> int: ...
    @property
    def start(self) -> date: ...
    @property
    def end(self) -> date: ...
    @property
    def twice_monthly_share(self) -> float: ...
    @property
    def bank_account_change_share(self) -> float: ...
    @property
    def registered_until(self) -> datetime: ...


MAX_MERCHANTS = 999_999  # M000001 ...

FEE_RATES_BP = (0, 300, 325, 350, 360, 400)
TRANSFER_FEES = (0, 165, 220, 330, 440)
MINIMUM_PAYOUTS = (0, 0, 1_000, 3_000, 5_000)
MISSING_EMAIL_SHARE = 0.10
MISSING_KANA_SHARE = 0.03  # such merchants' slips are held back from transmission
MISSING_ENGLISH_SHARE = 0.03
HALF_WIDTH_KANA_SHARE = 0.5
REPAYMENT_MAIL_SHARE = 0.6
CHECKING_ACCOUNT_SHARE = 0.15

# Merchants number their orders their own way: (share, first number from, below, zero-padded to).
# No own number has 18 digits starting with 9: those are the recurring slips' numbers.
SLIP_NUMBERINGS = ((0.4, 1, 10**6, 0), (0.3, 0, 10**6, 12), (0.3, 10**17, 8 * 10**17, 0))

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

# The banks the accounts are at (city banks, net banks, regional banks); their branches and every
# name come from the bank master (kessai.payout.bank_master), so each account names a branch that exists.
BANK_CODES = ("0001", "0005", "0009", "0010", "0017", "0033", "0036", "0138", "0149", "0158", "0177")


def email_name(english: str) -> str:
    """The local part of a store's mail address: its English name, lower case, words joined by '-'."""
    return "-".join(re.findall(r"[a-z0-9]+", english.lower()))


def merchant_columns(plan: MerchantPlan) -> tuple[dict, dict]:
    """The merchants table's columns, and what accounts and slips need of each merchant."""
    rng = seeded(plan.seed, MERCHANT_STREAM)
    n = plan.merchants
    store = rng.integers(0, len(STORE_WORDS), n)
    trade = rng.integers(0, len(TRADE_WORDS), n)
    form = rng.choice(len(COMPANY_FORMS), n, p=[share for *_, share in COMPANY_FORMS])
    half_width = rng.random(n) < HALF_WIDTH_KANA_SHARE
    no_kana, no_english, no_email, cycle, repayment_mail = (
        labels(rng, n, [share]) == 1
        for share in (
            MISSING_KANA_SHARE,
            MISSING_ENGLISH_SHARE,
            MISSING_EMAIL_SHARE,
            plan.twice_monthly_share,
            REPAYMENT_MAIL_SHARE,
        )
    )
    days_before = rng.integers(30, 1500, n)
    created_days = np.maximum(np.datetime64(plan.start, "D") - days_before, np.datetime64(CALENDAR_START, "D"))
    created_at = moments(rng, created_days, working_times(rng, n), 0, np.iinfo(np.int64).max)
    numbering = rng.choice(len(SLIP_NUMBERINGS), n, p=[share for share, *_ in SLIP_NUMBERINGS])
    low = np.array([low for _, low, _, _ in SLIP_NUMBERINGS])[numbering]
    high = np.array([high for _, _, high, _ in SLIP_NUMBERINGS])[numbering]
    weights = rng.lognormal(0.0, 1.0, n)  # a few big merchants, many small ones
    columns = {
        "merchant_id": [f"M{i + 1:06d}" for i in range(n)],
        "name": [],
        "name_kana": [],
        "name_en": [],
        "email": [],
        "payout_cycle": np.where(cycle, TWICE_MONTHLY, MONTHLY),
        "fee_rate_bp": rng.choice(FEE_RATES_BP, n),
        "transfer_fee": rng.choice(TRANSFER_FEES, n),
        "minimum_payout": rng.choice(MINIMUM_PAYOUTS, n),
        "repayment_mail_enabled": repayment_mail,
        "created_at": timestamps(created_at),
    }
    traits = {
        "holder_kana": [],
        "created_at": created_at,
        "weight": weights / weights.sum(),
        "slip_number_base": low + (rng.random(n) * (high - low)).astype(np.int64),
        "slip_number_width": np.array([width for *_, width in SLIP_NUMBERINGS])[numbering],
    }
    for i in range(n):
        word, word_kana, word_en = STORE_WORDS[store[i]]
        kind, kind_kana, kind_en = TRADE_WORDS[trade[i]]
        prefix, holder_prefix, suffix_en, _ = COMPANY_FORMS[form[i]]
        kana = word_kana + kind_kana
        english = f"{word_en} {kind_en}{suffix_en}"
        columns["name"].append(f"{prefix}{word}{kind}")
        columns["name_kana"].append(None if no_kana[i] else to_zengin_kana(kana) if half_width[i] else kana)
        columns["name_en"].append(None if no_english[i] else english)
        columns["email"].append(None if no_email[i] else f"{email_name(english)}.{i + 1}@example.com")
        traits["holder_kana"].append(to_zengin_kana(holder_prefix + kana))
    return columns, traits


def bank_account_columns(plan: MerchantPlan, merchant_ids: list[str], traits: dict, branches: dict) -> dict:
    """Each merchant's account from its start; some change to a second one within the period.
    `branches`: {bank code: [(bank kana, branch code, branch kana), ...]} from the bank master,
    branches in code order, for each of BANK_CODES."""
    rng = seeded(plan.seed, BANK_ACCOUNT_STREAM)
    n = plan.merchants
    changes = np.flatnonzero(labels(rng, n, [plan.bank_account_change_share]))
    owner = np.concatenate([np.arange(n), changes])
    accounts = len(owner)
    start = np.datetime64(plan.start, "D")
    change_days = start + rng.integers(0, (plan.end - plan.start).days + 1, len(changes))
    as_of = int(plan.registered_until.timestamp())
    change_moments = moments(rng, change_days, working_times(rng, len(changes)), 0, as_of)
    bank = rng.integers(0, len(BANK_CODES), accounts)
    at_bank = [branches[BANK_CODES[b]] for b in bank]
    chosen = [listed[int(u * len(listed))] for listed, u in zip(at_bank, rng.random(accounts), strict=True)]
    return {
        "merchant_id": [merchant_ids[m] for m in owner],
        "bank_code": [BANK_CODES[b] for b in bank],
        "bank_name_kana": [to_zengin_kana(bank_kana) for bank_kana, _, _ in chosen],
        "branch_code": [branch_code for _, branch_code, _ in chosen],
        "branch_name_kana": [to_zengin_kana(branch_kana) for _, _, branch_kana in chosen],
        "account_type": np.where(rng.random(accounts) < CHECKING_ACCOUNT_SHARE, "checking", "ordinary"),
        "account_number": [f"{v:07d}" for v in rng.integers(0, 10**7, accounts)],
        "holder_kana": [traits["holder_kana"][m] for m in owner],
        "effective_from": timestamps(np.concatenate([traits["created_at"], change_moments])),
    }
