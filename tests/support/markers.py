"""Markers by folder: each test folder's conftest marks the tests under it, so `-m dags` or
`-m "not deploy"` picks a folder's tests wherever they are named from (pytest.ini lists them)."""

from __future__ import annotations

from pathlib import Path

import pytest


def mark_folder(items, folder: Path, marker: str) -> None:
    """Add `marker` to every collected test under `folder` (the hook sees the whole session's)."""
    for item in items:
        if folder in Path(str(item.path)).parents:
            item.add_marker(getattr(pytest.mark, marker))
