"""Bulk inserts of whole columns: one ``executemany`` on SQLite, one ``COPY`` on PostgreSQL, no
ORM objects and no statement per row."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table


def insert_columns(
    connection: Connection, target: Table, columns: dict[str, Sequence[Any]]
) -> None:
    """Insert the rows given column by column (every column the same length).

    A column's bind processor (dates on SQLite, stored enums) runs once per distinct value, not per
    cell, and sqlite3's own adapters likewise: the import's timestamps and kinds are all one value.
    """
    names = list(columns)
    prepared: list[Sequence[Any]] = []
    for name in names:
        column = columns[name]
        process = target.c[name].type.bind_processor(connection.dialect)
        if process is not None:
            done = {value: _adapted(connection, process(value)) for value in set(column)}
            column = [done[value] for value in column]
        prepared.append(column)
    if not prepared or not prepared[0]:
        return
    rows = zip(*prepared, strict=True)
    if connection.dialect.driver == "psycopg":
        _copy(connection, target.name, names, rows)
        return
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {target.name} ({', '.join(names)}) VALUES ({', '.join(mark for _ in names)})"
    )
    connection.exec_driver_sql(sql, list(rows))


def _copy(
    connection: Connection, name: str, names: list[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """PostgreSQL: the rows sent by one ``COPY … FROM STDIN`` on the transaction's own connection."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {name} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()


def _adapted(connection: Connection, value: Any) -> Any:
    """``value`` as the sqlite3 driver would adapt it (its registered adapters, e.g. a datetime to
    ISO text), so that is done once per distinct value rather than by the driver per row."""
    if connection.dialect.driver != "pysqlite":
        return value
    adapt = sqlite3.adapters.get((type(value), sqlite3.PrepareProtocol))
    return value if adapt is None else adapt(value)
