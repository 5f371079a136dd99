"""The command: bench/run.sh [--sizes 100k,1m,5m] [--only transmission,closing,...]
[--database postgresql|sqlite] (docs/performance.md)."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench import closing, confirmation_import, recurring_charge, reminder, transmission
from bench.harness import Bench, Options, Row
from bench.report import block, machine, parse_size, size_label, write_block
from bench.scratch import PostgresScratch, SqliteScratch

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = PROJECT_ROOT / "docs" / "performance.md"
POSTGRES_URL_VARIABLE = "KESSAI_BENCH_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
# SQLite is the embedded default for small deployments: measured up to this size.
SQLITE_MAX_SIZE = 1_000_000

BENCHMARKS = {
    module.NAME: module for module in (transmission, closing, reminder, recurring_charge, confirmation_import)
}
DATABASE_LABELS = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}


def _list(parse):
    def parse_list(text: str) -> list:
        try:
            return [parse(item) for item in text.split(",") if item.strip()]
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse_list


def _benchmark(name: str) -> str:
    name = name.strip()
    if name not in BENCHMARKS:
        raise ValueError(f"no benchmark {name!r}: choose from {', '.join(BENCHMARKS)}")
    return name


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.sh",
        description="Each DAG's work for one business date on synthetic data, beside its floor and a naive "
        "baseline; prints the table and writes it to docs/performance.md.",
    )
    parser.add_argument("--sizes", type=_list(parse_size), default=[100_000], help="slips per data set (default 100k)")
    parser.add_argument("--only", type=_list(_benchmark), default=list(BENCHMARKS), help=", ".join(BENCHMARKS))
    parser.add_argument("--database", choices=list(DATABASE_LABELS), default="postgresql")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(POSTGRES_URL_VARIABLE, DEFAULT_POSTGRES_URL),
        help=f"the server the scratch databases go on (${POSTGRES_URL_VARIABLE}; default {DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument("--latency-ms", type=float, default=Options.latency * 1000, help="card gateway latency")
    parser.add_argument(
        "--naive-charges",
        type=int,
        default=Options.naive_charges,
        help="charges the sequential baseline makes (its time is scaled to all of them)",
    )
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="the document to write the table to; - for none")
    return parser.parse_args(argv)


def run(
    args: argparse.Namespace, log=lambda text: print(text, file=sys.stderr, flush=True)
) -> tuple[list[Row], tuple[str, str]]:
    """Measure; returns the rows, and the database and the machine as they were at the start."""
    scratch = PostgresScratch(args.postgres_url) if args.database == "postgresql" else SqliteScratch()
    workdir = Path(tempfile.mkdtemp(prefix="kessai-bench-files-"))
    bench = Bench(scratch, workdir, Options(latency=args.latency_ms / 1000, naive_charges=args.naive_charges))
    rows: list[Row] = []
    try:
        label = f"{DATABASE_LABELS[args.database]} {scratch.server_version()}"
        described = machine(label)
        for size in args.sizes:
            if args.database == "sqlite" and size > SQLITE_MAX_SIZE:
                log(f"{size_label(size)}: skipped on SQLite (measured up to {size_label(SQLITE_MAX_SIZE)})")
                continue
            for name in args.only:
                log(f"{name} at {size_label(size)} on {args.database} ...")
                measured = BENCHMARKS[name].run(bench, size)
                if not measured:
                    log("  not measured at this size")
                for row in measured:
                    naive = f", naive {row.naive_seconds:.3f} s" if row.naive_seconds is not None else ""
                    log(
                        f"  {row.benchmark}: {row.seconds:.3f} s, floor {row.floor_seconds:.3f} s ({row.ratio:.2f}x){naive}, "
                        f"peak RSS {row.peak_rss / 1e6:.0f} MB"
                    )
                rows += measured
            bench.drop_datasets()
    finally:
        scratch.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return rows, (label, described)


def publish(args: argparse.Namespace, command: str, rows: list[Row], setting: tuple[str, str]) -> str:
    """The table with the machine and the targets: printed, and written into the document."""
    text = block(*setting, command, rows)
    print(text)
    if args.output != "-":
        write_block(Path(args.output), args.database, text)
    return text


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.ERROR)  # the data sets' reminder run warns of every merchant without mail
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    rows, setting = run(args)
    publish(args, " ".join(["bench/run.sh", *argv]), rows, setting)
    return 0
