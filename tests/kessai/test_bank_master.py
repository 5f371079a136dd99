"""The bank master on SQLite and PostgreSQL: loading it (zengin-code, a bank-master file, again),
checking an account when it is registered, and before a transfer file is built.

Every test database starts with the pinned zengin-code master loaded (tests/conftest.py). The codes
are real: MUFG (0005) 本店 001 ホンテン and 丸の内 002 マルノウチ, Mizuho (0001) 東京営業部 001
トウキヨウ; MUFG has no branch 999 and no bank has the code 0003."""

from __future__ import annotations

import csv
from datetime import date, datetime

import pytest
from sqlalchemy import delete, func, select, update

from kessai.cli import main
from kessai.db.schema import (
    bank_accounts,
    bank_master_versions,
    mail_outbox,
    master_branches,
    payout_transfers,
    payout_withheld_transfers,
)
from kessai.payout.bank_accounts import register_bank_account
from kessai.payout.bank_master import (
    BankMasterError,
    check_account,
    file_master,
    package_master,
    update_bank_master,
)
from kessai.payout.closing import run_payout_closing
from kessai.payout.transfer_files import TransferFileError, format_summary, run_payout_transfer_files
from kessai.payout.zengin import parse_transfer_file, to_zengin_kana
from support.payout_builders import add_bank_account, add_merchant, add_slip, at

D = date.fromisoformat
LOADED = datetime.fromisoformat("2027-03-01T09:00:00+09:00")
REMITTER = {
    "REMITTER_CODE": "1234567890",
    "NAME": "カ）ケッサイ",
    "BANK_CODE": "0005",
    "BANK_NAME": "ミツビシユーエフジェイ",
    "BRANCH_CODE": "001",
    "BRANCH_NAME": "ホンテン",
    "ACCOUNT_TYPE": "checking",
    "ACCOUNT_NUMBER": "7777777",
}


@pytest.fixture
def remitter(monkeypatch):
    for field, value in REMITTER.items():
        monkeypatch.setenv(f"KESSAI_ZENGIN_{field}", value)


def master_file(tmp_path, leave_out=(), rename=None, name="ginko.csv"):
    """The package's master as a bank-master CSV file, without the branches `leave_out`."""
    master = package_master()
    path = tmp_path / name
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["bank_code", "bank_name", "bank_kana", "branch_code", "branch_name", "branch_kana"])
        for (bank, branch), (branch_name, branch_kana) in sorted(master.branches.items()):
            if (bank, branch) in leave_out:
                continue
            if rename and (bank, branch) == rename[0]:
                branch_name, branch_kana = rename[1]
            writer.writerow([bank, *master.banks[bank], branch, branch_name, branch_kana])
    return path


# -- loading -------------------------------------------------------------------------------------


def test_the_package_master_is_loaded_once_and_again_changes_nothing(engine):
    master = package_master()
    assert master.version == "1.1.0.20260824" and master.published_on == D("2026-08-24")
    assert (len(master.banks), len(master.branches)) == (1146, 28944)
    with engine.begin() as connection:
        again = update_bank_master(connection, master, LOADED, LOADED.date())
        assert again.changed is False
        assert connection.execute(select(func.count()).select_from(bank_master_versions)).scalar() == 1
        assert connection.execute(select(func.count()).select_from(master_branches)).scalar() == 28944
        assert connection.execute(
            select(master_branches.c.name, master_branches.c.kana).where(
                master_branches.c.bank_code == "0005", master_branches.c.branch_code == "001"
            )
        ).one() == ("本店", "ホンテン")


def test_a_newer_master_without_a_branch_marks_it_merged_away_and_one_listing_it_again_brings_it_back(engine, tmp_path):
    newer = file_master(
        master_file(
            tmp_path, leave_out={("0005", "002")}, rename=(("0005", "001"), ("本店営業部", "ホンテンエイギヨウブ"))
        ),
        version="2027-03",
    )
    with engine.begin() as connection:
        done = update_bank_master(connection, newer, LOADED, LOADED.date())
        assert done.branch_changes == {"added": 0, "changed": 1, "removed": 1}
        assert done.bank_changes == {"added": 0, "changed": 0, "removed": 0}
        with pytest.raises(
            BankMasterError,
            match=r"^branch 002 of bank 0005 is no longer in the bank master since "
            r"bank-master version 2027-03 \(merged away or closed\): check",
        ):
            check_account(connection, "0005", "002")
        assert check_account(connection, "0005", "001").branch_kana == "ホンテンエイギヨウブ"
        # The same file again: nothing.
        assert update_bank_master(connection, newer, LOADED, LOADED.date()).changed is False
        back = update_bank_master(connection, package_master(), LOADED, LOADED.date())
        assert back.branch_changes == {"added": 0, "changed": 2, "removed": 0}
        assert check_account(connection, "0005", "002").branch_name == "丸の内"
        assert connection.execute(select(func.count()).select_from(bank_master_versions)).scalar() == 3


