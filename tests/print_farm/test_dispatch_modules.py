"""The dispatcher's parts read and test alone: no module of the print farm imports the dispatcher
but the composition root, and the farm's modules import each other without a circle."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "print_farm"


def _imports(path: Path) -> set[str]:
    """The print_farm modules ``path`` imports (``TYPE_CHECKING`` imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "print_farm":
                found.update(f"print_farm.{alias.name}" for alias in node.names)
            elif node.module.startswith("print_farm."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("print_farm."))
    return found


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        graph[name] = _imports(path)
    return {name: {m for m in deps if m in graph and m != name} for name, deps in graph.items()}


def test_starting_outcomes_and_cancelling_do_not_import_the_dispatcher() -> None:
    graph = _graph()
    importers = {name for name, deps in graph.items() if "print_farm.dispatcher" in deps}
    assert importers <= {
        "print_farm.commands",
        "print_farm.daemon",
    }  # what runs it: `farm run`, `run`
    for part in ("starting", "outcomes", "cancelling", "leases", "db_gateway", "farm_state"):
        assert "print_farm.dispatcher" not in graph[f"print_farm.{part}"]


def test_the_farm_modules_import_each_other_without_a_circle() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError(" -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for dep in sorted(graph[name]):
            visit(dep, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
