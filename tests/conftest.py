"""Test fixtures: every database test runs on SQLite and on PostgreSQL, each on a fresh database.

``--db sqlite`` or ``--db postgresql`` narrows the run; the default is both. PostgreSQL is reached at
``FABCOORD_TEST_PG_URL`` (default: the local trust-auth server); each test gets its own database,
cloned from a migrated template, and every database created is dropped at the end.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from fabcoord.bootstrap import initialise_database
from fabcoord.config import PROJECT_DATA_DIR, Settings
from fabcoord.db import make_engine

BACKENDS = ("sqlite", "postgresql")
PG_ADMIN_URL = os.environ.get(
    "FABCOORD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db", default="both", choices=[*BACKENDS, "both"], help="database backends to test"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--db")
        backends = list(BACKENDS) if chosen == "both" else [chosen]
        if metafunc.definition.get_closest_marker("postgresql_only"):
            backends = [b for b in backends if b == "postgresql"]
        metafunc.parametrize("backend", backends, scope="session")


def migration_locations() -> list[Path]:
    from fabcoord.schema import migration_locations as registered

    return registered()


def _admin_engine() -> Engine:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def _pg_url(database: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=database).render_as_string(hide_password=False)


def create_pg_database(template: str | None = None) -> str:
    name = f"fabcoord_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as connection:
        suffix = f' TEMPLATE "{template}"' if template else ""
        connection.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
    admin.dispose()
    return name


def drop_pg_database(name: str) -> None:
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def template_database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, seeded database per backend, copied for every test."""
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("template") / "template.db"
        url = f"sqlite:///{path}"
        engine = make_engine(Settings(database_url=url))
        initialise_database(engine, migration_locations())
        engine.dispose()  # the last connection to close checkpoints the WAL into the file
        assert not path.with_name(path.name + "-wal").exists()
        yield str(path)
        return
    name = create_pg_database()
    try:
        engine = make_engine(Settings(database_url=_pg_url(name)))
        initialise_database(engine, migration_locations())
        engine.dispose()
        yield name
    finally:
        drop_pg_database(name)


@pytest.fixture
def database_url(backend: str, template_database: str, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, initialised database of the current backend."""
    if backend == "sqlite":
        path = tmp_path / "fabcoord.db"
        shutil.copyfile(template_database, path)
        yield f"sqlite:///{path}"
        return
    name = create_pg_database(template=template_database)
    try:
        yield _pg_url(name)
    finally:
        drop_pg_database(name)


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """URL of a database with no schema at all."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = create_pg_database()
    try:
        yield _pg_url(name)
    finally:
        drop_pg_database(name)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, data_dir=PROJECT_DATA_DIR, actor="tester")


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()
