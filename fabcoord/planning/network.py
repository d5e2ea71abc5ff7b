"""The allocation as a min-cost flow network, in arrays (so a thousand sites and ten thousand
orders build in milliseconds), and the per-unit cost of serving a need from a source.

Nodes: the source S (supply = all demand), the sink T, one node per site (frames), two per
assembly fablab (frames in → visors out, the arc between them bounded by sheets and elastic; a
partner's visors, made without frames, come in from S beside the visors on hand), one per need.
Arcs: S → site (what it can make), site → its fablab's assembly, site → frame need,
assembly → visor need (the service arcs: a chosen subset, see :class:`Arcs`), need → T, and
S → need at the *unmet* cost, so every plan answers and shows what it could not serve.

The cost of every service pair (need × source of its kind) is computed once, as a dense matrix
(:meth:`Costing.dense`): a thousand sources × ten thousand needs is a few million numbers, built
with three outer products for the distances and array arithmetic for the lateness (the days
each source takes are tabled per distinct quantity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fabcoord.geo import EARTH_RADIUS_KM
from fabcoord.planning.problem import FRAME, Problem

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
CostArray = npt.NDArray[np.signedinteger[Any]]  # int32 unless the weights need more


def transit_days(distance_km: float) -> int:
    """Days from a fablab to a hospital: 1 under 300 km, 2 under 1,000 km, 5 beyond (overseas)."""
    if distance_km < 300:
        return 1
    return 2 if distance_km < 1000 else 5


def unit_vectors(lat: FloatArray, lon: FloatArray) -> FloatArray:
    """Points (degrees) as unit vectors, one row each."""
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def distances(
    lat_a: FloatArray, lon_a: FloatArray, lat_b: FloatArray, lon_b: FloatArray
) -> FloatArray:
    """Great-circle distances in km, ``a`` rows × ``b`` columns (inputs in degrees).

    The haversine ``h = sin²(θ/2)`` is ``(1 − a·b) / 2`` for unit vectors: one product each.
    """
    return _arc_km(_dot(unit_vectors(lat_a, lon_a), unit_vectors(lat_b, lon_b)))


def _dot(a: FloatArray, b: FloatArray) -> FloatArray:
    """``a @ b.T`` for rows of three: three outer products (a matrix product with an inner
    dimension of 3 gains nothing from BLAS, whose threads only spin on a shared machine)."""
    dot: FloatArray = np.multiply.outer(a[:, 0], b[:, 0])
    term = np.empty_like(dot)
    for axis in (1, 2):
        dot += np.multiply.outer(a[:, axis], b[:, axis], out=term)
    return dot


def _arc_km(dot: FloatArray, out: FloatArray | None = None) -> FloatArray:
    """The arc in km of each dot product of unit vectors (``dot`` is overwritten), into
    ``out`` if given."""
    h = np.subtract(1.0, dot, out=dot)
    h *= 0.5
    np.clip(h, 0.0, 1.0, out=h)
    np.arcsin(np.sqrt(h, out=h), out=h)
    result: FloatArray = np.multiply(2 * EARTH_RADIUS_KM, h, out=h if out is None else out)
    return result


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
SERVICE_KINDS = (ARC_FRAME, ARC_VISOR)
BLOCK = 1 << 20  # matrix cells computed at a time (bounds the temporaries' memory)


@dataclass
class Dense:
    """Every pair of one service kind: ``rows`` are the needs of that kind (need indices), the
    columns the sources of that kind; ``cost`` per unit. Distances are kept per *place* (the
    distinct points of the rows' needs: ten thousand order lines come from two thousand
    hospitals): ``place`` is each row's, ``place_distance`` in km, a row per place."""

    rows: IntArray
    cost: CostArray
    place: IntArray
    place_distance: FloatArray

    def nearest(self, k: int) -> BoolArray:
        """Per row, its ``k`` nearest sources (all of them when ``k`` is 0 or too many)."""
        rows, cols = self.cost.shape
        if not k or k >= cols:
            return np.ones((rows, cols), dtype=bool)
        chosen = np.zeros(self.place_distance.shape, dtype=bool)
        part = np.argpartition(self.place_distance, k - 1, axis=1)[:, :k]
        np.put_along_axis(chosen, part, True, axis=1)
        result: BoolArray = chosen[self.place]
        return result


