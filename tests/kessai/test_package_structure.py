"""The shape of the kessai package (docs/architecture.md): sub-packages by concern, each saying what
it owns; no import cycle between its modules; the SQL files under sql/ by the same names."""

from __future__ import annotations

import ast
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = PROJECT_ROOT / "plugins" / "kessai"
SQL = PROJECT_ROOT / "sql"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    return {
        module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.relative_to(PACKAGE).parts
    }


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The kessai modules a module imports anywhere: at its top, inside a function (deferred) or
    for types only. Deferring an import hides a cycle from Python, not from the design."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
    return {name for name in found if name in modules}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of the graph (one path each), by depth-first search."""
    found, state, stack = [], {}, []

    def walk(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                found.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                walk(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            walk(node)
    return found


def test_the_package_has_no_import_cycle():
    modules = package_modules()
    graph = {name: imports_of(path, set(modules)) - {name} for name, path in modules.items()}
    assert sum(len(targets) for targets in graph.values()) > 200  # the imports are read at all
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_each_sub_package_says_what_it_owns():
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        if init.parent.name == "migrations":
            continue
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert docstring and len(docstring) > 20, f"{init.parent.name}/__init__.py needs a docstring"


def test_the_package_root_keeps_only_what_every_concern_shares():
    root_modules = sorted(path.stem for path in PACKAGE.glob("*.py"))
    assert len(root_modules) <= 10, root_modules


def test_the_sql_folders_are_named_after_the_sub_packages():
    sub_packages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert {path.name for path in SQL.iterdir() if path.is_dir()} <= sub_packages