def test_a_bank_master_file_in_shift_jis_with_half_width_kana(engine, tmp_path):
    path = tmp_path / "master.csv"
    path.write_bytes(
        "bank_code,bank_name,bank_kana,branch_code,branch_name,branch_kana\r\n"
        "0001,みずほ,ﾐｽﾞﾎ,001,東京営業部,ﾄｳｷﾖｳ\r\n".encode("cp932")
    )
    master = file_master(path, version="v1")
    assert master.banks == {"0001": ("みずほ", "ミズホ")}
    assert master.branches == {("0001", "001"): ("東京営業部", "トウキヨウ")}
    bad = tmp_path / "bad.csv"
    bad.write_text("bank_code,bank_name,bank_kana,branch_code,branch_name,branch_kana\n0001,みずほ,ミズホ,01,x,ｱ\n")
    with pytest.raises(BankMasterError, match=r"^the bank master's file bad.csv line 2: code '01' is not 3 digits$"):
        file_master(bad)


# -- registering an account ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bank", "branch", "message"),
    [
        ("0005", "999", "bank 0005 has no branch 999 in the bank master: check the codes with the merchant"),
        ("0003", "001", "bank 0003 is not in the bank master: check"),
        ("5", "001", "bank code '5' must be exactly 4 digits"),
    ],
)
def test_registering_an_account_the_master_refuses_is_one_line(engine, bank, branch, message):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        with pytest.raises(BankMasterError, match=message):
            register_bank_account(
                connection,
                "M1",
                bank_code=bank,
                branch_code=branch,
                account_type="ordinary",
                account_number="1234567",
                holder_kana="ﾔﾏﾀﾞ",
                effective_from=at("2027-01-05"),
            )
        assert connection.execute(select(func.count()).select_from(bank_accounts)).scalar() == 0


def test_the_command_registers_an_account_with_the_masters_names(business, capsys):
    with business.begin() as connection:
        add_merchant(connection, "M1")
    assert (
        main(
            [
                "bank-account",
                "add",
                "M1",
                "--bank",
                "0005",
                "--branch",
                "999",
                "--number",
                "1234567",
                "--holder",
                "ヤマダ",
            ]
        )
        == 1
    )
    (error,) = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("clock: ")]
    assert error.startswith("error: bank 0005 has no branch 999 in the bank master")
    assert (
        main(
            ["bank-account", "add", "M1", "--bank", "0005", "--branch", "002", "--number", "123", "--holder", "ヤマダ"]
        )
        == 1
    )
    assert (
        "account number '123' must be 7 digits (write a shorter one with zeros before it: 0000123)"
        in capsys.readouterr().err
    )
    assert (
        main(
            [
                "bank-account",
                "add",
                "M1",
                "--bank",
                "0005",
                "--branch",
                "002",
                "--number",
                "0123456",
                "--holder",
                "ヤマダ",
                "--from",
                "2027-01-05T10:00+09:00",
            ]
        )
        == 0
    )
    assert "bank 0005 三菱ＵＦＪ (ミツビシユ-エフジエイ), branch 002 丸の内 (マルノウチ)" in capsys.readouterr().out
    with business.connect() as connection:
        row = connection.execute(select(bank_accounts)).mappings().one()
    assert (row["bank_name_kana"], row["branch_name_kana"], row["account_number"]) == (
        "ミツビシユ-エフジエイ",
        "マルノウチ",
        "0123456",
    )


def test_bank_master_update_command(business, capsys):
    assert main(["bank-master", "update"]) == 0
    assert "already loaded (2026-11-30 09:00 JST); nothing changed" in capsys.readouterr().out
    with business.begin() as connection:
        connection.execute(delete(bank_master_versions))
    assert main(["bank-master", "show"]) == 1
    assert capsys.readouterr().err == (
        "error: the bank master is empty (never loaded): run `python -m kessai bank-master update`, then this again\n"
    )
    assert main(["bank-master", "update"]) == 0
    assert "loaded. Banks 0 added, 0 changed, 0 gone; branches 0 added, 0 changed, 0 gone" in capsys.readouterr().out


# -- before a transfer file ---------------------------------------------------------------------


