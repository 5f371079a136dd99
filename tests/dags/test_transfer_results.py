"""The transfer_results DAG end to end (dag.test, the business database on SQLite and PostgreSQL):
the bank's result file put in the folder is recorded, the merchant and operators mailed, the file
moved to done/; a second run finds nothing; a record matching no transfer fails the run at once."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

import kessai_tasks
from kessai.db.database import kessai_home
from kessai.db.schema import mail_outbox, payout_adjustments, payout_transfer_returns
from kessai.payout.closing import run_payout_closing
from kessai.payout.transfer_files import run_payout_transfer_files
from support.payout_builders import add_bank_account, add_merchant, add_slip, at

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
def returned_file(business, monkeypatch):
    """M1's January 100,000 yen, paid Thursday 2027-02-25 (file built Monday 2/22), returned by the
    bank as 振込不能 (口座名義相違, 02): the result file is in the results folder."""
    for name, value in REMITTER.items():
        monkeypatch.setenv(f"KESSAI_ZENGIN_{name}", value)
    monkeypatch.setitem(kessai_tasks.DEFAULT_ARGS, "retries", 0)
    with business.begin() as connection:
        add_merchant(connection, "M1", email="m1@example.jp")
        add_bank_account(connection, "M1", at("2026-12-01"))
        add_slip(connection, "M1", 100_000, registered_at=at("2027-01-12"))
    for closing in ("2027-01-31", "2027-02-15"):
        run_payout_closing(business, D(closing))
    run_payout_transfer_files(business, D("2027-02-22"), kessai_home())
    content = (kessai_home() / "transfers" / "2027-02-25" / "sogofurikomi-20270225-01.txt").read_bytes()
    record = content.split(b"\r\n")[1]
    folder = kessai_home() / "transfer-results"
    folder.mkdir(parents=True)
    path = folder / "FURIKOMI-KEKKA-20270226.txt"
    path.write_bytes(content.replace(record, record[:113] + b"102" + record[116:]))
    return path


def test_a_result_file_is_recorded_once_and_moved_to_done(run_dag, business, returned_file):
    dag_run = run_dag("transfer_results", "2027-02-26")
    assert dag_run.state == "success"
    (imported,) = [
        ti.xcom_pull(task_ids=ti.task_id)
        for ti in dag_run.get_task_instances()
        if ti.task_id == "import_transfer_results"
    ]
    (summary,) = imported["files"]
    assert [(r["merchant_id"], r["amount"], r["reason"]) for r in summary["returned"]] == [
        ("M1", 100_000, "口座名義相違 (02)")
    ]
    assert not returned_file.exists() and (returned_file.parent / "done" / returned_file.name).exists()
    with business.connect() as connection:
        kinds = connection.execute(select(mail_outbox.c.kind).order_by(mail_outbox.c.mail_id)).scalars().all()
        assert connection.execute(select(func.count()).select_from(payout_transfer_returns)).scalar() == 1
        assert connection.execute(select(func.sum(payout_adjustments.c.amount))).scalar() == 100_000
    assert kinds == ["transfer_returned", "operator_alert"]

    again = run_dag("transfer_results", "2027-03-01")  # the next business day: nothing in the folder
    assert again.state == "success"


def test_a_record_that_matches_nothing_fails_the_run_at_once(run_dag, business, returned_file):
    content = returned_file.read_bytes()
    returned_file.write_bytes(content.replace(b"0000000001", b"0000000077"))  # no statement 77 (nor account)
    dag_run = run_dag("transfer_results", "2027-02-26")
    assert dag_run.state == "failed"
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == "import_transfer_results"]
    assert ti.try_number == 1
    with business.connect() as connection:
        assert connection.execute(select(func.count()).select_from(payout_transfer_returns)).scalar() == 0
        alerts = (
            connection.execute(select(mail_outbox.c.subject).where(mail_outbox.c.kind == "operator_alert"))
            .scalars()
            .all()
        )
    assert any("照合できない明細 1 件" in subject for subject in alerts)
