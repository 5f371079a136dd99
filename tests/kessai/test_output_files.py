"""Files on disk (kessai.files.output_files): names from data stay inside their output folder, files and
folders get their modes, and no temporary `.part` outlives a failed or killed run; the statement,
transfer and transmission files on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import stat
import time
from datetime import date

import pytest
from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from kessai.db.schema import card_companies
from kessai.errors import Refusal
from kessai.files.output_files import (
    SWEEP_GRACE_SECONDS,
    ModeSettingError,
    UnsafeFileName,
    check_name,
    file_mode,
    safe_child,
    write_files,
    write_path,
)
from kessai.payout.closing import run_payout_closing
from kessai.payout.statement_files import run_statement_files
from kessai.payout.transfer_files import run_payout_transfer_files
from kessai.transmission.daily import run_transmission
from kessai.transmission.files import BadFileCode, Destination, check_file_code
from support.payout_builders import add_bank_account, add_slip, at
from support.payout_builders import add_merchant as add_payout_merchant
from support.transmission_builders import D, add_confirmed, add_merchant

LONG = "x" * 256


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def age(path, seconds: float) -> None:
    """Make the file look last written `seconds` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


# -- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "..",
        ".",
        "",
        "../x",
        "../../../../tmp/x_20261207.csv",
        "/tmp/x",
        "a/b",
        "a\\b",
        "a\x00b",
        "a\nb",
        LONG,
        "あ" * 86,
    ],  # 258 bytes in UTF-8
)
def test_a_name_that_is_not_one_plain_file_is_refused(tmp_path, name):
    with pytest.raises(UnsafeFileName) as refused:
        safe_child(tmp_path, name)
    assert isinstance(refused.value, Refusal)
    assert "cannot be a file in its output folder" in str(refused.value)
    with pytest.raises(UnsafeFileName):
        write_files(tmp_path / "out", {"ok.csv": b"1", name: b"2"})
    assert not (tmp_path / "out" / "ok.csv").exists()  # every name is checked before any write


def test_plain_names_pass():
    assert check_name("statement-M2%2FX.csv") == "statement-M2%2FX.csv"
    assert check_name("..csv") == "..csv"  # dots inside a name are no folder reference
    assert check_name("x" * 255) == "x" * 255


def test_a_file_code_is_letters_and_digits_in_code():
    assert check_file_code("VM", owner="card company visa_master") == "VM"
    for code in ("../../../../tmp/x", "V/M", "V M", "", "VM\x00", "ＶＭ"):
        with pytest.raises(BadFileCode, match="is not letters and digits only"):
            check_file_code(code, owner="card company x")


def test_the_database_refuses_a_file_code_that_is_not_letters_and_digits(engine):
    for code in ("../../x", "/tmp/x", "V/M", "A.B", "", "V\\M"):  # 8 characters at most (varchar(8))
        with pytest.raises(IntegrityError, match="ck_card_companies_file_code"), engine.begin() as connection:
            connection.execute(insert(card_companies).values(card_company="bad", name="Bad", file_code=code))
    with engine.begin() as connection:
        connection.execute(insert(card_companies).values(card_company="unionpay", name="UnionPay", file_code="UP1"))
        with pytest.raises(IntegrityError, match="ck_card_companies_file_code"):
            connection.execute(
                update(card_companies).where(card_companies.c.card_company == "jcb").values(file_code="../x")
            )


def test_a_transmission_file_name_from_a_bad_code_never_leaves_its_folder(tmp_path):
    destination = Destination.from_url(str(tmp_path / "transmissions"))
    with pytest.raises(UnsafeFileName):
        destination.path(D("2026-12-07"), "../../../../tmp/x_20261207.csv")


# -- modes ----------------------------------------------------------------------------------------


def test_files_are_0640_in_0750_folders_whatever_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        written = write_files(tmp_path / "statements" / "2027-01-31", {"a.csv": b"1"})
    finally:
        os.umask(previous)
    assert mode(written[0]) == 0o640
    assert mode(tmp_path / "statements" / "2027-01-31") == 0o750
    assert mode(tmp_path / "statements") == 0o750


def test_the_modes_are_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("KESSAI_FILE_MODE", "0600")
    monkeypatch.setenv("KESSAI_DIR_MODE", "700")
    written = write_files(tmp_path / "out", {"a.csv": b"1"})
    assert mode(written[0]) == 0o600 and mode(tmp_path / "out") == 0o700
    monkeypatch.setenv("KESSAI_FILE_MODE", "rw-r-----")
    with pytest.raises(ModeSettingError, match="KESSAI_FILE_MODE='rw-r-----' is not a file mode"):
        file_mode()


