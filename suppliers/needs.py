"""What will run out: material needs per fablab (or region) and date, from the bills of materials,
the demand, stock on hand and stock on order.

Demand is read through :data:`DemandReader`: the plan's allocations when the plan exists (a row with
a ``fablab_id``), else the open hospital demand, which is met from the fablabs of the hospital's
region until a plan assigns it. Bills of materials (``data/visor_facts.md``):

- a visor is 1 frame + 1 transparent sheet + an elastic strap (§1, §2: Prusa, Visière Solidaire);
- a frame is the design's grams of PETG: 24.4 g for the Prusa RC1 (§5, PrusaSlicer on a Prusa MINI)
  unless the caller gives its design's weight;
- what a visor takes of each part is the visor's bill of materials the fablab assembles with
  (``components``: ``batch_quality.toml``, which assembly consumes from stock: 1 frame, 1 sheet,
  300 mm of elastic by default). No source gives an elastic length, so that length is the
  fablab's own measure, said in the elastic line's note; ``elastic_mm`` overrides it. Without a
  bill of materials and without ``elastic_mm``, elastic is reported as not computed.

Finished visors and frames on hand are netted first. Stock on order is what the plan counts too
(:data:`suppliers.purchasing.ON_ORDER_STATES`): purchase orders the supplier confirmed with an
expected day, counted from that day; a purchase order only sent is not counted until confirmed. An item runs out on the first needed-by
day its cumulative requirement exceeds what is on hand and arrived by then.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

from sqlmodel import Session, col, func, select

from fabcoord import demand
from fabcoord.errors import InvalidInput
from fabcoord.ledger.models import Item, Location, LocationKind, StockBalance
from fabcoord.records import Fablab, Hospital, Region
from suppliers.purchasing import on_order

FRAME_PETG_GRAMS = Decimal("24.4")
MATERIALS = ("petg", "pet-sheet-a4", "elastic")
VISOR_PARTS = {"visor-frame": 1, "pet-sheet-a4": 1}
"""A visor's parts when no bill of materials is given (elastic then only with ``elastic_mm``)."""


