"""A cheap way to tell that nothing was committed to the database since the last look.

SQLite: ``PRAGMA data_version`` on a connection of its own (it changes when any other connection
commits, this process's included). PostgreSQL: ``pg_current_wal_insert_lsn()`` (it moves with any
write to the cluster: never still when something was committed, often moving when nothing of
ours was). A mark equal to the last one means no commit since; a different one or None (the probe
failed, or a database without one) means something may have changed. The caller reads what it
needs after taking the mark, so a commit during its read shows as a new mark on the next look.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger(__name__)
_QUERIES = {
    "sqlite": "PRAGMA data_version",
    "postgresql": "SELECT pg_current_wal_insert_lsn()",
}


class ChangeProbe:
    """Marks of the database's commits, on a connection of its own (call it from one thread at
    a time: the dispatcher's gateway threads, never the event loop)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.query = _QUERIES.get(engine.dialect.name)
        self._connection: Any = None

    def mark(self) -> object | None:
        """The current mark, or None when it cannot be had (then assume a change)."""
        if self.query is None:
            return None
        try:
            if self._connection is None:
                self._connection = self.engine.raw_connection()
            cursor = self._connection.cursor()
            try:
                cursor.execute(self.query)
                row = cursor.fetchone()
            finally:
                cursor.close()
            if self.engine.dialect.name != "sqlite":
                self._connection.rollback()  # no transaction left open between looks
            return row[0] if row else None
        except Exception as error:  # a lost connection: opened again on the next look
            log.debug("change probe failed: %s", error)
            self.close(invalidate=True)
            return None

    def close(self, *, invalidate: bool = False) -> None:
        """Give the connection back (``invalidate``: discard it, it may be broken)."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if invalidate:
                connection.invalidate()
            connection.close()
        except Exception as error:  # closing a broken connection: nothing more to do
            log.debug("change probe close failed: %s", error)
