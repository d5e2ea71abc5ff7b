"""Plan benchmark: 1,000 fablabs and makers × 10,000 open orders (about a million visors).

One seeded database (``bench/plan_db.py``: 400 fablabs with printers and stock, 600 makers,
2,000 hospitals, 10,000 open order lines), on SQLite and PostgreSQL; each measurement runs in a
child process of its own (so each peak memory is its own):

- **service**: what ``fabcoord plan`` does, end to end: ``plans.compute`` in a unit of work
  (read the orders, capacity, makers and stock; solve; forecast; store the plan; commit), with
  the time of each part;
- the solvers alone, on the problem the service read (read first, not timed):
  **plan** (what the service solves: OR-Tools min-cost flow, 20 nearest sources per order plus
  the arcs priced by a coarse problem's potentials, then arcs priced from the residual graph's
  potentials until the cost is proven within 0.1 % of the optimum), **nearest-20 only** (20
  nearest sources, one solve, no pricing), **greedy** (nearest-first baseline: most urgent
  order first, nearest source with room), **optimum** (OR-Tools on the full network: every order
  to every source) and **highs** (scipy's HiGHS LP on the 20-nearest network, the other solver
  candidate).

Writes the ``plan`` section of BENCHMARKS.md. Run: ``python -m bench.plan_bench``
(``--scale 0.1`` for a quick run while developing; it writes nothing then).
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procstat import peak_rss_mb  # noqa: E402
from bench.report import write_section  # noqa: E402

TODAY = date(2026, 4, 6)
FABLABS, MAKERS, ORDERS, HOSPITALS = 400, 600, 10_000, 2_000


def _gather(url: str, data_dir: Path) -> Any:
    from fabcoord.config import Settings
    from fabcoord.db import make_engine, unit_of_work
    from fabcoord.planning.capacity import providers
    from fabcoord.planning.inputs import PlanSettings, gather

    engine = make_engine(Settings(database_url=url))
    with unit_of_work(engine, read_only=True) as session:
        problem, _ = gather(
            session=session,
            settings=PlanSettings(),
            data_dir=data_dir,
            providers=providers,
            today=TODAY,
            now=_now(),
        )
    engine.dispose()
    return problem


def _now() -> Any:
    from datetime import UTC, datetime, time

    return datetime.combine(TODAY, time(8), tzinfo=UTC)


def _compose() -> None:
    import cli

    cli._compose()


def service(url: str, data_dir: Path, *, serial: bool = False) -> dict[str, Any]:
    """``plans.compute`` in its unit of work, as ``fabcoord plan`` runs it; the parts timed.
    ``serial``: without its worker on the other core (everything in this process)."""
    import resource

    from fabcoord.commands import planning as plan_commands
    from fabcoord.config import Settings
    from fabcoord.db import make_engine, unit_of_work
    from fabcoord.planning import background, plans
    from fabcoord.planning.capacity import providers
    from fabcoord.planning.inputs import PlanSettings

    parts: dict[str, float] = {}

    def timed(name: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            begun = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                parts[name] = parts.get(name, 0.0) + time.process_time() - begun

        return wrapper

    plans.gather = timed("read", plans.gather)  # type: ignore[assignment]
    plans.solver.solve = timed("solve", plans.solver.solve)  # type: ignore[assignment]
    plans.forecast = timed("forecast", plans.forecast)  # type: ignore[assignment]
    engine = make_engine(Settings(database_url=url))
    with unit_of_work(engine, read_only=True) as session:  # connect and warm up, not timed
        session.exec(plans.select(plans.Plan.id)).first()
    background.ENABLED = not serial
    started, cpu_started, times = time.perf_counter(), time.process_time(), os.times()
    with unit_of_work(engine) as session:
        view = plans.compute(
            session=session,
            settings=PlanSettings(),
            data_dir=data_dir,
            providers=providers,
            actor="bench",
            today=TODAY,
            now=_now(),
        )
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    ended = os.times()
    worker_cpu = (ended.children_user + ended.children_system) - (
        times.children_user + times.children_system
    )
    engine.dispose()
    parts["store"] = cpu - sum(parts.values())  # result records, JSON, insert, commit
    lines = view.result["lines"]
    printing = {}
    for label, every in (("print", False), ("print_all", True)):  # what the command then prints
        begun = time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            plan_commands._print_plan(view, as_json=False, show_all=every)
        printing[label] = time.process_time() - begun
    return {
        "kind": "service",
        "seconds": seconds,
        "cpu": cpu,
        "worker_cpu": worker_cpu,
        "worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "load": os.getloadavg()[0],
        "parts": parts,
        "printing": printing,
        "cost": view.cost,
        "unmet": sum(line["unmet"] for line in lines),
        "demand": sum(line["quantity"] for line in lines),
        "peak_mb": peak_rss_mb(os.getpid()),
    }


def child(kind: str, url: str, data_dir: Path) -> dict[str, Any]:
    _compose()
    if kind in ("service", "serial"):
        return service(url, data_dir, serial=kind == "serial")
    from fabcoord.planning import network, solver

    p = _gather(url, data_dir)
    started, cpu_started = time.perf_counter(), time.process_time()
    if kind == "plan":
        solution = solver.solve(p)
    elif kind == "nearest":
        solution = solver.solve(p, rounds=0)
    elif kind == "optimum":
        solution = solver.solve(p, nearest_k=0)
    elif kind == "greedy":
        solution = solver.greedy(p)
    else:
        solution = _highs(p, network)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return {
        "kind": kind,
        "seconds": seconds,
        "cpu": cpu,
        "cost": solution.cost,
        "service_cost": solution.cost - solution.unmet_cost,
        "unmet": sum(solution.unmet),
        "demand": sum(n.quantity for n in p.needs),
        "peak_mb": peak_rss_mb(os.getpid()),
    }


def _highs(p: Any, network: Any) -> Any:
    import numpy as np
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    from fabcoord.planning.problem import Solution
    from fabcoord.planning.solver import read_solution

    costs = network.Costing.of(p)
    net = network.build(
        p, costs, {kind: costs.dense(kind).nearest(20) for kind in network.SERVICE_KINDS}
    )
    arcs = len(net.tail)
    rows = np.concatenate([net.tail, net.head])
    cols = np.concatenate([np.arange(arcs), np.arange(arcs)])
    vals = np.concatenate([np.ones(arcs), -np.ones(arcs)])
    incidence = coo_matrix((vals, (rows, cols)), shape=(net.nodes, arcs)).tocsr()
    supply = np.zeros(net.nodes)
    supply[0], supply[1] = net.supply, -net.supply
    done = linprog(
        net.cost.astype(float),
        A_eq=incidence,
        b_eq=supply,
        bounds=np.column_stack([np.zeros(arcs), net.capacity.astype(float)]),
        method="highs",
    )
    flows = np.rint(done.x).astype(np.int64)
    solution: Solution = read_solution(p, net, flows)
    return solution


def run(kind: str, url: str, data_dir: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.plan_bench", "--child", kind, url, str(data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


LABELS = {
    "plan": "plan: OR-Tools min-cost flow, 20 nearest + priced arcs (coarse start)",
    "nearest": "OR-Tools, 20 nearest sources only (one solve, no pricing)",
    "highs": "scipy HiGHS LP, 20 nearest sources",
    "greedy": "greedy nearest-first (baseline)",
    "optimum": "OR-Tools on the full network (true optimum)",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--solvers", default="plan,nearest,greedy,highs,optimum")
    parser.add_argument(
        "--no-write", action="store_true", help="print the figures, leave BENCHMARKS.md alone"
    )
    args = parser.parse_args()
    if args.child:
        kind, url, data_dir = args.child
        print(json.dumps(child(kind, url, Path(data_dir))))
        return
    from bench.farm_db import fresh_database
    from bench.plan_db import seed

    load = os.getloadavg()[0]
    counts = {
        "fablab_count": max(2, round(FABLABS * args.scale)),
        "maker_count": max(2, round(MAKERS * args.scale)),
        "order_count": max(2, round(ORDERS * args.scale)),
        "hospital_count": max(2, round(HOSPITALS * args.scale)),
    }
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    services: dict[str, dict[str, Any]] = {}
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="plan-bench-") as tmp:
        workdir = Path(tmp)
        for db in kinds:
            with fresh_database(db, workdir) as url:
                data_dir = workdir / f"data-{db}"
                began = time.perf_counter()
                seed(url, data_dir, today=TODAY, **counts)
                print(db, f"seeded in {time.perf_counter() - began:.0f} s", flush=True)
                runs = [run("service", url, data_dir) for _ in range(args.repeat)]
                services[db] = min(runs, key=lambda r: r["seconds"])
                print("service", db, services[db], flush=True)
                serial = [run("serial", url, data_dir) for _ in range(args.repeat)]
                services[db]["serial"] = min(serial, key=lambda r: r["seconds"])
                print("serial", db, services[db]["serial"], flush=True)
                if db != kinds[0]:
                    continue
                for kind in args.solvers.split(","):
                    repeat = args.repeat if kind in ("plan", "nearest", "greedy") else 1
                    results[kind] = [run(kind, url, data_dir) for _ in range(repeat)]
                    print(kind, results[kind][-1], flush=True)
    if args.scale != 1.0 or args.no_write:
        return
    write(services, results, load)


def write(
    services: dict[str, dict[str, Any]], results: dict[str, list[dict[str, Any]]], load: float
) -> None:
    best = {k: min(v, key=lambda r: r["cpu"]) for k, v in results.items()}
    optimum = best["optimum"]
    rows = []
    for kind in ("plan", "nearest", "highs", "greedy", "optimum"):
        r = best[kind]
        gap = (r["cost"] - optimum["cost"]) / optimum["cost"] * 100
        service_gap = (r["service_cost"] - optimum["service_cost"]) / optimum["service_cost"] * 100
        rows.append(
            f"| {LABELS[kind]} | {r['seconds']:.2f} s | {r['cpu']:.2f} s | {r['peak_mb']:.0f} MB | "
            f"{r['cost']:,} | {gap:+.4f} % | {r['unmet']:,} | {r['service_cost']:,} | {service_gap:+.3f} % |"
        )
    service_rows = []
    for db, r in services.items():
        parts, one = r["parts"], r["serial"]
        gap = (r["cost"] - optimum["cost"]) / optimum["cost"] * 100
        service_rows.append(
            f"| {db} | {r['seconds']:.2f} s | {r['cpu']:.2f} s + {r['worker_cpu']:.2f} s | "
            f"{one['seconds']:.2f} s / {one['cpu']:.2f} s | {parts['read']:.2f} s | "
            f"{parts['solve']:.2f} s | {parts['forecast']:.2f} s | {parts['store']:.2f} s | "
            f"{r['peak_mb']:.0f} MB + {r['worker_peak_mb']:.0f} MB | {gap:+.4f} % | "
            f"{r['printing']['print']:.2f} s / {r['printing']['print_all']:.2f} s |"
        )
    demand = optimum["demand"]
    sqlite = services.get("sqlite") or next(iter(services.values()))
    gap = (sqlite["cost"] - optimum["cost"]) / optimum["cost"] * 100
    total_cpu = sqlite["cpu"] + sqlite["worker_cpu"]
    target = (
        f"Target (issue 10): ≤ 1 s, ≤ 500 MB, within 0.1 % of the optimum. Here: "
        f"{sqlite['seconds']:.2f} s wall {'✓' if sqlite['seconds'] <= 1 else '✗'} (two cores), "
        f"{total_cpu:.2f} s CPU in all {'✓' if total_cpu <= 1 else '✗'}, "
        f"{sqlite['peak_mb']:.0f} MB {'✓' if sqlite['peak_mb'] <= 500 else '✗'} (the worker "
        f"{sqlite['worker_peak_mb']:.0f} MB more at most, most of it shared with the plan's "
        f"process), {gap:+.4f} % {'✓' if gap <= 0.1 else '✗'}. The solve is "
        f"{sqlite['parts']['solve'] / sqlite['cpu']:.0%} of the plan process's CPU, reading and "
        f"writing the database "
        f"{(sqlite['parts']['read'] + sqlite['parts']['store']) / sqlite['cpu']:.0%}."
    )
    body = f"""
