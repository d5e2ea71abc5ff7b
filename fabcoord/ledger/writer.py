"""The write path of a posting: a fixed, small number of statements, whatever the batch size.

Kept apart from :mod:`fabcoord.ledger.posting` (rules and public API) because it is the hot path.
Nothing else inserts stock moves. The statements go straight to the driver's cursor (the
SQLAlchemy layer costs more than the statements themselves); driver errors are raised as the
usual SQLAlchemy exceptions.

PostgreSQL: **one statement** writes a batch (data-modifying CTEs): the headers with their ids from
the sequence (``ON CONFLICT (idempotency_key) DO NOTHING``), the legs of the headers actually
inserted, and every balance change in one upsert ``RETURNING`` the new balances. Its parameters
are one array per column (``unnest``), so the statement's text is the same for every batch, of any
size: the driver parses it once and the server prepares it.
SQLite (no data-modifying CTEs): the header insert with the same ``ON CONFLICT … DO NOTHING
RETURNING id`` (for a batch, one multi-row insert after reading the largest posting id: ids follow
it, as SQLite's own would, safe under the ``BEGIN IMMEDIATE`` write lock), the legs by one
prepared single-row insert run for each (``executemany``: less CPU in SQLite than a multi-row
``VALUES``), one balance upsert.

A header whose idempotency key is already taken is not inserted, and neither are its legs nor its
balance changes; :func:`write` reports it as None and the caller answers from the earlier posting.
Balance upserts run in (item, location, lot) order: one lock order for every writer. On SQLite,
very large batches are split into several statements of each kind, keeping that order. The upsert adds the
batch's net change to every balance it touches and returns the new balances; the negative-stock
rule is then checked posting by posting in Python (:mod:`fabcoord.ledger.shortfall`), and a
refusal raises before the caller's transaction goes on (the caller undoes the writes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from fabcoord.errors import InsufficientStock
from fabcoord.ledger.lookups import ItemRef, LocationRef
from fabcoord.ledger.models import MoveReason, Posting, StockMove
from fabcoord.ledger.shortfall import Changes

__all__ = ["ItemRef", "LocationRef", "NewPosting", "Posted", "write"]

_HEADER = (
    "reason",
    "doc_type",
    "doc_id",
    "actor",
    "posted_at",
    "idempotency_key",
    "fingerprint",
    "reverses_id",
    "note",
)
_MOVE = (
    "posting_id",
    "item_id",
    "location_id",
    "lot",
    "qty",
    "unit",
    "reason",
    "doc_type",
    "doc_id",
    "posted_at",
)
_PARAMETERS_PER_STATEMENT = 30_000  # under SQLite's 32,766
_LOTS_HELD = (
    "SELECT lot FROM stock_balance WHERE item_id = {p} AND location_id = {p} AND lot <> {p} "
    "AND qty > 0"
)
Delta = tuple[int, int, str]  # item id, location id, lot


@dataclass(frozen=True, slots=True)
class Posted:
    """A posting as written (a plain record: building ORM objects would double the cost)."""

    id: int
    reason: MoveReason
    doc_type: str
    doc_id: str
    actor: str
    posted_at: datetime
    idempotency_key: str | None
    fingerprint: str
    reverses_id: int | None
    note: str

    @classmethod
    def of(cls, row: Posting | NewPosting | Any, posting_id: int | None = None) -> Posted:
        """From a stored posting (ORM object or row), or from a new one and its id."""
        return cls(
            id=posting_id if posting_id is not None else getattr(row, "id", None) or 0,
            reason=MoveReason(row.reason),
            doc_type=row.doc_type,
            doc_id=row.doc_id,
            actor=row.actor,
            posted_at=row.posted_at,
            idempotency_key=row.idempotency_key,
            fingerprint=row.fingerprint,
            reverses_id=row.reverses_id,
            note=row.note,
        )

    @classmethod
    def new(cls, p: NewPosting, posting_id: int) -> Posted:
        """From a posting just written. Sets each slot by its own descriptor: a frozen
        dataclass's ``__init__`` sets each field through ``object.__setattr__``, which costs more
        than the posting's insert."""
        posted = _NEW(cls)
        _POSTED_ID(posted, posting_id)
        _POSTED_REASON(posted, p.reason)
        _POSTED_DOC_TYPE(posted, p.doc_type)
        _POSTED_DOC_ID(posted, p.doc_id)
        _POSTED_ACTOR(posted, p.actor)
        _POSTED_AT(posted, p.posted_at)
        _POSTED_KEY(posted, p.idempotency_key)
        _POSTED_FINGERPRINT(posted, p.fingerprint)
        _POSTED_REVERSES(posted, p.reverses_id)
        _POSTED_NOTE(posted, p.note)
        return posted