def cells(mask: BoolArray) -> tuple[IntArray, IntArray]:
    """The row and column of each true cell of a 2-D mask, row by row (as ``np.nonzero``, in
    a fifth of its time: the flat search is the fast one)."""
    row, column = np.divmod(np.flatnonzero(mask), mask.shape[1])
    return row, column


Arcs = dict[int, BoolArray]
"""The service arcs in a network, per kind: a mask over that kind's :class:`Dense` matrix."""


@dataclass
class Sources:
    """What the network takes from a problem's sites and assemblies, as arrays (so the coarse
    problem's network is built in the worker from arrays alone, see ``solver.coarse_solve``)."""

    limits: IntArray  # per site: the frames it can make
    fed_site: IntArray  # the sites that feed an assembly …
    fed_assembly: IntArray  # … and that assembly
    assemble: IntArray  # per assembly: the visors it can assemble from frames fed to it
    ready: IntArray  # per assembly: visors ready without frames (on hand, made itself)

    @classmethod
    def of(cls, problem: Problem) -> Sources:
        sites, assemblies = problem.sites, problem.assemblies
        assembly_of = {a.fablab: i for i, a in enumerate(assemblies)}
        fed = [(i, assembly_of[s.fablab]) for i, s in enumerate(sites) if s.fablab in assembly_of]
        return cls(
            limits=np.array([s.frames_limit for s in sites], dtype=np.int64),
            fed_site=np.array([i for i, _ in fed], dtype=np.int64),
            fed_assembly=np.array([a for _, a in fed], dtype=np.int64),
            assemble=np.array(
                [max(0, a.visors_limit - a.on_hand - a.makes) for a in assemblies], dtype=np.int64
            ),
            ready=np.array([a.on_hand + a.makes for a in assemblies], dtype=np.int64),
        )


