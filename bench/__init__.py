"""Benchmarks of the batch (docs/performance.md): each DAG's work for one business date on
synthetic data, beside its floor (the least work the database must do for the same result) and,
at 100k slips, a naive row-by-row baseline. `bench/run.sh --help`."""