def slot_setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of a slotted dataclass's fields ``names``, named so that reordering the
    fields changes nothing (an unknown name fails at import): each stores its value directly,
    past a frozen dataclass's refusal (for its own fast constructors only)."""
    fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return tuple(getattr(cls, fields[name].name).__set__ for name in names)


_NEW = object.__new__
(
    _POSTED_ID,
    _POSTED_REASON,
    _POSTED_DOC_TYPE,
    _POSTED_DOC_ID,
    _POSTED_ACTOR,
    _POSTED_AT,
    _POSTED_KEY,
    _POSTED_FINGERPRINT,
    _POSTED_REVERSES,
    _POSTED_NOTE,
) = slot_setters(
    Posted,
    "id",
    "reason",
    "doc_type",
    "doc_id",
    "actor",
    "posted_at",
    "idempotency_key",
    "fingerprint",
    "reverses_id",
    "note",
)


class NewPosting(NamedTuple):
    """A posting ready to write: header values and legs already resolved and validated."""

    reason: MoveReason
    doc_type: str
    doc_id: str
    actor: str
    posted_at: datetime
    idempotency_key: str | None
    fingerprint: str
    reverses_id: int | None
    note: str
    legs: tuple[tuple[str, str, int, str], ...]  # item code, location code, qty, lot


def write(
    connection: Connection,
    postings: Sequence[NewPosting],
    items: dict[str, ItemRef],
    locations: dict[str, LocationRef],
) -> list[Posted | None]:
    """Insert headers, legs and balance changes; None for a posting whose key was already taken.

    Raises:
        InsufficientStock: a balance that may not go negative would (the caller undoes the writes).
    """
    dbapi_error = connection.dialect.loaded_dbapi.Error
    driver: Any = connection.connection.driver_connection
    cursor = driver.cursor()
    stamp = _stamp(connection.dialect)
    forbid = frozenset(item.id for item in items.values() if not item.allow_negative)
    try:
        if connection.dialect.name == "postgresql":
            mark = "%s"
            ids, after, changes = _write_postgresql(
                cursor, postings, items, locations, stamp, forbid
            )
        else:
            mark = "?"
            ids, after, changes = _write_sqlite(cursor, postings, items, locations, stamp, forbid)
        _refuse_negative(cursor, mark, after, changes, items, locations)
    except dbapi_error as error:
        raise DBAPIError.instance("ledger posting", None, error, dbapi_error) from None
    finally:
        cursor.close()
    new = Posted.new
    return [None if i is None else new(p, i) for i, p in zip(ids, postings, strict=True)]


# --- PostgreSQL: one statement --------------------------------------------------------------


