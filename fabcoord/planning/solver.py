"""Solving the allocation network: OR-Tools' min-cost flow (chosen by benchmark, see
``bench/plan_bench.py``), and a greedy nearest-first baseline to compare against.

OR-Tools is used here and nowhere else.
"""

from __future__ import annotations

import numpy as np
from ortools.graph.python import min_cost_flow  # type: ignore[import-untyped]

from fabcoord.errors import FabcoordError
from fabcoord.planning.network import (
    ARC_FEED,
    ARC_FRAME,
    ARC_UNMET,
    ARC_VISOR,
    IntArray,
    Network,
    build,
)
from fabcoord.planning.problem import Flow, Problem, Solution

SOLVER = "or-tools min-cost flow"


class SolverFailed(FabcoordError):
    """The solver did not reach an optimum (it always should: unmet demand has a way out)."""


def solve(problem: Problem, *, nearest_k: int | None = None) -> Solution:
    """The least-cost allocation of the problem's needs (each to its nearest sources)."""
    net = build(problem, nearest_k=nearest_k)
    flows = solve_network(net)
    return read_solution(problem, net, flows)


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


def read_solution(problem: Problem, net: Network, flows: IntArray) -> Solution:
    """Flows per need and source, unmet quantities, and the cost."""
    cost = int((flows * net.cost).sum())
    unmet = np.zeros(len(problem.needs), dtype=np.int64)
    mask = net.kind == ARC_UNMET
    np.add.at(unmet, net.need[mask], flows[mask])
    unmet_cost = int((flows[mask] * net.cost[mask]).sum())
    served: list[Flow] = []
    used = (flows > 0) & ((net.kind == ARC_FRAME) | (net.kind == ARC_VISOR))
    for arc in np.nonzero(used)[0]:
        need, source = int(net.need[arc]), int(net.source[arc])
        key = (
            problem.sites[source].key
            if net.kind[arc] == ARC_FRAME
            else "assembly/" + problem.assemblies[source].fablab
        )
        served.append(Flow(need=need, source=key, quantity=int(flows[arc])))
    feeds: dict[tuple[str, str], int] = {}
    fed = (flows > 0) & (net.kind == ARC_FEED)
    for arc in np.nonzero(fed)[0]:
        site = problem.sites[int(net.source[arc])]
        feeds[(site.key, site.fablab)] = int(flows[arc])
    served.sort(key=lambda f: (f.need, f.source))
    return Solution(
        flows=tuple(served),
        unmet=tuple(int(x) for x in unmet),
        cost=cost,
        solver=SOLVER,
        unmet_cost=unmet_cost,
        feeds=feeds,
    )


def greedy(problem: Problem) -> Solution:
    """Baseline: most urgent first, each need takes its nearest sources with room left."""
    net = build(problem, nearest_k=0)
    remaining_site = {i: s.frames_limit for i, s in enumerate(problem.sites)}
    remaining_asm = {
        i: max(0, a.visors_limit - a.on_hand) for i, a in enumerate(problem.assemblies)
    }
    stock_asm = {i: a.on_hand for i, a in enumerate(problem.assemblies)}
    feeders: dict[str, list[int]] = {}
    for i, s in enumerate(problem.sites):
        feeders.setdefault(s.fablab, []).append(i)
    options: dict[int, list[tuple[int, int, int]]] = {}
    for arc in np.nonzero((net.kind == ARC_FRAME) | (net.kind == ARC_VISOR))[0]:
        options.setdefault(int(net.need[arc]), []).append(
            (int(net.cost[arc]), int(net.kind[arc]), int(net.source[arc]))
        )
    flows: list[Flow] = []
    unmet = [n.quantity for n in problem.needs]
    total = penalty = 0
    feeds: dict[tuple[str, str], int] = {}
    order = sorted(
        range(len(problem.needs)),
        key=lambda i: (-problem.needs[i].priority, problem.needs[i].needed_by, i),
    )
    for i in order:
        for arc_cost, kind, src in sorted(options.get(i, [])):
            if unmet[i] == 0:
                break
            if kind == ARC_FRAME:
                take = min(unmet[i], remaining_site[src])
                remaining_site[src] -= take
                key = problem.sites[src].key
            else:
                fablab = problem.assemblies[src].fablab
                from_stock = min(unmet[i], stock_asm[src])
                stock_asm[src] -= from_stock
                room = min(unmet[i] - from_stock, remaining_asm[src])
                made = 0
                for feeder in feeders.get(fablab, []):
                    part = min(room - made, remaining_site[feeder])
                    remaining_site[feeder] -= part
                    made += part
                    if part:
                        feed_key = (problem.sites[feeder].key, fablab)
                        feeds[feed_key] = feeds.get(feed_key, 0) + part
                remaining_asm[src] -= made
                take = from_stock + made
                key = "assembly/" + fablab
            if take:
                flows.append(Flow(need=i, source=key, quantity=take))
                unmet[i] -= take
                total += take * arc_cost
        penalty += unmet[i] * net.unmet_unit * max(1, problem.needs[i].priority)
    total += penalty
    return Solution(
        flows=tuple(sorted(flows, key=lambda f: (f.need, f.source))),
        unmet=tuple(unmet),
        cost=total,
        solver="greedy nearest-first",
        unmet_cost=penalty,
        feeds=feeds,
    )