def january_closing(engine) -> dict[str, int]:
    """Four monthly merchants, paid 2027-02-25 for the January closing: A at a real branch, B at a
    branch MUFG does not have, C at a bank that does not exist, D at MUFG 丸の内 (merged away in
    the tests that load a newer master)."""
    accounts = {}
    with engine.begin() as connection:
        for merchant, bank, branch, amount in (
            ("A", "0001", "001", 10_000),
            ("B", "0005", "999", 20_000),
            ("C", "0003", "001", 30_000),
            ("D", "0005", "002", 40_000),
        ):
            add_merchant(connection, merchant)
            accounts[merchant] = add_bank_account(
                connection,
                merchant,
                at("2026-12-01"),
                bank_code=bank,
                branch_code=branch,
                bank_name_kana="ｷﾞﾝｺｳ",
                branch_name_kana="ｼﾃﾝ",
            )
            add_slip(connection, merchant, amount, registered_at=at("2027-01-12"))
    run_payout_closing(engine, D("2027-01-31"))
    run_payout_closing(engine, D("2027-02-15"))  # twice-monthly closings pay on 2/25 too
    return accounts


def alerts(engine):
    with engine.connect() as connection:
        return connection.execute(
            select(mail_outbox.c.subject, mail_outbox.c.body).where(
                mail_outbox.c.dedupe_key.like("payout_transfers_withheld:%")
            )
        ).all()


def test_transfers_to_banks_and_branches_the_master_does_not_list_are_withheld_not_the_file(engine, tmp_path, remitter):
    accounts = january_closing(engine)
    with engine.begin() as connection:
        update_bank_master(
            connection,
            file_master(master_file(tmp_path, leave_out={("0005", "002")}), version="2027-02"),
            LOADED,
            LOADED.date(),
        )
    # 2027-02-24 builds the files of 2/25 and 2/26 (2/23 is 天皇誕生日).
    summary = run_payout_transfer_files(engine, D("2027-02-24"), tmp_path)
    (payout,) = summary.payout_dates
    assert (payout["payout_date"], payout["in_files"], payout["not_filed"]) == ("2027-02-25", 10_000, 90_000)
    parsed = parse_transfer_file((tmp_path / "transfers" / "2027-02-25" / payout["built"]).read_bytes())
    (transfer,) = parsed.transfers
    # The names come from the master, not from what the merchant typed (ｷﾞﾝｺｳ / ｼﾃﾝ).
    assert (transfer.bank_code, transfer.bank_name, transfer.branch_code, transfer.branch_name) == (
        "0001",
        "ﾐｽﾞﾎ",
        "001",
        "ﾄｳｷﾖｳ",
    )
    assert transfer.new_code == "1"  # the first transfer to merchant A
    assert [(w["merchant_id"], w["reason"], w["slip_count"]) for w in summary.withheld] == [
        ("B", "unknown_branch", 1),
        ("C", "unknown_bank", 1),
        ("D", "branch_merged_away", 1),
    ]
    text = format_summary(summary)
    assert (
        "WITHHELD: merchant D, bank account {} (40,000 yen, payout 2027-02-25, closing 2027-01-31): branch 002 of "
        "bank 0005 is no longer in the bank master since bank-master version 2027-02 (merged away or closed) "
        "(branch_merged_away); in no file until bank account {} is corrected"
    ).format(accounts["D"], accounts["D"]) in text
    (alert,) = alerts(engine)
    assert alert.subject == "[kessai] 振込 3 件を振込ファイルから除外しました (2027-02-24)"
    assert "店舗 B  締め日 2027-01-31" in alert.body
    assert "金融機関マスタにない口座 (unknown_branch): bank 0005 has no branch 999 in the bank master" in alert.body
    assert "未送信の伝票" not in alert.body

    # A re-run files nothing again and mails nothing again.
    again = run_payout_transfer_files(engine, D("2027-02-24"), tmp_path)
    assert again.payout_dates[0]["built"] is None and len(again.withheld) == 3
    assert len(alerts(engine)) == 1

    # B's account is corrected to its real branch: the next run files it in a second file of 2/25.
    with engine.begin() as connection:
        connection.execute(
            update(bank_accounts).where(bank_accounts.c.bank_account_id == accounts["B"]).values(branch_code="001")
        )
    later = run_payout_transfer_files(engine, D("2027-02-24"), tmp_path)
    assert later.payout_dates[0]["built"] == "sogofurikomi-20270225-02.txt"
    (b,) = parse_transfer_file(
        (tmp_path / "transfers" / "2027-02-25" / "sogofurikomi-20270225-02.txt").read_bytes()
    ).transfers
    assert (b.bank_name, b.branch_name, b.amount) == ("ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ", "ﾎﾝﾃﾝ", 20_000)
    with engine.connect() as connection:
        recorded = connection.execute(
            select(payout_withheld_transfers.c.bank_account_id, payout_withheld_transfers.c.reason).order_by(
                payout_withheld_transfers.c.bank_account_id
            )
        ).all()
    assert recorded == [
        (accounts["B"], "unknown_branch"),
        (accounts["C"], "unknown_bank"),
        (accounts["D"], "branch_merged_away"),
    ]


