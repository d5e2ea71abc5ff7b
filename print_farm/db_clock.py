"""The database's clock, the one time every dispatcher agrees on (leases are judged by it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, bindparam, func, text
from sqlalchemy.types import DateTime
from sqlmodel import Session

from fabcoord.ledger.posting import utc_now


def database_now(session: Session, clock: Callable[[], datetime] = utc_now) -> datetime:
    """The database server's current UTC time.

    PostgreSQL: ``clock_timestamp()`` (the server's time now, not the transaction's start), one
    round trip. SQLite is a local file: the local clock, ``clock()``, is the database's clock.
    """
    if is_postgres(session):
        moment = session.execute(text("SELECT clock_timestamp()")).scalar_one()
        assert isinstance(moment, datetime)
        return moment.astimezone(UTC)
    return clock()


def database_now_sql(postgres: bool) -> ColumnElement[datetime]:
    """The database's current time inside a statement (no round trip of its own): PostgreSQL's
    ``clock_timestamp()``; on SQLite the parameter ``db_now``, the local clock's value (see
    :func:`database_now_parameter`). A statement using it can be built once per dialect."""
    if postgres:
        return func.clock_timestamp()
    return bindparam("db_now", type_=DateTime(timezone=True))


def database_now_parameter(
    session: Session, clock: Callable[[], datetime] = utc_now
) -> dict[str, datetime]:
    """The parameters :func:`database_now_sql` needs: none on PostgreSQL, ``db_now`` on SQLite."""
    return {} if is_postgres(session) else {"db_now": clock()}


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