def _write_postgresql(
    cursor: Any,
    postings: Sequence[NewPosting],
    items: dict[str, ItemRef],
    locations: dict[str, LocationRef],
    stamp: Callable[[datetime], Any],
    forbid: frozenset[int],
) -> tuple[list[int | None], list[tuple[int, int, str, int]], Changes]:
    columns, deltas = _postgresql_columns(postings, items, locations, stamp)
    if len(postings) == 1:  # row values: cheaper to send than arrays for one posting
        legs, balances = len(columns[11]), len(deltas)
        rows = [row for first, last in _GROUPS for row in zip(*columns[first:last], strict=True)]
        cursor.execute(_postgresql_one_sql(legs, balances), [v for row in rows for v in row])
    else:
        cursor.execute(_POSTGRESQL_SQL, columns)
    by_n: dict[int, int | None] = {}
    after = []
    for kind, a, b, lot, qty in cursor.fetchall():
        if kind == 0:
            by_n[a] = b if qty else None
        else:
            after.append((a, b, lot, qty))
    ids = [by_n[n] for n in range(len(postings))]
    changes = Changes(forbid)
    for n, item_id, location_id, lot, qty in deltas:  # those of the postings inserted, in order
        if ids[n] is not None:
            changes.add(n, (item_id, location_id, lot), qty)
    return ids, after, changes


def _postgresql_columns(
    postings: Sequence[NewPosting],
    items: dict[str, ItemRef],
    locations: dict[str, LocationRef],
    stamp: Callable[[datetime], Any],
) -> tuple[list[list[Any]], list[tuple[int, int, int, str, int]]]:
    """The statement's parameters, one array per column (headers, legs, per-posting balance
    changes), and the balance changes as ``(posting index, item, location, lot, qty)``."""
    header: list[list[Any]] = [[] for _ in range(len(_HEADER))]
    reason, doc_type, doc_id, actor, posted_at, key, fingerprint, reverses_id, note = header
    leg_n: list[int] = []
    leg_item: list[int] = []
    leg_location: list[int] = []
    leg_lot: list[str] = []
    leg_qty: list[int] = []
    leg_unit: list[str] = []
    deltas: list[tuple[int, int, int, str, int]] = []
    stamped = _stamped(postings, stamp)
    for n, p in enumerate(postings):
        reason.append(p.reason.value)
        doc_type.append(p.doc_type)
        doc_id.append(p.doc_id)
        actor.append(p.actor)
        posted_at.append(stamped[n])
        key.append(p.idempotency_key)
        fingerprint.append(p.fingerprint)
        reverses_id.append(p.reverses_id)
        note.append(p.note)
        mine: dict[Delta, int] = {}
        for item_code, location_code, qty, lot in p.legs:
            item, location = items[item_code], locations[location_code]
            leg_n.append(n)
            leg_item.append(item.id)
            leg_location.append(location.id)
            leg_lot.append(lot)
            leg_qty.append(qty)
            leg_unit.append(item.unit_value)
            if not location.virtual:
                delta = (item.id, location.id, lot)
                mine[delta] = mine.get(delta, 0) + qty
        deltas += [(n, *delta, qty) for delta, qty in mine.items() if qty != 0]
    parameters = [
        list(range(len(postings))),
        *header,
        list(range(len(leg_n))),
        leg_n,
        leg_item,
        leg_location,
        leg_lot,
        leg_qty,
        leg_unit,
        *([row[column] for row in deltas] for column in range(5)),
    ]
    return parameters, deltas


_GROUPS = ((0, 10), (10, 17), (17, 22))  # the columns of the headers, the legs, the balances
_HEADER_TYPES = (
    "int",
    "text",
    "text",
    "text",
    "text",
    "timestamptz",
    "text",
    "text",
    "int",
    "text",
)
_LEG_TYPES = ("int", "int", "int", "int", "text", "bigint", "text")
_BALANCE_TYPES = ("int", "int", "int", "text", "bigint")


def _unnest(types: tuple[str, ...]) -> str:
    """``SELECT * FROM unnest(%s::t1[], …)``: one array parameter per column."""
    return f"SELECT * FROM unnest({', '.join(f'%s::{t}[]' for t in types)})"


