"""A cheap way to tell that nothing was committed to the database since the last look.

SQLite: ``PRAGMA data_version`` on a connection of its own (it changes when any other connection
commits, this process's included; a small integer per connection, so a mark also names the
connection it was read on; it runs outside any transaction). A mark equal to the last one
means no commit since; a different one or None (the probe failed, or a database without such a
mark) means something may have changed. The caller reads what it needs after taking the mark, so
a commit during its read shows as a new mark on the next look. PostgreSQL has none cheap enough:
the WAL position moves with every write to the cluster (other databases, vacuum), so looking at
it added a round trip to nearly every look and saved none.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger(__name__)
RETRY_S = 30.0  # a probe that failed (connection lost, function refused) is tried again after
_QUERIES = {"sqlite": "PRAGMA data_version"}


class ChangeProbe:
    """Marks of the database's commits, on a connection of its own (call it from one thread at
    a time: the dispatcher's gateway threads, never the event loop)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.query = _QUERIES.get(engine.dialect.name)
        self._connection: Any = None
        self._retry_at = -math.inf
        self._opened = 0  # connections opened: a mark is (this count, data_version)
        self._warned = False

    def mark(self) -> object | None:
        """The current mark, or None when it cannot be had (then assume a change)."""
        if self.query is None or time.monotonic() < self._retry_at:
            return None
        try:
            if self._connection is None:
                self._connection = self.engine.raw_connection()
                self._opened += 1  # another connection's marks: never equal to the last one's
            cursor = self._connection.cursor()
            try:
                cursor.execute(self.query)
                row = cursor.fetchone()
            finally:
                cursor.close()
            return (self._opened, row[0]) if row else None
        except Exception as error:  # a lost connection: opened again on the next look
            if not self._warned:
                log.warning(
                    "change probe failed (a pass is made at each tick meanwhile): %s", error
                )
                self._warned = True
            self.close(invalidate=True)
            self._retry_at = time.monotonic() + RETRY_S  # meanwhile: a change is assumed
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
