"""The transmission file (kessai.transmission.files): its exact bytes, the same on SQLite and
PostgreSQL, local folders and fsspec's memory filesystem, the cutting of the day's record stream,
and two runs of one day at once on PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid

import pytest
from sqlalchemy import insert, select, text, update

from kessai.db.database import make_engine
from kessai.db.schema import merchant_card_numbers, merchants, slips, transmission_batches
from kessai.transmission.daily import LOCK_KEY, run_transmission
from kessai.transmission.files import Destination, RecordStream, TransmissionFileError
from support.transmission_builders import D, add_confirmed, add_merchant, files_under, marks, transmission_state

VM_FILE = (
    '"H","ASJ01","VM","2027-01-04","1"\n'
    # The slip numbers compare as text: "000123" before "7". A quote is doubled; the line break in
    # the kana became a space and the kana half-width, the English name upper case without its
    # accent; a card reference shorter than four characters prints nothing. Then the merchant's
    # number at Visa/Mastercard, the approval number and transaction id (none kept), the 支払区分
    # (61: installments, 3 of them; 10: lump sum).
    '"D","000123","M1","Café ""Bon"", 本店","ｶﾌｪ ﾎﾞﾝ","CAFE BON","12345","2026-12-20","2026-12-30",'
    '"************1111","1234567890123","","","61","3"\n'
    '"D","7","M1","Café ""Bon"", 本店","ｶﾌｪ ﾎﾞﾝ","CAFE BON","500","2026-12-01","2026-12-30","",'
    '"1234567890123","","","10",""\n'
    '"T","2","12845"\n'
).encode()


def add_day(connection) -> None:
    """Two Visa/Master slips and a JCB slip, all due Monday 2027-01-04 (registered Wednesday 12/30)."""
    connection.execute(
        insert(merchants).values(
            merchant_id="M1", name='Café "Bon", 本店', name_kana="カフェ\nボン", name_en="Cafe Bon"
        )
    )
    add_confirmed(connection, "7", "2026-12-30 10:00", amount=500, card_reference="12")
    add_confirmed(connection, "000123", "2026-12-30 09:00", amount=12345, paid="2026-12-20")
    connection.execute(
        update(slips).where(slips.c.slip_id == "000123").values(payment_kind="installments", installments=3)
    )
    connection.execute(
        insert(merchant_card_numbers).values(
            merchant_id="M1", card_company="visa_master", merchant_number="1234567890123"
        )
    )
    add_confirmed(
        connection, "8", "2026-12-30 11:00", amount=300, card_company="jcb", card_reference="3530111333300000"
    )


def test_the_file_layout_and_its_sidecar(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("KESSAI_TRANSMISSION_SENDER", "ASJ01")
    destination = Destination.from_url(str(tmp_path / "out"))
    with engine.begin() as connection:
        add_day(connection)

    summary = run_transmission(engine, D("2027-01-04"), destination)

    written = files_under(destination.fs, destination.root)
    assert sorted(written) == [
        "2027-01-04/JC_20270104.csv",
        "2027-01-04/JC_20270104.csv.sha256",
        "2027-01-04/VM_20270104.csv",
        "2027-01-04/VM_20270104.csv.sha256",
    ]
    assert written["2027-01-04/VM_20270104.csv"] == VM_FILE
    digest = hashlib.sha256(VM_FILE).hexdigest()
    assert written["2027-01-04/VM_20270104.csv.sha256"] == f"{digest}  VM_20270104.csv\n".encode()
    with engine.connect() as connection:
        stored = dict(connection.execute(select(transmission_batches.c.file_name, transmission_batches.c.sha256)).all())
    assert stored["VM_20270104.csv"] == digest
    assert {"file": f"file://{tmp_path}/out/2027-01-04/VM_20270104.csv", "sha256": digest, "size": len(VM_FILE)} in (
        summary.files
    )


def test_the_same_day_makes_the_same_bytes_on_sqlite_and_postgresql(database_url_for, tmp_path):
    written = {}
    for dialect in ("sqlite", "postgresql"):
        engine = make_engine(database_url_for(dialect))
        destination = Destination.from_url(str(tmp_path / dialect))
        with engine.begin() as connection:
            add_day(connection)
        run_transmission(engine, D("2027-01-04"), destination, sender="ASJ01")
        engine.dispose()
        written[dialect] = files_under(destination.fs, destination.root)
    assert written["sqlite"]["2027-01-04/VM_20270104.csv"] == VM_FILE
    assert written["sqlite"] == written["postgresql"]


def test_files_go_to_any_fsspec_filesystem(engine, tmp_path):
    local = Destination.from_url(str(tmp_path / "out"))
    memory = Destination.from_url(f"memory://kessai-{uuid.uuid4().hex}/transmissions")
    with engine.begin() as connection:
        add_day(connection)

    run_transmission(engine, D("2027-01-04"), memory, sender="ASJ01")
    run_transmission(engine, D("2027-01-04"), local, sender="ASJ01")  # a re-run, elsewhere

    in_memory = files_under(memory.fs, memory.root)
    assert in_memory["2027-01-04/VM_20270104.csv"] == VM_FILE
    assert in_memory == files_under(local.fs, local.root)
    assert not [path for path in memory.fs.find(memory.root) if path.endswith(".part")]


def test_the_record_stream_is_cut_by_row_counts(engine):
    with engine.begin() as connection:
        add_day(connection)
    statement = text("SELECT slip_id, amount FROM slips ORDER BY slip_id")
    with engine.connect() as connection:
        stream = RecordStream(connection, statement, {})
        assert b"".join(stream.take(2)) == b'"000123","12345"\n"7","500"\n'
        assert b"".join(stream.take(0)) == b""
        assert stream.rest() == 1
        with pytest.raises(TransmissionFileError, match="the records ended 1 rows short"):
            b"".join(RecordStream(connection, statement, {}).take(4))


def _waiting_for_the_lock(connection) -> int:
    return connection.execute(
        text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    ).scalar_one()


def test_two_runs_of_one_day_at_once_do_not_interleave_on_postgresql(database_url_for, tmp_path):
    engine = make_engine(database_url_for("postgresql"))
    destination = Destination.from_url(str(tmp_path / "out"))
    with engine.begin() as connection:
        add_merchant(connection)
        for number in range(1, 201):
            add_confirmed(connection, str(number), "2026-12-30 10:00", card_company=("visa_master", "jcb")[number % 2])
    results, errors = [], []

    def run() -> None:
        try:
            results.append(run_transmission(engine, D("2027-01-04"), destination))
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    # Hold the transmission's lock until both runs wait for it, then let them go together.
    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
        holder.commit()
        runs = [threading.Thread(target=run) for _ in range(2)]
        for thread in runs:
            thread.start()
        waiting = 0
        while waiting < 2 and all(thread.is_alive() for thread in runs):
            time.sleep(0.05)
            waiting = _waiting_for_the_lock(holder)
            holder.rollback()
        holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
        holder.commit()
    for thread in runs:
        thread.join()

    assert waiting == 2, "each run waits for the transmission lock before it starts"
    assert errors == []
    assert sorted(result.claimed for result in results) == [False, True]
    assert results[0].batches == results[1].batches and results[0].files == results[1].files
    with engine.connect() as connection:
        counts = connection.execute(
            select(transmission_batches.c.card_company, transmission_batches.c.record_count).order_by(
                transmission_batches.c.card_company
            )
        ).all()
        assert [tuple(row) for row in counts] == [("jcb", 100), ("visa_master", 100)]
        assert all(sent == D("2027-01-04") for sent, _, _ in marks(connection).values())
        before = transmission_state(connection)
    written = files_under(destination.fs, destination.root)
    assert sorted(written) == [
        "2027-01-04/JC_20270104.csv",
        "2027-01-04/JC_20270104.csv.sha256",
        "2027-01-04/VM_20270104.csv",
        "2027-01-04/VM_20270104.csv.sha256",
    ]
    # What the two left behind is what one run leaves: a third run changes nothing.
    run_transmission(engine, D("2027-01-04"), destination)
    with engine.connect() as connection:
        assert transmission_state(connection) == before
    assert files_under(destination.fs, destination.root) == written
    engine.dispose()
