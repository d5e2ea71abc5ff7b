"""Balances derived from the moves, and the cache that keeps the current ones.

The balance of a real location as of now reads the cache (one index lookup); as of a past time,
or at a virtual location (never cached), it sums the moves. The cache is rebuildable:
:func:`rebuild_balance_cache` recomputes it from the moves and :func:`cache_discrepancies` compares.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, literal, text, union_all
from sqlalchemy import select as core_select
from sqlmodel import Session, select

from fabcoord.clock import as_utc
from fabcoord.ledger import lookups
from fabcoord.ledger.models import Item, Location, LocationKind, StockBalance, StockMove

Key = tuple[int, int, str]


@dataclass(frozen=True)
class BalanceRow:
    """The quantity of an item and lot at a location, in the item's base unit."""

    item: str
    location: str
    location_kind: str
    lot: str
    qty: int
    unit: str


def balances(
    *,
    session: Session,
    item_id: int | None = None,
    location_id: int | None = None,
    lot: str | None = None,
    as_of: datetime | None = None,
    include_zero: bool = False,
    include_virtual: bool = True,
) -> list[BalanceRow]:
    """Balances per item, location and lot, filtered; as of now unless ``as_of`` is given."""
    as_of = as_utc(as_of) if as_of is not None else None
    locations = {loc.id: loc for loc in session.exec(select(Location))}
    virtual = [i for i, loc in locations.items() if i is not None and loc.kind.is_virtual]
    if as_of is not None:
        rows = _summed_moves(session, item_id, location_id, lot, as_of, only_locations=None)
    else:
        rows = _cached(session, item_id, location_id, lot)
        if include_virtual and virtual:
            rows += _summed_moves(session, item_id, location_id, lot, None, only_locations=virtual)
    items = {i.id: i for i in session.exec(select(Item))}
    result = []
    for row_item, row_location, row_lot, row_qty in rows:
        location = locations[row_location]
        if (row_qty == 0 and not include_zero) or (
            location.kind.is_virtual and not include_virtual
        ):
            continue
        item = items[row_item]
        result.append(
            BalanceRow(
                item=item.code,
                location=location.code,
                location_kind=location.kind.value,
                lot=row_lot,
                qty=int(row_qty),
                unit=item.unit.value,
            )
        )
    return sorted(result, key=lambda r: (r.location, r.item, r.lot))


def _cached(
    session: Session, item_id: int | None, location_id: int | None, lot: str | None
) -> list[tuple[int, int, str, int]]:
    table = StockBalance.__table__  # type: ignore[attr-defined]
    query = select(table.c.item_id, table.c.location_id, table.c.lot, table.c.qty)
    for column, value in (("item_id", item_id), ("location_id", location_id), ("lot", lot)):
        if value is not None:
            query = query.where(table.c[column] == value)
    return [tuple(row) for row in session.execute(query)]


def _summed_moves(
    session: Session,
    item_id: int | None,
    location_id: int | None,
    lot: str | None,
    as_of: datetime | None,
    *,
    only_locations: list[int] | None,
) -> list[tuple[int, int, str, int]]:
    table = StockMove.__table__  # type: ignore[attr-defined]
    query = select(
        table.c.item_id, table.c.location_id, table.c.lot, func.sum(table.c.qty)
    ).group_by(table.c.item_id, table.c.location_id, table.c.lot)
    if as_of is not None:
        query = query.where(table.c.posted_at <= as_of)
    if only_locations is not None:
        query = query.where(table.c.location_id.in_(only_locations))
    for column, value in (("item_id", item_id), ("location_id", location_id), ("lot", lot)):
        if value is not None:
            query = query.where(table.c[column] == value)
    return [tuple(row) for row in session.execute(query)]


def quantity(
    *,
    session: Session,
    item_id: int,
    location_id: int,
    lot: str | None = None,
    as_of: datetime | None = None,
) -> int:
    """One number: the quantity of an item at a location (all lots unless ``lot`` is given)."""
    as_of = as_utc(as_of) if as_of is not None else None
    location = session.get(Location, location_id)
    if as_of is None and location is not None and not location.kind.is_virtual:
        query = select(func.coalesce(func.sum(StockBalance.qty), 0)).where(
            StockBalance.item_id == item_id, StockBalance.location_id == location_id
        )
        if lot is not None:
            query = query.where(StockBalance.lot == lot)
    else:
        query = select(func.coalesce(func.sum(StockMove.qty), 0)).where(
            StockMove.item_id == item_id, StockMove.location_id == location_id
        )
        if as_of is not None:
            query = query.where(StockMove.posted_at <= as_of)
        if lot is not None:
            query = query.where(StockMove.lot == lot)
    return int(session.exec(query).one())


