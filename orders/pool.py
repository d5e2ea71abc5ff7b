"""The web server's database engine: on PostgreSQL a pool that holds a connection for every worker
thread (no connection opened and closed under load) and pings a connection only when it has been
idle (a ping on every checkout costs a round trip per request)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event

from fabcoord.config import Settings
from fabcoord.db import make_engine, ping_when_idle

IDLE_PING_S = 30.0
SPARE = 2  # for the event loop's own reads and a request finishing while the next starts


def web_engine(settings: Settings, *, threads: int, idle_ping_s: float = IDLE_PING_S) -> Engine:
    """The engine for a server running ``threads`` worker threads."""
    if settings.is_sqlite:
        return make_engine(settings)
    engine = make_engine(
        settings,
        pool_size=threads + SPARE,
        max_overflow=threads,  # only past the pool's size, never in the usual case
        pool_pre_ping=False,
        pool_recycle=3600,
    )
    ping_when_idle(engine, idle_s=idle_ping_s)
    return engine


LIMIT_THREADS = 4


def limits_engine(settings: Settings, *, threads: int = LIMIT_THREADS) -> Engine:
    """The engine of the database rate limits (PostgreSQL): a small pool of connections in
    autocommit (each hit is one statement) whose commits do not wait for the disk (a bucket lost
    in a crash only forgets a past burst)."""
    engine = make_engine(
        settings, pool_size=threads, max_overflow=threads, pool_pre_ping=False, pool_recycle=3600
    )

    @event.listens_for(engine, "connect")
    def _autocommit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.autocommit = True
        dbapi_connection.execute("SET synchronous_commit = off")

    ping_when_idle(engine, idle_s=IDLE_PING_S)
    return engine
