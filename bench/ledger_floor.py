"""The floors the ledger benchmark measures fabcoord against: what the database itself does.

- **The posting floor**: the same receipts written by hand on the raw driver (sqlite3 / psycopg),
  ids and codes already known, in the fewest statements a hand-written client needs. One posting
  per transaction: the header ``RETURNING id``, both legs in one insert, the one cached balance
  upserted ``RETURNING`` the new balance, the commit. A batch: set-wise, as the database does best:
  the headers with ids chosen after the largest one (``executemany``), every leg in one
  ``executemany``, every balance change in one multi-row upsert ``RETURNING`` the new balances
  (checked for negatives), the commit.
- **The commit rate**: one tiny row per transaction (SQLite in WAL mode; PostgreSQL with
  ``synchronous_commit=on`` from several connections). One posting per transaction can never beat
  it: it bounds one-posting-per-transaction throughput on this disk, whatever the code.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from fabcoord.db import SQLITE_CACHE_MIB, SQLITE_WAL_AUTOCHECKPOINT_PAGES

Receipt = tuple[int, int, int, str]  # item id, shelf id, qty, lot

FLOOR_HEADER = (
    "INSERT INTO posting (reason, doc_type, doc_id, actor, posted_at, fingerprint, note) "
    "VALUES ('receipt', 'receipt', {p}, 'bench', {p}, 'raw', '') RETURNING id"
)
FLOOR_MOVES = (
    "INSERT INTO stock_move (posting_id, item_id, location_id, lot, qty, unit, reason, doc_type, "
    "doc_id, posted_at) VALUES ({p}, {p}, {p}, {p}, {p}, 'g', 'receipt', 'receipt', {p}, {p}), "
    "({p}, {p}, {p}, {p}, {p}, 'g', 'receipt', 'receipt', {p}, {p})"
)
FLOOR_BALANCE = (
    "INSERT INTO stock_balance (item_id, location_id, lot, qty) VALUES ({p}, {p}, {p}, {p}) "
    "ON CONFLICT (item_id, location_id, lot) DO UPDATE SET qty = stock_balance.qty + excluded.qty "
    "RETURNING qty"
)
BATCH_HEADERS = (
    "INSERT INTO posting (id, reason, doc_type, doc_id, actor, posted_at, fingerprint, note) "
    "VALUES (?, 'receipt', 'receipt', ?, 'bench', ?, 'raw', '')"
)
BATCH_MOVES = (
    "INSERT INTO stock_move (posting_id, item_id, location_id, lot, qty, unit, reason, doc_type, "
    "doc_id, posted_at) VALUES (?, ?, ?, ?, ?, 'g', 'receipt', 'receipt', ?, ?)"
)
BATCH_BALANCES = (
    "INSERT INTO stock_balance (item_id, location_id, lot, qty) VALUES {rows} "
    "ON CONFLICT (item_id, location_id, lot) DO UPDATE SET qty = stock_balance.qty + excluded.qty "
    "RETURNING qty"
)


def sqlite_raw_connection(path: Path, synchronous: str = "NORMAL") -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, timeout=30)
    for pragma in (
        "journal_mode=WAL",
        "foreign_keys=ON",
        "busy_timeout=30000",
        f"synchronous={synchronous}",
        f"cache_size=-{SQLITE_CACHE_MIB * 1024}",  # the page cache fabcoord's connections have
        f"wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}",  # and their checkpoint interval
    ):
        connection.execute(f"PRAGMA {pragma}")
    return connection


def floor_post(
    cursor: Any, p: str, item: int, supplier: int, shelf: int, qty: int, lot: str
) -> int:
    """One receipt in the fewest statements a hand-written client needs; returns its moves."""
    now = datetime.now(UTC).isoformat(" ") if p == "?" else datetime.now(UTC)
    doc = uuid.uuid4().hex[:12]
    cursor.execute(FLOOR_HEADER.format(p=p), (doc, now))
    posting_id = cursor.fetchone()[0]
    cursor.execute(
        FLOOR_MOVES.format(p=p),
        (
            posting_id,
            item,
            supplier,
            lot,
            -qty,
            doc,
            now,
            posting_id,
            item,
            shelf,
            lot,
            qty,
            doc,
            now,
        ),
    )
    cursor.execute(FLOOR_BALANCE.format(p=p), (item, shelf, lot, qty))
    if cursor.fetchone()[0] < 0:
        raise RuntimeError("negative")
    return 2


def floor_post_batch(cursor: Any, supplier: int, receipts: Sequence[Receipt]) -> int:
    """Receipts set-wise on SQLite, inside the caller's transaction; returns the moves written."""
    now = datetime.now(UTC).isoformat(" ")
    start = cursor.execute("SELECT COALESCE(MAX(id), 0) FROM posting").fetchone()[0]
    headers: list[tuple[Any, ...]] = []
    moves: list[tuple[Any, ...]] = []
    balances: dict[tuple[int, int, str], int] = {}
    for posting_id, (item, shelf, qty, lot) in enumerate(receipts, start + 1):
        doc = uuid.uuid4().hex[:12]
        headers.append((posting_id, doc, now))
        moves.append((posting_id, item, supplier, lot, -qty, doc, now))
        moves.append((posting_id, item, shelf, lot, qty, doc, now))
        key = (item, shelf, lot)
        balances[key] = balances.get(key, 0) + qty
    cursor.executemany(BATCH_HEADERS, headers)
    cursor.executemany(BATCH_MOVES, moves)
    rows = sorted(balances.items())
    cursor.execute(
        BATCH_BALANCES.format(rows=", ".join(["(?, ?, ?, ?)"] * len(rows))),
        [value for key, delta in rows for value in (*key, delta)],
    )
    if any(qty < 0 for (qty,) in cursor.fetchall()):
        raise RuntimeError("negative")
    return len(moves)


def sqlite_commit_rate(folder: Path, synchronous: str, commits: int) -> float:
    """Commits per second of one tiny insert per transaction, WAL mode, on this disk."""
    path = folder / f"commit-{synchronous.lower()}-{uuid.uuid4().hex[:6]}.db"
    connection = sqlite_raw_connection(path, synchronous)
    connection.execute("CREATE TABLE probe (id INTEGER PRIMARY KEY, x INTEGER NOT NULL)")
    start = time.perf_counter()
    for n in range(commits):
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO probe (x) VALUES (?)", (n,))
        connection.execute("COMMIT")
    rate = commits / (time.perf_counter() - start)
    connection.close()
    return rate


def pg_commit_writer(args: tuple[str, int]) -> int:
    """One connection committing one-row transactions (``synchronous_commit=on``)."""
    dsn, commits = args
    with psycopg.connect(dsn, autocommit=True) as connection:
        setting = connection.execute("SHOW synchronous_commit").fetchone()
        if setting is None or setting[0] != "on":
            raise RuntimeError(f"synchronous_commit is {setting}, not on")
        for n in range(commits):
            connection.execute("INSERT INTO commit_probe (x) VALUES (%s)", (n,))
    return commits


def create_pg_probe(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("CREATE TABLE commit_probe (id serial PRIMARY KEY, x int NOT NULL)")
