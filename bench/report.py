"""The table of a run, the targets it is held to, the machine it ran on, and docs/performance.md.

The document's prose is written by hand; a run replaces only the block of its database, between
the markers `<!-- bench:DATABASE:begin -->` and `<!-- bench:DATABASE:end -->`.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psutil

from bench.harness import NAIVE_MAX_SIZE, Row

MB = 1_000_000


def size_label(size: int) -> str:
    for unit, label in ((1_000_000, "M"), (1_000, "k")):
        if size >= unit and size % unit == 0:
            return f"{size // unit}{label}"
    return f"{size:,}"


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([km]?)\s*", text.lower())
    if not match:
        raise ValueError(f"{text!r} is no size: write e.g. 2000, 100k, 1m")
    return int(match[1]) * {"": 1, "k": 1_000, "m": 1_000_000}[match[2]]


# -- targets ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    benchmark: str
    size: int
    measure: str  # ratio (at most), peak_rss (under, bytes) or naive_speedup (at least)
    limit: float
    text: str

    def value(self, row: Row) -> float | None:
        return getattr(row, self.measure)

    def met(self, value: float) -> bool:
        if self.measure == "naive_speedup":
            return value >= self.limit
        if self.measure == "ratio":
            return value <= self.limit
        return value < self.limit  # peak_rss

    def shown(self, value: float) -> str:
        return f"{value / MB:.0f} MB" if self.measure == "peak_rss" else f"{value:.2f}×"


BENCHMARKS = ("transmission", "closing", "reminder", "recurring_charge")
TARGETS = [
    Target("transmission", 1_000_000, "ratio", 1.5, "transmission of 1M slips: at most 1.5× its floor"),
    Target("transmission", 5_000_000, "peak_rss", 500 * MB, "transmission of 5M slips: peak memory under 500 MB"),
    Target("closing", 5_000_000, "ratio", 3, "closing of 5M slips: at most 3× the GROUP BY"),
    Target("reminder selection", 5_000_000, "ratio", 2, "reminder selection over 5M slips: at most 2× its SELECT"),
    Target(
        "recurring_charge",
        100_000,
        "ratio",
        1.3,
        "recurring charge of 100k subscriptions: at most 1.3× the latency bound",
    ),
    Target("confirmation_import", 1_000_000, "ratio", 2, "confirmation import of 1M rows: at most 2× COPY + UPDATE"),
    Target(
        "confirmation_import",
        2_260_000,
        "peak_rss",
        300 * MB,
        "confirmation import of 2.26M rows (200 MB): peak memory under 300 MB",
    ),
    *(
        Target(
            name, NAIVE_MAX_SIZE, "naive_speedup", 20, f"{name} at 100k: at least 20× faster than the naive baseline"
        )
        for name in BENCHMARKS
    ),
]


def target_lines(rows: list[Row]) -> list[str]:
    by_key = {(row.benchmark, row.size): row for row in rows}
    lines = []
    for target in TARGETS:
        row = by_key.get((target.benchmark, target.size))
        value = target.value(row) if row else None
        if value is None:
            lines.append(f"- {target.text}: not measured in this run")
        else:
            lines.append(f"- {target.text}: {target.shown(value)}, {'met' if target.met(value) else '**missed**'}")
    return lines


# -- the table ----------------------------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def table(rows: list[Row]) -> str:
    head = ["benchmark", "N", "rows", "time s", "floor s", "ratio", "peak RSS MB", "rows/s", "naive s", "naive ÷ time"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        floor = _seconds(row.floor_seconds) + (" (bound)" if row.floor_is_bound else "")
        naive = (
            ""
            if row.naive_seconds is None
            else _seconds(row.naive_seconds) + (f" ({row.naive_note})" if row.naive_note else "")
        )
        speedup = "" if row.naive_speedup is None else f"{row.naive_speedup:.0f}×"
        cells = [
            row.benchmark,
            size_label(row.size),
            f"{row.rows:,}",
            _seconds(row.seconds),
            floor,
            f"{row.ratio:.2f}",
            f"{row.peak_rss / MB:.0f}",
            f"{row.rows_per_second:,.0f}",
            naive,
            speedup,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- the machine and the document ---------------------------------------------------------------


def machine(database: str) -> str:
    """The machine, the database, the moment and the load: read when the run starts."""
    model = ""
    if Path("/proc/cpuinfo").exists():
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        model = f" ({found[1].strip()})" if found else ""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{os.cpu_count()} cores{model}, {psutil.virtual_memory().total / 2**30:.1f} GiB memory, {database}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
        f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; load average at the start {load}"
    )


def block(database_label: str, machine_text: str, command: str, rows: list[Row]) -> str:
    return "\n".join(
        [
            f"### {database_label}",
            "",
            f"Machine: {machine_text}.",
            f"Command: `{command}`",
            "",
            table(rows),
            "",
            "Targets:",
            "",
            *target_lines(rows),
        ]
    )


def write_block(path: Path, dialect: str, text: str) -> None:
    """Put the block into the document in place of the database's previous one (else at the end)."""
    begin, end = f"<!-- bench:{dialect}:begin -->", f"<!-- bench:{dialect}:end -->"
    content = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    fresh = f"{begin}\n{text}\n{end}"
    if begin in content and end in content:
        before, rest = content.split(begin, 1)
        content = before + fresh + rest.split(end, 1)[1]
    else:
        content = content.rstrip("\n") + "\n\n" + fresh + "\n"
    path.write_text(content, encoding="utf-8")
