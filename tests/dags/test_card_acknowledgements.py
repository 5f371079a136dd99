"""The card_acknowledgements DAG end to end (dag.test, the business database on SQLite and
PostgreSQL): a card company's answer file put in the folder is recorded and moved to done/; a
second run finds nothing and changes nothing."""

from __future__ import annotations

from sqlalchemy import select

import kessai_tasks
from kessai.db.database import kessai_home
from kessai.db.schema import transmission_acknowledgements
from kessai.transmission.daily import run_transmission
from kessai.transmission.files import Destination
from support.transmission_builders import D, add_confirmed, add_merchant


def test_an_answer_file_is_recorded_once_and_moved_to_done(run_dag, business, monkeypatch):
    monkeypatch.setitem(kessai_tasks.DEFAULT_ARGS, "retries", 0)
    with business.begin() as connection:
        add_merchant(connection, "M1")
        add_confirmed(connection, "1", "2027-01-12 10:00", paid="2027-01-12")  # goes out Wednesday 1/13
    run_transmission(business, D("2027-01-13"), Destination.from_url(str(kessai_home() / "transmissions")))
    folder = kessai_home() / "acknowledgements"
    folder.mkdir(parents=True)
    path = folder / "VM_ACK_20270113.csv"
    path.write_text("file_name,merchant_id,slip_id,result,code\nVM_20270113.csv,M1,1,rejected,E12\n")

    first = run_dag("card_acknowledgements", "2027-01-14")
    second = run_dag("card_acknowledgements", "2027-01-14")

    assert first.state == second.state == "success"
    assert not path.exists() and (folder / "done" / path.name).exists()
    with business.connect() as connection:
        assert connection.execute(
            select(
                transmission_acknowledgements.c.result,
                transmission_acknowledgements.c.code,
                transmission_acknowledgements.c.received_on,
            )
        ).all() == [("rejected", "E12", D("2027-01-14"))]
