"""The allocation on plain problems: nearest and urgent first within capacity, unmet made explicit,
materials and assembly bounding visors, never worse than greedy."""

from __future__ import annotations

import random
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabcoord.geo import Point
from fabcoord.planning import solver
from fabcoord.planning.forecast import forecast
from fabcoord.planning.network import ARC_FRAME, Costing
from fabcoord.planning.problem import FRAME, VISOR, Assembly, Need, Problem, Site

TODAY = date(2026, 12, 1)
NANTES, RENNES, LYON = Point(47.2181, -1.5528), Point(48.1147, -1.6794), Point(45.76, 4.84)


def site(key: str, point: Point, per_day: float, limit: int | None = None, **kw: object) -> Site:
    return Site(
        key=key,
        name=key,
        fablab=key.split("/")[-1],
        point=point,
        region="r",
        frames_per_day=per_day,
        frames_limit=int(per_day * 14) if limit is None else limit,
        **kw,  # type: ignore[arg-type]
    )


def need(
    ref: str, qty: int, point: Point, *, days: int = 10, priority: int = 1, item: str = FRAME
) -> Need:
    return Need(ref, 1, item, qty, TODAY + timedelta(days=days), priority, "CHU", point, "r")


def test_each_order_goes_to_its_nearest_site_with_room() -> None:
    problem = Problem(
        TODAY,
        14,
        (site("fablab/nantes", NANTES, 10), site("fablab/lyon", LYON, 10)),
        (),
        (need("A", 50, NANTES), need("B", 50, LYON)),
    )
    result = solver.solve(problem)
    assert {(f.need, f.source, f.quantity) for f in result.flows} == {
        (0, "fablab/nantes", 50),
        (1, "fablab/lyon", 50),
    }
    assert result.unmet == (0, 0)


def test_what_no_site_can_make_is_unmet_and_the_urgent_order_is_served_first() -> None:
    problem = Problem(
        TODAY,
        14,
        (site("fablab/nantes", NANTES, 5),),
        (),
        (need("small", 60, NANTES, priority=1), need("urgent", 60, NANTES, priority=5)),
    )
    result = solver.solve(problem)
    assert result.unmet == (50, 0)


def test_no_capacity_at_all_still_answers_with_everything_unmet() -> None:
    problem = Problem(TODAY, 14, (), (), (need("A", 30, NANTES, days=-3),))
    result = solver.solve(problem)
    assert result.flows == () and result.unmet == (30,)
    outlook, _ = forecast(problem, result, handoff_after_days=7, excluded={})
    assert outlook.handoff is not None and outlook.handoff["visors"] == 30
    assert outlook.region_met_on == {"r": None}


def test_visors_are_bounded_by_the_fablab_sheets_and_fed_by_its_printers_and_makers() -> None:
    problem = Problem(
        TODAY,
        14,
        (
            site("fablab/nantes", NANTES, 10, printers=True),
            Site("maker/1", "maker Ann", "nantes", NANTES, "r", 5, 70),
        ),
        (Assembly("nantes", "Nantes", NANTES, "r", visors_limit=100),),
        (need("V", 150, RENNES, item=VISOR),),
    )
    result = solver.solve(problem)
    assert result.unmet == (50,)
    assert sum(result.feeds.values()) == 100
    outlook, parts = forecast(problem, result, handoff_after_days=7, excluded={})
    assert sum(p.quantity for p in parts) == 100
    assert outlook.lines[0].delivery is not None


def test_lateness_pushes_an_urgent_order_to_a_bigger_farther_site() -> None:
    small_near = site("fablab/rennes", RENNES, 2)
    big_far = site("fablab/lyon", LYON, 200)
    problem = Problem(
        TODAY, 14, (small_near, big_far), (), (need("A", 20, NANTES, days=3, priority=3),)
    )
    result = solver.solve(problem)
    assert [(f.source, f.quantity) for f in result.flows] == [("fablab/lyon", 20)]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_the_optimum_is_never_worse_than_greedy_and_conserves_quantities(seed: int) -> None:
    rng = random.Random(seed)

    def point() -> Point:
        return Point(rng.uniform(43, 50), rng.uniform(-4, 7))

    sites = tuple(site(f"fablab/s{i}", point(), rng.randint(0, 30)) for i in range(6))
    needs = tuple(
        need(
            f"N{i}",
            rng.randint(1, 200),
            point(),
            days=rng.randint(-2, 20),
            priority=rng.randint(1, 4),
        )
        for i in range(10)
    )
    problem = Problem(TODAY, 14, sites, (), needs)
    best, base = solver.solve(problem, nearest_k=0), solver.greedy(problem)
    assert best.cost <= base.cost
    for index, n in enumerate(needs):
        served = sum(f.quantity for f in best.flows if f.need == index)
        assert served + best.unmet[index] == n.quantity
    for s in sites:
        assert sum(f.quantity for f in best.flows if f.source == s.key) <= s.frames_limit


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_pricing_the_arcs_left_out_reaches_the_optimum_over_all_arcs(seed: int) -> None:
    rng = random.Random(seed)

    def point() -> Point:
        return Point(rng.uniform(43, 50), rng.uniform(-4, 7))

    sites = tuple(site(f"fablab/s{i}", point(), rng.randint(0, 30)) for i in range(8))
    needs = tuple(
        need(
            f"N{i}",
            rng.randint(1, 200),
            point(),
            days=rng.randint(-2, 20),
            priority=rng.randint(1, 4),
        )
        for i in range(12)
    )
    problem = Problem(TODAY, 14, sites, (), needs)
    restricted = solver.solve(problem, nearest_k=2, rounds=20, tolerance=0)
    assert restricted.cost == solver.solve(problem, nearest_k=0).cost


