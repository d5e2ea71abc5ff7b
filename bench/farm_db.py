"""A fresh print-farm database for a farm benchmark: a SQLite file or a PostgreSQL database.

The PostgreSQL database is created on the local trust-auth server (as ``tests/conftest.py`` does)
and dropped when the benchmark leaves the context, whatever happened.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fabcoord.bootstrap import initialise_database
from fabcoord.config import Settings
from fabcoord.db import make_engine
from fabcoord.schema import migration_locations

DATABASES = ("sqlite", "postgresql")
PG_ADMIN_URL = os.environ.get(
    "FABCOORD_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _admin(statement: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(statement))
    finally:
        admin.dispose()


@contextmanager
def fresh_database(kind: str, workdir: Path) -> Iterator[str]:
    """Yield the URL of a new database of ``kind`` with every capability's schema (as ``fabcoord
    init`` makes it); a PostgreSQL one is dropped after."""
    if kind == "sqlite":
        url = f"sqlite:///{workdir / f'farm-{uuid.uuid4().hex[:8]}.db'}"
        name = None
    elif kind == "postgresql":
        name = f"fabcoord_bench_{uuid.uuid4().hex[:10]}"
        _admin(f'CREATE DATABASE "{name}"')
        url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    else:
        raise ValueError(f"unknown database kind {kind!r}")
    try:
        engine = make_engine(Settings(database_url=url))
        try:
            initialise_database(engine, migration_locations())
        finally:
            engine.dispose()
        yield url
    finally:
        if name is not None:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
