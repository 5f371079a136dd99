"""Every test under tests/dags/ carries the marker `dags` (pytest.ini)."""

from __future__ import annotations

from pathlib import Path

from support.markers import mark_folder


def pytest_collection_modifyitems(items):
    mark_folder(items, Path(__file__).parent, "dags")
