"""A job's PostgreSQL connections terminated in the middle of its work (pg_terminate_backend on
the job's own database, as a failover or an operator's kill does): the job fails cleanly (an
error, not a hang, nothing half-committed), and a re-run gives the undisturbed run's result."""

from __future__ import annotations

import time

import pytest

from charging import assert_like_undisturbed, charge_args
from harness import finish, run, start, terminate_backends
from servers import copies_by_message_id, faulty_gateway, received
from world import JOBS, diff

# (job, point, nth, before/after): where the job waits while its connections are terminated.
TERMINATED_AT = [
    ("transmit", "commit", 1, "before"),  # inside the claim, holding the advisory lock
    ("transmit", "rename", 2, "before"),  # writing the files, the day's records streamed
    ("close", "commit", 1, "before"),  # the whole closing in one transaction
    ("transfer_files", "commit", 2, "before"),  # the second payout date's file being recorded
    ("remind", "commit", 1, "before"),  # reminders claimed, mails queued
    ("deliver", "smtp_send", 2, "after"),  # a mail accepted by the server, its row locked
]


def wait_for_pause(process, signal_dir) -> None:
    deadline = time.monotonic() + 120
    while not (signal_dir / "paused").exists():
        assert process.poll() is None, f"the job ended before its pause point:\n{finish(process).err[-3000:]}"
        assert time.monotonic() < deadline, "the job never reached its pause point"
        time.sleep(0.02)


@pytest.mark.parametrize("dialect", ["postgresql"])
@pytest.mark.parametrize("case", TERMINATED_AT, ids=lambda case: f"{case[0]}-{case[3]}-{case[1]}-{case[2]}")
def test_a_job_whose_connections_are_terminated_fails_cleanly_and_a_rerun_gives_the_undisturbed_result(
    case, dialect, world, undisturbed, tmp_path
):
    job, point, nth, when = case
    expected = undisturbed(dialect, job)
    place = world(dialect, job)
    signal_dir = tmp_path / "signals"
    signal_dir.mkdir()

    process = start(
        place,
        job,
        JOBS[job],
        fault={"point": point, "nth": nth, "when": when, "action": "pause", "signal_dir": str(signal_dir)},
    )
    wait_for_pause(process, signal_dir)
    assert terminate_backends(place.url) >= 1
    (signal_dir / "resume").touch()
    failed = finish(process, timeout=120)
    assert failed.status == 1, f"the job did not fail:\n{failed.out}\n{failed.err[-3000:]}"
    assert "OperationalError" in failed.err or "terminat" in failed.err
    assert diff(expected, place.outputs()) != [] or received(place.smtp) != expected["mails"], "nothing was interrupted"

    again = run(place, job, JOBS[job])
    assert again.status == 0, f"the re-run failed:\n{again.out}\n{again.err[-3000:]}"
    assert diff(expected, place.outputs()) == []
    assert received(place.smtp) == expected["mails"]
    copies = copies_by_message_id(place.smtp)
    if point == "smtp_send" and when == "after":  # the mail in flight when the mark was lost goes again
        assert sorted(copies.values()) == [1] * (len(copies) - 1) + [2]
    else:
        assert set(copies.values()) <= {1}


@pytest.mark.parametrize("dialect", ["postgresql"])
def test_a_charge_whose_connections_are_terminated_with_charges_in_flight_charges_each_slip_once(
    dialect, world, undisturbed, tmp_path
):
    expected = undisturbed(dialect, "recurring_charge")
    place = world(dialect, "recurring_charge")
    signal_dir = tmp_path / "signals"
    signal_dir.mkdir()
    with faulty_gateway() as gateway:
        args = charge_args(gateway)
        # The third charge executed and answered; the attempts are pending in the database.
        process = start(
            place,
            "recurring_charge",
            args,
            fault={"point": "charge", "nth": 3, "when": "after", "action": "pause", "signal_dir": str(signal_dir)},
        )
        wait_for_pause(process, signal_dir)
        assert terminate_backends(place.url) >= 1
        (signal_dir / "resume").touch()
        failed = finish(process, timeout=120)
        assert failed.status == 1, f"the charge did not fail:\n{failed.out}\n{failed.err[-3000:]}"
        assert place.smtp.messages == []

        again = run(place, "recurring_charge", args)
        assert again.status == 0, f"the re-run failed:\n{again.out}\n{again.err[-3000:]}"
        assert_like_undisturbed(place, gateway, expected)
