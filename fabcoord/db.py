"""Engines and units of work for SQLite (the embedded default) and PostgreSQL.

SQLite: WAL journal, foreign keys on, a busy timeout, a page cache of ``SQLITE_CACHE_MIB`` per
connection, and every write transaction opened with ``BEGIN IMMEDIATE`` so that writers are
serialised before they read (no read-then-write race).
PostgreSQL: ``READ COMMITTED``; ledger invariants rely on row locks taken by atomic upserts.
``wait_s`` bounds every wait of an engine's sessions (SQLite's busy timeout; PostgreSQL's
``lock_timeout``, ``statement_timeout`` and the pool's checkout): a process that must stay
responsive (the print dispatcher) gives up and retries rather than wait on a lock.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session

from fabcoord.config import Settings
from fabcoord.errors import DatabaseBusy, DatabaseUnreachable, NotADatabase, SchemaMissing

READ_ONLY = "fabcoord_read_only"
# SQLite's page cache per connection, at most (filled as pages are read; SQLite's default is 2 MiB).
# Each ledger posting inserts into several indexes at scattered places: with the default, a batch
# re-reads most of those index pages from the file, which cost about as much CPU as the inserts.
SQLITE_CACHE_MIB = 64
# Pages the WAL may hold before a commit copies them back into the database file (SQLite's default
# is 1,000, about 4 MiB). A ledger batch dirties pages all over the move indexes: with the default,
# nearly every batch's commit ran a checkpoint (each page written twice, the database file synced
# too). With 10,000 (about 40 MiB of WAL), pages changed by several commits are copied back once:
# measured about 10 µs less CPU per posting in a batch of 500. Durability is unchanged (the commit
# is on disk in the WAL either way).
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 10_000


def make_engine(
    settings: Settings, *, wait_s: float | None = None, **engine_options: Any
) -> Engine:
    """Create the engine for ``settings.database_url``; no connection is made yet.

    Args:
        wait_s: the longest any wait of this engine's sessions may last (a lock, a statement,
            a pooled connection); None: SQLite's configured busy timeout, no bound on PostgreSQL.
    """
    url = make_url(settings.database_url)
    if wait_s is not None:
        engine_options.setdefault("pool_timeout", wait_s)
    if settings.is_sqlite:
        database = url.database or ""
        if database and database != ":memory:":
            folder = Path(database).expanduser().resolve().parent
            if not folder.is_dir():
                raise DatabaseUnreachable(f"cannot open database {database}: no folder {folder}")
        busy_s = settings.sqlite_busy_timeout_s if wait_s is None else wait_s
        engine = create_engine(
            url,
            connect_args={"timeout": busy_s, "check_same_thread": False},
            **engine_options,
        )
        _configure_sqlite(
            engine,
            busy_timeout_ms=int(busy_s * 1000),
            synchronous=settings.sqlite_synchronous,
        )
        return engine
    engine_options.setdefault("pool_pre_ping", True)
    connect_args: dict[str, object] = {"connect_timeout": 5}
    if wait_s is not None:
        ms = max(1, int(wait_s * 1000))
        connect_args["connect_timeout"] = max(1, min(5, math.ceil(wait_s)))
        connect_args["options"] = f"-c lock_timeout={ms} -c statement_timeout={ms}"
    return create_engine(url, connect_args=connect_args, **engine_options)


def bounded_engine(engine: Engine, wait_s: float, **engine_options: Any) -> Engine:
    """A new engine on ``engine``'s database whose every wait lasts at most ``wait_s``."""
    url = engine.url.render_as_string(hide_password=False)
    return make_engine(Settings(database_url=url), wait_s=wait_s, **engine_options)


