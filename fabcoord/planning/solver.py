"""Solving the allocation network: OR-Tools' min-cost flow (chosen by benchmark, see
``bench/plan_bench.py``), and a greedy nearest-first baseline to compare against.

OR-Tools is used here and nowhere else.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow  # type: ignore[import-untyped]

from fabcoord.errors import FabcoordError
from fabcoord.planning.background import Pending, Worker
from fabcoord.planning.network import (
    ARC_FEED,
    ARC_FRAME,
    ARC_UNMET,
    ARC_VISOR,
    SERVICE_KINDS,
    Arcs,
    BoolArray,
    Costing,
    Dense,
    IntArray,
    Network,
    Sources,
    build,
    cells,
)
from fabcoord.planning.problem import Flow, Problem, Solution

SOLVER = "or-tools min-cost flow"


class SolverFailed(FabcoordError):
    """The solver did not reach an optimum (it always should: unmet demand has a way out)."""


ROUNDS = 8
TOLERANCE = 1e-3  # stop once the cost is proven within this fraction (0.1 %) of the optimum
PRICED_PER_NEED = 8
BELLMAN_FORD_PASSES = 2000
COARSE_FROM = 2000  # needs: from this many, the first prices come from the coarse problem
COARSE_CELL_DEG = 0.4  # the coarse problem's needs: per cell of this many degrees (~45 km)


def solve(
    problem: Problem,
    *,
    nearest_k: int | None = None,
    rounds: int = ROUNDS,
    tolerance: float = TOLERANCE,
    coarse_from: int = COARSE_FROM,
    worker: Worker | None = None,
) -> Solution:
    """The least-cost allocation of the problem's needs (within ``tolerance`` of it, proven).

    Each need is first linked to its ``nearest_k`` nearest sources only (a thousand sources ×
    ten thousand needs is ten million arcs otherwise): regions short of capacity could then not
    reach idle ones. So, column generation: node potentials are read from the solved network's
    residual graph, every arc left out is priced, and those that could lower the cost (negative
    reduced cost) are added and the network solved again. The same potentials give a lower
    bound on the optimum over *all* arcs (:func:`price`); it stops when the cost is within
    ``tolerance`` of that bound (0: only when no arc left out could lower the cost), or after
    ``rounds`` rounds.

    With ``coarse_from`` needs or more, the first prices come from a coarse problem instead
    (:func:`coarse_solve`: a few thousand needs, solved in a fraction of the time), so the
    first network solved already has the long arcs that regions short of capacity need: one
    solve of the full network instead of two on the benchmark's problem. The coarse problem is
    solved by ``worker`` (:class:`~fabcoord.planning.background.Worker`: on the other core) while
    this process computes every pair's cost and merges the alike needs.
    """
    k = problem.weights.nearest if nearest_k is None else nearest_k
    costs = Costing.of(problem)
    sources = Sources.of(problem)
    coarse: Pending[npt.NDArray[np.float64] | None] | None = None
    if k and rounds and len(problem.needs) >= coarse_from:
        group = coarse_groups(costs)
        coarse = (worker or Worker(fork=False)).submit(
            coarse_solve, coarse_costing(problem, costs, group), sources, k
        )
    alike = Alike.of(problem, costs)
    costs = alike.costs
    base = {kind: costs.dense(kind).nearest(k) for kind in SERVICE_KINDS}
    arcs = {kind: mask.copy() for kind, mask in base.items()}
    net = build(sources, costs, arcs)
    found = None if coarse is None else coarse.result()
    if found is not None:
        guess = np.empty(net.nodes, dtype=np.float64)
        guess[: net.need0] = found[: net.need0]  # S, T and the sources: the same nodes
        guess[net.need0 :] = found[net.need0 + group[alike.reps]]
        price(costs, net, guess, arcs)
        net = build(sources, costs, arcs)
    flows = solve_network(net)
    if not k:
        return alike.solution(net, flows)
    for _ in range(rounds):
        potential = potentials(net, flows)
        if potential is None:
            break
        cost = int((flows * net.cost).sum())
        added = price(costs, net, potential, arcs, cost=cost, tolerance=tolerance)
        if not added:  # the bound proves the cost within tolerance, or no arc left can help
            break
        _keep_useful(costs, net, flows, potential, base, arcs)
        net = build(sources, costs, arcs)
        flows = solve_network(net)
    return alike.solution(net, flows)


def _row_hash(columns: int) -> IntArray:
    """Fixed random weights: a row's dot product with them tells rows apart (wrapping int64)."""
    weights: IntArray = np.random.default_rng(2020).integers(1, 2**62, size=columns)
    return weights


