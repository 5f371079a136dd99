"""kill -9 of a job's process at each of its commit points, then a re-run: the result is the
undisturbed run's, byte for byte, and nothing is sent, paid or mailed twice.

Each case runs the job on a fresh world (world.py) in a child process that SIGKILLs itself at the
named point (child.py: no finally block, no rollback: the database sees a connection vanish), then
runs it again, as Airflow does when it retries the task, and compares every row the jobs write
(by natural keys), every output file's bytes and the mails the real SMTP server received with one
clean run of the same job on the same world. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import pytest

from harness import KILLED, run
from servers import copies_by_message_id, received
from world import JOBS, diff

# (job, point, nth, before/after): what the kill interrupts.
KILL_POINTS = [
    ("transmit", "commit", 1, "before"),  # the claim (batches, marks, hold-backs) never commits
    ("transmit", "commit", 1, "after"),  # claimed, no file written yet
    ("transmit", "rename", 3, "before"),  # the first file written, the second half-way
    ("transmit", "commit", 2, "before"),  # every file written, their checksums not recorded
    ("close", "commit", 1, "before"),  # the statements never commit
    ("close", "commit", 1, "after"),  # statements issued, no statement file yet
    ("close", "rename", 3, "before"),  # some statement files written
    ("transfer_files", "commit", 1, "before"),  # the first payout date's file not recorded
    ("transfer_files", "commit", 1, "after"),  # recorded, never written: restored from the records
    ("transfer_files", "rename", 2, "before"),  # the second file recorded, half-written
    ("remind", "commit", 1, "before"),  # reminders claimed and mails queued, never committed
    ("remind", "commit", 1, "after"),  # committed, nothing sent
    ("remind", "smtp_send", 2, "before"),  # one mail sent, the second not handed over
    ("deliver", "smtp_send", 2, "after"),  # the server took the second mail; its mark is lost
    ("deliver", "commit", 3, "after"),  # three mails sent and marked
]


def case_id(case) -> str:
    job, point, nth, when = case
    return f"{job}-{when}-{point}-{nth}"


@pytest.mark.parametrize("case", KILL_POINTS, ids=case_id)
def test_a_run_killed_at_a_commit_point_then_run_again_gives_the_undisturbed_result(case, dialect, world, undisturbed):
    job, point, nth, when = case
    expected = undisturbed(dialect, job)
    place = world(dialect, job)

    killed = run(place, job, JOBS[job], fault={"point": point, "nth": nth, "when": when})
    assert killed.status == KILLED, f"the fault point was not reached:\n{killed.out}\n{killed.err[-2000:]}"
    assert diff(expected, place.outputs()) != [] or received(place.smtp) != expected["mails"], "nothing was interrupted"
    again = run(place, job, JOBS[job])
    assert again.status == 0, f"the re-run failed:\n{again.out}\n{again.err[-3000:]}"

    assert diff(expected, place.outputs()) == []
    assert received(place.smtp) == expected["mails"]
    copies = copies_by_message_id(place.smtp)
    if point == "smtp_send" and when == "after":
        # The one window SMTP leaves open: the server took the mail, the process died before its
        # mark committed. The re-run sends that mail again, with the same Message-ID (the receiving
        # side can tell it is the same mail); every other mail went once.
        assert sorted(copies.values()) == [1] * (len(copies) - 1) + [2]
    else:
        assert set(copies.values()) <= {1}