def build(problem: Problem | Sources, costs: Costing, arcs: Arcs) -> Network:
    """The network of a problem (or of its :class:`Sources`, and the needs of ``costs``) with
    the service arcs ``arcs`` (see :meth:`Costing.dense`)."""
    sources = problem if isinstance(problem, Sources) else Sources.of(problem)
    ns, na, nn = len(sources.limits), len(sources.ready), len(costs.qty)
    site0, asm_in0, asm_out0, need0 = 2, 2 + ns, 2 + ns + na, 2 + ns + 2 * na
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
    limits = sources.limits
    add(np.zeros(ns), site0 + site_idx, limits, 0, ARC_MAKE, -1, site_idx)
    if len(sources.fed_site):
        fi, fa = sources.fed_site, sources.fed_assembly
        add(site0 + fi, asm_in0 + fa, limits[fi], 0, ARC_FEED, -1, fi)
    asm_idx = np.arange(na, dtype=np.int64)
    add(asm_in0 + asm_idx, asm_out0 + asm_idx, sources.assemble, 0, ARC_ASSEMBLE, -1, asm_idx)
    # visors ready without frames fed: on hand, and what a source makes itself (a partner)
    add(np.zeros(na), asm_out0 + asm_idx, sources.ready, 0, ARC_STOCK, -1, asm_idx)
    qty, prio, need_idx = costs.qty, costs.prio, np.arange(nn, dtype=np.int64)
    first_node = {ARC_FRAME: site0, ARC_VISOR: asm_out0}
    for kind in SERVICE_KINDS:
        dense = costs.dense(kind)
        if not dense.cost.size:
            continue
        flat = np.flatnonzero(arcs[kind])  # as cells(), the flat index kept for the costs
        row, src = np.divmod(flat, dense.cost.shape[1])
        need = dense.rows[row]
        add(
            first_node[kind] + src,
            need0 + need,
            qty[need],
            np.take(dense.cost, flat),
            kind,
            need,
            src,
        )

    add(need0 + need_idx, np.ones(nn), qty, 0, ARC_SINK, need_idx, -1)
    unmet_unit = costs.unmet_unit
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
        first_node=first_node,
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
    is_frame: BoolArray
    rate: dict[int, FloatArray]
    stock: dict[int, FloatArray]
    limit: dict[int, FloatArray]
    late_cap: int
    start: dict[int, FloatArray] = field(default_factory=dict)  # days before a source's first unit
    extra: dict[int, IntArray] = field(default_factory=dict)  # a source's cost per unit on top
    _points: dict[int, tuple[FloatArray, FloatArray]] = field(default_factory=dict)
    _dense: dict[int, Dense] = field(default_factory=dict)

    @classmethod
    def of(cls, problem: Problem) -> Costing:
        needs, sites, assemblies = problem.needs, problem.sites, problem.assemblies
        fablab_rate: dict[str, float] = {}
        for s in sites:
            fablab_rate[s.fablab] = fablab_rate.get(s.fablab, 0.0) + max(s.frames_per_day, 0.0)
        return cls(
            problem=problem,
            qty=np.array([n.quantity for n in needs], dtype=np.int64),
            prio=np.maximum(np.array([n.priority for n in needs], dtype=np.int64), 1),
            slack=np.array([(n.needed_by - problem.today).days for n in needs], dtype=np.int64),
            lat=np.array([n.point.latitude for n in needs], dtype=np.float64),
            lon=np.array([n.point.longitude for n in needs], dtype=np.float64),
            is_frame=np.array([n.item == FRAME for n in needs], dtype=bool),
            rate={
                ARC_FRAME: np.array([max(s.frames_per_day, 0.0) for s in sites], dtype=np.float64),
                ARC_VISOR: np.array(
                    [fablab_rate.get(a.fablab, 0.0) + max(a.rate, 0.0) for a in assemblies],
                    dtype=np.float64,
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
            start={
                ARC_FRAME: np.array([s.start_day for s in sites], dtype=np.float64),
                ARC_VISOR: np.array([a.start_day for a in assemblies], dtype=np.float64),
            },
            extra={
                ARC_FRAME: np.array([s.unit_cost for s in sites], dtype=np.int64),
                ARC_VISOR: np.array([a.unit_cost for a in assemblies], dtype=np.int64),
            },
        )

    @property
    def unmet_unit(self) -> int:
        """An unmet unit of priority 1 costs more than the dearest possible choice."""
        w = self.problem.weights
        dearest = max((int(e.max()) for e in self.extra.values() if e.size), default=0)
        return w.distance * HALF_EARTH_KM + w.lateness * self.late_cap + max(0, dearest) + 1

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

    def dense(self, kind: int) -> Dense:
        """Distance and cost of every (need of this kind, source of this kind), computed once."""
        cached = self._dense.get(kind)
        if cached is not None:
            return cached
        rows = np.nonzero(self.is_frame if kind == ARC_FRAME else ~self.is_frame)[0]
        s_lat, s_lon = self.source_points(kind)
        points, place = np.unique(
            np.column_stack([self.lat[rows], self.lon[rows]]), axis=0, return_inverse=True
        )
        place = place.reshape(-1)
        distance = np.empty((len(points), len(s_lat)), dtype=np.float64)
        cost = np.empty((len(rows), len(s_lat)), dtype=self.cost_type)
        if cost.size:
            sources = unit_vectors(s_lat, s_lon)
            step = max(1, BLOCK // len(s_lat))
            for begin in range(0, len(points), step):
                at = points[begin : begin + step]
                _arc_km(
                    _dot(unit_vectors(at[:, 0], at[:, 1]), sources),
                    out=distance[begin : begin + step],
                )
            days, which = self._days(kind, rows)
            km, transit = self._per_place(distance)
            for begin in range(0, len(rows), step):
                end = begin + step
                self._cost(
                    kind,
                    rows[begin:end],
                    days[which[begin:end]],
                    km,
                    transit,
                    place[begin:end],
                    out=cost[begin:end],
                )
        cached = Dense(rows=rows, cost=cost, place=place, place_distance=distance)
        self._dense[kind] = cached
        return cached

    def pairs(self, kind: int, need: IntArray, src: IntArray) -> IntArray:
        """The per-unit cost of each pair ``need[i]``–``src[i]`` (from :meth:`dense`)."""
        dense = self.dense(kind)
        row = np.searchsorted(dense.rows, need)
        result: IntArray = dense.cost[row, src].astype(np.int64)
        return result

    @property
    def cost_type(self) -> type[np.signedinteger[Any]]:
        """int32 (half the memory to price) when every unit cost fits, which it does by far
        unless the weights or priorities are huge."""
        fits = self.unmet_unit * int(self.prio.max(initial=1)) < 2**31
        return np.int32 if fits else np.int64

    def _days(self, kind: int, rows: IntArray) -> tuple[CostArray, IntArray]:
        """Days each source of this kind takes to finish a need's quantity alone (at most what it
        can make in the horizon) at its rate from its start day, stock first: one row per
        distinct quantity among ``rows``' needs, and the row of each need. Days beyond any
        lateness counted are cut."""
        quantities, which = np.unique(self.qty[rows], return_inverse=True)
        limit, r, stock = self.limit[kind], self.rate[kind], self.stock[kind]
        q = np.minimum(quantities.astype(np.float64)[:, None], limit[None, :])
        made = np.subtract(q, stock)
        made /= np.maximum(r, 1e-9)
        np.ceil(made, out=made)
        np.copyto(made, 1e6, where=~(r > 0)[None, :])  # a source that makes nothing
        start = self.start.get(kind)
        if start is not None and start.any():  # skipped: no source has a start day
            made += start[None, :]
        np.copyto(made, 0.0, where=q <= stock)
        most = self.late_cap + max(0, int(self.slack[rows].max()))  # later is late_cap anyway
        np.minimum(made, most, out=made)
        return made.astype(self.cost_type), which.reshape(-1)

    def _per_place(self, distance: FloatArray) -> tuple[CostArray, CostArray]:
        """Per place (row of ``distance``) and source: the distance's cost (km × its weight,
        rounded) and the transit days (:func:`transit_days`), in the cost type. Computed per
        place, then gathered per need: two thousand places for ten thousand order lines, and
        the needs' rows gather integers rather than floats."""
        dtype = self.cost_type
        scaled = np.multiply(distance, self.problem.weights.distance)
        km: CostArray = np.rint(scaled, out=scaled).astype(dtype)
        # as transit_days: 1, 2 from 300 km, 5 from 1,000 km (in place: a quarter of the time)
        transit: CostArray = (distance >= 300).astype(dtype)
        transit += 1
        transit[distance >= 1000] = 5
        return km, transit

    def _cost(
        self,
        kind: int,
        need: IntArray,
        days: CostArray,
        km: CostArray,
        transit: CostArray,
        place: IntArray,
        *,
        out: CostArray,
    ) -> None:
        """Into ``out``, per unit: km × distance weight + days late × priority × lateness
        weight, the goods made in ``days`` (a row per need, a column per source; overwritten)
        and ``transit`` days on the road (``km``: the distance's cost, see :meth:`_per_place`;
        both a row per place, ``place`` each need's); plus each source's own cost per unit."""
        w = self.problem.weights
        dtype = self.cost_type
        late = days
        late += transit[place]
        late -= self.slack[need, None].astype(dtype)
        np.clip(late, 0, self.late_cap, out=late)
        late *= (w.lateness * self.prio[need, None]).astype(dtype)
        np.take(km, place, axis=0, out=out, mode="clip")  # in range: clip skips a buffer
        out += late
        extra = self.extra.get(kind)
        if extra is not None and extra.any():  # skipped: no source has a cost of its own
            out += extra.astype(dtype)[None, :]


def late_days(*, finish_day: float, transit: int, slack_days: int) -> int:
    """Days late when the goods are made ``finish_day`` days from today."""
    return max(0, math.ceil(finish_day) + transit - slack_days)