@dataclasses.dataclass
class Alike:
    """The problem with its *alike* needs merged into one: needs of the same item, place and
    priority whose unit costs from every source are the same (order lines of one hospital due
    the same week, say). Merging them is exact: any flow of the problem is one of the merged
    problem at the same cost and back, so the optimum, the potentials' bound on it and the plan's
    cost are the same, on a smaller network (the benchmark's 10,000 lines are 8,434 nodes, and
    its full solve takes about a sixth less time). :meth:`split` shares each merged need's flows
    out among its needs again, in their order.

    ``problem.needs`` are the merged needs (a group's first need, with the group's quantity),
    ``costs`` their costing (the rows of the problem's own); ``merged_into[n]``: the merged need
    that need ``n`` is part of (``None`` when nothing was merged).
    """

    original: Problem
    problem: Problem
    costs: Costing
    merged_into: IntArray | None
    reps: IntArray  # per merged need, the first of its needs (its index in ``original``)

    @classmethod
    def of(cls, problem: Problem, costs: Costing | None = None) -> Alike:
        """``costs``: the problem's costing, when already made."""
        costs = Costing.of(problem) if costs is None else costs
        nn = len(problem.needs)
        group = np.full(nn, -1, dtype=np.int64)  # per need, the first need of its group
        for kind in SERVICE_KINDS:
            dense = costs.dense(kind)
            if not len(dense.rows):
                continue
            # rows alike by a hash of their costs (and place, priority), then checked equal
            # to their group's first row: a row that only collided stays on its own
            key = np.column_stack(
                [dense.place, costs.prio[dense.rows], dense.cost @ _row_hash(dense.cost.shape[1])]
            )
            _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
            first = first[inverse.reshape(-1)]
            same = (dense.cost == dense.cost[first]).all(axis=1)
            group[dense.rows] = np.where(same, dense.rows[first], dense.rows)
        reps = np.unique(group)
        if len(reps) == nn:
            return cls(problem, problem, costs, None, reps)
        index = np.searchsorted(reps, group)  # each need's merged need
        qty = np.bincount(index, weights=costs.qty, minlength=len(reps)).astype(np.int64)
        needs = [problem.needs[r] for r in reps.tolist()]
        grouped = np.bincount(index, minlength=len(reps)) > 1
        for i in np.nonzero(grouped)[0].tolist():
            needs[i] = dataclasses.replace(needs[i], quantity=int(qty[i]))
        merged = dataclasses.replace(problem, needs=tuple(needs))
        dense_of = {}
        for kind in SERVICE_KINDS:
            dense = costs.dense(kind)
            mine = np.nonzero(np.isin(reps, dense.rows))[0]
            at = np.searchsorted(dense.rows, reps[mine])
            dense_of[kind] = Dense(
                rows=mine,
                cost=dense.cost[at],
                place=dense.place[at],
                place_distance=dense.place_distance,
            )
        merged_costs = dataclasses.replace(
            costs,
            problem=merged,
            qty=qty,
            prio=costs.prio[reps],
            slack=costs.slack[reps],
            lat=costs.lat[reps],
            lon=costs.lon[reps],
            is_frame=costs.is_frame[reps],
            _points=dict(costs._points),
            _dense=dense_of,
        )
        return cls(problem, merged, merged_costs, index, reps)

    def solution(self, net: Network, flows: IntArray) -> Solution:
        """The problem's solution from the merged network's ``flows`` (see :meth:`split`)."""
        served, unmet, totals = _read(self.problem, net, flows)
        return _solution(self.original, *self.split(served, unmet), totals)

    def split(self, served: Served, unmet: IntArray) -> tuple[Served, IntArray]:
        """The merged problem's served quantities and unmet per need as the problem's: each
        merged need's flows (by source) fill its needs in order, and what is unmet is left to
        the last of them.

        In arrays: a merged need's quantity is an interval, cut once by its needs' quantities
        (in order) and once by its flows' (in order); each piece cut by both is a flow of one
        need from one source."""
        if self.merged_into is None:
            return served, unmet
        quantity = np.array([n.quantity for n in self.original.needs], dtype=np.int64)
        if not len(served.need):
            return served, quantity
        order = np.argsort(self.merged_into, kind="stable")  # needs by merged need, in order
        # intervals on one line: the merged needs' one after the other, each cut by its needs'
        need_start = np.cumsum(quantity[order]) - quantity[order]
        firsts = np.searchsorted(self.merged_into[order], np.arange(len(self.reps)))
        merged_start = need_start[firsts]  # each merged need's: its first need's
        # and each merged need's flows from its start, in their order
        before = np.cumsum(served.quantity) - served.quantity
        first = np.searchsorted(served.need, served.need)  # its merged need's first flow
        flow_start = merged_start[served.need] + before - before[first]
        flow_end = flow_start + served.quantity
        cuts = np.unique(np.concatenate([need_start, flow_start, flow_end]))
        flow = np.searchsorted(flow_start, cuts[:-1], side="right") - 1
        inside = np.nonzero((flow >= 0) & (cuts[:-1] < flow_end[np.maximum(flow, 0)]))[0]
        flow = flow[inside]
        need = order[np.searchsorted(need_start, cuts[inside], side="right") - 1]
        pieces = np.diff(cuts)[inside]
        # a need's pieces are in its flows' order (by source): by need, the same order kept
        by_need = np.argsort(need, kind="stable")
        split = Served(
            need=need[by_need],
            kind=served.kind[flow[by_need]],
            source=served.source[flow[by_need]],
            quantity=pieces[by_need],
        )
        left = quantity - np.bincount(split.need, weights=split.quantity, minlength=len(quantity))
        return split, left.astype(np.int64)


