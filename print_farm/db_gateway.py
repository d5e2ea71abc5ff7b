"""The dispatcher's way to the database: every call runs on a worker thread, never on the loop.

The event loop keeps the push sockets, the lease renewal and the starts' timing; a database call
that waits on a lock (at most the engine's bound) holds a worker thread, not the loop. At most
``max_waiting`` calls are handed to the threads at once; the others wait their turn on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from fabcoord.db import unit_of_work

T = TypeVar("T")


class DbGateway:
    """Units of work on ``engine``, each run on one of ``workers`` threads."""

    def __init__(
        self, engine: Engine, *, workers: int = 2, max_waiting: int = 32, name: str = "farm-db"
    ) -> None:
        self.engine = engine
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._slots = asyncio.Semaphore(max_waiting)
        self.calls = 0

    async def read(self, work: Callable[[Session], T]) -> T:
        """``work(session)`` in a read-only unit of work."""
        return await self.call(lambda: _in_unit(self.engine, work, read_only=True))

    async def write(self, work: Callable[[Session], T]) -> T:
        """``work(session)`` in a unit of work, committed when it returns."""
        return await self.call(lambda: _in_unit(self.engine, work, read_only=False))

    async def call(self, work: Callable[[], T]) -> T:
        """``work()`` on a worker thread; the loop goes on meanwhile."""
        async with self._slots:
            self.calls += 1
            return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    def close(self) -> None:
        """Stop the threads (once their calls are done)."""
        self._pool.shutdown(wait=True)


def _in_unit(engine: Engine, work: Callable[[Session], T], *, read_only: bool) -> T:
    with unit_of_work(engine, read_only=read_only) as session:
        return work(session)
