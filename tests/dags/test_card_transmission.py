"""The card_transmission DAG end to end: real Airflow task runs (dag.test), the business database on
SQLite and PostgreSQL, the files in KESSAI_HOME/transmissions. The many edge cases are tested on
the plain functions (tests/kessai/test_transmission*.py); these are the hand-worked scenarios."""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path

from kessai.calendar.run_dates import JAPAN
from support.transmission_builders import (
    D,
    add_confirmed,
    add_merchant,
    add_unconfirmed,
    batches,
    holds,
    marks,
    transmission_state,
)

DAG_ID = "card_transmission"


def transmissions() -> Path:
    return Path(os.environ["KESSAI_HOME"]) / "transmissions"


def written() -> dict[str, bytes]:
    root = transmissions()
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def task_log(caplog, capfd) -> str:
    """What the tasks logged: dag.test sends it to the logging handlers or to stdout, depending on
    what ran before in the process."""
    return caplog.text + capfd.readouterr().out


def run(run_dag, day: str | None = None, **options) -> dict:
    """Run the DAG for one business day; returns what each task returned (read at once: the run
    object does not outlive the next run)."""
    dag_run = run_dag(DAG_ID, day, **options)
    assert dag_run.state == "success", f"the run of {day} failed; see its task log"
    return {ti.task_id: ti.xcom_pull(task_ids=ti.task_id) for ti in dag_run.get_task_instances()}


def test_the_year_end_a_missed_day_and_a_rerun(run_dag, business, smtp_server, monkeypatch, caplog, capfd):
    monkeypatch.setenv("KESSAI_OPERATOR_EMAIL", "ops@kessai.example")
    with business.begin() as connection:
        add_merchant(connection)
        # Friday 12/25 -> Monday 12/28; the runs of 12/28 to 12/30 are missed, so it goes late on 1/4.
        add_confirmed(connection, "1225", "2026-12-25 10:00", amount=1000)
        # Wednesday 12/30 -> Monday 1/4: 12/31-1/3 are bank holidays (1/1 a Friday, 1/2-1/3 the weekend).
        add_confirmed(connection, "1230", "2026-12-30 16:00", amount=2000)
        add_confirmed(connection, "1231", "2026-12-30 18:00", amount=4000, card_company="jcb")
        # Backdated: registered 12/30 with the date 12/20 -> the business day after the registration, 1/4.
        add_confirmed(connection, "1220", "2026-12-30 17:00", "2026-12-20", amount=8000)
        # Future-dated: registered 12/28 with the date Monday 1/4 -> the business day after it, Tuesday 1/5.
        add_confirmed(connection, "104", "2026-12-28 10:00", "2027-01-04", amount=16000)
        add_confirmed(connection, "777", "2026-12-30 10:00", card_company="nicos")  # unknown: held back
        add_unconfirmed(connection, "9001")
        add_unconfirmed(connection, "9002", cancelled="2026-12-29 10:00")

    with caplog.at_level(logging.INFO):
        first = run(run_dag, "2027-01-04")["transmit"]
    log = task_log(caplog, capfd)

    assert (first["record_count"], first["amount_total"], first["late_count"], first["held_count"]) == (4, 15000, 1, 1)
    assert "transmission of 2027-01-04: 4 slips, 15,000 yen in 2 files; 1 late; 1 held back" in log
    assert "held back: slip 777 of M1 (nicos, 1,000 yen): its card company is not in card_companies" in log
    with business.connect() as connection:
        assert marks(connection) == {
            "1225": (D("2027-01-04"), D("2026-12-28"), "visa_master"),
            "1230": (D("2027-01-04"), D("2027-01-04"), "visa_master"),
            "1231": (D("2027-01-04"), D("2027-01-04"), "jcb"),
            "1220": (D("2027-01-04"), D("2027-01-04"), "visa_master"),
            "104": (None, None, None),
            "777": (None, None, None),
            "9001": (None, None, None),
            "9002": (None, None, None),
        }
        assert holds(connection) == [(D("2027-01-04"), "777", "unknown_card_company")]
        state = transmission_state(connection)
    files = written()
    assert sorted(files) == [
        "2027-01-04/JC_20270104.csv",
        "2027-01-04/JC_20270104.csv.sha256",
        "2027-01-04/VM_20270104.csv",
        "2027-01-04/VM_20270104.csv.sha256",
    ]
    assert files["2027-01-04/VM_20270104.csv"].decode().splitlines() == [
        '"H","KESSAI","VM","2027-01-04","1"',
        '"D","1220","M1","店舗M1","ﾐｾ","SHOP","8000","2026-12-01","2026-12-20","************1111","","","","10",""',
        '"D","1225","M1","店舗M1","ﾐｾ","SHOP","1000","2026-12-01","2026-12-25","************1111","","","","10",""',
        '"D","1230","M1","店舗M1","ﾐｾ","SHOP","2000","2026-12-01","2026-12-30","************1111","","","","10",""',
        '"T","3","11000"',
    ]

    # The held-back slip is reported to the operators.
    [report] = smtp_server.messages
    assert report.envelope_to == ["ops@kessai.example"]
    assert report.subject == "[kessai] 送信保留の伝票があります (2027-01-04: 保留 1件、うち新規 1件、5営業日超 0件)"
    assert "    M1 店舗M1: 1件 1,000円" in report.text

    # A re-run of 1/4: the same bytes from the same slips, nothing sent twice, no second report.
    again = run(run_dag, "2027-01-04")["transmit"]
    assert written() == files
    with business.connect() as connection:
        assert transmission_state(connection) == state
    assert not again["claimed"] and again["batches"] == first["batches"]
    assert len(smtp_server.messages) == 1

    # 1/5: the future-dated slip goes on time; the slip still held back is reported again.
    run(run_dag, "2027-01-05")
    assert smtp_server.messages[-1].subject == (
        "[kessai] 送信保留の伝票があります (2027-01-05: 保留 1件、うち新規 0件、5営業日超 0件)"
    )
    with business.connect() as connection:
        assert marks(connection)["104"] == (D("2027-01-05"), D("2027-01-05"), "visa_master")
        assert batches(connection)[-1] == (D("2027-01-05"), "visa_master", "VM_20270105.csv", 2, 1, 16000, 0)