def coarse_groups(costs: Costing) -> IntArray:
    """Each need's group in the coarse problem (:func:`coarse_solve`): its item and priority,
    and its cell of :data:`COARSE_CELL_DEG` degrees."""
    cell = np.floor(np.column_stack([costs.lat, costs.lon]) / COARSE_CELL_DEG)
    keys = np.column_stack([cell, costs.is_frame, costs.prio])
    # the keys' columns (small integers) packed into one integer in the same order: a 1-D
    # unique, the same groups numbered the same, in a fifteenth of the time
    packed = np.zeros(len(keys), dtype=np.int64)
    room = 1
    for column in keys.astype(np.int64).T:
        low = int(column.min(initial=0))
        span = int(column.max(initial=0)) - low + 1
        room *= span
        packed = packed * span + (column - low)
    _, group = np.unique(packed if room < 2**62 else keys, axis=0, return_inverse=True)
    result: IntArray = group.reshape(-1)
    return result


def coarse_costing(problem: Problem, costs: Costing, group: IntArray) -> Costing:
    """The coarse problem's costing (:func:`coarse_solve`): the needs of each group
    (:func:`coarse_groups`) as one, the quantity summed, at the quantity-weighted centre and
    mean date (rounded to the day), of its first need's item and priority; the sources
    unchanged. Arrays only (its problem has the dates and weights, no site, assembly or need):
    sent to the worker, it pickles in a fraction of the time the problem's objects would."""
    groups = int(group.max(initial=-1)) + 1
    qty = np.bincount(group, weights=costs.qty, minlength=groups)
    lat, lon, slack = (
        np.bincount(group, weights=costs.qty * x, minlength=groups) / np.maximum(qty, 1)
        for x in (costs.lat, costs.lon, costs.slack)
    )
    first = np.unique(group, return_index=True)[1]  # each group's first need
    points = {kind: costs.source_points(kind) for kind in SERVICE_KINDS}
    return dataclasses.replace(
        costs,
        problem=dataclasses.replace(problem, sites=(), assemblies=(), needs=()),
        qty=qty.astype(np.int64),
        prio=costs.prio[first],
        slack=np.rint(slack).astype(np.int64),  # as round(): halves to even
        lat=lat,
        lon=lon,
        is_frame=costs.is_frame[first],
        _points=points,
        _dense={},
    )


