"""Every test under tests/kessai/ carries the marker `unit` (pytest.ini)."""

from __future__ import annotations

from pathlib import Path

from support.markers import mark_folder


def pytest_collection_modifyitems(items):
    mark_folder(items, Path(__file__).parent, "unit")
