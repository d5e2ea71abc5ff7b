"""Package boundaries the design depends on (import-linter checks the same from pyproject.toml)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("fabcoord", "suppliers", "orders", "print_farm")
CAPABILITIES = ("suppliers", "orders", "print_farm")
# the composition root and each package's command module (an import-linter contract too)
COMMAND_MODULES = {
    "cli.py",
    *(p.relative_to(ROOT).as_posix() for p in (ROOT / "fabcoord" / "commands").glob("*.py")),
    *(f"{package}/commands.py" for package in PACKAGES),
}
# outside library -> the only modules allowed to import it
GATEWAYS = {
    "typer": COMMAND_MODULES,
    "rich": COMMAND_MODULES,
    "httpx": {"print_farm/octoprint.py"},
    "websockets": {"print_farm/push.py"},
    "aiohttp": {
        "print_farm/simulator/__main__.py",
        "print_farm/simulator/server.py",
        "print_farm/simulator/sockets.py",
    },
    "odoolib": {"suppliers/odoo.py"},
    "fastapi": {"orders/web.py"},
    "starlette": {"orders/web.py"},
    "uvicorn": {"orders/web.py"},
}


def product_modules() -> list[Path]:
    files = [ROOT / "cli.py"]
    for package in PACKAGES:
        files += sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)
    return files


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", product_modules(), ids=relative)
def test_module_respects_package_boundaries(path: Path) -> None:
    name = relative(path)
    imports = imported_roots(path)
    package = name.split("/")[0]
    if name != "cli.py":
        assert "cli" not in imports, f"{name} imports cli"
    if package == "fabcoord":
        assert not imports & set(CAPABILITIES), f"the core {name} imports a capability"
    if package in CAPABILITIES:
        others = set(CAPABILITIES) - {package}
        assert not imports & others, f"{name} imports a sibling capability"
    for library, allowed in GATEWAYS.items():
        if library in imports:
            assert name in allowed, f"{name} imports {library}; only {sorted(allowed)} may"


def test_only_the_posting_module_writes_stock_moves() -> None:
    writers = []
    for path in product_modules():
        source = path.read_text(encoding="utf-8")
        if relative(path) in {"fabcoord/ledger/writer.py", "fabcoord/ledger/models.py"}:
            continue
        if "StockMove(" in source or "insert(StockMove" in source or "insert(_MOVE" in source:
            writers.append(relative(path))
    assert writers == []


def test_no_stock_move_is_ever_updated_or_deleted_in_code() -> None:
    for path in product_modules():
        source = path.read_text(encoding="utf-8")
        for forbidden in (
            "delete(StockMove",
            "update(StockMove",
            "delete(Posting",
            "update(Posting",
        ):
            assert forbidden not in source, f"{relative(path)}: {forbidden}"
