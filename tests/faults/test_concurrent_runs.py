"""The same job for the same date started twice at the same moment (a manual trigger beside the
scheduled run, a backfill beside a retry), in two processes on one database and one KESSAI_HOME:
the outputs are one run's, byte for byte; nothing is transmitted, paid, charged or mailed twice.
A run that loses a race may fail (a lock timeout, a unique constraint: a transient fault, which
Airflow retries); its retry then changes nothing. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest

from charging import assert_like_undisturbed, charge_args
from harness import run, together
from servers import copies_by_message_id, faulty_gateway, received
from world import JOBS, diff


@pytest.mark.parametrize("job", ["transmit", "close", "transfer_files", "remind", "deliver"])
def test_the_same_job_and_date_twice_at_once_gives_one_runs_outputs(job, dialect, world, undisturbed, tmp_path):
    expected = undisturbed(dialect, job)
    place = world(dialect, job)
    first, second = together([place, place], job, JOBS[job], tmp_path / "barrier")
    statuses = sorted([first.status, second.status])
    assert statuses[0] == 0, f"both runs failed:\n{first.err[-2000:]}\n{second.err[-2000:]}"
    if statuses[1] != 0:  # the loser's retry
        loser = first if first.status else second
        assert loser.status == 1, loser.err[-3000:]
        retried = run(place, job, JOBS[job])
        assert retried.status == 0, retried.err[-3000:]

    assert diff(expected, place.outputs()) == []
    assert received(place.smtp) == expected["mails"]
    assert set(copies_by_message_id(place.smtp).values()) <= {1}


def test_the_recurring_charge_twice_at_once_charges_each_slip_once(dialect, world, undisturbed, tmp_path):
    expected = undisturbed(dialect, "recurring_charge")
    place = world(dialect, "recurring_charge")
    with faulty_gateway() as gateway:
        args = charge_args(gateway)
        first, second = together([place, place], "recurring_charge", args, tmp_path / "barrier")
        assert 0 in (first.status, second.status), f"both runs failed:\n{first.err[-2000:]}\n{second.err[-2000:]}"
        if first.status or second.status:
            retried = run(place, "recurring_charge", args)
            assert retried.status == 0, retried.err[-3000:]
        # One run's lookup may find the other's charge not yet sent and send it again, with the
        # same key: the gateway answers the first result and executes nothing (counted as a
        # second attempt in the failure notice's 決済回数, which the comparison leaves out).
        assert_like_undisturbed(place, gateway, expected)
