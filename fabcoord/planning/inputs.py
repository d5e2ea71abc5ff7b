"""Reading a plan's inputs from the database: open demand, capacity, makers, materials, places.

Everything the plan depends on is also summarised in :class:`Inputs` (plain JSON-able values), so
accepting a plan can tell whether the orders or the capacity it used have changed since.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from fabcoord import demand, fablabs
from fabcoord.geo import CityTable, Point, UnknownCity
from fabcoord.ledger.models import Item, Location, StockBalance
from fabcoord.makers import describe as describe_makers
from fabcoord.planning import materials
from fabcoord.planning.capacity import Providers
from fabcoord.planning.models import Maker
from fabcoord.planning.problem import (
    FRAME,
    PARTNER,
    PLANNED_ITEMS,
    VISOR,
    Assembly,
    Need,
    Problem,
    Site,
    Weights,
)
from fabcoord.records import Fablab, Hospital, Region

PETG = "petg"
SHEET = "pet-sheet-a4"
ELASTIC = "elastic"
# Not sourced: the elastic length a visor takes depends on the strap each fablab cuts; set it with
# ``--elastic-mm`` (data/visor_facts.md gives no length).
DEFAULT_ELASTIC_MM = 300


@dataclass(frozen=True)
class PlanSettings:
    horizon_days: int = 14
    handoff_after_days: int = 7
    elastic_mm_per_visor: int = DEFAULT_ELASTIC_MM
    weights: Weights = field(default_factory=Weights)


@dataclass
class Inputs:
    """What a plan read, as plain values: compared again when it is accepted."""

    needs: dict[str, dict[str, Any]] = field(default_factory=dict)
    sites: dict[str, dict[str, Any]] = field(default_factory=dict)
    assemblies: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # per need key: why part of it cannot be planned at all (unknown city…)
    excluded: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """As ``dataclasses.asdict`` gives it, without deep-copying ten thousand plain dicts."""
        return {
            "needs": self.needs,
            "sites": self.sites,
            "assemblies": self.assemblies,
            "notes": self.notes,
            "excluded": self.excluded,
        }


def gather(
    *,
    session: Session,
    settings: PlanSettings,
    data_dir: Path,
    providers: Providers,
    today: date,
    now: datetime,
) -> tuple[Problem, Inputs]:
    """The problem to solve now, and the inputs it was built from."""
    cities = CityTable.load(data_dir)
    inputs = Inputs()
    horizon = settings.horizon_days
    regions = {r.id: r.name for r in session.exec(select(Region))}
    labs = {  # columns only, read by name (``lab.name``): no fablab objects
        lab.slug: lab
        for lab in session.execute(
            sa_select(
                col(Fablab.id),
                col(Fablab.slug),
                col(Fablab.name),
                col(Fablab.city),
                col(Fablab.region_id),
            ).order_by(col(Fablab.slug))
        )
    }
    places: dict[str, tuple[Point, str]] = {}
    for slug, lab in labs.items():
        region = regions.get(lab.region_id, "")
        try:
            places[slug] = (cities.locate(lab.city, region), region)
        except UnknownCity as error:
            inputs.notes.append(f"fablab {lab.name} is left out of the plan: {error}")
    stock = _stock_by_fablab(session)
    capacity = providers.fablab_capacity(session=session, now=now)
    coming = materials.arrivals(
        providers.incoming(session=session), today=today, horizon_days=horizon
    )
    sites: list[Site] = []
    for slug, cap in sorted(capacity.items()):
        if slug not in places:
            continue
        point, region = places[slug]
        held = stock.get(slug, {})
        on_hand = held.get(FRAME, 0)
        can_print = math.floor(cap.frames_per_day * horizon)
        binding: list[str] = []
        grams = held.get(cap.material, 0)
        ordered = coming.get((slug, cap.material), [])
        rated = {"grams_per_frame": cap.grams_per_frame, "rate": cap.frames_per_day}
        by_material = materials.frames_from_material(grams, ordered, **rated, horizon_days=horizon)
        notes = cap.notes
        if ordered:
            notes += (
                f"{cap.material.upper()}: {grams} g in stock, {materials.describe(ordered, 'g')}",
            )
        if by_material < can_print:
            out = materials.runs_out_day(grams, ordered, **rated, horizon_days=horizon)
            day = by_material / cap.frames_per_day if cap.frames_per_day > 0 else 0
            if ordered and out is not None:
                day = out
            held_text = f"{grams} g" + (
                f" and {materials.describe(ordered, 'g')}" if ordered else ""
            )
            binding.append(
                f"{cap.material.upper()} binds at {labs[slug].name} from day {math.floor(day) + 1}: "
                f"{held_text} is enough for {by_material} frames, not the {can_print} its "
                f"printers could make in {horizon} days"
            )
        sites.append(
            Site(
                key=f"fablab/{slug}",
                name=labs[slug].name,
                fablab=slug,
                point=point,
                region=region,
                frames_per_day=cap.frames_per_day,
                frames_limit=min(can_print, by_material) + on_hand,
                on_hand=on_hand,
                printers=True,
                notes=notes,
                binding=tuple(binding),
            )
        )
    for slug in sorted(set(places) - set(capacity)):
        on_hand = stock.get(slug, {}).get(FRAME, 0)
        if on_hand:
            point, region = places[slug]
            sites.append(
                Site(
                    key=f"fablab/{slug}",
                    name=labs[slug].name,
                    fablab=slug,
                    point=point,
                    region=region,
                    frames_per_day=0.0,
                    frames_limit=on_hand,
                    on_hand=on_hand,
                    notes=(f"no printers: {on_hand} frames in stock",),
                )
            )
    makers = list(session.exec(select(Maker).order_by(col(Maker.name))))
    lab_by_id = {lab.id: lab for lab in labs.values()}
    for maker, public in zip(
        makers, describe_makers(session=session, makers=makers, now=now), strict=True
    ):
        lab = lab_by_id[maker.fablab_id]
        if lab.slug not in places:
            continue
        point, region = places[lab.slug]
        measured = (
            "not measured yet (joined less than a day ago)"
            if public.reliability is None
            else f"reliability {public.reliability:.0%} (delivered {public.delivered_7d} over the last 7 days)"
        )
        sites.append(
            Site(
                key=f"maker/{maker.id}",
                name=f"maker {maker.name}",
                fablab=lab.slug,
                point=point,
                region=region,
                frames_per_day=public.effective_per_day,
                frames_limit=math.floor(public.effective_per_day * horizon),
                notes=(f"declared {maker.declared_per_day} frames a day, {measured}",),
            )
        )
    needs = _needs(session, cities, providers, inputs, regions)
    visors_wanted = any(n.item == VISOR for n in needs)
    assemblies: list[Assembly] = []
    feeding = {s.fablab for s in sites}
    for slug in sorted(places):
        held = stock.get(slug, {})
        visors = held.get(VISOR, 0)
        if slug not in feeding and not visors:
            continue
        sheets_coming = coming.get((slug, SHEET), [])
        elastic_coming = coming.get((slug, ELASTIC), [])
        sheets = materials.total(held.get(SHEET, 0), sheets_coming)
        elastic = materials.total(held.get(ELASTIC, 0), elastic_coming)
        by_elastic = elastic // max(1, settings.elastic_mm_per_visor)
        binding = []
        if sheets <= by_elastic:
            binding.append(
                f"PET sheets bind at {labs[slug].name}: {sheets} sheets for {sheets} visors"
                + _counting(sheets_coming, "sheets")
            )
        else:
            binding.append(
                f"elastic binds at {labs[slug].name}: {elastic} mm for {by_elastic} visors "
                f"({settings.elastic_mm_per_visor} mm each)" + _counting(elastic_coming, "mm")
            )
        point, region = places[slug]
        assemblies.append(
            Assembly(
                fablab=slug,
                name=labs[slug].name,
                point=point,
                region=region,
                visors_limit=visors + min(sheets, by_elastic),
                on_hand=visors,
                binding=tuple(binding) if visors_wanted else (),
            )
        )
    assemblies.extend(_partners(session, providers, cities, settings, inputs))
    for s in sites:
        inputs.sites[s.key] = {
            "name": s.name,
            "frames_per_day": round(s.frames_per_day, 1),
            "frames_limit": s.frames_limit,
        }
    for a in assemblies:
        if a.kind == PARTNER:
            inputs.sites[a.key] = {
                "name": a.name,
                "visors_per_day": a.rate,
                "start_day": a.start_day,
                "visors_limit": a.visors_limit,
            }
        else:
            inputs.assemblies[a.fablab] = {"name": a.name, "visors_limit": a.visors_limit}
    problem = Problem(
        today=today,
        horizon_days=horizon,
        sites=tuple(sites),
        assemblies=tuple(assemblies),
        needs=tuple(needs),
        weights=settings.weights,
    )
    return problem, inputs


def _partners(
    session: Session,
    providers: Providers,
    cities: CityTable,
    settings: PlanSettings,
    inputs: Inputs,
) -> list[Assembly]:
    """Partner manufacturers as visor sources: their declared visors a day from the end of their
    lead time to the horizon's end, less the visors already handed to them (``booked``: they take
    the first days after the lead time, so the free ones start that much later), placed at their
    city, each visor costing ``weights.partner`` on top of distance and lateness."""
    horizon = settings.horizon_days
    found: list[Assembly] = []
    for partner in providers.partner_capacity(session=session):
        if not partner.city.strip():
            inputs.notes.append(
                f"partner {partner.name} is left out of the plan: no city set "
                f"('fabcoord partners set \"{partner.name}\" --city CITY')"
            )
            continue
        try:
            point = cities.locate(partner.city, partner.region)
        except UnknownCity as error:
            inputs.notes.append(f"partner {partner.name} is left out of the plan: {error}")
            continue
        days = max(0, horizon - partner.lead_time_days)
        booked = max(0, partner.booked)
        makes = partner.visors_per_day * days - booked
        if makes <= 0:
            inputs.notes.append(
                f"partner {partner.name} is left out of the plan: its lead time of "
                f"{partner.lead_time_days} days leaves nothing within the {horizon}-day horizon"
                if booked == 0
                else f"partner {partner.name} is left out of the plan: the {booked} visors "
                f"already handed to it fill its capacity within the {horizon}-day horizon"
            )
            continue
        start_day = partner.lead_time_days + booked // max(1, partner.visors_per_day)
        used = (
            (f"{booked} visors already handed to it (not delivered) fill it until day {start_day}",)
            if booked
            else ()
        )
        found.append(
            Assembly(
                fablab=partner.key,
                name=f"partner {partner.name}",
                point=point,
                region=partner.region,
                visors_limit=makes,
                kind=PARTNER,
                makes=makes,
                rate=float(partner.visors_per_day),
                start_day=start_day,
                unit_cost=settings.weights.partner,
                minimum=partner.minimum_order,
                notes=(
                    f"an industrial partner in {partner.city}: {partner.visors_per_day} visors a "
                    f"day declared, first ones after {partner.lead_time_days} day(s) of lead time",
                    *used,
                    *partner.notes,
                ),
            )
        )
    return found


def _needs(
    session: Session,
    cities: CityTable,
    providers: Providers,
    inputs: Inputs,
    regions: dict[int | None, str],
) -> list[Need]:
    committed = providers.committed_frames(session=session)
    for (ref, line), frames in _delivered_by_makers(session).items():
        committed[(ref, line)] = committed.get((ref, line), 0) + frames
    hospitals = {
        row[0]: row[1:]
        for row in session.exec(
            select(Hospital.id, Hospital.name, Hospital.city, Hospital.region_id)
        ).all()
    }
    places: dict[int, Point | str] = {}  # per hospital: its point, or why it has none
    held: dict[int, tuple[str, str, str]] = {}  # per hospital: its name, city and region's name
    days: dict[date, str] = {}  # per needed-by date: ISO (a few dozen for ten thousand lines)
    planned, read, excluded = PLANNED_ITEMS, inputs.needs, inputs.excluded
    needs = []
    for reference, line, hospital_id, item, quantity, needed_by, priority in _open_lines(session):
        key = f"{reference}/{line}"  # a need's key in the plan's inputs
        open_qty = quantity - committed.get((reference, line), 0) if committed else quantity
        if open_qty < 0:
            open_qty = 0
        hospital = held.get(hospital_id)
        if hospital is None:
            name, city, region_id = hospitals[hospital_id]
            hospital = held[hospital_id] = (name, city, regions.get(region_id, ""))
        name, city, region = hospital
        day = days.get(needed_by)
        if day is None:
            day = days[needed_by] = needed_by.isoformat()
        read[key] = {
            "item": item,
            "quantity": quantity,
            "open": open_qty,
            "needed_by": day,
            "priority": priority,
            "hospital": name,
        }
        if open_qty == 0:
            continue
        if item not in planned:
            excluded[key] = f"{item} is not made by fablabs (only visors and frames are planned)"
            continue
        place = places.get(hospital_id)
        if place is None:
            try:
                place = cities.locate(city, region)
            except UnknownCity as error:
                place = str(error)
            places[hospital_id] = place
        if isinstance(place, str):
            excluded[key] = place
            continue
        needs.append(
            Need(
                reference=reference,
                line=line,
                item=item,
                quantity=open_qty,
                needed_by=needed_by,
                priority=priority,
                hospital=name,
                point=place,
                region=region,
            )
        )
    return needs


def _counting(coming: list[materials.Arrival], unit: str) -> str:
    return f", counting {materials.describe(coming, unit)}" if coming else ""


def _open_lines(session: Session) -> list[Any]:
    """The open order lines as plain rows, in :func:`fabcoord.demand.open_lines`'s order
    (columns only: ten thousand ORM objects would cost more than the plan's solve)."""
    line = demand.DemandLine
    return list(
        session.execute(
            sa_select(
                col(line.reference),
                col(line.line),
                col(line.hospital_id),
                col(line.item_code),
                col(line.quantity),
                col(line.needed_by),
                col(line.priority),
            )
            .where(col(line.state) == demand.DemandState.OPEN)
            .order_by(
                col(line.priority).desc(),
                col(line.needed_by),
                col(line.reference),
                col(line.line),
            )
        ).all()
    )


def _stock_by_fablab(session: Session) -> dict[str, dict[str, int]]:
    """Per fablab slug, the quantity of each item at its locations (stock and printers)."""
    rows = session.exec(
        select(Fablab.slug, Item.code, func.sum(StockBalance.qty))
        .join(Location, col(Location.id) == StockBalance.location_id)
        .join(Fablab, col(Fablab.id) == Location.fablab_id)
        .join(Item, col(Item.id) == StockBalance.item_id)
        .group_by(col(Fablab.slug), col(Item.code))
    ).all()
    result: dict[str, dict[str, int]] = {}
    for slug, code, qty in rows:
        result.setdefault(slug, {})[code] = int(qty or 0)
    return result


def _delivered_by_makers(session: Session) -> dict[tuple[str, int], int]:
    from fabcoord.makers import DELIVERY_DOCUMENT

    docs = session.exec(
        select(demand.DemandDocument).where(demand.DemandDocument.doc_type == DELIVERY_DOCUMENT)
    )
    result: dict[tuple[str, int], int] = {}
    for doc in docs:
        result[(doc.reference, doc.line)] = result.get((doc.reference, doc.line), 0) + (
            doc.quantity or 0
        )
    return result


def stock_location(slug: str) -> str:
    return fablabs.stock_location_code(slug)
