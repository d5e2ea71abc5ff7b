"""The database's clock, the one time every dispatcher agrees on (leases are judged by it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func, literal, text
from sqlalchemy.types import DateTime
from sqlmodel import Session

from fabcoord.ledger.posting import utc_now


def database_now(session: Session, clock: Callable[[], datetime] = utc_now) -> datetime:
    """The database server's current UTC time.

    PostgreSQL: ``clock_timestamp()`` (the server's time now, not the transaction's start), one
    round trip. SQLite is a local file: the local clock, ``clock()``, is the database's clock.
    """
    if session.get_bind().dialect.name == "postgresql":
        moment = session.execute(text("SELECT clock_timestamp()")).scalar_one()
        assert isinstance(moment, datetime)
        return moment.astimezone(UTC)
    return clock()


def database_now_sql(
    session: Session, clock: Callable[[], datetime] = utc_now
) -> ColumnElement[datetime]:
    """The database's current time inside a statement (no round trip of its own): PostgreSQL's
    ``clock_timestamp()``; on SQLite the local clock's value, bound as a parameter."""
    if session.get_bind().dialect.name == "postgresql":
        return func.clock_timestamp()
    return literal(clock(), DateTime(timezone=True))
