"""What the benchmarks share: the scratch databases and data sets of one run, a measurement on a
fresh copy of a data set, and the row of the table each benchmark gives."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bench import datasets
from bench.measure import Context, Measurement, Step, measure

# The naive baselines run at this size and below: they show the scale, and take minutes already.
NAIVE_MAX_SIZE = 100_000


class ResultMismatch(AssertionError):
    """A measured run and its floor (or its naive baseline) produced different results."""


@dataclass(frozen=True)
class Options:
    latency: float = 0.020  # seconds the test card gateway takes per request
    naive_charges: int = 1_000  # charges the sequential baseline makes; its time is scaled up


@dataclass
class Row:
    """One line of the table: a benchmark at one size on one database."""

    benchmark: str
    database: str
    size: int
    rows: int  # what the result holds: slips transmitted, slips closed, stale slips, charges
    seconds: float
    floor_seconds: float
    peak_rss: int
    floor_is_bound: bool = False  # the floor is computed (latency bound), not measured
    naive_seconds: float | None = None
    naive_note: str = ""
    outcomes: dict[str, Any] = field(default_factory=dict)  # measured, floor, naive: what each produced
    details: dict[str, Any] = field(default_factory=dict)  # measured, floor: what each step reported

    @property
    def ratio(self) -> float:
        return self.seconds / self.floor_seconds

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds

    @property
    def naive_speedup(self) -> float | None:
        return None if self.naive_seconds is None else self.naive_seconds / self.seconds


class Bench:
    """One run on one database: builds each data set once per size, measures each step on a
    copy of its own, drops what it made."""

    def __init__(self, scratch, workdir: Path, options: Options = Options()) -> None:
        self.scratch = scratch
        self.workdir = workdir
        self.options = options
        self._datasets: dict[tuple[str, int], str] = {}
        self._copies = 0

    @property
    def dialect(self) -> str:
        return self.scratch.dialect

    def dataset(self, kind: str, size: int) -> str:
        """The URL of the data set `slips`, `subscriptions` or `unconfirmed` of that size, built on
        first use."""
        key = (kind, size)
        if key not in self._datasets:
            if kind == "unconfirmed":
                url = datasets.build_unconfirmed(self.scratch, f"unconfirmed_{size}", size)
            elif kind == "slips":
                url = datasets.build(self.scratch, f"slips_{size}", datasets.slip_plan(size), slips_history=True)
            else:
                url = datasets.build(self.scratch, f"subscriptions_{size}", datasets.subscription_plan(size))
            self._datasets[key] = url
        return self._datasets[key]

    def drop_datasets(self) -> None:
        for url in self._datasets.values():
            self.scratch.drop(url)
        self._datasets.clear()

    def measure(self, step: Step, dataset: str, day: date, **params) -> Measurement:
        """The step, in a process of its own, on a fresh copy of the data set."""
        self._copies += 1
        name = f"copy{self._copies}"
        url = self.scratch.create(name, template=dataset)
        workdir = self.workdir / name
        workdir.mkdir(parents=True)
        try:
            return measure(step, Context(url=url, day=day, workdir=workdir, params=params))
        finally:
            self.scratch.drop(url)
            shutil.rmtree(workdir, ignore_errors=True)


def compare(
    bench: Bench, name: str, size: int, dataset: str, day: date, measured: Step, floor: Step, naive: Step
) -> Row:
    """The row of a benchmark whose floor is measured: the step, its floor and (up to
    NAIVE_MAX_SIZE) its naive baseline, each on a fresh copy; all three must produce the same."""
    run = bench.measure(measured, dataset, day)
    least = bench.measure(floor, dataset, day)
    check_same(name, size, "floor", run, least)
    row = Row(
        name,
        bench.dialect,
        size,
        run.outcome.rows,
        run.seconds,
        least.seconds,
        run.peak_rss,
        outcomes={"measured": run.outcome, "floor": least.outcome},
        details={"measured": run.detail, "floor": least.detail},
    )
    if size <= NAIVE_MAX_SIZE:
        baseline = bench.measure(naive, dataset, day)
        check_same(name, size, "naive baseline", run, baseline)
        row.naive_seconds, row.outcomes["naive"] = baseline.seconds, baseline.outcome
    return row


def check_same(benchmark: str, size: int, what: str, measured: Measurement, other: Measurement) -> None:
    if measured.outcome != other.outcome:
        raise ResultMismatch(
            f"{benchmark} at {size} slips: the measured run produced {measured.outcome}, "
            f"its {what} {other.outcome}: the comparison would be meaningless"
        )