def test_no_transfer_file_before_the_bank_master_is_loaded(engine, tmp_path, remitter):
    january_closing(engine)
    with engine.begin() as connection:
        connection.execute(delete(bank_master_versions))
    with pytest.raises(
        BankMasterError, match=r"^the bank master is empty \(never loaded\): run `python -m kessai bank-master update`"
    ):
        run_payout_transfer_files(engine, D("2027-02-24"), tmp_path)
    assert not (tmp_path / "transfers").exists()


def test_new_code_marks_the_first_transfer_and_the_first_to_a_changed_account_and_a_file_keeps_its_names(
    engine, tmp_path, remitter
):
    with engine.begin() as connection:
        add_merchant(connection, "M")
        first = add_bank_account(connection, "M", at("2026-12-01"), bank_code="0005", branch_code="001")
        add_slip(connection, "M", 10_000, registered_at=at("2027-01-12"))
        add_slip(connection, "M", 20_000, registered_at=at("2027-02-10"))
        second = add_bank_account(connection, "M", at("2027-03-01"), bank_code="0005", branch_code="002")
        add_slip(connection, "M", 30_000, registered_at=at("2027-03-10"))
    codes = []
    # Each month-end closing and the next 15th (twice-monthly closings pay on the same 25th).
    for closings, day, payout in (
        (("2027-01-31", "2027-02-15"), "2027-02-24", "2027-02-25"),
        (("2027-02-28", "2027-03-15"), "2027-03-23", "2027-03-25"),
        (("2027-03-31", "2027-04-15"), "2027-04-22", "2027-04-23"),
    ):
        for closing in closings:
            run_payout_closing(engine, D(closing))
        summary = run_payout_transfer_files(engine, D(day), tmp_path)
        built = next(p["built"] for p in summary.payout_dates if p["payout_date"] == payout)
        (t,) = parse_transfer_file((tmp_path / "transfers" / payout / built).read_bytes()).transfers
        codes.append((t.customer_code_2, t.new_code))
    # 1: the first transfer to the merchant; 0: the same account again; 2: the first to its new account.
    assert codes == [(first, "1"), (first, "0"), (second, "2")]

    # A newer master renames MUFG 本店: a lost file is re-created with the names it was built with.
    path = tmp_path / "transfers" / "2027-02-25" / "sogofurikomi-20270225-01.txt"
    built = path.read_bytes()
    path.unlink()
    with engine.begin() as connection:
        update_bank_master(
            connection,
            file_master(
                master_file(tmp_path, rename=(("0005", "001"), ("本店", "ホンテンエイギヨウブ"))), version="2027-05"
            ),
            LOADED,
            LOADED.date(),
        )
    run_payout_transfer_files(engine, D("2027-02-24"), tmp_path)
    assert path.read_bytes() == built
    with engine.connect() as connection:
        assert connection.execute(
            select(payout_transfers.c.new_code, payout_transfers.c.branch_name_kana).order_by(
                payout_transfers.c.payout_date
            )
        ).all() == [("1", "ホンテン"), ("0", "ホンテン"), ("2", "マルノウチ")]


def test_every_name_in_the_master_fits_the_zengin_character_set():
    master = package_master()
    for kana in [k for _, k in master.banks.values()] + [k for _, k in master.branches.values()]:
        to_zengin_kana(kana)  # raises on a character it cannot write


def test_a_remitter_account_the_master_does_not_list_refuses_the_file(engine, tmp_path, remitter, monkeypatch):
    january_closing(engine)
    monkeypatch.setenv("KESSAI_ZENGIN_BRANCH_CODE", "999")
    with pytest.raises(
        TransferFileError,
        match=r"^the remitter's account \(KESSAI_ZENGIN_BANK_CODE 0005, "
        r"KESSAI_ZENGIN_BRANCH_CODE 999\): bank 0005 has no branch 999",
    ):
        run_payout_transfer_files(engine, D("2027-02-24"), tmp_path)
    assert not (tmp_path / "transfers").exists()