def partner(rate: int, point: Point = LYON, *, start: int = 2, cost: int = 300) -> Assembly:
    makes = rate * (14 - start)
    return Assembly(
        fablab="partner/1",
        name="partner P",
        point=point,
        region="r",
        visors_limit=makes,
        kind="partner",
        makes=makes,
        rate=rate,
        start_day=start,
        unit_cost=cost,
    )


def nantes_visors(per_day: float) -> tuple[tuple[Site, ...], Assembly]:
    frames = (site("maker/nantes", NANTES, per_day),)  # its fablab: nantes
    return frames, Assembly("nantes", "Fablab Nantes", NANTES, "r", visors_limit=1000)


def test_a_partner_is_used_only_where_volunteers_would_be_late() -> None:
    frames, lab = nantes_visors(10)
    on_time = need("A", 40, NANTES, days=10, item=VISOR)
    problem = Problem(TODAY, 14, frames, (lab, partner(100)), (on_time,))
    [flow] = solver.solve(problem).flows
    assert flow.source == "assembly/nantes"  # same place, on time: the partner costs more
    late = need("B", 300, NANTES, days=7, item=VISOR)
    result = solver.solve(Problem(TODAY, 14, frames, (lab, partner(100)), (late,)))
    assert {f.source for f in result.flows} == {"partner/1"} and result.unmet == (0,)
    # with its cost raised past what lateness weighs, the volunteers make all they can (late),
    # and the partner only what they cannot make at all
    dear = solver.solve(Problem(TODAY, 14, frames, (lab, partner(100, cost=50_000)), (late,)))
    assert {f.source: f.quantity for f in dear.flows} == {"assembly/nantes": 140, "partner/1": 160}


def test_a_partner_starts_after_its_lead_time_and_counts_its_distance() -> None:
    late = need("B", 300, NANTES, days=7, item=VISOR)
    frames, lab = nantes_visors(10)
    problem = Problem(TODAY, 14, frames, (lab, partner(100, start=4)), (late,))
    result = solver.solve(problem)
    outlook, parts = forecast(problem, result, handoff_after_days=7, excluded={})
    mine = [p for p in parts if p.site == "partner/1"]
    assert mine and min(p.finish_day for p in mine) > 4
    assert all(p.distance_km > 400 for p in mine)
    assert outlook.partners["partner/1"]["visors"] == sum(p.quantity for p in mine)
    assert solver.greedy(problem).unmet == (0,)  # the baseline sees the partner's visors too