def coarse_solve(costs: Costing, sources: Sources, k: int) -> npt.NDArray[np.float64] | None:
    """Node potentials of the coarse problem (:func:`coarse_costing`), each of its needs linked
    to its ``k`` nearest sources and solved once. Its nodes are those of the problem's network up
    to the first need (S, T, the sources), then one per group: a need takes its group's
    potential, a source its own, and pricing the full problem's arcs with them finds the long
    arcs its solution will need. None if the potentials do not settle (or there is no need)."""
    if not len(costs.qty):
        return None
    coarse_net = build(
        sources, costs, {kind: costs.dense(kind).nearest(k) for kind in SERVICE_KINDS}
    )
    return potentials(coarse_net, solve_network(coarse_net))


def _keep_useful(
    costs: Costing,
    net: Network,
    flows: IntArray,
    potential: npt.NDArray[np.float64],
    base: Arcs,
    arcs: Arcs,
) -> None:
    """Drop from ``arcs`` the service arcs priced in earlier rounds that carry no flow and whose
    reduced cost is positive (the nearest ones stay): pricing adds them back if they turn useful,
    and the network stays small."""
    reduced = net.cost + potential[net.tail] - potential[net.head]
    for kind in SERVICE_KINDS:
        dense = costs.dense(kind)
        if not dense.cost.size:
            continue
        mine = net.kind == kind
        idle = mine & (flows == 0) & (reduced > 0)
        row = np.searchsorted(dense.rows, net.need[idle])
        src = net.source[idle]
        arcs[kind][row, src] = base[kind][row, src]


def potentials(net: Network, flows: IntArray) -> npt.NDArray[np.float64] | None:
    """Node potentials under which every residual arc has a non-negative reduced cost
    (Bellman-Ford from a virtual source linked to every node); None if it does not settle.

    Each pass relaxes the arcs into S, T and the sources first, then those into the needs from
    the sources' new distances (paths alternate between the two): half the passes of relaxing
    every arc at once, to the same distances (the shortest ones are unique)."""
    forward, backward = flows < net.capacity, flows > 0
    tails = np.concatenate([net.tail[forward], net.head[backward]])
    heads = np.concatenate([net.head[forward], net.tail[backward]])
    cost = np.concatenate([net.cost[forward], -net.cost[backward]]).astype(np.float64)
    order = np.argsort(heads, kind="stable")
    tails, heads, cost = tails[order], heads[order], cost[order]
    targets, starts = np.unique(heads, return_index=True)
    split = int(np.searchsorted(targets, net.need0))  # targets before it: S, T, the sources
    cut = int(starts[split]) if split < len(starts) else len(heads)
    halves = [
        (tails[:cut], cost[:cut], targets[:split], starts[:split]),
        (tails[cut:], cost[cut:], targets[split:], starts[split:] - cut),
    ]
    halves = [half for half in halves if len(half[2])]
    dist = np.zeros(net.nodes, dtype=np.float64)
    for _ in range(BELLMAN_FORD_PASSES):
        settled = True
        for tail, arc_cost, target, start in halves:
            best = np.minimum.reduceat(dist[tail] + arc_cost, start)
            improved = best < dist[target]
            if improved.any():
                dist[target[improved]] = best[improved]
                settled = False
        if settled:
            return dist
    return None


