"""The card transmission as plain functions (kessai.transmission.daily), on SQLite and PostgreSQL: which
slips go out on which business day, late slips, hold-backs, re-runs and backfills, dry runs, the
refusal of non-business days. The file format itself: test_transmission_file.py."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import insert, select, update

from kessai.calendar.run_dates import BusinessDateError
from kessai.calendar.store import declare_closure
from kessai.db.schema import card_companies, merchants, slips, transmission_batches
from kessai.transmission.daily import format_summary, run_transmission
from kessai.transmission.files import Destination, TransmissionFileError
from support.transmission_builders import (
    D,
    add_confirmed,
    add_merchant,
    add_unconfirmed,
    batches,
    files_under,
    holds,
    marks,
    transmission_state,
)


@pytest.fixture
def destination(tmp_path) -> Destination:
    return Destination.from_url(str(tmp_path / "transmissions"))


def transmit(engine, destination, day: str, **options):
    return run_transmission(engine, D(day), destination, **options)


def files(destination) -> dict[str, bytes]:
    return files_under(destination.fs, destination.root) if destination.fs.exists(destination.root) else {}


def test_each_slip_goes_on_the_business_day_after_its_registration_or_its_date(engine, destination):
    with engine.begin() as connection:
        add_merchant(connection)
        add_confirmed(connection, "1225", "2026-12-25 10:00")  # Friday -> Monday 12/28
        add_confirmed(connection, "1228", "2026-12-28 09:00")  # Monday -> Tuesday 12/29
        # Wednesday 12/30 -> Monday 1/4: 12/31-1/3 are bank holidays (1/1 a Friday, 1/2-1/3 the weekend).
        add_confirmed(connection, "1230", "2026-12-30 17:00")
        add_confirmed(connection, "12302359", "2026-12-30 23:59")  # 14:59 UTC: still 12/30 in Japan
        add_confirmed(connection, "1040030", "2027-01-04 00:30")  # 1/3 15:30 UTC, but 1/4 in Japan -> 1/5
        # Future-dated: registered 12/28 for Wednesday 1/6 -> the business day after the date, 1/7.
        add_confirmed(connection, "106", "2026-12-28 11:00", "2027-01-06")
        # Backdated: registered Tuesday 1/5 with the date 12/20 -> the day after the registration, 1/6.
        add_confirmed(connection, "1220", "2027-01-05 15:00", "2026-12-20")
        add_confirmed(connection, "108", "2027-01-08 10:00")  # Friday 1/8 -> Tuesday 1/12 (1/11 成人の日)
        add_confirmed(connection, "115", "2027-01-15 10:00")  # Friday 1/15 -> Monday 1/18
        add_unconfirmed(connection, "9001")
        add_unconfirmed(connection, "9002", cancelled="2026-12-26 10:00")

    business_days = [
        "2026-12-28",
        "2026-12-29",
        "2026-12-30",
        "2027-01-04",
        "2027-01-05",
        "2027-01-06",
        "2027-01-07",
        "2027-01-08",
        "2027-01-12",
        "2027-01-13",
        "2027-01-14",
        "2027-01-15",
        "2027-01-18",
    ]
    summaries = {day: transmit(engine, destination, day) for day in business_days}

    with engine.connect() as connection:
        sent = marks(connection)
    on_time = {
        "1225": "2026-12-28",
        "1228": "2026-12-29",
        "1230": "2027-01-04",
        "12302359": "2027-01-04",
        "1040030": "2027-01-05",
        "106": "2027-01-07",
        "1220": "2027-01-06",
        "108": "2027-01-12",
        "115": "2027-01-18",
    }
    assert sent == {
        **{slip_id: (D(day), D(day), "visa_master") for slip_id, day in on_time.items()},
        "9001": (None, None, None),
        "9002": (None, None, None),
    }
    assert all(summary.late_count == 0 and summary.held_count == 0 for summary in summaries.values())
    # One file (and its sidecar) for each day with slips; none for the days without.
    assert sorted(files(destination)) == sorted(
        f"{day}/VM_{day.replace('-', '')}.csv{suffix}" for day in set(on_time.values()) for suffix in ("", ".sha256")
    )


def test_a_missed_day_is_caught_up_and_its_slips_marked_late(engine, destination):
    with engine.begin() as connection:
        add_merchant(connection)
        add_confirmed(connection, "1", "2026-12-25 10:00", amount=1000)  # due Monday 12/28
        add_confirmed(connection, "2", "2026-12-28 10:00", amount=2000, card_company="jcb")  # due Tuesday 12/29
        add_confirmed(connection, "3", "2026-12-29 10:00", amount=4000)  # due Wednesday 12/30

    # The runs of 12/28 and 12/29 never happened; 12/30 sends all three.
    summary = transmit(engine, destination, "2026-12-30")

    assert summary.record_count == 3 and summary.amount_total == 7000 and summary.late_count == 2
    with engine.connect() as connection:
        assert marks(connection) == {
            "1": (D("2026-12-30"), D("2026-12-28"), "visa_master"),
            "2": (D("2026-12-30"), D("2026-12-29"), "jcb"),
            "3": (D("2026-12-30"), D("2026-12-30"), "visa_master"),
        }
        assert batches(connection) == [
            (D("2026-12-30"), "jcb", "JC_20261230.csv", 1, 1, 2000, 1),
            (D("2026-12-30"), "visa_master", "VM_20261230.csv", 1, 2, 5000, 1),
        ]
    assert "3 slips, 7,000 yen in 2 files; 2 late; 0 held back" in format_summary(summary)


def test_a_rerun_rebuilds_the_same_files_from_the_same_slips(engine, destination):
    with engine.begin() as connection:
        add_merchant(connection)
        add_confirmed(connection, "1", "2026-12-30 10:00")
        add_confirmed(connection, "2", "2026-12-30 11:00", card_company="jcb", card_reference="3530111333300000")
    first = transmit(engine, destination, "2027-01-04")
    written = files(destination)

    # Before the re-run a slip due 1/4 turns up late, and the merchant renames itself.
    with engine.begin() as connection:
        add_confirmed(connection, "3", "2026-12-30 12:00")
        connection.execute(update(merchants).values(name="新店名", name_kana="シンテンメイ", name_en="New Name"))
    with engine.connect() as connection:
        before = transmission_state(connection)

    again = transmit(engine, destination, "2027-01-04")

    assert files(destination) == written  # byte for byte, the names as they went out
    with engine.connect() as connection:
        assert transmission_state(connection) == before  # nothing claimed, nothing marked
    assert not again.claimed and first.claimed
    assert again.batches == first.batches and again.files == first.files
    # The late slip goes out with the next day, marked late.
    transmit(engine, destination, "2027-01-05")
    with engine.connect() as connection:
        assert marks(connection)["3"] == (D("2027-01-05"), D("2027-01-04"), "visa_master")


def test_a_backfill_of_a_day_before_one_already_transmitted_sends_nothing_twice(engine, destination):
    with engine.begin() as connection:
        add_merchant(connection)
        add_confirmed(connection, "1", "2026-12-25 10:00")  # due Monday 12/28
        add_confirmed(connection, "2", "2026-12-28 10:00")  # due Tuesday 12/29
    transmit(engine, destination, "2026-12-29")  # 12/28 was missed: both go, "1" late
    with engine.connect() as connection:
        before = transmission_state(connection)

    backfill = transmit(engine, destination, "2026-12-28")

    with engine.connect() as connection:
        assert transmission_state(connection) == before
    assert not backfill.claimed and backfill.batches == [] and backfill.sent_on_later_days == 1
    assert not destination.fs.exists(destination.folder(D("2026-12-28")))
    assert "1 slips due by 2026-12-28 went out late on later days" in format_summary(backfill)


def test_slips_that_cannot_be_sent_are_held_back_until_fixed(engine, destination):
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_merchant(connection, "M2", name_kana=None)
        add_merchant(connection, "M3", name_en="  ")
        add_confirmed(connection, "1", "2026-12-30 10:00", merchant_id="M1")
        add_confirmed(connection, "2", "2026-12-30 10:00", merchant_id="M2")
        add_confirmed(connection, "3", "2026-12-30 10:00", merchant_id="M1", card_company="nicos")
        add_confirmed(connection, "4", "2026-12-30 10:00", merchant_id="M3", card_company="nicos")

    summary = transmit(engine, destination, "2027-01-04")

    with engine.connect() as connection:
        assert {slip_id: mark[0] for slip_id, mark in marks(connection).items()} == {
            "1": D("2027-01-04"),
            "2": None,
            "3": None,
            "4": None,
        }
        assert holds(connection) == [
            (D("2027-01-04"), "2", "merchant_without_store_names"),
            (D("2027-01-04"), "3", "unknown_card_company"),
            (D("2027-01-04"), "4", "merchant_without_store_names"),
            (D("2027-01-04"), "4", "unknown_card_company"),
        ]
    assert summary.record_count == 1 and summary.held_count == 3
    assert "held back: slip 3 of M1 (nicos, 1,000 yen): its card company is not in card_companies" in (
        format_summary(summary)
    )

    # Fixed: M2 gets its kana, nicos becomes a card company. M3 still lacks its English name.
    with engine.begin() as connection:
        connection.execute(update(merchants).where(merchants.c.merchant_id == "M2").values(name_kana="ミセニ"))
        connection.execute(insert(card_companies).values(card_company="nicos", name="NICOS", file_code="NC"))
    transmit(engine, destination, "2027-01-05")

    with engine.connect() as connection:
        assert {slip_id: mark for slip_id, mark in marks(connection).items() if slip_id != "1"} == {
            "2": (D("2027-01-05"), D("2027-01-04"), "visa_master"),
            "3": (D("2027-01-05"), D("2027-01-04"), "nicos"),
            "4": (None, None, None),
        }
        assert holds(connection)[4:] == [(D("2027-01-05"), "4", "merchant_without_store_names")]
    # The record of 1/4 keeps its hold-backs, and says which went out since.
    rerun = transmit(engine, destination, "2027-01-04")
    assert [(h["slip_id"], h["reason"], h["transmitted_on"]) for h in rerun.held] == [
        ("3", "unknown_card_company", "2027-01-05"),
        ("2", "merchant_without_store_names", "2027-01-05"),
        ("4", "merchant_without_store_names", None),
        ("4", "unknown_card_company", None),
    ]


def test_a_dry_run_writes_nothing(engine, destination):
    with engine.begin() as connection:
        add_merchant(connection)
        add_confirmed(connection, "1", "2026-12-25 10:00")  # due 12/28: late on 1/4
        add_confirmed(connection, "2", "2026-12-30 10:00", card_company="jcb")
    with engine.connect() as connection:
        before = transmission_state(connection)

    dry = transmit(engine, destination, "2027-01-04", dry_run=True)

    with engine.connect() as connection:
        assert transmission_state(connection) == before
    assert files(destination) == {}
    assert dry.dry_run and dry.record_count == 2 and dry.late_count == 1
    real = transmit(engine, destination, "2027-01-04")
    assert real.batches == dry.batches
    # The task's XCom: a dry run says so and lists no file; a real run names its files.
    assert dry.as_dict()["dry_run"] is True and dry.as_dict()["files"] == []
    assert "dry_run" not in real.as_dict() and len(real.as_dict()["files"]) == 2
    assert real.as_dict()["business_date"] == "2027-01-04"


def test_a_non_business_day_is_refused_and_a_declared_closure_sends_nothing(engine, destination):
    with engine.begin() as connection:
        add_merchant(connection)
        add_confirmed(connection, "1", "2027-01-05 10:00")  # would be due Wednesday 1/6

    with pytest.raises(BusinessDateError, match=r"2027-01-09 is not a business day in Japan \(Saturday\).*2027-01-12"):
        transmit(engine, destination, "2027-01-09")
    with pytest.raises(BusinessDateError, match="2027-01-11 is not a business day in Japan \\(成人の日\\)"):
        transmit(engine, destination, "2027-01-11")

    # The operator declares Wednesday 1/6 closed: its run does nothing, and the slip's
    # transmission date becomes the next business day, 1/7, where it goes on time.
    with engine.begin() as connection:
        declare_closure(connection, D("2027-01-06"), "system maintenance")
    closed = transmit(engine, destination, "2027-01-06")
    assert closed.as_dict() == {
        "business_date": "2027-01-06",
        "closed": "2027-01-06 was declared closed (臨時休業日): nothing is transmitted on it",
    }
    with engine.connect() as connection:
        assert marks(connection)["1"] == (None, None, None)
    summary = transmit(engine, destination, "2027-01-07")
    with engine.connect() as connection:
        assert marks(connection)["1"] == (D("2027-01-07"), D("2027-01-07"), "visa_master")
    assert summary.late_count == 0


def test_each_card_company_numbers_its_files(engine, destination):
    with engine.begin() as connection:
        add_merchant(connection)
        add_confirmed(connection, "1", "2026-12-30 10:00")
        add_confirmed(connection, "2", "2026-12-30 10:00", card_company="jcb")
        add_confirmed(connection, "3", "2027-01-04 10:00")
        add_confirmed(connection, "4", "2027-01-05 10:00")
        add_confirmed(connection, "5", "2027-01-05 10:00", card_company="jcb")
    for day in ["2027-01-04", "2027-01-05", "2027-01-06"]:
        transmit(engine, destination, day)
    with engine.connect() as connection:
        assert [(day.isoformat(), company, number) for day, company, _, number, *_ in batches(connection)] == [
            ("2027-01-04", "jcb", 1),
            ("2027-01-04", "visa_master", 1),
            ("2027-01-05", "visa_master", 2),
            ("2027-01-06", "jcb", 2),
            ("2027-01-06", "visa_master", 3),
        ]


def test_records_that_disagree_with_their_batch_stop_the_files(engine, destination):
    with engine.begin() as connection:
        add_merchant(connection)
        add_confirmed(connection, "1", "2026-12-30 10:00")
        add_confirmed(connection, "2", "2026-12-30 11:00")
    transmit(engine, destination, "2027-01-04")
    written = files(destination)

    # Someone clears a slip's mark by hand: its batch still counts 2 records.
    with engine.begin() as connection:
        connection.execute(update(slips).where(slips.c.slip_id == "2").values(transmitted_on=None))
    with pytest.raises(TransmissionFileError, match="ended 1 rows short"):
        transmit(engine, destination, "2027-01-04")
    assert files(destination) == written  # the file in place is untouched, no temporary left

    # Someone puts "2" back and marks a third slip into the day's batch without counting it.
    with engine.begin() as connection:
        batch_id = connection.execute(select(transmission_batches.c.batch_id)).scalar_one()
        add_confirmed(connection, "3", "2026-12-30 12:00")
        connection.execute(update(slips).values(transmitted_on=date(2027, 1, 4), transmission_batch_id=batch_id))
    with pytest.raises(TransmissionFileError, match="more slips are marked transmitted on 2027-01-04 than its"):
        transmit(engine, destination, "2027-01-04")


def test_the_transmit_command(engine, database_url, tmp_path, monkeypatch, capsys):
    from kessai.cli import main

    monkeypatch.setenv("KESSAI_DATABASE_URL", database_url)
    with engine.begin() as connection:
        add_merchant(connection)
        add_confirmed(connection, "1", "2026-12-30 10:00", amount=2500)
    out = tmp_path / "out"

    assert main(["transmit", "2027-01-04", "--dry-run", "--to", str(out)]) == 0
    assert "transmission of 2027-01-04 (dry run: nothing written): 1 slips, 2,500 yen in 1 files" in (
        capsys.readouterr().out
    )
    assert not out.exists()
    assert main(["transmit", "2027-01-04", "--to", str(out)]) == 0
    assert f"wrote file://{out}/2027-01-04/VM_20270104.csv" in capsys.readouterr().out
    assert main(["transmit", "2027-01-09", "--to", str(out)]) == 1  # a Saturday
    assert "error: 2027-01-09 is not a business day in Japan (Saturday)" in capsys.readouterr().err


def test_a_run_that_fails_half_way_through_the_files_is_finished_by_the_next(engine, destination, monkeypatch):
    import kessai.transmission.daily

    with engine.begin() as connection:
        add_merchant(connection)
        for number in range(1, 60):
            add_confirmed(connection, str(number), "2026-12-30 10:00", card_company=("visa_master", "jcb")[number % 2])
    write = kessai.transmission.daily.write_transmission_file

    def disk_full(destination, file_name, header, records):
        next(iter(records))  # the stream has started
        raise OSError("No space left on device")

    monkeypatch.setattr(kessai.transmission.daily, "write_transmission_file", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        transmit(engine, destination, "2027-01-04")
    with engine.connect() as connection:
        assert {mark[0] for mark in marks(connection).values()} == {D("2027-01-04")}  # the claim stands
    assert files(destination) == {}

    monkeypatch.setattr(kessai.transmission.daily, "write_transmission_file", write)
    retried = transmit(engine, destination, "2027-01-04")  # the task's retry: same lock, same day
    assert not retried.claimed and retried.record_count == 59
    assert sorted(files(destination)) == [
        "2027-01-04/JC_20270104.csv",
        "2027-01-04/JC_20270104.csv.sha256",
        "2027-01-04/VM_20270104.csv",
        "2027-01-04/VM_20270104.csv.sha256",
    ]
