"""The payout sub-commands of `python -m kessai`, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from kessai.cli import main
from kessai.db.database import make_engine
from kessai.db.schema import slips
from support.payout_builders import add_bank_account, add_merchant, add_slip, at

REMITTER = {
    "REMITTER_CODE": "42",
    "NAME": "ケッサイ",
    "BANK_CODE": "0005",
    "BANK_NAME": "",
    "BRANCH_CODE": "001",
    "BRANCH_NAME": "",
    "ACCOUNT_TYPE": "ordinary",
    "ACCOUNT_NUMBER": "7777777",
}


def test_fill_closing_dates_close_build_and_read_the_transfer_file(business_database, tmp_path, monkeypatch, capsys):
    for field, value in REMITTER.items():
        monkeypatch.setenv(f"KESSAI_ZENGIN_{field}", value)
    engine = make_engine(business_database)
    with engine.begin() as connection:
        add_merchant(connection, "T1", "twice_monthly", transfer_fee=110)
        add_bank_account(connection, "T1", at("2026-12-01"), holder_kana="ｽｽﾞｷ")
        first = add_slip(connection, "T1", 10_000, registered_at=at("2027-01-05"))
        add_slip(connection, "T1", 5_000, registered_at=at("2027-01-20"))

    # After a bulk load: the closing dates, filled once ahead of closing night.
    assert main(["assign-closing-dates"]) == 0
    assert "2 confirmed slips got their closing date (0 of them" in capsys.readouterr().out
    with engine.connect() as connection:
        assert connection.execute(select(slips.c.closing_date).where(slips.c.slip_id == first)).scalar() == date(
            2027, 1, 15
        )

    assert main(["payout-close", "2027-01-16"]) == 1
    assert "2027-01-16 is not a closing date" in capsys.readouterr().err
    assert main(["payout-close", "2027-01-15", "--dry-run"]) == 0
    assert "(dry run: nothing written)" in capsys.readouterr().out
    assert main(["payout-close", "2027-01-15"]) == 0
    out = capsys.readouterr().out
    # 2027-01-25 is a Monday: 10,000 less the transfer fee of 110.
    assert "1 paid, 0 carried forward; payout dates twice_monthly 2027-01-25" in out and "net 9,890 yen" in out

    # Two business days before Monday 1/25: Friday 1/22, then Thursday 1/21.
    assert main(["transfer-files", "2027-01-21"]) == 0
    assert "built sogofurikomi-20270125-01.txt" in capsys.readouterr().out
    path = tmp_path / "kessai_home" / "transfers" / "2027-01-25" / "sogofurikomi-20270125-01.txt"
    assert main(["read-transfer-file", str(path)]) == 0
    out = capsys.readouterr().out
    assert "0001-001 1 1234567 ｽｽﾞｷ" in out and "trailer: 1 transfers, 9,890 yen" in out
    engine.dispose()