def price(
    costs: Costing,
    net: Network,
    potential: npt.NDArray[np.float64],
    arcs: Arcs,
    *,
    cost: int | None = None,
    tolerance: float = 0.0,
) -> int:
    """Add to ``arcs`` the arcs left out whose reduced cost is negative (per need, its most
    negative few); return how many were added.

    Given ``cost``, nothing is added when a lower bound on the optimum over all arcs already
    proves ``cost`` within ``tolerance`` of it (the caller stops): the dual value of the
    potentials with each need's potential lowered by its most negative reduced cost left out
    (so every arc left out prices at zero or more), the need's arc to the sink then paying that
    difference on its whole quantity.
    """
    nn = len(costs.qty)
    need_pot = potential[net.need0 : net.need0 + nn]
    shift = np.zeros(nn, dtype=np.float64)
    # reduced costs in float32 when exact (integers below 2**24: potentials and costs are
    # integers here), half the memory traffic of float64
    largest = float(np.abs(potential).max(initial=0.0)) * 2 + float(net.cost.max(initial=0))
    dtype = np.float32 if largest < 2**24 else np.float64
    # then, with integer potentials, the same integers summed in int32 first: a row's least
    # (cost + source potential) less the need's potential, one pass fewer over the matrices
    in_int32 = dtype is np.float32 and bool(np.array_equal(potential, np.rint(potential)))
    gains: list[_Gain] = []
    for kind in SERVICE_KINDS:
        dense = costs.dense(kind)
        if not dense.cost.size:
            continue
        first = net.first_node[kind]
        src_pot = potential[first : first + dense.cost.shape[1]]
        # a cost is never negative: only needs whose potential exceeds a source's can gain
        rows = np.nonzero(need_pot[dense.rows] > src_pot.min())[0]
        if not len(rows):
            continue
        every = len(rows) == len(dense.rows)  # then no copies of the rows taken
        need_rows = need_pot[dense.rows[rows]]
        mask = arcs[kind] if every else arcs[kind][rows]
        if in_int32:
            summed = np.add(
                dense.cost if every else dense.cost[rows],
                src_pot.astype(np.int32)[None, :],
                dtype=np.int32,
            )
            np.copyto(summed, np.iinfo(np.int32).max, where=mask)
            gain = _Gain(kind, rows, summed, need_rows, mask, dtype)
            lowest = summed.min(axis=1) - need_rows
        else:
            reduced = np.subtract.outer(-need_rows, -src_pot, dtype=dtype)
            reduced += dense.cost if every else dense.cost[rows]
            np.copyto(reduced, np.inf, where=mask)
            gain = _Gain(kind, rows, reduced)
            lowest = reduced.min(axis=1)
        gain.gaining = np.nonzero(lowest < -1e-3)[0]
        if not len(gain.gaining):
            continue
        shift[dense.rows[rows[gain.gaining]]] = lowest[gain.gaining]
        gains.append(gain)
    if cost is not None:
        shifted = potential.copy()
        shifted[net.need0 : net.need0 + nn] += shift
        reduced_cost = net.cost + shifted[net.tail] - shifted[net.head]
        bound = float((net.capacity * np.minimum(0.0, reduced_cost)).sum()) - net.supply * (
            shifted[0] - shifted[1]
        )
        if cost - bound <= tolerance * abs(bound):
            return 0
    added = 0
    for gain in gains:
        kind, rows, gaining, block = gain.kind, gain.rows, gain.gaining, gain.reduced()
        m = min(PRICED_PER_NEED, block.shape[1])
        negative = block < -1e-3
        many = np.count_nonzero(negative, axis=1) > m
        # rows with at most m arcs that gain take them all; the others their m most negative
        # (partitioning only those: most rows have few)
        r, c = cells(negative[~many])
        r = np.nonzero(~many)[0][r]
        if many.any():
            crowded = np.nonzero(many)[0]
            best = np.argpartition(block[crowded], m - 1, axis=1)[:, :m]
            r = np.concatenate([r, np.repeat(crowded, m)])
            c = np.concatenate([c, best.reshape(-1)])
        arcs[kind][rows[gaining[r]], c] = True
        added += len(r)
    return added


