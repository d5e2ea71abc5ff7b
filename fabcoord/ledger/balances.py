"""Balances derived from the moves, and the cache that keeps the current ones.

The balance of a real location as of now reads the cache (one index lookup); as of a past time,
or at a virtual location (never cached), it sums the moves. The cache is rebuildable:
:func:`rebuild_balance_cache` recomputes it from the moves and :func:`cache_discrepancies` compares.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert
from sqlmodel import Session, col, select

from fabcoord.ledger.models import Item, Location, StockBalance, StockMove

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


def sum_by_key(moves: Iterable[tuple[int, int, str, int]]) -> dict[Key, int]:
    """Pure: total signed quantity per (item, location, lot), zero totals dropped."""
    totals: dict[Key, int] = defaultdict(int)
    for item_id, location_id, lot, qty in moves:
        totals[(item_id, location_id, lot)] += qty
    return {key: total for key, total in totals.items() if total != 0}


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


def _totals_from_moves(session: Session) -> dict[Key, int]:
    """What the cache must hold: totals at real (non-virtual) locations, from the moves."""
    virtual = [loc.id for loc in session.exec(select(Location)) if loc.kind.is_virtual]
    query = (
        select(StockMove.item_id, StockMove.location_id, StockMove.lot, func.sum(StockMove.qty))
        .where(col(StockMove.location_id).not_in(virtual))
        .group_by(col(StockMove.item_id), col(StockMove.location_id), col(StockMove.lot))
    )
    return {(i, loc, lot): int(q) for i, loc, lot, q in session.execute(query)}


def cache_discrepancies(*, session: Session) -> dict[Key, tuple[int, int]]:
    """Keys where the cache disagrees with the moves: ``{key: (cached, from moves)}``."""
    from_moves = _totals_from_moves(session)
    cached = {(b.item_id, b.location_id, b.lot): b.qty for b in session.exec(select(StockBalance))}
    keys = set(from_moves) | set(cached)
    return {
        key: (cached.get(key, 0), from_moves.get(key, 0))
        for key in keys
        if cached.get(key, 0) != from_moves.get(key, 0)
    }


def rebuild_balance_cache(*, session: Session) -> int:
    """Throw the cache away and recompute it from the moves; return the number of balances.

    Takes the write lock for the whole rebuild (run it when writers are quiet).
    """
    totals = _totals_from_moves(session)
    session.execute(delete(StockBalance))
    if totals:
        session.execute(
            insert(StockBalance),
            [
                {"item_id": i, "location_id": loc, "lot": lot, "qty": q}
                for (i, loc, lot), q in sorted(totals.items())
            ],
        )
    return len(totals)
