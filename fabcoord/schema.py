"""Schema creation, upgrade and version checks, driven by Alembic.

The core's migrations live in ``fabcoord/migrations/versions``; a capability package may bring its own
folder of migrations (a branch that depends on the core), passed in by the composition root.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, inspect
from sqlmodel import SQLModel

from fabcoord.db import describe, reader, translate_database_errors
from fabcoord.errors import SchemaMissing, SchemaOutdated, SchemaTooNew

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
CORE_VERSIONS = MIGRATIONS_DIR / "versions"


def target_metadata() -> MetaData:
    """The metadata of every table model imported so far (the core's are always imported)."""
    import fabcoord.demand
    import fabcoord.ledger.models
    import fabcoord.planning.models
    import fabcoord.records  # noqa: F401

    return SQLModel.metadata


def _config(version_locations: Sequence[Path]) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    locations = [CORE_VERSIONS, *version_locations]
    config.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
    return config


def script_heads(version_locations: Sequence[Path] = ()) -> set[str]:
    """The newest revision of each migration branch known to this code."""
    return set(ScriptDirectory.from_config(_config(version_locations)).get_heads())


def database_revisions(engine: Engine) -> set[str]:
    """The revisions the database says it is at (empty for a database never initialised)."""
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
    before = database_revisions(engine)
    _refuse_unknown(before, version_locations, engine)
    config = _config(version_locations)
    with translate_database_errors(engine), engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
    return before, database_revisions(engine)


def require_current_schema(engine: Engine, version_locations: Sequence[Path] = ()) -> None:
    """Refuse to work on a database whose schema is missing, older or newer than this code."""
    current = database_revisions(engine)
    if not current:
        with translate_database_errors(engine), reader(engine).connect() as connection:
            has_tables = bool(inspect(connection).get_table_names())
        hint = "holds no fabcoord schema" if has_tables else "is not initialised"
        raise SchemaMissing(f"database {describe(engine)} {hint}: run 'fabcoord init' first")
    _refuse_unknown(current, version_locations, engine)
    script = ScriptDirectory.from_config(_config(version_locations))
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


def _refuse_unknown(revisions: set[str], version_locations: Sequence[Path], engine: Engine) -> None:
    script = ScriptDirectory.from_config(_config(version_locations))
    known = {revision.revision for revision in script.walk_revisions()}
    unknown = sorted(revisions - known)
    if unknown:
        raise SchemaTooNew(
            f"database {describe(engine)} was written by a newer fabcoord (schema revision "
            f"{', '.join(unknown)}): upgrade fabcoord before using it"
        )
