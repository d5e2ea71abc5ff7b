"""Ranking suppliers for an item: material fit, distance to the fablab, declared capacity, lead time.

Only suppliers whose listing names the item are ranked. Nearer comes first (same region, then a
neighbouring region, then national); then a declared capacity that covers the quantity wanted, then
an unknown one, then one too small; then the shorter lead time. Each match says why it ranks where
it does.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from fabcoord.fablabs import get_fablab
from fabcoord.ledger import catalogue
from fabcoord.records import Region
from suppliers.distance import Distance, distance
from suppliers.models import Supplier, SupplierMaterial
from suppliers.normalise import capacity_per_week

UNKNOWN_LEAD = 10_000


@dataclass(frozen=True)
class Match:
    rank: int
    supplier_id: int
    name: str
    siret: str | None
    city: str
    region: str
    distance: str
    capacity_per_week: int | None
    lead_time_days: int | None
    reasons: tuple[str, ...]


def match(
    *,
    session: Session,
    item: str,
    fablab: str | None = None,
    quantity: int | None = None,
    limit: int = 20,
) -> list[Match]:
    """The best suppliers of ``item`` for ``fablab`` (its region), ``quantity`` in base units."""
    wanted = catalogue.get_item(session=session, code=item)
    unit = wanted.unit.value
    home: str | None = None
    if fablab is not None:
        lab = get_fablab(session=session, name=fablab)
        home_region = session.get(Region, lab.region_id)
        home = home_region.name if home_region else None
    regions = {r.id: r.name for r in session.exec(select(Region))}
    rows = session.exec(
        select(Supplier, SupplierMaterial.keywords)
        .join(SupplierMaterial, col(SupplierMaterial.supplier_id) == Supplier.id)
        .where(SupplierMaterial.item_code == wanted.code)
    ).all()
    scored = []
    for supplier, keywords in rows:
        region = regions.get(supplier.region_id, "")
        reasons = [f"supplies {wanted.code}: “{keywords}”"]
        near = Distance.NATIONAL
        if home is not None:
            near = distance(region, home)
            reasons.append(f"{near.label}: {region} (fablab in {home})")
        else:
            reasons.append(f"in {region} (no fablab given: distance not ranked)")
        weekly = capacity_per_week(supplier.capacity, unit) if supplier.capacity else None
        fit = 1
        if weekly is None:
            reasons.append(
                f"capacity {supplier.capacity!r} not in {unit} a week"
                if supplier.capacity
                else "no declared capacity"
            )
        elif quantity is not None and weekly < quantity:
            fit = 2
            reasons.append(f"declares {weekly} {unit}/week, less than the {quantity} {unit} wanted")
        else:
            fit = 0
            enough = f" ≥ {quantity} {unit} wanted" if quantity is not None else ""
            reasons.append(f"declares {weekly} {unit}/week{enough}")
        lead = supplier.lead_time_days
        reasons.append(f"lead time {lead} day(s)" if lead is not None else "no lead time given")
        key = (
            near.value if home else 0,
            fit,
            lead if lead is not None else UNKNOWN_LEAD,
            -(weekly or 0),
            supplier.name_key,
        )
        scored.append((key, supplier, region, near, weekly, tuple(reasons)))
    scored.sort(key=lambda entry: entry[0])
    return [
        Match(
            rank=index,
            supplier_id=supplier.id or 0,
            name=supplier.name,
            siret=supplier.siret,
            city=supplier.city,
            region=region,
            distance=near.label if home else "not ranked",
            capacity_per_week=weekly,
            lead_time_days=supplier.lead_time_days,
            reasons=reasons,
        )
        for index, (_, supplier, region, near, weekly, reasons) in enumerate(
            scored[:limit], start=1
        )
    ]