`python -m bench.plan_bench`: {FABLABS} fablabs (printers, stock, visor assembly) and {MAKERS}
makers × {ORDERS:,} open order lines from {HOSPITALS:,} hospitals ({demand:,} visors and frames,
70 % visors), horizon 14 days, capacity a little short of demand, seeded in a real database
(`bench/plan_db.py`). Each figure is a separate process, best of the runs (`fabcoord plan` by
wall time, the solvers alone by CPU time: on this shared machine the wall time is mostly waiting
for a core); peak memory is that process's `VmHWM`, including Python, NumPy, SQLAlchemy and the
solver library.

**`fabcoord plan`, end to end** (`plans.compute` in its unit of work: read the orders, capacity,
makers and stock through the providers; solve; forecast; store the plan; commit), with its
worker: a process forked when the plan begins, which solves the coarse problem on the other core
while the plan computes every pair's cost. *CPU time* is the plan's process + the worker's;
*one core* is the same plan without the worker (wall / CPU). Parts are the plan process's CPU
time; *store* is the plan record (result, JSON, insert, commit). Peak memory: the plan's process
+ the worker's (its own peak, most of it pages shared with the plan's process). The command then prints the
plan: *printed* is that CPU time, with its default tables (the 30 order lines needing attention
first, the 30 longest backlogs, a count of the rest) / with `--all` (every one of the 10,000
lines and 400 fablabs, rich measuring every cell):

