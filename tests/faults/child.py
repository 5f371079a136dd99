"""A job of the kessai package run in a process of its own, with a fault planted in it.

    python tests/faults/child.py '{"job": "transmit", "args": {...}, "fault": {...}}'

(The suite starts it through `entry`, forked from a server process that has the package imported
already, which saves the second of imports a fresh interpreter spends: see harness.py.)

The job is what the DAG's tasks (or the operators' command) do, in their order, through the
package's own functions; the database, KESSAI_HOME, the clock and the SMTP server come from the
environment as in production. The fault stops the process at a named point, the Nth time it is
reached, before or after the real call:

- "commit": a database transaction's COMMIT (before: it never reaches the database; after: it did);
- "rename": a file moved into place (the last step of writing an output file);
- "smtp_send": one mail handed to the SMTP server (after: the server said 250 to it);
- "charge": one charge sent to the card gateway (after: the gateway executed and answered it).

The action is "kill" (SIGKILL: no finally block, no rollback, as a lost worker) or "pause" (wait
at the point until the test touches <signal_dir>/resume, e.g. while it terminates our database
connections). A "barrier" directory makes two children start their work at the same moment.
Exit status: the job's (0 done, 1 failed or refused), -9 when killed.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from datetime import date
from pathlib import Path

POINTS = {
    "commit": [("sqlalchemy.engine.base", "Connection", "_commit_impl")],
    "rename": [("os", None, "replace"), ("fsspec.implementations.local", "LocalFileSystem", "mv")],
    "smtp_send": [("smtplib", "SMTP", "sendmail")],
    "charge": [("kessai.gateway.http_gateway", "HttpCardGateway", "charge")],
}


def wait_for(path: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {path} after {seconds} s")
        time.sleep(0.02)


def plant(fault: dict) -> None:
    """Wrap the point's functions: the fault strikes at its nth call (1-based), before or after."""
    import importlib

    lock = threading.Lock()
    calls = [0]
    nth, when, action = fault["nth"], fault.get("when", "before"), fault.get("action", "kill")

    def strike() -> None:
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        signal_dir = Path(fault["signal_dir"])
        (signal_dir / "paused").touch()
        wait_for(signal_dir / "resume")

    for module_name, class_name, attribute in POINTS[fault["point"]]:
        owner = importlib.import_module(module_name)
        if class_name:
            owner = getattr(owner, class_name)
        original = getattr(owner, attribute)

        def wrapped(*args, __original=original, **kwargs):
            with lock:
                calls[0] += 1
                hit = calls[0] == nth
                if action == "trace":  # only count: how many times a job reaches the point
                    print(f"fault point {fault['point']} #{calls[0]}", file=sys.stderr, flush=True)
                    hit = False
            if hit and when == "before":
                strike()
            result = __original(*args, **kwargs)
            if hit and when == "after":
                strike()
            return result

        setattr(owner, attribute, wrapped)


# -- the jobs ---------------------------------------------------------------------------------


def command(*argv: str) -> int:
    from kessai.cli import main

    return main(list(argv))


def remind(day: str) -> int:
    from kessai.db.database import make_engine
    from kessai.reminders.stale_slips import ReminderSettings, remind_stale_slips

    engine = make_engine()
    with engine.connect() as connection:
        remind_stale_slips(connection, date.fromisoformat(day), ReminderSettings.from_environment())
        connection.commit()
    engine.dispose()
    return 0


def recurring_charge(day: str, gateway: dict) -> int:
    """The recurring_charge DAG's tasks in order (create_slips, charge, notify_failures,
    deliver_mail); a task that raises stops the run, as it stops the DAG run."""
    from kessai import clock
    from kessai.calendar.store import prepare_calendar
    from kessai.db.database import make_engine
    from kessai.gateway.card_gateway import CardGatewaySettings
    from kessai.gateway.configured import open_card_gateway
    from kessai.recurring.charge import ChargeOptions, charge_cycle
    from kessai.recurring.cycle import charge_cycle_on
    from kessai.recurring.failures import notify_failures
    from kessai.recurring.slips import create_recurring_slips

    settings = CardGatewaySettings(
        kind="http",
        base_url=gateway["url"],
        api_key=gateway["api_key"],
        timeout=gateway.get("timeout", 0.5),
        max_retries=1,
        backoff=0.01,
        concurrency=4,
    )
    engine = make_engine()
    for step in ("create", "charge", "notify"):
        with engine.connect() as connection:
            cycle = charge_cycle_on(date.fromisoformat(day), prepare_calendar(connection))
            if step == "create":
                create_recurring_slips(connection, cycle)
            elif step == "charge":
                card_gateway = open_card_gateway(settings)
                try:
                    charge_cycle(
                        connection,
                        cycle,
                        card_gateway,
                        clock=clock.now,
                        options=ChargeOptions(concurrency=settings.concurrency),
                    )
                finally:
                    card_gateway.close()
            else:
                notify_failures(connection, cycle, clock=clock.now)
            connection.commit()
    engine.dispose()
    return command("deliver-mail")


def run_job(job: str, args: dict) -> int:
    if job == "transmit":
        return command("transmit", args["day"])
    if job == "close":
        return command("payout-close", args["day"])
    if job == "transfer_files":
        for day in args["days"]:
            if status := command("transfer-files", day):
                return status
        return 0
    if job == "remind":
        return remind(args["day"]) or command("deliver-mail")
    if job == "deliver":
        return command("deliver-mail")
    if job == "recurring_charge":
        return recurring_charge(args["day"], args["gateway"])
    raise ValueError(f"no job {job!r}")


def entry(spec_json: str, env: dict, out_path: str, err_path: str) -> None:
    """The job of `spec_json` in this (forked) process: the environment replaced by `env`, its
    stdout and stderr into the files named."""
    for fd, path in ((1, out_path), (2, err_path)):
        with open(path, "wb") as file:
            os.dup2(file.fileno(), fd)
    os.environ.clear()
    os.environ.update(env)
    status = main(spec_json)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(status)


def main(spec_json: str) -> int:
    spec = json.loads(spec_json)
    # Import what the job uses before the barrier, so two children start their work together.
    import kessai.cli  # noqa: F401
    import kessai.gateway.http_gateway  # noqa: F401
    import kessai.reminders.stale_slips  # noqa: F401

    if spec.get("fault"):
        plant(spec["fault"])
    if barrier := spec.get("barrier"):
        (Path(barrier) / f"ready-{os.getpid()}").touch()
        wait_for(Path(barrier) / "go")
    return run_job(spec["job"], spec.get("args", {}))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