@dataclasses.dataclass
class _Gain:
    """One kind's rows priced in :func:`price`: ``matrix`` holds their reduced costs (the arcs in
    the network at infinity), or, given ``need_rows``, cost + source potential in int32 (the
    arcs in the network at its largest), each row's need potential still to subtract."""

    kind: int
    rows: IntArray
    matrix: npt.NDArray[Any]
    need_rows: npt.NDArray[np.float64] | None = None
    mask: BoolArray | None = None
    dtype: type[np.floating[Any]] = np.float32
    gaining: IntArray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def reduced(self) -> npt.NDArray[np.floating[Any]]:
        """The gaining rows' reduced costs, the arcs in the network at infinity."""
        every = len(self.gaining) == len(self.rows)
        if self.need_rows is None or self.mask is None:
            block: npt.NDArray[np.floating[Any]] = (
                self.matrix if every else self.matrix[self.gaining]
            )
            return block
        # exact: integers below 2**24 (the arcs in the network, inexact, are then set apart)
        block = np.subtract(
            self.matrix if every else self.matrix[self.gaining],
            self.need_rows[self.gaining, None],
            dtype=self.dtype,
        )
        np.copyto(block, np.inf, where=self.mask if every else self.mask[self.gaining])
        return block


def solve_network(net: Network) -> IntArray:
    """The flow on every arc of an optimal solution."""
    smcf = min_cost_flow.SimpleMinCostFlow()
    arcs = smcf.add_arcs_with_capacity_and_unit_cost(net.tail, net.head, net.capacity, net.cost)
    supplies = np.zeros(net.nodes, dtype=np.int64)
    supplies[0], supplies[1] = net.supply, -net.supply
    smcf.set_nodes_supplies(np.arange(net.nodes, dtype=np.int64), supplies)
    status = smcf.solve()
    if status != smcf.OPTIMAL:
        raise SolverFailed(f"the min-cost flow solver stopped with status {status}")
    result: IntArray = np.asarray(smcf.flows(arcs), dtype=np.int64)
    return result


@dataclasses.dataclass
class Served:
    """A solution's flows as arrays (a flow per index): the need, the service arc kind and the
    source's index among that kind's, the quantity; by need, then by source key."""

    need: IntArray
    kind: IntArray
    source: IntArray
    quantity: IntArray


@dataclasses.dataclass
class _Totals:
    """What a solution reads from the network besides its flows."""

    cost: int
    unmet_cost: int
    feeds: dict[tuple[str, str], int]


def read_solution(problem: Problem, net: Network, flows: IntArray) -> Solution:
    """Flows per need and source, unmet quantities, and the cost."""
    return _solution(problem, *_read(problem, net, flows))


def _read(problem: Problem, net: Network, flows: IntArray) -> tuple[Served, IntArray, _Totals]:
    """What :func:`read_solution` reads, as arrays: served, unmet per need, and the totals."""
    cost = int((flows * net.cost).sum())
    mask = net.kind == ARC_UNMET
    unmet = np.bincount(net.need[mask], weights=flows[mask], minlength=len(problem.needs))
    unmet_cost = int((flows[mask] * net.cost[mask]).sum())
    used = np.nonzero((flows > 0) & np.isin(net.kind, SERVICE_KINDS))[0]
    kind, source = net.kind[used], net.source[used]
    rank = np.zeros(len(used), dtype=np.int64)  # the source's key's rank among its kind's
    for k, keys in _source_keys(problem).items():
        mine = kind == k
        by_key = np.zeros(len(keys), dtype=np.int64)
        by_key[sorted(range(len(keys)), key=keys.__getitem__)] = np.arange(len(keys))
        rank[mine] = by_key[source[mine]]
    order = np.lexsort((rank, net.need[used]))
    used = used[order]
    served = Served(
        need=net.need[used], kind=kind[order], source=source[order], quantity=flows[used]
    )
    feeds: dict[tuple[str, str], int] = {}
    fed = np.nonzero((flows > 0) & (net.kind == ARC_FEED))[0]
    for site_index, quantity in zip(net.source[fed].tolist(), flows[fed].tolist(), strict=True):
        site = problem.sites[site_index]
        feeds[(site.key, site.fablab)] = quantity
    return served, unmet.astype(np.int64), _Totals(cost, unmet_cost, feeds)