| database | wall time | CPU time | one core | read | solve | forecast | store | peak memory | gap to optimum | printed / `--all` |
|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(service_rows)}

{target} Where the solve's time goes: order lines alike (same place, item, priority and cost from
every source) are one node of the network, shared back out after the solve; one OR-Tools solve of the full network (the 20 nearest
sources of each order plus the long arcs priced in by a coarse problem's potentials; a second
only when the bound does not yet prove 0.1 %), the coarse problem (the orders grouped per 0.4°
cell, item and priority: about 2,000 instead of 10,000, solved once), every pair's cost once
(three outer products for the distances, the days tabled per quantity), the potentials
(Bellman-Ford in arrays) and the pricing. Why one solve is not 0.25 s here: the same network with
capacity to spare solves in about half the time; short of capacity (113,000 visors left
unmet), the solver works about twice as long.

**The solvers alone**, on the problem the service read (network build + solve). Cost = distance
(km per unit) + 100 × priority × days late per unit + priority × 40,039 per unit left unmet (more
than any real choice); *service cost* leaves the unmet penalty out (same unmet ⇒ comparable).

| solver | wall time | CPU time | peak memory | cost | gap to optimum | unmet | service cost | service gap |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Solver chosen: OR-Tools min-cost flow (HiGHS solves the same 20-nearest network as an LP, far
slower). Restricted to the 20 nearest sources alone, orders in regions short of capacity cannot
reach idle ones (the clustered demand of spring 2020), hence the priced arcs: the first prices
come from the coarse problem, so the full network is solved once rather than twice; the costs of
all pairs are computed once and priced in arrays, and the plan stops as soon as the potentials'
lower bound proves the cost within 0.1 % of the optimum.
"""
    write_section(
        "plan", "Plan: allocation of 10,000 orders to 1,000 fablabs and makers", body, load=load
    )


if __name__ == "__main__":
    main()