def test_an_existing_folder_and_file_get_the_modes_on_the_next_write(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    (folder / "a.csv").write_bytes(b"old")
    os.chmod(folder / "a.csv", 0o644)
    write_files(folder, {"a.csv": b"new"})
    assert mode(folder) == 0o750 and mode(folder / "a.csv") == 0o640
    assert (folder / "a.csv").read_bytes() == b"new"


def test_statement_and_transfer_files_get_their_modes(engine, tmp_path, monkeypatch):
    for field, value in {
        "REMITTER_CODE": "42",
        "NAME": "ｹｯｻｲ",
        "BANK_CODE": "0005",
        "BANK_NAME": "",
        "BRANCH_CODE": "001",
        "BRANCH_NAME": "",
        "ACCOUNT_TYPE": "ordinary",
        "ACCOUNT_NUMBER": "7777777",
    }.items():
        monkeypatch.setenv(f"KESSAI_ZENGIN_{field}", value)
    with engine.begin() as connection:
        add_payout_merchant(connection, "M1", "monthly")
        add_bank_account(connection, "M1", at("2026-12-01"), holder_kana="ｽｽﾞｷ")
        add_slip(connection, "M1", 10_000, registered_at=at("2027-01-10"))
    run_payout_closing(engine, date(2027, 1, 31))
    run_statement_files(engine, date(2027, 1, 31), tmp_path)
    statements = tmp_path / "statements" / "2027-01-31"
    assert {p.name: mode(p) for p in statements.iterdir()} == {
        "statement-M1.csv": 0o640,
        "slips-M1.csv": 0o640,
        "closing-summary.csv": 0o640,
    }
    assert mode(statements) == 0o750 and mode(tmp_path / "statements") == 0o750

    run_payout_closing(engine, date(2027, 2, 15))  # the twice-monthly closing also paid on 2/25
    run_payout_transfer_files(engine, date(2027, 2, 22), tmp_path)  # 2/23 is a holiday: 2/24, 2/25 ahead
    transfers = tmp_path / "transfers" / "2027-02-25"
    assert {p.name: mode(p) for p in transfers.iterdir()} == {"sogofurikomi-20270225-01.txt": 0o600}
    assert mode(transfers) == 0o750

    # A lost transfer file is re-created by the next run, 0600 again.
    (transfers / "sogofurikomi-20270225-01.txt").unlink()
    run_payout_transfer_files(engine, date(2027, 2, 22), tmp_path)
    assert mode(transfers / "sogofurikomi-20270225-01.txt") == 0o600


def transmission_day(engine) -> None:
    with engine.begin() as connection:
        add_merchant(connection)
        add_confirmed(connection, "1", "2026-12-30 10:00", amount=2500)


def test_transmission_files_get_their_modes(engine, tmp_path):
    transmission_day(engine)
    destination = Destination.from_url(str(tmp_path / "transmissions"))
    run_transmission(engine, D("2027-01-04"), destination)
    folder = tmp_path / "transmissions" / "2027-01-04"
    assert {p.name: mode(p) for p in folder.iterdir()} == {"VM_20270104.csv": 0o640, "VM_20270104.csv.sha256": 0o640}
    assert mode(folder) == 0o750


# -- temporary files ------------------------------------------------------------------------------


def test_a_failed_write_leaves_no_part_file(tmp_path):
    folder = tmp_path / "out"
    (folder / "a.csv").mkdir(parents=True)  # the place is taken by a folder: the rename fails
    with pytest.raises(OSError):
        write_files(folder, {"a.csv": b"1"})
    assert [p.name for p in folder.iterdir()] == ["a.csv"]
    with pytest.raises(OSError):
        write_path(tmp_path / "missing" / "rejects.csv", b"1")
    assert not (tmp_path / "missing").exists()


def test_the_next_run_sweeps_what_a_killed_run_left_and_spares_a_writer_at_work(tmp_path):
    root = tmp_path / "statements"
    old_day, today = root / "2027-01-15", root / "2027-01-31"
    old_day.mkdir(parents=True)
    killed = old_day / ".statement-M1.csv.0123456789abcdef.part"
    killed.write_bytes(b"half")
    age(killed, SWEEP_GRACE_SECONDS + 60)
    legacy = old_day / ".statement-M2.csv.partial"
    legacy.write_bytes(b"half")
    age(legacy, 86_400)
    working = old_day / ".statement-M3.csv.fedcba9876543210.part"
    working.write_bytes(b"being written")  # another run's, written a moment ago
    kept = old_day / "notes.part"  # not one of ours (no leading dot)
    kept.write_bytes(b"x")
    age(kept, 86_400)

    write_files(today, {"statement-M1.csv": b"1"})
    assert sorted(p.name for p in old_day.iterdir()) == sorted([working.name, kept.name])
    assert [p.name for p in today.iterdir()] == ["statement-M1.csv"]


def test_a_transmission_sweeps_the_part_files_a_killed_run_left(engine, tmp_path):
    transmission_day(engine)
    destination = Destination.from_url(str(tmp_path / "transmissions"))
    folder = tmp_path / "transmissions" / "2026-12-02"
    folder.mkdir(parents=True)
    killed = folder / ".VM_20261202.csv.3f2a9c0e5b6d4e7f8a9b0c1d2e3f4a5b.part"
    killed.write_bytes(b'"H","KESSAI"')
    age(killed, 3_600)
    run_transmission(engine, D("2027-01-04"), destination)
    assert list(folder.iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "transmissions" / "2027-01-04").iterdir()) == [
        "VM_20270104.csv",
        "VM_20270104.csv.sha256",
    ]
