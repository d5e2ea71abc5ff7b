"""The allocation as a min-cost flow network, in arrays (so a thousand sites and ten thousand
orders build in milliseconds), and the per-unit cost of serving a need from a source.

Nodes: the source S (supply = all demand), the sink T, one node per site (frames), two per
assembly fablab (frames in → visors out, the arc between them bounded by sheets and elastic), one
per need. Arcs: S → site (what it can make), site → its fablab's assembly, site → frame need,
assembly → visor need (each need to its ``nearest`` sources only), need → T, and S → need at the
*unmet* cost, so every plan answers and shows what it could not serve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fabcoord.geo import EARTH_RADIUS_KM
from fabcoord.planning.problem import FRAME, Problem

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def transit_days(distance_km: float) -> int:
    """Days from a fablab to a hospital: 1 under 300 km, 2 under 1,000 km, 5 beyond (overseas)."""
    if distance_km < 300:
        return 1
    return 2 if distance_km < 1000 else 5


def _transit(distance: FloatArray) -> IntArray:
    return np.where(distance < 300, 1, np.where(distance < 1000, 2, 5)).astype(np.int64)


def distances(
    lat_a: FloatArray, lon_a: FloatArray, lat_b: FloatArray, lon_b: FloatArray
) -> FloatArray:
    """Haversine distances in km, ``a`` rows × ``b`` columns (inputs in degrees)."""
    la, lo = np.radians(lat_a)[:, None], np.radians(lon_a)[:, None]
    lb, lob = np.radians(lat_b)[None, :], np.radians(lon_b)[None, :]
    h = np.sin((lb - la) / 2) ** 2 + np.cos(la) * np.cos(lb) * np.sin((lob - lo) / 2) ** 2
    result: FloatArray = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    return result


def pair_distances(
    lat_a: FloatArray, lon_a: FloatArray, lat_b: FloatArray, lon_b: FloatArray
) -> FloatArray:
    """Haversine distance in km of each pair ``a[i]``–``b[i]``."""
    la, lb = np.radians(lat_a), np.radians(lat_b)
    h = (
        np.sin((lb - la) / 2) ** 2
        + np.cos(la) * np.cos(lb) * np.sin(np.radians(lon_b - lon_a) / 2) ** 2
    )
    result: FloatArray = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    return result


def nearest(
    lat_a: FloatArray, lon_a: FloatArray, lat_b: FloatArray, lon_b: FloatArray, k: int
) -> tuple[IntArray, FloatArray]:
    """For each ``a``, the indices of its ``k`` nearest ``b`` and their distances (chunked)."""
    k = min(k, len(lat_b))
    index = np.empty((len(lat_a), k), dtype=np.int64)
    dist = np.empty((len(lat_a), k), dtype=np.float64)
    step = max(1, 2_000_000 // max(1, len(lat_b)))
    for start in range(0, len(lat_a), step):
        block = distances(lat_a[start : start + step], lon_a[start : start + step], lat_b, lon_b)
        if k < len(lat_b):
            part = np.argpartition(block, k - 1, axis=1)[:, :k]
        else:
            part = np.broadcast_to(np.arange(len(lat_b)), block.shape).copy()
        index[start : start + step] = part
        dist[start : start + step] = np.take_along_axis(block, part, axis=1)
    return index, dist


@dataclass
class Network:
    """Arcs as parallel arrays; ``kind`` tells what each arc is (see the ``ARC_*`` constants)."""

    nodes: int
    tail: IntArray
    head: IntArray
    capacity: IntArray
    cost: IntArray
    kind: IntArray
    # for service arcs: the need and the source (site index, or assembly index)
    need: IntArray
    source: IntArray
    supply: int
    unmet_unit: int = 1
    first_node: dict[int, int] = field(default_factory=dict)  # node of source 0, per service kind
    need0: int = 0


HALF_EARTH_KM = 20_038  # no two places are farther apart: an unmet unit costs more than any choice
ARC_MAKE, ARC_FEED, ARC_ASSEMBLE, ARC_STOCK, ARC_FRAME, ARC_VISOR, ARC_SINK, ARC_UNMET = range(8)


Pairs = dict[int, tuple[IntArray, IntArray]]
"""Extra service arcs per arc kind (``ARC_FRAME``/``ARC_VISOR``): need indices, source indices."""


def build(problem: Problem, *, nearest_k: int | None = None, extra: Pairs | None = None) -> Network:
    """The network of a problem; each need is linked to its ``nearest_k`` nearest sources
    (``problem.weights.nearest`` by default; all of them when 0), plus the ``extra`` pairs."""
    w = problem.weights
    k = w.nearest if nearest_k is None else nearest_k
    sites, assemblies, needs = problem.sites, problem.assemblies, problem.needs
    ns, na, nn = len(sites), len(assemblies), len(needs)
    site0, asm_in0, asm_out0, need0 = 2, 2 + ns, 2 + ns + na, 2 + ns + 2 * na
    assembly_of = {a.fablab: i for i, a in enumerate(assemblies)}
    parts: list[tuple[IntArray, ...]] = []

    def add(
        tail: object,
        head: object,
        cap: object,
        cost: object,
        kind: int,
        need: object,
        source: object,
    ) -> None:
        t = np.atleast_1d(np.asarray(tail, dtype=np.int64))
        size = len(t)
        parts.append(
            tuple(
                np.broadcast_to(np.asarray(x, dtype=np.int64), (size,))
                for x in (t, head, cap, cost, kind, need, source)
            )
        )

    site_idx = np.arange(ns, dtype=np.int64)
    limits = np.array([s.frames_limit for s in sites], dtype=np.int64)
    add(np.zeros(ns), site0 + site_idx, limits, 0, ARC_MAKE, -1, site_idx)
    fed = [(i, assembly_of[s.fablab]) for i, s in enumerate(sites) if s.fablab in assembly_of]
    if fed:
        fi = np.array([i for i, _ in fed], dtype=np.int64)
        fa = np.array([a for _, a in fed], dtype=np.int64)
        add(site0 + fi, asm_in0 + fa, limits[fi], 0, ARC_FEED, -1, fi)
    asm_idx = np.arange(na, dtype=np.int64)
    add(
        asm_in0 + asm_idx,
        asm_out0 + asm_idx,
        [max(0, a.visors_limit - a.on_hand) for a in assemblies],
        0,
        ARC_ASSEMBLE,
        -1,
        asm_idx,
    )
    add(
        np.zeros(na), asm_out0 + asm_idx, [a.on_hand for a in assemblies], 0, ARC_STOCK, -1, asm_idx
    )

    costs = Costing.of(problem)
    qty, prio, need_idx = costs.qty, costs.prio, np.arange(nn, dtype=np.int64)
    for kind, first in ((ARC_FRAME, site0), (ARC_VISOR, asm_out0)):
        chosen = need_idx[costs.is_frame if kind == ARC_FRAME else ~costs.is_frame]
        s_lat, s_lon = costs.source_points(kind)
        if not len(chosen) or not len(s_lat):
            continue
        idx, _ = nearest(costs.lat[chosen], costs.lon[chosen], s_lat, s_lon, k or len(s_lat))
        need_rep = np.repeat(chosen, idx.shape[1])
        src = idx.ravel()
        if extra and kind in extra:
            more_need, more_src = extra[kind]
            keys = np.unique(
                np.concatenate([need_rep, more_need]) * len(s_lat) + np.concatenate([src, more_src])
            )
            need_rep, src = keys // len(s_lat), keys % len(s_lat)
        cost = costs.pairs(kind, need_rep, src)
        add(first + src, need0 + need_rep, qty[need_rep], cost, kind, need_rep, src)

    add(need0 + need_idx, np.ones(nn), qty, 0, ARC_SINK, need_idx, -1)
    unmet_unit = w.distance * HALF_EARTH_KM + w.lateness * costs.late_cap + 1
    add(np.zeros(nn), need0 + need_idx, qty, unmet_unit * prio, ARC_UNMET, need_idx, -1)
    columns = [np.concatenate([p[c] for p in parts]) for c in range(7)]
    return Network(
        nodes=need0 + nn,
        tail=columns[0],
        head=columns[1],
        capacity=columns[2],
        cost=columns[3],
        kind=columns[4],
        need=columns[5],
        source=columns[6],
        supply=int(qty.sum()),
        unmet_unit=unmet_unit,
        first_node={ARC_FRAME: site0, ARC_VISOR: asm_out0},
        need0=need0,
    )


@dataclass
class Costing:
    """What the per-unit cost of serving a need from a source is computed from, as arrays."""

    problem: Problem
    qty: IntArray
    prio: IntArray
    slack: IntArray
    lat: FloatArray
    lon: FloatArray
    is_frame: npt.NDArray[np.bool_]
    rate: dict[int, FloatArray]
    stock: dict[int, FloatArray]
    limit: dict[int, FloatArray]
    late_cap: int
    _points: dict[int, tuple[FloatArray, FloatArray]] = field(default_factory=dict)

    @classmethod
    def of(cls, problem: Problem) -> Costing:
        needs, sites, assemblies = problem.needs, problem.sites, problem.assemblies
        fablab_rate: dict[str, float] = {}
        for s in sites:
            fablab_rate[s.fablab] = fablab_rate.get(s.fablab, 0.0) + max(s.frames_per_day, 0.0)
        return cls(
            problem=problem,
            qty=np.array([n.quantity for n in needs], dtype=np.int64),
            prio=np.array([max(1, n.priority) for n in needs], dtype=np.int64),
            slack=np.array([(n.needed_by - problem.today).days for n in needs], dtype=np.int64),
            lat=np.array([n.point.latitude for n in needs], dtype=np.float64),
            lon=np.array([n.point.longitude for n in needs], dtype=np.float64),
            is_frame=np.array([n.item == FRAME for n in needs], dtype=bool),
            rate={
                ARC_FRAME: np.array([max(s.frames_per_day, 0.0) for s in sites], dtype=np.float64),
                ARC_VISOR: np.array(
                    [fablab_rate.get(a.fablab, 0.0) for a in assemblies], dtype=np.float64
                ),
            },
            stock={
                ARC_FRAME: np.array([s.on_hand for s in sites], dtype=np.float64),
                ARC_VISOR: np.array([a.on_hand for a in assemblies], dtype=np.float64),
            },
            limit={
                ARC_FRAME: np.array([s.frames_limit for s in sites], dtype=np.float64),
                ARC_VISOR: np.array([a.visors_limit for a in assemblies], dtype=np.float64),
            },
            late_cap=10 * problem.horizon_days + 60,
        )

    def source_points(self, kind: int) -> tuple[FloatArray, FloatArray]:
        cached = self._points.get(kind)
        if cached is None:
            sources = self.problem.sites if kind == ARC_FRAME else self.problem.assemblies
            cached = (
                np.array([s.point.latitude for s in sources], dtype=np.float64),
                np.array([s.point.longitude for s in sources], dtype=np.float64),
            )
            self._points[kind] = cached
        return cached

    def pairs(self, kind: int, need: IntArray, src: IntArray) -> IntArray:
        """Per unit: km × distance weight + days late × priority × lateness weight, where a
        source alone would finish the need's quantity (at most what it can make in the horizon)
        at its rate, stock first."""
        w = self.problem.weights
        s_lat, s_lon = self.source_points(kind)
        d = pair_distances(self.lat[need], self.lon[need], s_lat[src], s_lon[src])
        q = np.minimum(self.qty[need].astype(np.float64), self.limit[kind][src])
        r, stock = self.rate[kind][src], self.stock[kind][src]
        days = np.where(
            q <= stock, 0.0, np.where(r > 0, np.ceil((q - stock) / np.maximum(r, 1e-9)), 1e6)
        )
        late = np.minimum(np.maximum(0.0, days + _transit(d) - self.slack[need]), self.late_cap)
        cost: IntArray = np.rint(d * w.distance).astype(np.int64) + (
            w.lateness * self.prio[need] * late.astype(np.int64)
        )
        return cost


def late_days(*, finish_day: float, transit: int, slack_days: int) -> int:
    """Days late when the goods are made ``finish_day`` days from today."""
    return max(0, math.ceil(finish_day) + transit - slack_days)
