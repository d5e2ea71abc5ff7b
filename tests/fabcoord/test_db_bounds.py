"""An engine made with ``wait_s`` gives up on a lock (or a long statement) instead of waiting:
a typed DatabaseBusy, and the database unchanged."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, text

from fabcoord.db import bounded_engine, unit_of_work
from fabcoord.errors import DatabaseBusy

WAIT_S = 0.3


def _locked(engine: Engine, release: threading.Event, locked: threading.Event) -> None:
    """Hold the write lock on ``fablab`` (SQLite: the whole database) until ``release``."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("SELECT 1")  # the engine begins with BEGIN IMMEDIATE
        else:
            connection.execute(text("LOCK TABLE fablab IN EXCLUSIVE MODE"))
        locked.set()
        release.wait(30)
        connection.rollback()


def test_a_write_behind_a_lock_gives_up_after_the_bound(engine: Engine) -> None:
    bounded = bounded_engine(engine, WAIT_S)
    release, locked = threading.Event(), threading.Event()
    holder = threading.Thread(target=_locked, args=(engine, release, locked))
    holder.start()
    try:
        assert locked.wait(10)
        with pytest.raises(DatabaseBusy), unit_of_work(bounded) as session:
            session.execute(text("UPDATE fablab SET slug = slug || '-x'"))
    finally:
        release.set()
        holder.join()
        bounded.dispose()
    with engine.connect() as connection:
        slugs = connection.execute(text("SELECT slug FROM fablab")).scalars()
        assert not [slug for slug in slugs if slug.endswith("-x")]


@pytest.mark.postgresql_only
def test_postgresql_sessions_carry_lock_and_statement_timeouts(engine: Engine) -> None:
    bounded = bounded_engine(engine, WAIT_S)
    try:
        with bounded.connect() as connection:
            assert connection.execute(text("SHOW lock_timeout")).scalar_one() == "300ms"
            assert connection.execute(text("SHOW statement_timeout")).scalar_one() == "300ms"
        with pytest.raises(DatabaseBusy, match="statement timeout"), unit_of_work(bounded) as s:
            s.execute(text("SELECT pg_sleep(5)"))
    finally:
        bounded.dispose()


def test_sqlite_busy_timeout_is_the_bound(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    bounded = bounded_engine(engine, WAIT_S)
    try:
        with bounded.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 300
    finally:
        bounded.dispose()