def _configure_sqlite(engine: Engine, *, busy_timeout_ms: int, synchronous: str = "FULL") -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
            cursor.execute(f"PRAGMA synchronous={synchronous}")  # FULL unless settings lower it
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_MIB * 1024}")  # KiB when negative
            cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        sql = "BEGIN" if read_only else "BEGIN IMMEDIATE"
        try:  # on the driver: SQLAlchemy's statement machinery costs more than the BEGIN
            connection.connection.driver_connection.execute(sql)
        except sqlite3.Error as error:  # raised as SQLAlchemy raises driver errors
            raise DBAPIError.instance(sql, None, error, sqlite3.Error) from None


class KeepingSession(Session):
    """A session that holds every object it loaded or added until it closes.

    SQLAlchemy's identity map holds objects weakly: a row read by one function and dropped is
    read again by the next ``session.get`` of the same key. In a short unit of work (a web
    request) holding them costs little memory and saves those round trips."""


def _keep(session: Session, instance: object) -> None:
    session.info.setdefault(_KEPT, {})[id(instance)] = instance


def _drop(session: Session, instance: object) -> None:
    session.info.get(_KEPT, {}).pop(id(instance), None)


_KEPT = "fabcoord_kept"
for _name in ("pending_to_persistent", "loaded_as_persistent", "detached_to_persistent"):
    event.listen(KeepingSession, _name, _keep)
for _name in ("persistent_to_detached", "persistent_to_deleted", "persistent_to_transient"):
    event.listen(KeepingSession, _name, _drop)


@contextmanager
def unit_of_work(
    engine: Engine, *, read_only: bool = False, keep_loaded: bool = False
) -> Iterator[Session]:
    """One transaction: commit when the block ends normally, roll back on any exception.

    Args:
        read_only: on SQLite, open with a plain ``BEGIN`` so readers do not take the write lock.
        keep_loaded: hold every object loaded until the end (:class:`KeepingSession`), so a
            ``session.get`` of a row already read costs no query; for short units of work.
    """
    bind = reader(engine) if read_only else engine
    kind = KeepingSession if keep_loaded else Session
    with (
        translate_database_errors(engine),
        kind(bind, expire_on_commit=False) as session,
        session.begin(),
    ):
        yield session


def reader(engine: Engine) -> Engine:
    """The same engine whose transactions do not take SQLite's write lock."""
    return engine.execution_options(**{READ_ONLY: True})


@contextmanager
def translate_database_errors(engine: Engine) -> Iterator[None]:
    """Turn driver errors about reaching or opening the database into typed fabcoord errors."""
    try:
        yield
    except OperationalError as error:
        raise _classify(engine, error) from None
    except PoolTimeout:
        raise DatabaseBusy(f"{describe(engine)} is busy, try again: no free connection") from None
    except DatabaseError as error:
        if "file is not a database" in str(error.orig):
            raise NotADatabase(f"{describe(engine)} is not a SQLite database") from None
        raise


def _classify(engine: Engine, error: OperationalError) -> Exception:
    text = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    where = describe(engine)
    if "file is not a database" in text:
        return NotADatabase(f"{where} is not a SQLite database")
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return SchemaMissing(f"{where} has no fabcoord schema: run 'fabcoord init' first")
    busy = (
        "locked",
        "busy",
        "deadlock",
        "could not serialize",
        "lock timeout",
        "statement timeout",
    )
    if any(word in text for word in busy) or "canceling statement" in text:
        return DatabaseBusy(f"{where} is busy, try again: {text}")
    return DatabaseUnreachable(f"cannot reach database {where}: {text}")


def describe(engine: Engine) -> str:
    """The database URL without its password, for messages."""
    return engine.url.render_as_string(hide_password=True)


def ping_when_idle(engine: Engine, *, idle_s: float) -> None:
    """Check a pooled connection on checkout only if it sat unused for ``idle_s`` seconds; a dead
    one is replaced (SQLAlchemy retries the checkout with a fresh connection)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_s:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_connection.rollback()
        except Exception as error:
            raise exc.DisconnectionError(f"idle connection lost: {error}") from error