_CACHE = StockBalance.__table__  # type: ignore[attr-defined]
_CACHED_QUANTITY = core_select(func.coalesce(func.sum(_CACHE.c.qty), 0)).where(
    _CACHE.c.item_id == bindparam("item_id"), _CACHE.c.location_id == bindparam("location_id")
)
_CACHED_LOT_QUANTITY = _CACHED_QUANTITY.where(_CACHE.c.lot == bindparam("lot"))


def cached_quantity(
    *, session: Session, item: str, location_id: int, lot: str | None = None
) -> int:
    """The quantity of an item (by code) at a real location as of now: one read of the balance
    cache, the item's id from the process's catalogue cache. Only for real locations (virtual ones
    have no cached balance: use :func:`quantity`).

    Raises:
        UnknownItem.
    """
    connection = session.connection()
    items, _ = lookups.resolve(session, connection, [item], [])
    parameters: dict[str, Any] = {"item_id": items[item].id, "location_id": location_id}
    if lot is None:
        return int(connection.execute(_CACHED_QUANTITY, parameters).scalar_one())
    return int(connection.execute(_CACHED_LOT_QUANTITY, {**parameters, "lot": lot}).scalar_one())


def _real_moves() -> Any:
    """Moves at real (cached) locations: what the cache must sum to."""
    virtual = [kind.value for kind in LocationKind if kind.is_virtual]
    moves, location = StockMove.__table__, Location.__table__  # type: ignore[attr-defined]
    return (
        core_select(moves.c.item_id, moves.c.location_id, moves.c.lot, moves.c.qty)
        .join(location, location.c.id == moves.c.location_id)
        .where(location.c.kind.not_in(virtual))
    )


def cache_discrepancies(*, session: Session) -> dict[Key, tuple[int, int]]:
    """Keys where the cache disagrees with the moves: ``{key: (cached, from moves)}``.

    One statement, so one snapshot: concurrent writers cannot make it report false differences.
    """
    cache = StockBalance.__table__  # type: ignore[attr-defined]
    moves = _real_moves().subquery()
    both = union_all(
        core_select(
            cache.c.item_id,
            cache.c.location_id,
            cache.c.lot,
            cache.c.qty.label("cached"),
            literal(0).label("moved"),
        ),
        core_select(
            moves.c.item_id,
            moves.c.location_id,
            moves.c.lot,
            literal(0).label("cached"),
            moves.c.qty.label("moved"),
        ),
    ).subquery()
    query = (
        core_select(
            both.c.item_id,
            both.c.location_id,
            both.c.lot,
            func.sum(both.c.cached),
            func.sum(both.c.moved),
        )
        .group_by(both.c.item_id, both.c.location_id, both.c.lot)
        .having(func.sum(both.c.cached) != func.sum(both.c.moved))
    )
    return {(i, loc, lot): (int(c), int(m)) for i, loc, lot, c, m in session.execute(query)}


def rebuild_balance_cache(*, session: Session) -> int:
    """Throw the cache away and recompute it from the moves; return the number of balances.

    Writers are held off for the rebuild: on SQLite by the ``BEGIN IMMEDIATE`` write lock, on
    PostgreSQL by a table lock that conflicts with their balance upserts (a writer that has
    inserted moves but not yet its balance change applies that change after the rebuild).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE stock_balance IN SHARE ROW EXCLUSIVE MODE"))
    moves = _real_moves().subquery()
    totals = session.execute(
        core_select(moves.c.item_id, moves.c.location_id, moves.c.lot, func.sum(moves.c.qty))
        .group_by(moves.c.item_id, moves.c.location_id, moves.c.lot)
        .having(func.sum(moves.c.qty) != 0)
    ).all()
    session.execute(delete(StockBalance))
    if totals:
        session.execute(
            insert(StockBalance),
            [
                {"item_id": i, "location_id": loc, "lot": lot, "qty": int(q)}
                for i, loc, lot, q in totals
            ],
        )
    return len(totals)