def test_leaving_a_need_unmet_costs_more_than_any_partner() -> None:
    frames, lab = nantes_visors(0)
    far = partner(100, Point(-21.1151, 55.5364), cost=5_000)  # Saint-Denis, La Réunion
    result = solver.solve(
        Problem(TODAY, 14, frames, (lab, far), (need("B", 50, NANTES, item=VISOR),))
    )
    assert result.unmet == (0,) and {f.source for f in result.flows} == {"partner/1"}


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_the_coarse_problems_first_prices_lead_to_the_optimum_over_all_arcs(seed: int) -> None:
    """Clustered demand short of capacity, frames and visors, a partner: started from the coarse
    problem's potentials, the plan still reaches the optimum over all arcs."""
    rng = random.Random(seed)
    centres = [Point(rng.uniform(43, 50), rng.uniform(-4, 7)) for _ in range(4)]

    def point() -> Point:
        centre = rng.choice(centres)
        return Point(centre.latitude + rng.gauss(0, 0.5), centre.longitude + rng.gauss(0, 0.5))

    sites = tuple(site(f"fablab/s{i}", point(), rng.randint(0, 30)) for i in range(12))
    labs = [
        Assembly(s.fablab, s.name, s.point, "r", rng.randint(0, 300), rng.randint(0, 20))
        for s in sites[:6]
    ]
    assemblies = (*labs, partner(rng.randint(0, 40), point(), start=rng.randint(0, 5)))
    needs = tuple(
        need(
            f"N{i}",
            rng.randint(1, 120),
            point(),
            days=rng.randint(-2, 20),
            priority=rng.randint(1, 3),
            item=rng.choice((FRAME, VISOR)),
        )
        for i in range(60)
    )
    problem = Problem(TODAY, 14, sites, assemblies, needs)
    coarse = solver.solve(problem, nearest_k=2, rounds=30, tolerance=0, coarse_from=0)
    assert coarse.cost == solver.solve(problem, nearest_k=0).cost
    served = {n: sum(f.quantity for f in coarse.flows if f.need == n) for n in range(len(needs))}
    assert all(served[n] + coarse.unmet[n] == needs[n].quantity for n in served)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_alike_order_lines_merged_and_split_back_cost_what_solving_them_apart_costs(
    seed: int,
) -> None:
    """Lines of one hospital alike in item, date, priority (and so in every unit cost) are one
    node of the network; shared back out, each line gets its quantity, served or unmet, and the
    plan costs what the unmerged problem's optimum costs."""
    rng = random.Random(seed)
    hospitals = [Point(rng.uniform(43, 50), rng.uniform(-4, 7)) for _ in range(3)]
    sites = tuple(
        site(f"fablab/s{i}", Point(rng.uniform(43, 50), rng.uniform(-4, 7)), rng.randint(0, 15))
        for i in range(5)
    )
    needs = tuple(
        need(
            f"N{i}",
            rng.choice((40, 40, 90)),
            rng.choice(hospitals),
            days=rng.choice((3, 10)),
            priority=rng.choice((1, 3)),
        )
        for i in range(30)
    )
    problem = Problem(TODAY, 14, sites, (), needs)
    alike = solver.Alike.of(problem)
    assert len(alike.problem.needs) < len(needs)
    merged = solver.solve(problem, nearest_k=0)

    def apart(p: Problem, costs: Costing | None = None) -> solver.Alike:
        return solver.Alike(p, p, costs or Costing.of(p), None, np.arange(len(p.needs)))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(solver.Alike, "of", apart)
        unmerged = solver.solve(problem, nearest_k=0)
    assert merged.cost == unmerged.cost and merged.unmet_cost == unmerged.unmet_cost
    costs = Costing.of(problem)
    keys = [s.key for s in sites]
    paid = sum(
        f.quantity
        * int(costs.pairs(ARC_FRAME, np.array([f.need]), np.array([keys.index(f.source)]))[0])
        for f in merged.flows
    )
    assert paid + merged.unmet_cost == merged.cost
    for index, n in enumerate(needs):
        served = sum(f.quantity for f in merged.flows if f.need == index)
        assert served + merged.unmet[index] == n.quantity
    for s in sites:
        assert sum(f.quantity for f in merged.flows if f.source == s.key) <= s.frames_limit


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_a_merged_needs_flows_fill_its_lines_in_order_by_source_and_the_last_keeps_the_unmet(
    seed: int,
) -> None:
    """Each merged need's flows (in source order) are poured into its lines in line order: a
    line takes what it wants before the next gets any, and what no flow reaches is unmet."""
    rng = random.Random(seed)
    lines = rng.randint(1, 12)
    labels = [rng.randint(0, 3) for _ in range(lines)]  # a merged need's lines need not be adjacent
    merged_into = np.unique(labels, return_inverse=True)[1].reshape(-1)
    quantities = [rng.choice((0, 1, 5, 10)) for _ in range(lines)]
    sites = tuple(site(f"fablab/s{i}", NANTES, 1) for i in range(4))
    original = Problem(
        TODAY, 14, sites, (), tuple(need(f"N{i}", q, NANTES) for i, q in enumerate(quantities))
    )
    groups = int(merged_into.max()) + 1
    total = [
        sum(q for q, g in zip(quantities, merged_into, strict=True) if g == m)
        for m in range(groups)
    ]
    rows: list[tuple[int, int, int]] = []  # merged need, source, quantity
    for m in range(groups):
        left = rng.randint(0, total[m])
        for s in sorted(rng.sample(range(4), rng.randint(0, 4))):
            take = rng.randint(0, left)
            if take:
                rows.append((m, s, take))
                left -= take
    served = solver.Served(
        need=np.array([r[0] for r in rows], dtype=np.int64),
        kind=np.full(len(rows), ARC_FRAME, dtype=np.int64),
        source=np.array([r[1] for r in rows], dtype=np.int64),
        quantity=np.array([r[2] for r in rows], dtype=np.int64),
    )
    reps = np.array([int(np.nonzero(merged_into == m)[0][0]) for m in range(groups)])
    alike = solver.Alike(original, original, Costing.of(original), merged_into, reps)

    split, unmet = alike.split(served, np.zeros(groups, dtype=np.int64))

    expected: list[tuple[int, int, int]] = []
    left_over = list(quantities)
    for m in range(groups):
        own = [n for n in range(lines) if merged_into[n] == m]
        for _, s, q in (r for r in rows if r[0] == m):
            while q:
                n = next(n for n in own if left_over[n])
                take = min(q, left_over[n])
                expected.append((n, s, take))
                left_over[n] -= take
                q -= take
    got = list(
        zip(split.need.tolist(), split.source.tolist(), split.quantity.tolist(), strict=True)
    )
    assert got == sorted(expected)
    assert unmet.tolist() == left_over
