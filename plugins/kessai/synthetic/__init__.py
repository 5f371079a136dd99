"""Synthetic business data for the demo, the benchmarks and tests (docs/synthetic-data.md)."""
