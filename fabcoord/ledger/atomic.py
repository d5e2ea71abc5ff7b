"""All or nothing for one posting call, with a savepoint only when the caller needs one.

When the posting is the first thing its transaction does (the session has not touched the
database yet and holds no unsaved objects), a refusal rolls that whole transaction back and begins
it again: the caller finds its transaction as it was (empty, still open and usable) and the posting
has saved a savepoint's statements. Otherwise the caller has other work in the transaction, and the
posting runs inside a savepoint that a refusal rolls back.

The statements go to the driver's own connection: SQLAlchemy's transaction is left open throughout
and commits or rolls back as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

_SAVEPOINT = "fabcoord_posting"


def owns_transaction(session: Session) -> bool:
    """True when the session's transaction has done nothing yet (no connection, no unsaved work)."""
    transaction = session.get_transaction()
    if transaction is None:
        return True
    connections = getattr(transaction, "connections", None)  # SQLAlchemy ≥ 2.1.7
    if connections is None or connections or transaction.nested:
        return False
    return not (session.new or session.deleted or session.dirty)


@contextmanager
def atomic(session: Session) -> Iterator[Connection]:
    """The session's connection, for statements that must all take effect or none."""
    own = owns_transaction(session)
    connection = session.connection()
    driver = connection.connection.driver_connection
    if own:
        try:
            yield connection
        except BaseException:
            _begin_again(connection, driver)
            raise
        return
    _run(connection, driver, f"SAVEPOINT {_SAVEPOINT}")
    try:
        yield connection
    except BaseException:
        _run(connection, driver, f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        _run(connection, driver, f"RELEASE SAVEPOINT {_SAVEPOINT}")
        raise
    _run(connection, driver, f"RELEASE SAVEPOINT {_SAVEPOINT}")


def _begin_again(connection: Connection, driver: Any) -> None:
    """Roll the transaction back and begin it again as SQLAlchemy began it: the engine's ``begin``
    listeners run again (``fabcoord.db``'s ``BEGIN IMMEDIATE`` on SQLite, any per-transaction
    setting); PostgreSQL's driver itself begins on the next statement."""
    try:
        driver.rollback()
        connection.dispatch.begin(connection)
    except (connection.dialect.loaded_dbapi.Error, DBAPIError):
        connection.invalidate()  # the caller's transaction cannot go on: make that loud


def _run(connection: Connection, driver: Any, sql: str) -> None:
    try:
        driver.execute(sql)
    except connection.dialect.loaded_dbapi.Error as error:
        raise DBAPIError.instance(sql, None, error, connection.dialect.loaded_dbapi.Error) from None
