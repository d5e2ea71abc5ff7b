"""The write path of a posting, in SQLAlchemy Core with statements built once.

Kept apart from :mod:`fabcoord.ledger.posting` (rules and public API) because it is the hot path:
an ORM flush per posting costs several times the SQL it sends. Nothing else inserts stock moves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlmodel import Session

from fabcoord.errors import InsufficientStock, UnknownItem, UnknownLocation
from fabcoord.ledger.models import (
    Item,
    Location,
    LocationKind,
    MoveReason,
    Posting,
    StockBalance,
    StockMove,
    Unit,
)

_ITEM = Item.__table__  # type: ignore[attr-defined]
_LOCATION = Location.__table__  # type: ignore[attr-defined]
_POSTING = Posting.__table__  # type: ignore[attr-defined]
_MOVE = StockMove.__table__  # type: ignore[attr-defined]
_BALANCE = StockBalance.__table__  # type: ignore[attr-defined]

_SELECT_ITEMS = select(_ITEM.c.id, _ITEM.c.code, _ITEM.c.unit, _ITEM.c.allow_negative).where(
    _ITEM.c.code.in_(bindparam("codes", expanding=True))
)
_SELECT_LOCATIONS = select(_LOCATION.c.id, _LOCATION.c.code, _LOCATION.c.kind).where(
    _LOCATION.c.code.in_(bindparam("codes", expanding=True))
)
_INSERT_POSTING = insert(_POSTING)
_NEXT_POSTING_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('posting', 'id')) FROM generate_series(1, :count)"
)
_MAX_POSTING_ID = text("SELECT COALESCE(MAX(id), 0) FROM posting")
_INSERT_MOVE = insert(_MOVE)
_LOTS_HELD = select(_BALANCE.c.lot).where(
    _BALANCE.c.item_id == bindparam("item_id"),
    _BALANCE.c.location_id == bindparam("location_id"),
    _BALANCE.c.lot != bindparam("lot"),
    _BALANCE.c.qty > 0,
)


@lru_cache(maxsize=128)
def _upsert_sql(dialect: Dialect, count: int) -> tuple[str, tuple[str, ...] | None]:
    """``INSERT … VALUES (…) × count ON CONFLICT DO UPDATE … RETURNING``, compiled once per size.

    One statement changes every balance of a posting (or batch); ``RETURNING`` gives each new
    value. SQLAlchemy does not cache multi-row VALUES, so the SQL text is kept here.
    """
    compiled = _upsert(dialect.name, count).compile(dialect=dialect)
    return str(compiled), compiled.positiontup


def _upsert(dialect: str, count: int) -> Any:
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = make(_BALANCE).values(
        [
            {name: bindparam(f"{name}_{n}") for name in ("item_id", "location_id", "lot", "qty")}
            for n in range(count)
        ]
    )
    return statement.on_conflict_do_update(
        index_elements=["item_id", "location_id", "lot"],
        set_={"qty": _BALANCE.c.qty + statement.excluded.qty},
    ).returning(_BALANCE.c.item_id, _BALANCE.c.location_id, _BALANCE.c.lot, _BALANCE.c.qty)


@dataclass(frozen=True)
class ItemRef:
    id: int
    code: str
    unit: Unit
    allow_negative: bool


@dataclass(frozen=True)
class LocationRef:
    id: int
    code: str
    kind: LocationKind


@dataclass(frozen=True)
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
    def of(cls, row: Posting | NewPosting, posting_id: int | None = None) -> Posted:
        """From a stored posting, or from a new one and the id it was written with."""
        return cls(
            id=posting_id if posting_id is not None else getattr(row, "id", None) or 0,
            reason=row.reason,
            doc_type=row.doc_type,
            doc_id=row.doc_id,
            actor=row.actor,
            posted_at=row.posted_at,
            idempotency_key=row.idempotency_key,
            fingerprint=row.fingerprint,
            reverses_id=row.reverses_id,
            note=row.note,
        )


@dataclass(frozen=True)
class NewPosting:
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


def resolve(
    session: Session, item_codes: Iterable[str], location_codes: Iterable[str]
) -> tuple[dict[str, ItemRef], dict[str, LocationRef]]:
    """Look up items and locations by code in two queries. Raises UnknownItem/UnknownLocation."""
    connection = session.connection()
    wanted_items, wanted_locations = sorted(set(item_codes)), sorted(set(location_codes))
    items = {
        row.code: ItemRef(row.id, row.code, Unit(row.unit), row.allow_negative)
        for row in connection.execute(_SELECT_ITEMS, {"codes": wanted_items})
    }
    for code in wanted_items:
        if code not in items:
            raise UnknownItem(f"unknown item {code!r} (see 'fabcoord item list')")
    locations = {
        row.code: LocationRef(row.id, row.code, LocationKind(row.kind))
        for row in connection.execute(_SELECT_LOCATIONS, {"codes": wanted_locations})
    }
    for code in wanted_locations:
        if code not in locations:
            raise UnknownLocation(f"unknown location {code!r} (see 'fabcoord location list')")
    return items, locations


def write(
    session: Session,
    postings: Sequence[NewPosting],
    items: dict[str, ItemRef],
    locations: dict[str, LocationRef],
) -> list[Posted]:
    """Insert headers, legs and cached balances; raise InsufficientStock (caller rolls back)."""
    connection = session.connection()
    headers = [
        {
            "reason": p.reason.value,
            "doc_type": p.doc_type,
            "doc_id": p.doc_id,
            "actor": p.actor,
            "posted_at": p.posted_at,
            "idempotency_key": p.idempotency_key,
            "fingerprint": p.fingerprint,
            "reverses_id": p.reverses_id,
            "note": p.note,
        }
        for p in postings
    ]
    ids = _allocate_posting_ids(connection, len(headers))
    connection.execute(
        _INSERT_POSTING, [{"id": i, **header} for i, header in zip(ids, headers, strict=True)]
    )
    moves = []
    deltas: dict[tuple[int, int, str], int] = defaultdict(int)
    for posting_id, p in zip(ids, postings, strict=True):
        for item_code, location_code, qty, lot in p.legs:
            item, location = items[item_code], locations[location_code]
            moves.append(
                {
                    "posting_id": posting_id,
                    "item_id": item.id,
                    "location_id": location.id,
                    "lot": lot,
                    "qty": qty,
                    "unit": item.unit.value,
                    "reason": p.reason.value,
                    "doc_type": p.doc_type,
                    "doc_id": p.doc_id,
                    "posted_at": p.posted_at,
                }
            )
            if not location.kind.is_virtual:  # virtual counterparts are never cached
                deltas[(item.id, location.id, lot)] += qty
    connection.execute(_INSERT_MOVE, moves)
    _apply_to_balances(connection, deltas, items, locations)
    return [Posted.of(p, posting_id) for posting_id, p in zip(ids, postings, strict=True)]


def _allocate_posting_ids(connection: Connection, count: int) -> list[int]:
    """Ids for new postings, taken before the insert so that one statement inserts them all.

    PostgreSQL: from the table's sequence (safe with concurrent writers). SQLite: after the largest
    id, which is what SQLite itself does; safe because write transactions start with
    ``BEGIN IMMEDIATE`` and so hold the database's only write lock.
    """
    if connection.dialect.name == "postgresql":
        return [row[0] for row in connection.execute(_NEXT_POSTING_IDS, {"count": count})]
    start = int(connection.execute(_MAX_POSTING_ID).scalar_one())
    return list(range(start + 1, start + count + 1))


def _apply_to_balances(
    connection: Connection,
    deltas: dict[tuple[int, int, str], int],
    items: dict[str, ItemRef],
    locations: dict[str, LocationRef],
) -> None:
    """One upsert statement for every key (sorted: one lock order for all writers, no deadlock)."""
    keys = [key for key in sorted(deltas) if deltas[key] != 0]
    if not keys:
        return
    parameters: dict[str, Any] = {}
    for n, (item_id, location_id, lot) in enumerate(keys):
        parameters[f"item_id_{n}"], parameters[f"location_id_{n}"] = item_id, location_id
        parameters[f"lot_{n}"], parameters[f"qty_{n}"] = lot, deltas[(item_id, location_id, lot)]
    sql, positions = _upsert_sql(connection.dialect, len(keys))
    arguments = tuple(parameters[name] for name in positions) if positions else parameters
    rows = connection.exec_driver_sql(sql, arguments).all()
    if len(rows) != len(keys):  # never expected: the check below must see every balance
        raise RuntimeError(f"balance upsert returned {len(rows)} rows for {len(keys)} keys")
    items_by_id = {item.id: item for item in items.values()}
    for item_id, location_id, lot, balance in sorted(rows):
        delta, item = deltas[(item_id, location_id, lot)], items_by_id[item_id]
        if balance < 0 and delta < 0 and not item.allow_negative:
            location = next(loc for loc in locations.values() if loc.id == location_id)
            other_lots = connection.execute(
                _LOTS_HELD, {"item_id": item_id, "location_id": location_id, "lot": lot}
            ).scalars()
            raise InsufficientStock(
                item=item.code,
                location=location.code,
                lot=lot,
                available=balance - delta,
                requested=-delta,
                unit=item.unit.value,
                other_lots=tuple(sorted(other_lots))[:10],
            )
