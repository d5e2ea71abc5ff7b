"""Items and locations by code, cached in the process for the posting path.

An item's or a location's id, unit, kind and ``allow_negative`` never change once created (no code
updates or deletes them), so a cached entry stays true for every process; a code not in the cache
is read from the database (a cache miss re-reads, so rows another process created are found).
Only committed rows enter the cache: what a transaction reads is held on its session and kept when
the session commits, dropped when it rolls back (a rolled-back row's id may be reused on SQLite).
A future operation that changes an item or a location must call :func:`forget`.

The cache is per connection pool (one per engine), so two databases never share entries.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, event, select
from sqlalchemy.orm import Session as OrmSession

from fabcoord.errors import UnknownItem, UnknownLocation
from fabcoord.ledger.models import Item, Location, LocationKind, Unit

_ITEM = Item.__table__  # type: ignore[attr-defined]
_LOCATION = Location.__table__  # type: ignore[attr-defined]
_SELECT_ITEMS = select(_ITEM.c.id, _ITEM.c.code, _ITEM.c.unit, _ITEM.c.allow_negative).where(
    _ITEM.c.code.in_(bindparam("codes", expanding=True))
)
_SELECT_LOCATIONS = select(_LOCATION.c.id, _LOCATION.c.code, _LOCATION.c.kind).where(
    _LOCATION.c.code.in_(bindparam("codes", expanding=True))
)
_PENDING = "fabcoord.ledger.lookups"


@dataclass(frozen=True)
class ItemRef:
    id: int
    code: str
    unit: Unit
    allow_negative: bool
    unit_value: str  # ``unit.value``, read once (an enum's value is slow to read on the hot path)


@dataclass(frozen=True)
class LocationRef:
    id: int
    code: str
    kind: LocationKind
    virtual: bool  # ``kind.is_virtual``: no cached balance


@dataclass
class _Entries:
    items: dict[str, ItemRef]
    locations: dict[str, LocationRef]


_cache: weakref.WeakKeyDictionary[Any, _Entries] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def resolve(
    session: OrmSession,
    connection: Connection,
    item_codes: Iterable[str],
    location_codes: Iterable[str],
) -> tuple[dict[str, ItemRef], dict[str, LocationRef]]:
    """Items and locations by code: from the cache, else in one query each.

    Raises:
        UnknownItem, UnknownLocation.
    """
    pool = connection.engine.pool
    cached = _cache.get(pool) or _Entries({}, {})
    pending: tuple[Any, _Entries] | None = session.info.get(_PENDING)
    seen = pending[1] if pending is not None and pending[0] is pool else None
    items: dict[str, ItemRef] = {}
    locations: dict[str, LocationRef] = {}
    missing_items = _take(item_codes, items, cached.items, seen.items if seen else None)
    missing_locations = _take(
        location_codes, locations, cached.locations, seen.locations if seen else None
    )
    if not missing_items and not missing_locations:
        return items, locations
    if seen is None:
        seen = _Entries({}, {})
        session.info[_PENDING] = (pool, seen)
    if missing_items:
        for row in connection.execute(_SELECT_ITEMS, {"codes": sorted(missing_items)}):
            unit = Unit(row.unit)
            ref = ItemRef(row.id, row.code, unit, bool(row.allow_negative), unit.value)
            items[ref.code] = seen.items[ref.code] = ref
        for code in sorted(missing_items):
            if code not in items:
                raise UnknownItem(f"unknown item {code!r} (see 'fabcoord item list')")
    if missing_locations:
        for row in connection.execute(_SELECT_LOCATIONS, {"codes": sorted(missing_locations)}):
            kind = LocationKind(row.kind)
            ref_location = LocationRef(row.id, row.code, kind, kind.is_virtual)
            locations[ref_location.code] = seen.locations[ref_location.code] = ref_location
        for code in sorted(missing_locations):
            if code not in locations:
                raise UnknownLocation(f"unknown location {code!r} (see 'fabcoord location list')")
    return items, locations


def _take(
    codes: Iterable[str],
    found: dict[str, Any],
    cached: dict[str, Any],
    seen: dict[str, Any] | None,
) -> set[str]:
    missing = set()
    for code in codes:
        if code in found:
            continue
        ref = cached.get(code) or (seen.get(code) if seen is not None else None)
        if ref is None:
            missing.add(code)
        else:
            found[code] = ref
    return missing


def forget() -> None:
    """Drop every cached entry (after a change to an item or a location)."""
    with _lock:
        _cache.clear()


@event.listens_for(OrmSession, "after_commit")
def _keep_committed(session: OrmSession) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending is None:
        return
    pool, seen = pending
    with _lock:
        entries = _cache.get(pool)
        if entries is None:
            _cache[pool] = _Entries(dict(seen.items), dict(seen.locations))
        else:  # copy on write: readers take the dicts without the lock
            _cache[pool] = _Entries(
                {**entries.items, **seen.items}, {**entries.locations, **seen.locations}
            )


@event.listens_for(OrmSession, "after_soft_rollback")
def _drop_uncommitted(session: OrmSession, _previous: Any) -> None:
    session.info.pop(_PENDING, None)
