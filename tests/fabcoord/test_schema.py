"""Schema creation, upgrade and version checks on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text

from fabcoord.bootstrap import initialise_database
from fabcoord.config import Settings
from fabcoord.db import make_engine
from fabcoord.errors import SchemaMissing, SchemaTooNew
from fabcoord.schema import require_current_schema, target_metadata
from tests.conftest import migration_locations


@pytest.fixture
def empty_engine(empty_database_url: str) -> Engine:
    engine = make_engine(Settings(database_url=empty_database_url))
    yield engine  # type: ignore[misc]
    engine.dispose()


def test_init_creates_the_schema_and_twice_is_harmless(empty_engine: Engine) -> None:
    first = initialise_database(empty_engine, migration_locations())
    second = initialise_database(empty_engine, migration_locations())
    assert first.state == "created" and first.seeded > 0
    assert second.state == "already current" and second.seeded == 0
    require_current_schema(empty_engine, migration_locations())


def test_a_database_without_schema_is_refused_with_a_hint(empty_engine: Engine) -> None:
    with pytest.raises(SchemaMissing, match="fabcoord init"):
        require_current_schema(empty_engine, migration_locations())


def test_a_schema_newer_than_the_code_is_refused(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE alembic_version SET version_num = '9999_from_the_future' WHERE version_num = (SELECT MIN(version_num) FROM alembic_version)"
            )
        )
    with pytest.raises(SchemaTooNew, match="newer fabcoord"):
        require_current_schema(engine, migration_locations())
    with pytest.raises(SchemaTooNew):
        initialise_database(engine, migration_locations())


def test_migrations_match_the_table_models(engine: Engine) -> None:
    import orders.mail_models
    import orders.models
    import orders.web_state  # noqa: F401
    import print_farm.models  # noqa: F401  (every capability's models)
    import suppliers.handoff.models
    import suppliers.models  # noqa: F401

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, target_metadata())
    assert differences == []
