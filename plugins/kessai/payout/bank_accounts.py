"""Registering a merchant's payout bank account (お支払先金融機関): checked against the bank master
when it is registered, as the transfer files check it again before each file
(docs/zengin-transfer-file.md, "The bank master")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select

from kessai.db.schema import bank_accounts, merchants
from kessai.payout.bank_master import BankMasterError, check_account
from kessai.payout.zengin import ACCOUNT_TYPE_CODES, ZenginCharacterError, to_zengin_kana


class BankAccountError(BankMasterError):
    """An account that cannot be registered: the reason on one line."""


@dataclass(frozen=True)
class RegisteredAccount:
    bank_account_id: int
    merchant_id: str
    bank: str  # code and name as the master gives them
    branch: str
    account_type: str
    account_number: str
    holder_kana: str
    effective_from: datetime


def register_bank_account(
    connection: Connection,
    merchant_id: str,
    *,
    bank_code: str,
    branch_code: str,
    account_type: str,
    account_number: str,
    holder_kana: str,
    effective_from: datetime,
) -> RegisteredAccount:
    """Add the account the merchant is paid to for slips registered from effective_from on."""
    if (
        connection.execute(select(merchants.c.merchant_id).where(merchants.c.merchant_id == merchant_id)).first()
        is None
    ):
        raise BankAccountError(f"merchant {merchant_id!r} does not exist")
    if account_type not in ACCOUNT_TYPE_CODES:
        raise BankAccountError(f"account type {account_type!r}: expected one of {', '.join(ACCOUNT_TYPE_CODES)}")
    if not (account_number.isascii() and account_number.isdigit() and len(account_number) == 7):
        raise BankAccountError(
            f"account number {account_number!r} must be 7 digits (write a shorter one with zeros before it: "
            f"{account_number.zfill(7) if account_number.isascii() and account_number.isdigit() else '0012345'})"
        )
    try:
        to_zengin_kana(holder_kana)
    except ZenginCharacterError as error:
        raise BankAccountError(f"holder name: {error}") from None
    if not holder_kana.strip():
        raise BankAccountError("holder name (口座名義) is empty: give it in kana as the bank book shows it")
    if effective_from.tzinfo is None:
        raise BankAccountError(f"effective from {effective_from.isoformat()} has no time zone")
    branch = check_account(connection, bank_code, branch_code)
    taken = connection.execute(
        select(bank_accounts.c.bank_account_id).where(
            bank_accounts.c.merchant_id == merchant_id, bank_accounts.c.effective_from == effective_from
        )
    ).first()
    if taken:
        raise BankAccountError(
            f"merchant {merchant_id} already has account {taken[0]} effective from {effective_from.isoformat()}: "
            "give another moment with --from"
        )
    account_id = connection.execute(
        insert(bank_accounts)
        .values(
            merchant_id=merchant_id,
            bank_code=bank_code,
            bank_name_kana=branch.bank_kana,
            branch_code=branch_code,
            branch_name_kana=branch.branch_kana,
            account_type=account_type,
            account_number=account_number,
            holder_kana=holder_kana,
            effective_from=effective_from,
        )
        .returning(bank_accounts.c.bank_account_id)
    ).scalar_one()
    return RegisteredAccount(
        int(account_id),
        merchant_id,
        f"{bank_code} {branch.bank_name} ({branch.bank_kana})",
        f"{branch_code} {branch.branch_name} ({branch.branch_kana})",
        account_type,
        account_number,
        holder_kana,
        effective_from,
    )