def _postgresql_statement(v: str, legs: str, balances: str) -> str:
    """The one statement, given how the headers, the legs and the balance changes are sent."""
    return (
        f"WITH v (n, {', '.join(_HEADER)}) AS ({v}), "
        "ids AS MATERIALIZED (SELECT n, nextval(pg_get_serial_sequence('posting', 'id')) AS id "
        "FROM v ORDER BY n), "
        f"h AS (INSERT INTO posting (id, {', '.join(_HEADER)}) "
        f"SELECT ids.id, {', '.join('v.' + c for c in _HEADER)} FROM v JOIN ids USING (n) "
        "ORDER BY n ON CONFLICT (idempotency_key) DO NOTHING RETURNING id), "
        f"l (k, n, item_id, location_id, lot, qty, unit) AS ({legs}), "
        f"m AS (INSERT INTO stock_move ({', '.join(_MOVE)}) "
        "SELECT h.id, l.item_id, l.location_id, l.lot, l.qty, l.unit, v.reason, v.doc_type, "
        "v.doc_id, v.posted_at FROM l JOIN v USING (n) JOIN ids USING (n) "
        "JOIN h ON h.id = ids.id ORDER BY l.k), "
        f"d (n, item_id, location_id, lot, qty) AS ({balances}), "
        "b AS (INSERT INTO stock_balance (item_id, location_id, lot, qty) "
        "SELECT d.item_id, d.location_id, d.lot, SUM(d.qty) FROM d JOIN ids USING (n) "
        "JOIN h ON h.id = ids.id GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 "
        "ON CONFLICT (item_id, location_id, lot) DO UPDATE "
        "SET qty = stock_balance.qty + excluded.qty "
        "RETURNING item_id, location_id, lot, qty) "
        "SELECT 0, ids.n::bigint, ids.id, NULL::text, (h.id IS NOT NULL)::int::bigint "
        "FROM ids LEFT JOIN h ON h.id = ids.id "
        "UNION ALL SELECT 1, item_id::bigint, location_id::bigint, lot, qty FROM b"
    )


# A batch: one statement text for every batch, each column one array parameter (the driver
# parses it once and the server prepares it; a VALUES list per batch size was parsed anew).
_POSTGRESQL_SQL = _postgresql_statement(
    _unnest(_HEADER_TYPES), _unnest(_LEG_TYPES), _unnest(_BALANCE_TYPES)
)


_NO_BALANCES = "SELECT NULL::int, NULL::int, NULL::int, NULL::text, NULL::bigint WHERE false"


@lru_cache(maxsize=64)
def _postgresql_one_sql(legs: int, balances: int) -> str:
    """One posting: row values (short enough for the driver to cache it, too)."""
    return _postgresql_statement(
        _values(1, _HEADER_TYPES),
        _values(legs, _LEG_TYPES),
        _values(balances, _BALANCE_TYPES) if balances else _NO_BALANCES,
    )


def _values(rows: int, types: tuple[str, ...]) -> str:
    """``VALUES (%s::t1, …), (%s, …)``: the first row's casts type every column."""
    first = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
    other = "(" + ", ".join("%s" for _ in types) + ")"
    return "VALUES " + ", ".join([first] + [other] * (rows - 1))


# --- SQLite: three statements (four for a batch) --------------------------------------------


