"""Items and locations: creation, lookup by code, and the standard visor catalogue."""

from __future__ import annotations

from sqlmodel import Session, col, select

from fabcoord.errors import AlreadyExists, InvalidInput, UnknownItem, UnknownLocation
from fabcoord.ledger.models import Item, ItemKind, Location, LocationKind, Unit

SUPPLIERS = "supplier"
PRODUCTION = "production"
SCRAP = "scrap"
INVENTORY_ADJUSTMENT = "inventory-adjustment"
PARTNERS = "partner"
TRANSIT = "transit"

STANDARD_ITEMS: tuple[tuple[str, str, ItemKind, Unit], ...] = (
    ("petg", "PETG filament 1.75 mm", ItemKind.MATERIAL, Unit.GRAM),
    ("pla", "PLA filament 1.75 mm", ItemKind.MATERIAL, Unit.GRAM),
    ("pet-sheet-a4", "Transparent PET sheet A4, 200 µm, punched", ItemKind.MATERIAL, Unit.SHEET),
    ("elastic", "Elastic band, disinfectable", ItemKind.MATERIAL, Unit.MILLIMETRE),
    ("visor-frame", "Printed visor frame (headband)", ItemKind.PART, Unit.PIECE),
    ("visor", "Face-shield visor, adult, assembled", ItemKind.FINISHED, Unit.PIECE),
)
STANDARD_LOCATIONS: tuple[tuple[str, str, LocationKind], ...] = (
    (SUPPLIERS, "Suppliers (goods received from outside)", LocationKind.SUPPLIER),
    (PRODUCTION, "Production (consumed and produced)", LocationKind.PRODUCTION),
    (SCRAP, "Scrap", LocationKind.SCRAP),
    (INVENTORY_ADJUSTMENT, "Inventory adjustments", LocationKind.ADJUSTMENT),
    (PARTNERS, "Partner manufacturers", LocationKind.PARTNER),
    (TRANSIT, "In transit", LocationKind.TRANSIT),
)


def seed_standard_catalogue(*, session: Session) -> int:
    """Create the standard items and virtual locations that are missing; return how many."""
    created = 0
    for code, name, kind, unit in STANDARD_ITEMS:
        if session.exec(select(Item).where(Item.code == code)).first() is None:
            session.add(Item(code=code, name=name, kind=kind, unit=unit))
            created += 1
    for code, name, location_kind in STANDARD_LOCATIONS:
        if session.exec(select(Location).where(Location.code == code)).first() is None:
            session.add(Location(code=code, name=name, kind=location_kind))
            created += 1
    session.flush()
    return created


def add_item(
    *,
    session: Session,
    code: str,
    name: str,
    kind: ItemKind,
    unit: Unit,
    allow_negative: bool = False,
) -> Item:
    """Create an item. Raises AlreadyExists if the code is taken."""
    code = _clean_code(code, "item code", limit=64)
    name = _clean_name(name, code)
    if session.exec(select(Item).where(Item.code == code)).first() is not None:
        raise AlreadyExists(f"item {code!r} exists already")
    item = Item(code=code, name=name, kind=kind, unit=unit, allow_negative=allow_negative)
    session.add(item)
    session.flush()
    return item


def add_location(
    *,
    session: Session,
    code: str,
    name: str,
    kind: LocationKind,
    fablab_id: int | None = None,
    hospital_id: int | None = None,
) -> Location:
    """Create a location. Raises AlreadyExists if the code is taken."""
    code = _clean_code(code, "location code", limit=120)
    name = _clean_name(name, code)
    if session.exec(select(Location).where(Location.code == code)).first() is not None:
        raise AlreadyExists(f"location {code!r} exists already")
    location = Location(
        code=code, name=name, kind=kind, fablab_id=fablab_id, hospital_id=hospital_id
    )
    session.add(location)
    session.flush()
    return location


def get_item(*, session: Session, code: str) -> Item:
    item = session.exec(select(Item).where(Item.code == code.strip())).first()
    if item is None:
        raise UnknownItem(f"unknown item {code!r} (see 'fabcoord item list')")
    return item


def get_location(*, session: Session, code: str) -> Location:
    location = session.exec(select(Location).where(Location.code == code.strip())).first()
    if location is None:
        raise UnknownLocation(f"unknown location {code!r} (see 'fabcoord location list')")
    return location


def list_items(*, session: Session) -> list[Item]:
    return list(session.exec(select(Item).order_by(col(Item.code))))


def list_locations(*, session: Session, kind: LocationKind | None = None) -> list[Location]:
    query = select(Location).order_by(col(Location.code))
    if kind is not None:
        query = query.where(Location.kind == kind)
    return list(session.exec(query))


def _clean_code(code: str, what: str, *, limit: int) -> str:
    code = code.strip()
    if not code or len(code) > limit or any(ch.isspace() for ch in code):
        shown = code if len(code) <= 40 else code[:40] + "…"
        raise InvalidInput(f"{what} must be 1 to {limit} characters without spaces, got {shown!r}")
    return code


def _clean_name(name: str, code: str) -> str:
    name = name.strip() or code
    if len(name) > 200:
        raise InvalidInput("name must be at most 200 characters")
    return name
