"""Schema creation, upgrade and version checks, driven by Alembic; the registry of migrations.

The core's migrations live in ``fabcoord/migrations/versions``. A capability package may bring its
own folder of migrations (a branch that depends on the core): it joins the registry with one entry
point in ``pyproject.toml``, read by :func:`migration_locations`::

    [project.entry-points."fabcoord.migrations"]
    orders = "orders:MIGRATIONS"      # a Path to orders/migrations/versions

Alembic is imported only to create or upgrade the schema (``fabcoord init``) or when the cheap
check fails: every other command checks the schema with one query of ``alembic_version``, compared
with the heads read from the migration files (:func:`require_current_schema`).
"""

from __future__ import annotations

import ast
import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, MetaData, inspect, text
from sqlalchemy.exc import DBAPIError

from fabcoord.db import describe, reader, translate_database_errors
from fabcoord.errors import SchemaMissing, SchemaOutdated, SchemaTooNew

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
CORE_VERSIONS = MIGRATIONS_DIR / "versions"
MIGRATIONS_GROUP = "fabcoord.migrations"
"""Entry-point group through which each package's migration folder joins the registry."""


def migration_locations() -> list[Path]:
    """Every installed package's migration folder besides the core's, in a stable order.

    Each comes from an entry point of the ``fabcoord.migrations`` group naming a ``Path``; the
    core's own folder is always added by the functions below and is not listed here.
    """
    from importlib.metadata import entry_points

    found = sorted(entry_points(group=MIGRATIONS_GROUP), key=lambda point: point.name)
    return [Path(point.load()) for point in found]


def target_metadata() -> MetaData:
    """The metadata of every table model imported so far (the core's are always imported)."""
    from sqlmodel import SQLModel

    import fabcoord.batches.models
    import fabcoord.demand
    import fabcoord.ledger.models
    import fabcoord.planning.models
    import fabcoord.records  # noqa: F401

    return SQLModel.metadata


def _config(version_locations: Sequence[Path]) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    locations = [CORE_VERSIONS, *version_locations]
    config.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
    return config


def script_heads(version_locations: Sequence[Path] = ()) -> set[str]:
    """The newest revision of each migration branch known to this code."""
    return set(_script(version_locations).get_heads())


def _script(version_locations: Sequence[Path]) -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config(version_locations))


def database_revisions(engine: Engine) -> set[str]:
    """The revisions the database says it is at (empty for a database never initialised)."""
    from alembic.runtime.migration import MigrationContext

    with translate_database_errors(engine), reader(engine).connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def init_schema(
    engine: Engine, version_locations: Sequence[Path] = ()
) -> tuple[set[str], set[str]]:
    """Create the schema or upgrade it to the newest revision; harmless when already current.

    Returns:
        The revisions before and after.

    Raises:
        SchemaTooNew: the database was written by a newer fabcoord.
    """
    from alembic import command

    before = database_revisions(engine)
    _refuse_unknown(before, version_locations, engine)
    config = _config(version_locations)
    with translate_database_errors(engine), engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
    return before, database_revisions(engine)


def require_current_schema(engine: Engine, version_locations: Sequence[Path] = ()) -> None:
    """Refuse to work on a database whose schema is missing, older or newer than this code.

    One query in the usual case: the database is at exactly the heads of the migration files.
    Anything else (no schema, an older or newer one, an unreachable database) is judged again by
    Alembic, which gives the precise reason.
    """
    recorded = _recorded_revisions(engine)
    if recorded is not None and frozenset(recorded) == file_heads(version_locations):
        return
    current = database_revisions(engine)
    if not current:
        with translate_database_errors(engine), reader(engine).connect() as connection:
            has_tables = bool(inspect(connection).get_table_names())
        hint = "holds no fabcoord schema" if has_tables else "is not initialised"
        raise SchemaMissing(f"database {describe(engine)} {hint}: run 'fabcoord init' first")
    _refuse_unknown(current, version_locations, engine)
    script = _script(version_locations)
    known = {revision.revision for revision in script.walk_revisions()}
    if known - _applied(script, current):
        raise SchemaOutdated(
            f"database {describe(engine)} has an older schema: run 'fabcoord init' to upgrade it"
        )


def _applied(script: ScriptDirectory, current: set[str]) -> set[str]:
    """Every revision the database has: its current ones and all they descend from or depend on."""
    applied: set[str] = set()
    pending = list(current)
    while pending:
        name = pending.pop()
        if name in applied:
            continue
        applied.add(name)
        revision = script.get_revision(name)
        assert revision is not None
        parents = revision.down_revision or ()
        pending.extend([parents] if isinstance(parents, str) else parents)
        if revision.dependencies:
            depends = script.get_revisions(revision.dependencies)
            pending.extend(dep.revision for dep in depends if dep is not None)
    return applied


def _recorded_revisions(engine: Engine) -> set[str] | None:
    """The rows of ``alembic_version`` with one query, or None when they cannot be read."""
    try:
        with reader(engine).connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version"))
            return {str(row[0]) for row in rows}
    except DBAPIError:
        return None


def file_heads(version_locations: Sequence[Path] = ()) -> frozenset[str]:
    """The heads of the migration files, read without Alembic (their ``revision``,
    ``down_revision`` and ``depends_on`` assignments): the revisions no other one builds on.

    When the database is at exactly these, every revision is applied (each is a head or something
    a head needs). Anything unusual only makes them differ, and Alembic then judges."""
    return _file_heads(tuple(Path(p) for p in (CORE_VERSIONS, *version_locations)))


@functools.cache
def _file_heads(folders: tuple[Path, ...]) -> frozenset[str]:
    revisions: set[str] = set()
    parents: set[str] = set()
    for folder in folders:
        for path in sorted(folder.glob("*.py")):
            names = _assignments(path)
            if isinstance(names.get("revision"), str):
                revisions.add(str(names["revision"]))
                for before in (names.get("down_revision"), names.get("depends_on")):
                    if isinstance(before, str):
                        parents.add(before)
                    elif isinstance(before, tuple | list):
                        parents.update(str(name) for name in before)
    return frozenset(revisions - parents)


_GRAPH_NAMES = frozenset({"revision", "down_revision", "depends_on"})


def _assignments(path: Path) -> dict[str, object]:
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        target, value = None, None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and target.id in _GRAPH_NAMES:
            try:
                found[target.id] = ast.literal_eval(value) if value is not None else None
            except ValueError:
                continue
    return found


def _refuse_unknown(revisions: set[str], version_locations: Sequence[Path], engine: Engine) -> None:
    script = _script(version_locations)
    known = {revision.revision for revision in script.walk_revisions()}
    unknown = sorted(revisions - known)
    if unknown:
        raise SchemaTooNew(
            f"database {describe(engine)} was written by a newer fabcoord (schema revision "
            f"{', '.join(unknown)}): upgrade fabcoord before using it"
        )