def _write_sqlite(
    cursor: Any,
    postings: Sequence[NewPosting],
    items: dict[str, ItemRef],
    locations: dict[str, LocationRef],
    stamp: Callable[[datetime], Any],
    forbid: frozenset[int],
) -> tuple[list[int | None], list[tuple[int, int, str, int]], Changes]:
    stamped = _stamped(postings, stamp)
    if len(postings) == 1:  # the id SQLite gives, returned
        cursor.execute(_sqlite_headers_sql(1, with_ids=False), _header(postings[0], stamped[0]))
        ids: list[int | None] = [row[0] for row in cursor.fetchall()] or [None]
    else:  # ids chosen here, to tell which headers were inserted (RETURNING has no order)
        ids = _sqlite_headers(cursor, postings, stamped)
    moves: list[tuple[Any, ...]] = []  # the legs' rows
    changes = Changes(forbid)
    add, add_posting = changes.add, changes.add_posting
    reason: MoveReason | None = None
    value = ""
    for n, (posting_id, p, posted_at) in enumerate(zip(ids, postings, stamped, strict=True)):
        if posting_id is None:
            continue
        if p.reason is not reason:  # an enum's value is slow to read: once per run of reasons
            reason = p.reason
            value = reason.value
        doc_type, doc_id = p.doc_type, p.doc_id
        real = []
        for item_code, location_code, qty, lot in p.legs:
            item, location = items[item_code], locations[location_code]
            item_id, location_id = item.id, location.id
            moves.append(
                (
                    posting_id,
                    item_id,
                    location_id,
                    lot,
                    qty,
                    item.unit_value,
                    value,
                    doc_type,
                    doc_id,
                    posted_at,
                )
            )
            if not location.virtual:  # virtual counterparts are never cached
                real.append(((item_id, location_id, lot), qty))
        if len(real) == 1:  # the usual posting: one real place (the other is virtual)
            add(n, *real[0])
        elif real:
            add_posting(n, real)
    # one prepared single-row insert run for every leg: SQLite inserts rows this way for less
    # CPU than the same rows as one multi-row VALUES (measured: about 3 µs less per leg)
    cursor.executemany(_SQLITE_MOVE_SQL, moves)
    return ids, _upsert_balances(cursor, "?", changes.net), changes


def _stamped(postings: Sequence[NewPosting], stamp: Callable[[datetime], Any]) -> list[Any]:
    """Each posting's time as stored, converted once per distinct time (a batch has one)."""
    first = postings[0].posted_at
    if all(p.posted_at is first for p in postings):  # a batch: one time
        return [stamp(first)] * len(postings)
    done: dict[datetime, Any] = {}
    result = []
    for p in postings:
        value = done.get(p.posted_at)
        if value is None:
            value = done[p.posted_at] = stamp(p.posted_at)
        result.append(value)
    return result


def _sqlite_headers(
    cursor: Any, postings: Sequence[NewPosting], stamped: list[Any]
) -> list[int | None]:
    """Insert the headers with ids after the largest; the ids, None where a key was taken. A
    batch without idempotency keys cannot meet a taken key: its ids are not read back."""
    start = int(cursor.execute("SELECT COALESCE(MAX(id), 0) FROM posting").fetchone()[0])
    wanted: list[int | None] = list(range(start + 1, start + 1 + len(postings)))
    keyed = any(p.idempotency_key is not None for p in postings)
    inserted: set[int] = set()
    per_statement = _PARAMETERS_PER_STATEMENT // (len(_HEADER) + 1)
    for first in range(0, len(postings), per_statement):
        values: list[Any] = []
        reason: MoveReason | None = None
        value = ""
        for posting_id, p, posted_at in zip(
            wanted[first : first + per_statement],
            postings[first : first + per_statement],
            stamped[first : first + per_statement],
            strict=True,
        ):
            if p.reason is not reason:  # as in _write_sqlite: the value once per run of reasons
                reason = p.reason
                value = reason.value
            values += (
                posting_id,
                value,
                p.doc_type,
                p.doc_id,
                p.actor,
                posted_at,
                p.idempotency_key,
                p.fingerprint,
                p.reverses_id,
                p.note,
            )
        rows = len(values) // (len(_HEADER) + 1)
        cursor.execute(_sqlite_headers_sql(rows, with_ids=True, returning=keyed), values)
        if keyed:
            inserted.update(row[0] for row in cursor.fetchall())
    return wanted if not keyed else [i if i in inserted else None for i in wanted]


@lru_cache(maxsize=256)
def _sqlite_headers_sql(rows: int, *, with_ids: bool, returning: bool = True) -> str:
    columns = ("id", *_HEADER) if with_ids else _HEADER
    row = "(" + ", ".join("?" for _ in columns) + ")"
    return (
        f"INSERT INTO posting ({', '.join(columns)}) VALUES {', '.join([row] * rows)} "
        "ON CONFLICT (idempotency_key) DO NOTHING" + (" RETURNING id" if returning else "")
    )


