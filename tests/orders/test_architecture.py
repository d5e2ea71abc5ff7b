"""Order intake keeps the web framework in one module."""

from __future__ import annotations

import ast
from pathlib import Path

import orders

WEB_LIBRARIES = {"fastapi", "starlette", "jinja2", "uvicorn", "multipart"}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_orders_web_imports_the_web_framework() -> None:
    package = Path(orders.__file__).parent
    users = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if imported_roots(path) & WEB_LIBRARIES
    )
    assert users == ["web.py"]


def test_nothing_outside_orders_imports_the_web_framework() -> None:
    root = Path(orders.__file__).parent.parent
    for package in ("fabcoord", "suppliers", "print_farm"):
        for path in (root / package).rglob("*.py"):
            assert not imported_roots(path) & WEB_LIBRARIES, path
    assert not imported_roots(root / "cli.py") & WEB_LIBRARIES
