"""Returned transfers (振込不能・組戻し, docs/zengin-transfer-file.md, "Returned transfers"), on
SQLite and PostgreSQL: the bank's result file is the transfer file kessai built, returned with a
result code per record. Dates by hand: M1 (monthly) is paid its January 100,000 yen on Thursday
2027-02-25; the file is built on Monday 2/22 (2/23 is a holiday; the window of 2 business days is
2/24 and 2/25); the bank returns the transfer on 2/26."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from kessai.cli import main
from kessai.db.schema import mail_outbox, payout_adjustments, payout_closings, payout_transfer_returns
from kessai.payout.closing import run_payout_closing
from kessai.payout.transfer_files import run_payout_transfer_files
from kessai.payout.transfer_returns import TransferResultsRefused, format_summary, import_folder, run_import
from kessai.payout.zengin import RECORD_LENGTH, parse_transfer_results
from support.payout_builders import add_bank_account, add_merchant, add_slip, at, statement

D = date.fromisoformat
REMITTER = {
    "REMITTER_CODE": "1234567890",
    "NAME": "カ）ケッサイ",
    "BANK_CODE": "0005",
    "BANK_NAME": "ミツビシ",
    "BRANCH_CODE": "001",
    "BRANCH_NAME": "ホンテン",
    "ACCOUNT_TYPE": "checking",
    "ACCOUNT_NUMBER": "7777777",
}


@pytest.fixture
def remitter(monkeypatch):
    for name, value in REMITTER.items():
        monkeypatch.setenv(f"KESSAI_ZENGIN_{name}", value)
    monkeypatch.setenv("KESSAI_TRANSFER_RETURN_FEE", "440")


def close_through(engine, last: str) -> None:
    from kessai.calendar.rules import TWICE_MONTHLY, closing_dates

    with engine.connect() as connection:
        ran = connection.execute(select(func.max(payout_closings.c.closing_date))).scalar()
    for closing in closing_dates(TWICE_MONTHLY, ran + timedelta(days=1) if ran else D("2027-01-31"), D(last)):
        run_payout_closing(engine, closing)


def returned(transfer_file: bytes, record: int = 2, code: str = "1", reason: str = "01") -> bytes:
    """The transfer file as the bank returns it: data record `record` (the header is 1) with the
    result code at position 114 and the reason at 115-116."""
    lines = transfer_file.split(b"\r\n")
    line = lines[record - 1]
    assert len(line) == RECORD_LENGTH
    lines[record - 1] = line[:113] + code.encode() + reason.encode() + line[116:]
    return b"\r\n".join(lines)


def paid_january(engine, tmp_path, email: str | None = "m1@example.jp") -> tuple[int, bytes]:
    with engine.begin() as connection:
        add_merchant(connection, "M1", email=email)
        add_merchant(connection, "M2", email="m2@example.jp")
        account = add_bank_account(connection, "M1", at("2026-12-01"), account_number="1111111")
        add_bank_account(connection, "M2", at("2026-12-01"), account_number="2222222")
        add_slip(connection, "M1", 100_000, registered_at=at("2027-01-12"))
        add_slip(connection, "M2", 40_000, registered_at=at("2027-01-13"))
        add_slip(connection, "M1", 20_000, registered_at=at("2027-02-15"))
    close_through(engine, "2027-02-15")  # the 15th pays twice-monthly merchants on 2/25 too
    run_payout_transfer_files(engine, D("2027-02-22"), tmp_path)
    content = (tmp_path / "transfers" / "2027-02-25" / "sogofurikomi-20270225-01.txt").read_bytes()
    return account, content


def outbox(engine) -> list[tuple]:
    with engine.connect() as connection:
        return connection.execute(
            select(mail_outbox.c.kind, mail_outbox.c.recipient, mail_outbox.c.subject).order_by(mail_outbox.c.mail_id)
        ).all()


def test_a_returned_transfer_is_paid_again_less_the_fee_once_the_account_changed(engine, tmp_path, remitter):
    account, content = paid_january(engine, tmp_path)
    result_file = tmp_path / "kekka-0226.txt"
    result_file.write_bytes(returned(content))  # record 2: M1's 100,000 (merchants in order)
    parsed, results = parse_transfer_results(result_file.read_bytes())
    assert [(r.result, r.reason_code, r.transfer.amount) for r in results] == [
        ("not_delivered", "01", 100_000),
        ("done", "00", 40_000),
    ]

    summary = run_import(engine, result_file, now=at("2027-02-26", "10:00"))
    assert [(r["merchant_id"], r["amount"], r["return_fee"], r["repaid_from_closing"]) for r in summary.returned] == [
        ("M1", 100_000, 440, "2027-02-28")
    ]
    assert summary.unmatched == [] and summary.already_recorded == []
    mails = outbox(engine)
    assert [(kind, to) for kind, to, _ in mails] == [
        ("transfer_returned", "m1@example.jp"),
        ("operator_alert", "operators@kessai.example"),
    ]
    assert mails[0][2] == "【ASJペイメント】お振込みができませんでした（支払予定日 2027-02-25・100,000円）"
    with engine.connect() as connection:
        body = connection.execute(select(mail_outbox.c.body).where(mail_outbox.c.kind == "transfer_returned")).scalar()
        adjustments = connection.execute(
            select(payout_adjustments.c.kind, payout_adjustments.c.amount, payout_adjustments.c.effective_on).order_by(
                payout_adjustments.c.adjustment_id
            )
        ).all()
    assert "振込不能：該当口座なし (01)" in body and "99,560円をお支払いします" in body
    assert [(k, int(a), e) for k, a, e in adjustments] == [
        ("returned_transfer", 100_000, D("2027-02-26")),
        ("return_fee", -440, D("2027-02-26")),
    ]

    # Read again (the same file, or the same return in another file): nothing changes, nobody is mailed.
    again = run_import(engine, result_file, now=at("2027-02-27"))
    assert (again.returned, [r["statement_id"] for r in again.already_recorded]) == (
        [],
        [summary.returned[0]["statement_id"]],
    )
    other = tmp_path / "kekka-0227.txt"
    other.write_bytes(returned(content, reason="09"))
    run_import(engine, other, now=at("2027-02-27"))
    assert len(outbox(engine)) == 2
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(payout_adjustments)).scalar() == 2
        assert connection.execute(select(func.count()).select_from(payout_transfer_returns)).scalar() == 1

    # February: 20,000 + 100,000 - 440, but the account in effect is the one returned: carried.
    close_through(engine, "2027-02-28")
    with engine.connect() as connection:
        february = statement(connection, "M1", "2027-02-28")
    assert (
        february["gross_amount"],
        february["adjustment_amount"],
        february["net_amount"],
        february["carried_forward"],
        february["transfers"],
    ) == (20_000, 99_560, 0, 119_560, {})

    # The merchant registers a new account from 3/5; March's slips: 50,000 of 3/2 (in the returned
    # account's period: paid to the new one instead) and 10,000 of 3/10.
    with engine.begin() as connection:
        new = add_bank_account(connection, "M1", at("2027-03-05"), account_number="3333333")
        add_slip(connection, "M1", 50_000, registered_at=at("2027-03-02"))
        add_slip(connection, "M1", 10_000, registered_at=at("2027-03-10"))
    close_through(engine, "2027-03-31")
    with engine.connect() as connection:
        march = statement(connection, "M1", "2027-03-31")
    assert (march["gross_amount"], march["carried_in"], march["net_amount"]) == (60_000, 119_560, 179_560)
    assert march["transfers"] == {new: 179_560}
    assert account not in march["transfers"]

    # A backfill (re-run) of February gives the same statement.
    assert run_payout_closing(engine, D("2027-02-28")).rerun is True
    with engine.connect() as connection:
        assert statement(connection, "M1", "2027-02-28") == february


def test_a_record_that_matches_no_transfer_changes_nothing_and_the_command_fails(
    business, tmp_path, remitter, monkeypatch, capsys
):
    _, content = paid_january(business, tmp_path)
    wrong_codes = returned(content, record=3).replace(b"0000000002", b"0000000099", 1)  # no statement 99
    assert wrong_codes != returned(content, record=3)
    result_file = tmp_path / "kekka.txt"
    result_file.write_bytes(wrong_codes)
    monkeypatch.setenv("KESSAI_AS_OF", "2027-02-26T10:00:00+09:00")
    assert main(["import-transfer-results", str(result_file)]) == 1
    captured = capsys.readouterr()
    assert (
        "UNMATCHED: record 3 (statement 99, account 2, 40,000 yen, 振込不能 該当口座なし (01)): no transfer has these customer codes"
        in captured.out
    )
    assert captured.err.strip().splitlines()[-1] == (
        "error: 1 records of kekka.txt match no filed transfer and changed nothing (listed above; operators "
        "alerted): check them with the bank"
    )
    with business.connect() as connection:
        assert connection.execute(select(func.count()).select_from(payout_transfer_returns)).scalar() == 0
        assert connection.execute(select(func.count()).select_from(payout_adjustments)).scalar() == 0
    assert [kind for kind, _, _ in outbox(business)] == ["operator_alert"]


def test_an_amount_that_differs_from_the_transfer_is_unmatched(engine, tmp_path, remitter):
    _, content = paid_january(engine, tmp_path)
    body = returned(content).replace(b"0000100000", b"0000100001", 1).replace(b"000000140000", b"000000140001", 1)
    path = tmp_path / "kekka.txt"
    path.write_bytes(body)
    summary = run_import(engine, path, now=at("2027-02-26"))
    assert summary.returned == []
    assert summary.unmatched[0].endswith(
        "the transfer was 100,000 yen to 0001-001 1111111, the record says 100,001 yen to 0001-001 1111111"
    )


def test_a_folder_of_result_files_moves_each_to_done(engine, tmp_path, remitter):
    _, content = paid_january(engine, tmp_path)
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "kekka-1.txt").write_bytes(returned(content))
    (folder / "kekka-2.txt").write_bytes(content)  # a result file with no return
    result = import_folder(engine, folder, now=at("2027-02-26"))
    assert [(s.file, len(s.returned)) for s in result.files] == [("kekka-1.txt", 1), ("kekka-2.txt", 0)]
    assert sorted(p.name for p in folder.iterdir()) == ["done"]
    assert sorted(p.name for p in (folder / "done").iterdir()) == ["kekka-1.txt", "kekka-2.txt"]
    (folder / "kekka-1.txt").write_bytes(returned(content))  # put there again: recorded already, moved again
    assert import_folder(engine, folder, now=at("2027-02-27")).files[0].already_recorded
    (folder / "broken.txt").write_bytes(b"not a zengin file")
    with pytest.raises(
        TransferResultsRefused, match="transfer result file broken.txt cannot be read: record 1 has 17 bytes"
    ):
        import_folder(engine, folder, now=at("2027-02-27"))
    assert (folder / "broken.txt").exists()  # left where it is


def test_a_merchant_without_an_email_is_named_to_the_operators(engine, tmp_path, remitter):
    _, content = paid_january(engine, tmp_path, email=None)
    path = tmp_path / "kekka.txt"
    path.write_bytes(returned(content, code="2", reason="00"))
    summary = run_import(engine, path, now=at("2027-02-26"))
    assert [(r["result"], r["merchant_mailed"]) for r in summary.returned] == [("recalled", False)]
    with engine.connect() as connection:
        mails = connection.execute(select(mail_outbox.c.kind, mail_outbox.c.subject, mail_outbox.c.body)).all()
    ((kind, subject, body),) = mails
    assert (kind, subject) == ("operator_alert", "[kessai] 振込の返却 1 件（kekka.txt）")
    assert "店舗 M1  締め日 2027-01-31  支払予定日 2027-02-25" in body
    assert "100,000 円 / 組戻し 理由の記載なし (00) / 返却手数料 440 円 / 再振込は 2027-02-28 以降の締め" in body
    assert "この店舗はメールアドレス未登録のため" in body


def test_a_transfer_issued_before_the_return_to_the_same_account_is_named(engine, tmp_path, remitter):
    """T1 (twice-monthly): 30,000 of 1/5 paid Monday 1/25 (file built Thursday 1/21), 12,000 of 1/20
    closed 1/31 for Wednesday 2/10. The 1/25 transfer comes back on 2/1: the 2/10 one, issued
    before, still goes to that account; the operators are told."""
    with engine.begin() as connection:
        add_merchant(connection, "T1", "twice_monthly", email="t1@example.jp")
        account = add_bank_account(connection, "T1", at("2026-12-01"))
        add_slip(connection, "T1", 30_000, registered_at=at("2027-01-05"))
        add_slip(connection, "T1", 12_000, registered_at=at("2027-01-20"))
    run_payout_closing(engine, D("2027-01-15"))
    run_payout_transfer_files(engine, D("2027-01-21"), tmp_path)
    run_payout_closing(engine, D("2027-01-31"))
    content = (tmp_path / "transfers" / "2027-01-25" / "sogofurikomi-20270125-01.txt").read_bytes()
    path = tmp_path / "kekka.txt"
    path.write_bytes(returned(content, reason="03"))
    summary = run_import(engine, path, now=at("2027-02-01", "10:00"))
    assert [r["repaid_from_closing"] for r in summary.returned] == ["2027-02-15"]
    assert [
        (a["payout_date"], a["amount"], a["bank_account_id"], a["file"]) for a in summary.ahead_to_returned_accounts
    ] == [("2027-02-10", 12_000, account, "")]
    assert (
        "AHEAD: merchant T1, statement 2: 12,000 yen to the returned account 1 on 2027-02-10 (in no file yet)"
        in format_summary(summary)
    )
    with engine.connect() as connection:
        body = connection.execute(select(mail_outbox.c.body).where(mail_outbox.c.kind == "operator_alert")).scalar_one()
    assert "店舗 T1  支払予定日 2027-02-10  口座 1  12,000 円  振込ファイル未作成" in body


def test_a_return_listed_twice_in_one_file_is_recorded_once(engine, tmp_path, remitter):
    _, content = paid_january(engine, tmp_path)
    lines = returned(content).split(b"\r\n")
    lines[2] = lines[1]  # record 3 repeats record 2 (M1's 100,000): the trailer says 2 of 200,000
    lines[3] = lines[3][:7] + b"000000200000" + lines[3][19:]
    path = tmp_path / "kekka.txt"
    path.write_bytes(b"\r\n".join(lines))
    summary = run_import(engine, path, now=at("2027-02-26"))
    assert (len(summary.returned), len(summary.already_recorded)) == (1, 1)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(payout_transfer_returns)).scalar() == 1
