"""From an allocation to dates: who makes what when, per order its expected completion and
delivery, per fablab its backlog in days, per region when its demand is met, and whether (and how
much) to hand off to an industrial partner.

Each site works through what it was given most urgent first (needed-by date, then priority): frames
in stock first, then its rate per day; a partner manufacturer from the end of its lead time on, at
its declared visors a day. A visor is assembled where its frame arrives, the same day;
transport takes :func:`~fabcoord.planning.network.transit_days`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from fabcoord.geo import EARTH_RADIUS_KM, Point
from fabcoord.planning.network import FloatArray, transit_days
from fabcoord.planning.problem import PARTNER, Assembly, Problem, Solution


@dataclass
class Part:
    """``quantity`` of a need made by one site (``from_stock`` of it already made)."""

    need: int
    site: str
    fablab: str
    item: str
    quantity: int
    from_stock: int = 0
    finish_day: float = 0.0
    completion: str = ""
    delivery: str = ""
    distance_km: int = 0

    def as_dict(self) -> dict[str, Any]:
        """As stored in the plan: its fields but ``need`` (an index into this problem's needs,
        meaningless once stored) and ``item`` (its line's)."""
        return {
            "site": self.site,
            "fablab": self.fablab,
            "quantity": self.quantity,
            "from_stock": self.from_stock,
            "finish_day": self.finish_day,
            "completion": self.completion,
            "delivery": self.delivery,
            "distance_km": self.distance_km,
        }


@dataclass
class LineForecast:
    reference: str
    line: int
    item: str
    hospital: str
    region: str
    quantity: int
    needed_by: str
    priority: int
    unmet: int
    completion: str | None
    delivery: str | None
    late_days: int
    parts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Forecast:
    lines: list[LineForecast]
    fablab_backlog_days: dict[str, float]
    region_met_on: dict[str, str | None]
    handoff: dict[str, Any] | None
    partners: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """As ``dataclasses.asdict`` would give it, without its deep copies (plain values)."""
        lines = []
        for line in self.lines:
            row = dict(line.__dict__)
            row["parts"] = list(line.parts)  # dicts made from parts once, not copied again
            lines.append(row)
        return {
            "lines": lines,
            "fablab_backlog_days": dict(self.fablab_backlog_days),
            "region_met_on": dict(self.region_met_on),
            "handoff": None if self.handoff is None else dict(self.handoff),
            "partners": dict(self.partners),
        }


def split_parts(
    problem: Problem, solution: Solution, urgency: list[int] | None = None
) -> list[Part]:
    """Per need, which site makes how much: visors at an assembly are shared out among the sites
    that feed it (printers before makers), most urgent visor first (``urgency``: each need's
    rank, from :func:`urgency_ranks`)."""
    rank = urgency_ranks(problem) if urgency is None else urgency
    sites = {s.key: s for s in problem.sites}
    partners = {a.key for a in problem.assemblies if a.kind == PARTNER}
    parts: list[Part] = []
    by_assembly: dict[str, list[tuple[int, int]]] = {}
    for flow in solution.flows:
        served = problem.needs[flow.need]
        if flow.source in partners:  # made by the partner itself
            parts.append(Part(flow.need, flow.source, flow.source, served.item, flow.quantity))
        elif flow.source.startswith("assembly/"):
            by_assembly.setdefault(flow.source.removeprefix("assembly/"), []).append(
                (flow.need, flow.quantity)
            )
        else:
            site = sites[flow.source]
            parts.append(Part(flow.need, site.key, site.fablab, served.item, flow.quantity))
    assemblies = {a.fablab: a for a in problem.assemblies}
    feeding: dict[str, list[tuple[str, int]]] = {}
    for (key, lab), qty in solution.feeds.items():
        if qty > 0:
            feeding.setdefault(lab, []).append((key, qty))
    for fablab, wanted in by_assembly.items():
        wanted.sort(key=lambda nq: rank[nq[0]])
        stock = assemblies[fablab].on_hand
        feeders = sorted(feeding.get(fablab, []), key=lambda kq: (not sites[kq[0]].printers, kq[0]))
        left_keys = [key for key, _ in feeders]
        left_qty = [qty for _, qty in feeders]
        for index, qty in wanted:
            from_visors = min(stock, qty)
            stock -= from_visors
            if from_visors:
                parts.append(
                    Part(index, f"assembly/{fablab}", fablab, "visor", from_visors, from_visors)
                )
            qty -= from_visors
            for slot, key in enumerate(left_keys):
                if qty == 0:
                    break
                take = min(qty, left_qty[slot])
                if take:
                    left_qty[slot] -= take
                    qty -= take
                    parts.append(Part(index, key, fablab, "visor", take))
    return parts


def urgency_ranks(problem: Problem) -> list[int]:
    """Each need's rank, most urgent first: needed-by date, then priority (highest first), then
    its index (so no two needs tie): sorting by rank is sorting by that key, computed once."""
    needs = problem.needs
    order = sorted(range(len(needs)), key=lambda i: (needs[i].needed_by, -needs[i].priority, i))
    rank = [0] * len(needs)
    for position, need in enumerate(order):
        rank[need] = position
    return rank


def forecast(
    problem: Problem, solution: Solution, *, handoff_after_days: int, excluded: dict[str, str]
) -> tuple[Forecast, list[Part]]:
    """Dates for every part, line, fablab and region, and the hand-off recommendation."""
    rank = urgency_ranks(problem)
    parts = split_parts(problem, solution, rank)
    sites = {s.key: s for s in problem.sites}
    partners = {a.key: a for a in problem.assemblies if a.kind == PARTNER}
    # where each source ships from: a site, a partner, or a fablab's assembly (``assembly/<slug>``)
    points = {key: site.point for key, site in sites.items()}
    points.update((a.key, a.point) for a in problem.assemblies)
    today = problem.today
    days: dict[int, str] = {}

    def day(offset: int) -> str:
        """``today + offset`` days, ISO (a few dozen distinct dates for ten thousand parts)."""
        text = days.get(offset)
        if text is None:
            text = days[offset] = (today + timedelta(days=offset)).isoformat()
        return text

    load: dict[str, float] = {}
    used_stock: dict[str, int] = {}
    ordered = sorted(parts, key=lambda p: (rank[p.need], p.site))
    needs = problem.needs
    distances = _haversine_km(
        [points[p.site] for p in ordered], [needs[p.need].point for p in ordered]
    ).tolist()
    for part, distance in zip(ordered, distances, strict=True):
        key = part.site
        partner = partners.get(key)
        if partner is not None:  # from its lead time on, at its declared rate
            work = load[key] = load.get(key, 0.0) + part.quantity
            finish = partner.start_day + work / max(partner.rate, 1e-9)
        elif key.startswith("assembly/"):
            finish = 0.0
        else:
            site = sites[key]
            used = used_stock.get(key, 0)
            from_stock = max(0, min(part.quantity, site.on_hand - used))
            part.from_stock = from_stock
            used_stock[key] = used + from_stock
            made = part.quantity - from_stock
            work = load[key] = load.get(key, 0.0) + made
            rate = site.frames_per_day
            finish = (work / rate) if made and rate > 0 else 0.0
        part.finish_day = finish
        part.distance_km = round(distance)
        done = math.ceil(finish)
        part.completion = days.get(done) or day(done)
        arrives = done + transit_days(distance)
        part.delivery = days.get(arrives) or day(arrives)
    by_need: dict[int, list[Part]] = {}
    for part in parts:
        by_need.setdefault(part.need, []).append(part)
    lines: list[LineForecast] = []
    region_dates: dict[str, list[str | None]] = {}
    offset_of = {text: offset for offset, text in days.items()}  # ISO date → days from today
    needed: dict[date, tuple[str, int]] = {}  # a needed-by date: ISO, days from today
    for index, need in enumerate(problem.needs):
        own = by_need.get(index, [])
        unmet = solution.unmet[index]
        if len(own) == 1:  # most lines: one part
            completion: str | None = own[0].completion
            delivery: str | None = own[0].delivery
        else:
            completion = max((p.completion for p in own), default=None)
            delivery = max((p.delivery for p in own), default=None)
        by = needed.get(need.needed_by)
        if by is None:
            by = needed[need.needed_by] = (
                need.needed_by.isoformat(),
                (need.needed_by - today).days,
            )
        late = 0 if delivery is None else max(0, offset_of[delivery] - by[1])
        lines.append(
            LineForecast(
                reference=need.reference,
                line=need.line,
                item=need.item,
                hospital=need.hospital,
                region=need.region,
                quantity=need.quantity,
                needed_by=by[0],
                priority=need.priority,
                unmet=unmet,
                completion=completion,
                delivery=delivery,
                late_days=late,
                parts=[p.as_dict() for p in own],
            )
        )
        region_dates.setdefault(need.region, []).append(None if unmet else delivery)
    rates: dict[str, float] = {}
    for s in problem.sites:
        rates[s.fablab] = rates.get(s.fablab, 0.0) + s.frames_per_day
    backlog: dict[str, float] = {}
    for s in problem.sites:
        backlog[s.fablab] = backlog.get(s.fablab, 0.0) + load.get(s.key, 0.0)
    backlog_days = {
        lab: round(work / rates[lab], 1) if rates.get(lab) else 0.0 for lab, work in backlog.items()
    }
    region_met = {
        region: (None if any(d is None for d in dates) else max(d for d in dates if d))
        for region, dates in sorted(region_dates.items())
    }
    result = Forecast(
        lines=lines,
        fablab_backlog_days=dict(sorted(backlog_days.items())),
        region_met_on=region_met,
        handoff=_handoff(problem, lines, backlog_days, handoff_after_days, excluded, partners),
        partners=_partner_allocations(problem, parts, partners),
    )
    return result, parts


def _partner_allocations(
    problem: Problem, parts: list[Part], partners: dict[str, Assembly]
) -> dict[str, dict[str, Any]]:
    """Per partner the plan uses: its visors, by when (the last delivery) and the lines served."""
    found: dict[str, dict[str, Any]] = {}
    for part in parts:
        if part.site not in partners:
            continue
        need = problem.needs[part.need]
        row = found.setdefault(
            part.site,
            {"name": partners[part.site].name, "visors": 0, "by": part.delivery, "lines": []},
        )
        row["visors"] += part.quantity
        row["by"] = max(row["by"], part.delivery)
        row["lines"].append(
            {
                "reference": need.reference,
                "line": need.line,
                "quantity": part.quantity,
                "needed_by": need.needed_by.isoformat(),
                "delivery": part.delivery,
            }
        )
    for row in found.values():
        row["lines"].sort(key=lambda r: (r["reference"], r["line"]))
    return dict(sorted(found.items()))


def _haversine_km(a: list[Point], b: list[Point]) -> FloatArray:
    """:func:`fabcoord.geo.distance_km` of each pair ``a[i]``–``b[i]``, in arrays."""
    lat_a = np.radians([p.latitude for p in a])
    lat_b = np.radians([p.latitude for p in b])
    half_dlat = (lat_b - lat_a) / 2
    half_dlon = np.radians(np.subtract([p.longitude for p in b], [p.longitude for p in a])) / 2
    h = np.sin(half_dlat) ** 2 + np.cos(lat_a) * np.cos(lat_b) * np.sin(half_dlon) ** 2
    result: FloatArray = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    return result


def _handoff(
    problem: Problem,
    lines: list[LineForecast],
    backlog_days: dict[str, float],
    after_days: int,
    excluded: dict[str, str],
    partners: dict[str, Assembly],
) -> dict[str, Any] | None:
    """Recommend a hand-off when demand is unmet, late, or waits beyond ``after_days``.

    What the plan already gives partner manufacturers is not recommended again: the
    recommendation is what fablabs and makers would make too late or not at all, beyond the
    partners' declared capacity, and it names the partner allocations beside it.
    """
    binding: list[tuple[str, str, int, str]] = []
    volume = 0
    placed: dict[str, int] = {}
    for line in lines:
        slow = 0
        for p in line.parts:
            site = p["site"]
            if site in partners:
                placed[site] = placed.get(site, 0) + p["quantity"]
            elif p["finish_day"] > after_days or (
                line.late_days and p["delivery"] > line.needed_by
            ):
                slow += p["quantity"] - p["from_stock"]
        if line.unmet or slow:
            volume += line.unmet + slow
            why = []
            if line.unmet:
                why.append(f"{line.unmet} cannot be made within {problem.horizon_days} days")
            if slow:
                why.append(f"{slow} would arrive late or after {after_days} days")
            binding.append(
                (line.needed_by, f"{line.reference}/{line.line}", line.unmet + slow, "; ".join(why))
            )
    overloaded = {lab: days for lab, days in backlog_days.items() if days > after_days}
    given = [
        {"partner": key, "name": partners[key].name, "visors": qty}
        for key, qty in sorted(placed.items())
    ]
    if not binding and not overloaded and not excluded:
        if not given:
            return None
        return {"visors": 0, "by": None, "orders": [], "why": [], "partners": given}
    binding.sort()
    by_when = binding[0][0] if binding else (problem.today + timedelta(days=after_days)).isoformat()
    reasons = [f"{key} (needed by {needed_by}): {why}" for needed_by, key, _, why in binding[:10]]
    reasons += [
        f"{lab} has {days} days of work (more than {after_days})"
        for lab, days in overloaded.items()
    ]
    return {
        "visors": volume,
        "by": by_when,
        "orders": [key for _, key, _, _ in binding],
        "why": reasons,
        "partners": given,
    }