class Demand(Protocol):
    """One line of demand, as ``fabcoord.demand.DemandLine`` has it (``fablab_id`` when planned)."""

    @property
    def reference(self) -> str: ...
    @property
    def hospital_id(self) -> int: ...
    @property
    def item_code(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def needed_by(self) -> date: ...


DemandReader = Callable[[Session], Sequence[Demand]]


def open_demand(session: Session) -> Sequence[Demand]:
    """The core's open demand: every accepted order line (``fabcoord.demand``)."""
    return demand.open_lines(session=session)


@dataclass(frozen=True)
class Need:
    """One material at one site: what the demand within the horizon requires and what is short."""

    site: str
    region: str
    item: str
    unit: str
    required: int | None
    on_hand: int
    on_order: int
    short: int | None
    runs_out_on: date | None
    first_needed_by: date | None
    note: str = ""


@dataclass
class _Site:
    name: str
    region: str
    fablab_ids: list[int]
    demand: list[Demand]


def compute_needs(
    *,
    session: Session,
    today: date,
    horizon_days: int = 28,
    read_demand: DemandReader = open_demand,
    frame_grams: Decimal = FRAME_PETG_GRAMS,
    elastic_mm: int | None = None,
    components: Mapping[str, int] | None = None,
    components_source: str = "the visor's bill of materials",
) -> list[Need]:
    """Needs per site within ``horizon_days`` of ``today``, shortest first.

    Args:
        components: what one visor takes of each item (base units), the bill of materials the
            fablab assembles with; its ``elastic`` is used unless ``elastic_mm`` is given.
        components_source: where ``components`` come from, named in the elastic line's note.
    """
    if not 1 <= horizon_days <= 366:
        raise InvalidInput("the horizon must be 1 to 366 days")
    if frame_grams <= 0 or (elastic_mm is not None and elastic_mm <= 0):
        raise InvalidInput("grams per frame and elastic per visor must be positive")
    parts = dict(VISOR_PARTS if components is None else components)
    note = f"{components_source} (the fablab's own measure: no sourced length)"
    if elastic_mm is not None:
        parts["elastic"], note = elastic_mm, "--elastic-mm"
    elastic = parts.get("elastic")
    elastic_note = f"{elastic} mm per visor, from {note}" if elastic else ""
    end = today + timedelta(days=horizon_days)
    sites = _sites(session, [d for d in read_demand(session) if d.needed_by <= end])
    stock = _stock(session)
    arriving = defaultdict(list)
    for order in on_order(session=session):
        arriving[(order.fablab_id, order.item_code)].append(
            (order.expected_on or end, order.quantity)
        )
    units = {item.code: item.unit.value for item in session.exec(select(Item))}
    needs: list[Need] = []
    for site in sites:
        have = {
            code: sum(stock.get((fid, code), 0) for fid in site.fablab_ids)
            for code in (*MATERIALS, "visor", "visor-frame")
        }
        incoming = {
            code: sorted(
                (when, qty) for fid in site.fablab_ids for when, qty in arriving[(fid, code)]
            )
            for code in MATERIALS
        }
        steps = _requirements(site.demand, have, frame_grams, parts)
        for code in MATERIALS:
            needs.append(
                _need(site, code, units.get(code, ""), steps, have, incoming[code], elastic_note)
            )
    return sorted(needs, key=lambda n: (n.runs_out_on or date.max, -(n.short or 0), n.site, n.item))


def _requirements(
    demand: list[Demand],
    have: dict[str, int],
    frame_grams: Decimal,
    parts: Mapping[str, int],
) -> list[tuple[date, dict[str, int]]]:
    """Cumulative material requirement at each needed-by day, after netting finished goods."""
    visors = frames = 0
    steps: list[tuple[date, dict[str, int]]] = []
    for line in sorted(demand, key=lambda d: d.needed_by):
        if line.item_code == "visor":
            visors += line.quantity
        elif line.item_code == "visor-frame":
            frames += line.quantity
        to_make = max(0, visors - have["visor"])
        frames_needed = max(0, to_make * parts.get("visor-frame", 1) + frames - have["visor-frame"])
        required = {
            "petg": math.ceil(frames_needed * frame_grams),
            "pet-sheet-a4": to_make * parts.get("pet-sheet-a4", 0),
            "elastic": to_make * parts.get("elastic", 0),
        }
        steps.append((line.needed_by, required))
    return steps


def _need(
    site: _Site,
    code: str,
    unit: str,
    steps: list[tuple[date, dict[str, int]]],
    have: dict[str, int],
    incoming: list[tuple[date, int]],
    elastic_note: str,
) -> Need:
    on_hand, ordered = have[code], sum(qty for _, qty in incoming)
    first = steps[0][0] if steps else None
    if code == "elastic" and not elastic_note:
        return Need(
            site.name,
            site.region,
            code,
            unit,
            None,
            on_hand,
            ordered,
            None,
            None,
            first,
            "not computed: no elastic in the visor's bill of materials (give --elastic-mm)",
        )
    runs_out = None
    for day, required in steps:
        arrived = sum(qty for when, qty in incoming if when <= day)
        if required[code] > on_hand + arrived:
            runs_out = day
            break
    required_total = steps[-1][1][code] if steps else 0
    short = max(0, required_total - on_hand - ordered)
    note = elastic_note if code == "elastic" else ""
    return Need(
        site.name,
        site.region,
        code,
        unit,
        required_total,
        on_hand,
        ordered,
        short,
        runs_out,
        first,
        note,
    )


def _sites(session: Session, demand: list[Demand]) -> list[_Site]:
    """A site per planned fablab, and a pool per region for demand no plan has assigned yet."""
    regions = {r.id: r.name for r in session.exec(select(Region))}
    fablabs = list(session.exec(select(Fablab).order_by(col(Fablab.slug))))
    hospital_region = dict(session.exec(select(Hospital.id, Hospital.region_id)).all())
    sites: dict[str, _Site] = {}
    for lab in fablabs:
        sites[lab.slug] = _Site(lab.slug, regions.get(lab.region_id, ""), [lab.id or 0], [])
    for line in demand:
        fablab_id = getattr(line, "fablab_id", None)
        planned = next((f for f in fablabs if f.id == fablab_id), None) if fablab_id else None
        if planned is not None:
            sites[planned.slug].demand.append(line)
            continue
        region_id = hospital_region.get(line.hospital_id)
        region = regions.get(region_id, "") if region_id is not None else ""
        key = f"region/{region}"
        if key not in sites:
            members = [f.id or 0 for f in fablabs if f.region_id == region_id]
            label = f"{region} (unplanned demand, {len(members)} fablab(s))"
            sites[key] = _Site(label, region, members, [])
        sites[key].demand.append(line)
    return [s for s in sites.values() if s.demand]


def _stock(session: Session) -> dict[tuple[int, str], int]:
    """Quantity on hand per fablab and item (every lot, every stock location of the fablab)."""
    rows = session.exec(
        select(Location.fablab_id, Item.code, func.sum(StockBalance.qty))
        .join(Location, col(Location.id) == StockBalance.location_id)
        .join(Item, col(Item.id) == StockBalance.item_id)
        .where(col(Location.fablab_id).is_not(None), Location.kind == LocationKind.STOCK)
        .group_by(col(Location.fablab_id), col(Item.code))
    ).all()
    return {(int(fid), str(code)): int(qty) for fid, code, qty in rows if fid is not None}