_SQLITE_MOVE_SQL = (
    f"INSERT INTO stock_move ({', '.join(_MOVE)}) VALUES ({', '.join('?' for _ in _MOVE)})"
)


# --- balances -------------------------------------------------------------------------------


def _upsert_balances(
    cursor: Any, p: str, deltas: dict[Delta, int]
) -> list[tuple[int, int, str, int]]:
    """The balance changes in key order, ``RETURNING`` the new balances (one statement unless
    huge). A net change of zero is sent too: its balance is needed to check the steps."""
    keys = sorted(deltas)
    balances = []
    per_statement = _PARAMETERS_PER_STATEMENT // 4
    for first in range(0, len(keys), per_statement):
        chunk = keys[first : first + per_statement]
        cursor.execute(
            _upsert_sql(p, len(chunk)),
            [value for key in chunk for value in (*key, deltas[key])],
        )
        balances += [tuple(row) for row in cursor.fetchall()]
    return balances


@lru_cache(maxsize=256)
def _upsert_sql(p: str, rows: int) -> str:
    row = f"({p}, {p}, {p}, {p})"
    return (
        f"INSERT INTO stock_balance (item_id, location_id, lot, qty) VALUES "
        f"{', '.join([row] * rows)} ON CONFLICT (item_id, location_id, lot) DO UPDATE "
        "SET qty = stock_balance.qty + excluded.qty RETURNING item_id, location_id, lot, qty"
    )


def _refuse_negative(
    cursor: Any,
    p: str,
    after: list[tuple[int, int, str, int]],
    changes: Changes,
    items: dict[str, ItemRef],
    locations: dict[str, LocationRef],
) -> None:
    """InsufficientStock for the first posting of the batch that takes a balance below zero."""
    if len(after) != len(changes.net):  # never expected: the check must see every balance
        raise RuntimeError(f"balance upsert returned {len(after)} rows for {len(changes.net)} keys")
    if not changes.lowest:  # no posting took stock of an item that forbids negative balances
        return
    shortfall = changes.shortfall({(i, loc, lot): qty for i, loc, lot, qty in after})
    if shortfall is None:
        return
    item_id, location_id, lot = shortfall.key
    item = next(item for item in items.values() if item.id == item_id)
    location = next(loc for loc in locations.values() if loc.id == location_id)
    cursor.execute(_LOTS_HELD.format(p=p), (item_id, location_id, lot))
    other_lots = [row[0] for row in cursor.fetchall()]
    raise InsufficientStock(
        item=item.code,
        location=location.code,
        lot=lot,
        available=shortfall.available,
        requested=shortfall.requested,
        unit=item.unit_value,
        other_lots=tuple(sorted(other_lots))[:10],
    )


# --- rows and parameters --------------------------------------------------------------------


def _header(p: NewPosting, posted_at: Any) -> tuple[Any, ...]:
    return (
        p.reason.value,
        p.doc_type,
        p.doc_id,
        p.actor,
        posted_at,
        p.idempotency_key,
        p.fingerprint,
        p.reverses_id,
        p.note,
    )


@lru_cache(maxsize=8)
def _stamp(dialect: Any) -> Callable[[datetime], Any]:
    """How the dialect stores ``posted_at`` (SQLite: text in SQLAlchemy's own format).

    On SQLite, SQLAlchemy's converter (through SQLModel's UTC type) costs more than a posting's
    statements; the same text is written directly, once checked equal to SQLAlchemy's own."""
    column_type = StockMove.__table__.c.posted_at.type  # type: ignore[attr-defined]
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return lambda value: value
    sample = datetime(2020, 4, 6, 18, 0, 7, 120, tzinfo=timezone(timedelta(hours=2)))
    if dialect.name == "sqlite" and process(sample) == _sqlite_text(sample):
        return _sqlite_text
    return process  # type: ignore[no-any-return]


def _sqlite_text(value: datetime) -> str:
    """``value`` in UTC as SQLAlchemy writes a SQLite DATETIME: ``2020-04-06 16:00:07.000120``."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031  (faster than f-strings here)
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )
