"""One measured step in a process of its own (spawned: a fresh interpreter, nothing inherited), so
each measurement has its own peak memory.

A step is two functions of a Context: `work`, timed, which does what is measured, and `outcome`,
run after the peak memory was read, which reads back what the work produced, as a value that
compares equal exactly when two steps produced the same result.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url


@dataclass(frozen=True)
class Context:
    url: str  # the database the step works on (a copy of the data set, its own)
    day: date  # the business date
    workdir: Path  # for the files a step writes
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    work: Callable[[Context], Any]  # its return value goes to the measurement as `detail`
    outcome: Callable[[Context], Any]
    prepare: Callable[[Context], None] | None = None  # on the copy, before the clock starts


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_rss: int  # bytes: the child's highest resident set size, read right after the work
    outcome: Any
    detail: Any = None


def statement_time(engine, heads: tuple[str, ...] = ("",)) -> dict:
    """Adds up, under "seconds", the time the engine's connections spend executing statements
    that begin with one of `heads` (all of them by default)."""
    spent = {"seconds": 0.0}

    @event.listens_for(engine, "before_cursor_execute")
    def started(connection, cursor, statement, *args) -> None:
        connection.info["started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def finished(connection, cursor, statement, *args) -> None:
        began = connection.info.pop("started")
        if statement.startswith(heads):
            spent["seconds"] += time.perf_counter() - began

    return spent


def peak_rss() -> int:
    """This process's highest resident set size in bytes. Linux: VmHWM, which starts afresh with
    the program (getrusage's ru_maxrss keeps, across exec, the size of the parent it was forked
    from)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _in_child(step: Step, context: Context) -> Measurement:
    logging.basicConfig(level=logging.ERROR)  # the kessai modules' warnings name merchants: not here
    if step.prepare is not None:
        step.prepare(context)
    # The database's SQLAlchemy dialect and driver are modules too: imported before the clock, like
    # the step's own (create_engine would import them on first use, ~80 ms of any step).
    make_url(context.url).get_dialect().import_dbapi()
    # What the process holds before the step (the benchmark's modules, its other steps' too) is
    # left out of the garbage collector's passes, so the step pays only for its own objects.
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    detail = step.work(context)
    seconds = time.perf_counter() - started
    peak = peak_rss()
    return Measurement(seconds, peak, step.outcome(context), detail)


def measure(step: Step, context: Context) -> Measurement:
    """Run the step in a new process and return its measurement."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_in_child, step, context).result()
