"""A command imports what it uses: light commands leave the heavy modules alone (not a timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from fabcoord.schema import file_heads, migration_locations, script_heads

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "print_farm.dispatcher",
    "print_farm.handlers",  # event handlers and planner providers are wired lazily
    "orders.handlers",
    "ortools",
    "uvicorn",
    "fastapi",
    "alembic",
    "pandas",
    "reportlab",
)
PROBE = """
import json, sys
import cli
try:
    cli.main(sys.argv[1:])
except SystemExit as done:
    code = done.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def imported(*args: str) -> set[str]:
    """The modules a whole ``fabcoord ARGS`` process had imported when it ended."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    return set(report["modules"])


def heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('startup') / 'ledger.db'}"
    modules = imported("--db", url, "init")
    assert "alembic" in modules  # migrations run in init, and only there
    return url


def test_help_imports_no_heavy_module_and_no_database_code() -> None:
    modules = imported("--help")
    assert heavy(modules) == set()
    assert "sqlalchemy" not in modules


def test_version_is_answered_without_settings() -> None:
    assert "pydantic_settings" not in imported("--version")


@pytest.mark.parametrize(
    "args",
    [
        ["stock", "show", "--json"],
        ["ledger", "show"],
        ["ledger", "check"],
        ["item", "list"],
        ["orders", "list"],
        ["farm", "queue"],
    ],
    ids=" ".join,
)
def test_light_commands_import_no_heavy_module(ledger: str, args: list[str]) -> None:
    assert heavy(imported("--db", ledger, *args)) == set()


def test_the_cheap_schema_check_expects_what_init_records(ledger: str) -> None:
    engine = create_engine(ledger)
    with engine.connect() as connection:
        recorded = set(
            connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        )
    engine.dispose()
    assert file_heads(migration_locations()) == recorded
    assert recorded <= script_heads(migration_locations())


def test_every_package_with_migrations_joins_the_registry() -> None:
    folders = {p.parent.parent.parent for p in ROOT.glob("*/migrations/versions/*.py")}
    folders |= {p.parent.parent.parent for p in ROOT.glob("*/*/migrations/versions/*.py")}
    registered = {p.parent.parent for p in migration_locations()}
    assert folders - {ROOT / "fabcoord"} == registered
