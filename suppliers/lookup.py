"""Finding suppliers: by number, SIRET or name; listing them by item or region."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from fabcoord.records import Region
from fabcoord.regions import require_region
from suppliers.errors import UnknownSupplier
from suppliers.models import Supplier, SupplierMaterial, SupplierSource
from suppliers.normalise import clean_siret, name_key


@dataclass(frozen=True)
class SupplierView:
    """A supplier as shown: its region's name, the items it supplies and the directories listing it."""

    id: int
    name: str
    siret: str | None
    address: str
    postal_code: str
    city: str
    region: str
    contact: str
    products: str
    capacity: str
    lead_time_days: int | None
    items: tuple[str, ...]
    sources: tuple[str, ...]


def get_supplier(*, session: Session, ref: str) -> Supplier:
    """A supplier by number (``12``), SIRET (spaces allowed) or exact name (case, accents ignored).

    Raises:
        UnknownSupplier: none, or several with that name.
    """
    text = ref.strip()
    if text.isdigit() and len(text) < 10:
        found = session.get(Supplier, int(text))
        if found is not None:
            return found
    siret = clean_siret(text)
    if len(siret) == 14 and siret.isdigit():
        by_siret = session.exec(select(Supplier).where(Supplier.siret == siret)).first()
        if by_siret is not None:
            return by_siret
    named = list(session.exec(select(Supplier).where(Supplier.name_key == name_key(text))))
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        numbers = ", ".join(str(s.id) for s in named)
        raise UnknownSupplier(f"several suppliers are named {ref!r} (numbers {numbers}): use one")
    raise UnknownSupplier(f"unknown supplier {ref!r} (see 'fabcoord suppliers list')")


def view(*, session: Session, supplier: Supplier) -> SupplierView:
    region = session.get(Region, supplier.region_id)
    items = session.exec(
        select(SupplierMaterial.item_code)
        .where(SupplierMaterial.supplier_id == supplier.id)
        .order_by(col(SupplierMaterial.item_code))
    ).all()
    sources = session.exec(
        select(SupplierSource)
        .where(SupplierSource.supplier_id == supplier.id)
        .order_by(col(SupplierSource.id))
    ).all()
    assert supplier.id is not None and region is not None
    return SupplierView(
        id=supplier.id,
        name=supplier.name,
        siret=supplier.siret,
        address=supplier.address,
        postal_code=supplier.postal_code,
        city=supplier.city,
        region=region.name,
        contact=supplier.contact,
        products=supplier.products,
        capacity=supplier.capacity,
        lead_time_days=supplier.lead_time_days,
        items=tuple(items),
        sources=tuple(
            f"{s.kind.value}: {s.directory} ({s.file_name} line {s.line})" for s in sources
        ),
    )


def list_suppliers(
    *, session: Session, item: str | None = None, region: str | None = None, limit: int = 500
) -> list[SupplierView]:
    """Suppliers by name, optionally those supplying ``item`` or located in ``region``."""
    query = select(Supplier)
    if item is not None:
        query = query.join(
            SupplierMaterial, col(SupplierMaterial.supplier_id) == Supplier.id
        ).where(SupplierMaterial.item_code == item)
    if region is not None:
        wanted = session.exec(select(Region).where(Region.name == require_region(region))).first()
        query = query.where(Supplier.region_id == (wanted.id if wanted else -1))
    rows = session.exec(query.order_by(col(Supplier.name_key), col(Supplier.id)).limit(limit))
    return [view(session=session, supplier=s) for s in rows]