def test_a_friday_slip_goes_on_monday_a_dry_run_and_a_saturday_refused(run_dag, business, smtp_server, caplog, capfd):
    with business.begin() as connection:
        add_merchant(connection)
        add_confirmed(connection, "115", "2027-01-15 23:30", amount=3000)  # Friday night in Japan

    # Saturday 1/16: refused at once (no retries), with the reason and the next business day.
    with caplog.at_level(logging.INFO):
        saturday = run_dag(DAG_ID, "2027-01-16")
    assert saturday.state == "failed"
    assert [ti.state for ti in saturday.get_task_instances() if ti.task_id == "transmit"] == ["upstream_failed"]
    log = task_log(caplog, capfd)
    assert "2027-01-16 is not a business day in Japan (Saturday)" in log
    assert "Slips due by then go out on the next one, 2027-01-18." in log

    dry = run(run_dag, "2027-01-18", dry_run=True)["transmit"]
    assert dry["dry_run"] and dry["record_count"] == 1 and dry["amount_total"] == 3000
    assert not transmissions().exists()
    with business.connect() as connection:
        assert marks(connection)["115"] == (None, None, None)

    # The operators were told of the refusal; no slip is held back, so no holds report follows.
    assert [mail.subject for mail in smtp_server.messages] == [
        "[kessai] card_transmission の resolve_business_date が失敗しました (2027-01-16)"
    ]

    # The scheduled run of Monday 1/18 (its logical date: 1/18 00:00 in Japan).
    run(run_dag, logical_date=datetime(2027, 1, 18, tzinfo=JAPAN))
    assert len(smtp_server.messages) == 1
    with business.connect() as connection:
        assert marks(connection)["115"] == (D("2027-01-18"), D("2027-01-18"), "visa_master")
    assert sorted(written()) == ["2027-01-18/VM_20270118.csv", "2027-01-18/VM_20270118.csv.sha256"]


def test_an_amount_of_2_63_minus_1_yen_does_not_stop_the_day(run_dag, business, smtp_server, caplog, capfd):
    with business.begin() as connection:
        add_merchant(connection)
        # Both registered Wednesday 12/30 -> due Monday 1/4.
        add_confirmed(connection, "1", "2026-12-30 10:00", amount=9_223_372_036_854_775_807)
        add_confirmed(connection, "2", "2026-12-30 10:00", amount=99_999_999)

    with caplog.at_level(logging.INFO):
        tasks = run(run_dag, "2027-01-04")
    log = task_log(caplog, capfd)

    assert (tasks["transmit"]["record_count"], tasks["transmit"]["amount_total"]) == (1, 99_999_999)
    assert "held back: slip 1 of M1 (visa_master, 9,223,372,036,854,775,807 yen): its amount is not a whole" in log
    with business.connect() as connection:
        assert holds(connection) == [(D("2027-01-04"), "1", "amount_out_of_range")]
        assert marks(connection) == {"1": (None, None, None), "2": (D("2027-01-04"), D("2027-01-04"), "visa_master")}
    assert written()["2027-01-04/VM_20270104.csv"].decode().splitlines()[-1] == '"T","1","99999999"'
    [report] = smtp_server.messages
    assert report.envelope_to == ["operators@kessai.example"]  # KESSAI_OPERATOR_EMAIL unset: the default
    assert "    M1 店舗M1: 1件 9,223,372,036,854,775,807円" in report.text
    assert tasks["report_holds"]["delivery"]["sent"] == 1
