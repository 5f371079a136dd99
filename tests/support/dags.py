"""The DAG files of dags/, found by walking the folder, as Airflow's DagBag parses them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"


def dag_files() -> list[Path]:
    """Every Python file under dags/ (a DAG may live in a subfolder)."""
    return sorted(path for path in DAGS_FOLDER.rglob("*.py") if "__pycache__" not in path.parts)


@cache
def dags_by_id() -> dict:
    """Every DAG of dags/, parsed once per session, by dag_id."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=DAGS_FOLDER)
    assert bag.import_errors == {}, f"dags/ does not import: {bag.import_errors}"
    return dict(bag.dags)
