"""The web server's PostgreSQL pool: one connection per worker thread kept, pinged only when idle."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from fabcoord.config import Settings
from orders.pool import web_engine

pytestmark = pytest.mark.postgresql_only


def test_concurrent_work_reuses_the_pooled_connections(settings: Settings) -> None:
    engine = web_engine(settings, threads=8)
    seen: set[int] = set()
    lock = threading.Lock()

    def work() -> None:
        for _ in range(20):
            with engine.connect() as connection:
                pid = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
            with lock:
                seen.add(pid)

    try:
        workers = [threading.Thread(target=work) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert len(seen) <= 8 + 2  # no connection opened and closed per request
        assert engine.pool.size() == 10  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_an_idle_connection_that_died_is_replaced_on_checkout(settings: Settings) -> None:
    engine = web_engine(settings, threads=1, idle_ping_s=0.0)
    try:
        with engine.connect() as connection:
            first = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
        with engine.connect() as other:
            other.execute(text("SELECT 1"))
        killer = web_engine(settings, threads=1)
        with killer.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first})
            connection.commit()
        killer.dispose()
        with engine.connect() as connection:
            second = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
        assert second != first
    finally:
        engine.dispose()