def _solution(problem: Problem, served: Served, unmet: IntArray, totals: _Totals) -> Solution:
    keys = np.empty(len(served.need), dtype=object)
    for k, names in _source_keys(problem).items():
        mine = served.kind == k
        keys[mine] = np.array(names, dtype=object)[served.source[mine]]
    return Solution(
        flows=tuple(
            map(
                Flow._make,
                zip(served.need.tolist(), keys.tolist(), served.quantity.tolist(), strict=True),
            )
        ),
        unmet=tuple(unmet.tolist()),
        cost=totals.cost,
        solver=SOLVER,
        unmet_cost=totals.unmet_cost,
        feeds=totals.feeds,
    )


def _source_keys(problem: Problem) -> dict[int, list[str]]:
    """The key of every source, per service arc kind (as :class:`Flow` names it)."""
    return {
        ARC_FRAME: [s.key for s in problem.sites],
        ARC_VISOR: [a.key for a in problem.assemblies],
    }


def greedy(problem: Problem) -> Solution:
    """Baseline: most urgent first, each need takes the nearest sources with room left."""
    costs = Costing.of(problem)
    unit = costs.unmet_unit
    room_site = [s.frames_limit for s in problem.sites]
    room_asm = [max(0, a.visors_limit - a.on_hand - a.makes) for a in problem.assemblies]
    stock_asm = [a.on_hand + a.makes for a in problem.assemblies]
    feeders: dict[str, list[int]] = {}
    for i, s in enumerate(problem.sites):
        feeders.setdefault(s.fablab, []).append(i)
    ranked: dict[int, IntArray] = {}
    for kind in SERVICE_KINDS:
        dense = costs.dense(kind)
        if not dense.cost.size:
            continue
        order = np.argsort(dense.place_distance, axis=1)[dense.place]
        for row, need in enumerate(dense.rows):
            ranked[int(need)] = order[row]
    taken: list[tuple[int, int, int, int]] = []  # need, kind, source, quantity
    unmet = [n.quantity for n in problem.needs]
    feeds: dict[tuple[str, str], int] = {}
    urgency = sorted(
        range(len(problem.needs)),
        key=lambda i: (-problem.needs[i].priority, problem.needs[i].needed_by, i),
    )
    for i in urgency:
        kind = ARC_FRAME if costs.is_frame[i] else ARC_VISOR
        for src in ranked.get(i, np.zeros(0, np.int64)):
            if unmet[i] == 0:
                break
            src = int(src)
            if kind == ARC_FRAME:
                take = min(unmet[i], room_site[src])
                room_site[src] -= take
            else:
                fablab = problem.assemblies[src].fablab
                from_stock = min(unmet[i], stock_asm[src])
                stock_asm[src] -= from_stock
                room = min(unmet[i] - from_stock, room_asm[src])
                made = 0
                for feeder in feeders.get(fablab, []):
                    part = min(room - made, room_site[feeder])
                    if part:
                        room_site[feeder] -= part
                        made += part
                        key = (problem.sites[feeder].key, fablab)
                        feeds[key] = feeds.get(key, 0) + part
                room_asm[src] -= made
                take = from_stock + made
            if take:
                taken.append((i, kind, src, take))
                unmet[i] -= take
    total = 0
    flows = []
    for kind in SERVICE_KINDS:
        mine = [t for t in taken if t[1] == kind]
        if not mine:
            continue
        need = np.array([t[0] for t in mine], dtype=np.int64)
        src = np.array([t[2] for t in mine], dtype=np.int64)
        qty = np.array([t[3] for t in mine], dtype=np.int64)
        total += int((costs.pairs(kind, need, src) * qty).sum())
        for n, s_, q in zip(need, src, qty, strict=True):
            source = (
                problem.sites[int(s_)].key if kind == ARC_FRAME else problem.assemblies[int(s_)].key
            )
            flows.append(Flow(need=int(n), source=source, quantity=int(q)))
    penalty = sum(u * unit * max(1, n.priority) for u, n in zip(unmet, problem.needs, strict=True))
    return Solution(
        flows=tuple(sorted(flows, key=lambda f: (f.need, f.source))),
        unmet=tuple(unmet),
        cost=total + penalty,
        solver="greedy nearest-first",
        unmet_cost=penalty,
        feeds=feeds,
    )
