"""Plans as records: computed, stored with their inputs (a version each), shown, compared with the
last accepted one, and accepted once, only while their inputs still hold.

Accepting publishes ``order_planned`` for each order that got an allocation (its expected
delivery) and ``plan_accepted`` with the print jobs of fablabs that have printers (the print farm
queues them on that fablab's printers only) and the partner allocations (the hand-off records each
as a *draft* hand-off, never sent from here: ``fabcoord handoff send ID`` places it through the
outbox, once the coordinator has checked it).
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from fabcoord import events
from fabcoord.clock import utc_now
from fabcoord.errors import FabcoordError, NotFound
from fabcoord.planning import background, jsontext, solver
from fabcoord.planning.capacity import Providers
from fabcoord.planning.forecast import forecast
from fabcoord.planning.inputs import Inputs, PlanSettings, gather
from fabcoord.planning.models import Plan
from fabcoord.planning.problem import PARTNER, Problem, Solution

ACTOR = "planning"


class UnknownPlan(NotFound):
    """No plan has that version."""


class PlanNotAcceptable(FabcoordError):
    """The plan was accepted already, or what it was computed from has changed."""

    http_status = 409


@dataclass(frozen=True)
class PlanView:
    version: int
    created_at: datetime
    created_by: str
    today: date
    horizon_days: int
    solver: str
    cost: int
    accepted_at: datetime | None
    inputs: dict[str, Any]
    result: dict[str, Any]
    said: tuple[str, ...] = ()  # what the packages did on accepting it, for the coordinator


def compute(
    *,
    session: Session,
    settings: PlanSettings,
    data_dir: Path,
    providers: Providers,
    actor: str,
    today: date | None = None,
    now: datetime | None = None,
) -> PlanView:
    """Compute a plan from the current orders, capacity and materials, and store it."""
    # the worker forked first, before the plan reads anything (see background's docstring)
    with _without_cycle_collection(), background.worker() as worker:
        return _compute(
            worker=worker,
            session=session,
            settings=settings,
            data_dir=data_dir,
            providers=providers,
            actor=actor,
            today=today,
            now=now,
        )


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused while a plan is computed: the plan makes a few hundred
    thousand objects that live until it is stored (orders, flows, parts, the result's dicts), and
    each full collection walks them all (a tenth of the plan's CPU on the benchmark). What the
    plan frees, reference counting frees; any cycle it leaves is collected once it is resumed."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _compute(
    *,
    worker: background.Worker,
    session: Session,
    settings: PlanSettings,
    data_dir: Path,
    providers: Providers,
    actor: str,
    today: date | None,
    now: datetime | None,
) -> PlanView:
    now = now or utc_now()
    today = today or now.date()
    problem, inputs = gather(
        session=session,
        settings=settings,
        data_dir=data_dir,
        providers=providers,
        today=today,
        now=now,
    )
    problem, solution = _solve_with_minimums(problem, inputs, worker)
    worker.release()  # it leaves while the plan is forecast and stored
    outlook, parts = forecast(
        problem, solution, handoff_after_days=settings.handoff_after_days, excluded=inputs.excluded
    )
    sites = {
        s.key: {
            "name": s.name,
            "fablab": s.fablab,
            "printers": s.printers,
            "frames_per_day": s.frames_per_day,
            "frames_limit": s.frames_limit,
            "notes": list(s.notes),
            "binding": list(s.binding),
        }
        for s in problem.sites
    }
    for a in problem.assemblies:
        if a.kind == PARTNER:
            sites[a.key] = {
                "name": a.name,
                "kind": PARTNER,
                "fablab": "",
                "printers": False,
                "visors_per_day": a.rate,
                "start_day": a.start_day,
                "unit_cost": a.unit_cost,
                "frames_per_day": 0,
                "frames_limit": a.visors_limit,
                "notes": list(a.notes),
                "binding": [],
            }
            continue
        sites[a.key] = {
            "name": a.name,
            "fablab": a.fablab,
            "printers": False,
            "frames_per_day": 0,
            "frames_limit": a.visors_limit,
            "notes": [f"{a.on_hand} visors in stock"],
            "binding": list(a.binding),
        }
    jobs = [
        {
            "fablab": p.fablab,
            "item_code": problem.needs[p.need].item,
            "frames": p.quantity - p.from_stock,
            "reference": problem.needs[p.need].reference,
            "line": problem.needs[p.need].line,
        }
        for p in parts
        if p.site in sites and sites[p.site]["printers"] and p.quantity > p.from_stock
    ]
    result = {
        **outlook.as_dict(),
        "sites": sites,
        "jobs": jobs,
        "excluded": inputs.excluded,
        "notes": inputs.notes,
        "handoff_after_days": settings.handoff_after_days,
    }
    read = inputs.as_dict()
    stored = jsontext.dumps(read)
    plan = Plan(
        created_at=now,
        created_by=actor,
        today=today,
        horizon_days=settings.horizon_days,
        solver=solution.solver,
        cost=solution.cost,
        fingerprint=hashlib.sha256(stored).hexdigest(),  # of the inputs' text, as stored
        inputs=stored.decode(),
        result=jsontext.dumps(result).decode(),
    )
    session.add(plan)
    session.flush()
    return _view(plan, inputs=read, result=result)  # as stored: plain JSON values


def _solve_with_minimums(
    problem: Problem, inputs: Inputs, worker: background.Worker
) -> tuple[Problem, Solution]:
    """Solve; a partner given less than its minimum order is left out and the rest solved again
    (a min-cost flow cannot say "all or nothing"), until every partner used gets its minimum."""
    while True:
        solution = solver.solve(problem, worker=worker)
        minimums = {a.key: a.minimum for a in problem.assemblies if a.kind == PARTNER}
        given: dict[str, int] = {}
        if minimums:  # what each partner is given (most flows come from elsewhere)
            for flow in solution.flows:
                if flow.source in minimums:
                    given[flow.source] = given.get(flow.source, 0) + flow.quantity
        short = {
            key: given[key] for key, least in minimums.items() if 0 < given.get(key, 0) < least
        }
        if not short:
            return problem, solution
        for a in problem.assemblies:
            if a.key in short:
                inputs.notes.append(
                    f"{a.name} is left out of the plan: it would get {short[a.key]} visors, "
                    f"below its minimum order of {a.minimum}"
                )
        problem = replace(
            problem, assemblies=tuple(a for a in problem.assemblies if a.key not in short)
        )


def show(*, session: Session, version: int | None = None) -> PlanView:
    """A plan (the latest when no version is given)."""
    return _view(_get(session, version))


def last_accepted(*, session: Session, before: int | None = None) -> Plan | None:
    query = select(Plan).where(col(Plan.accepted_at).is_not(None))
    if before is not None:
        query = query.where(col(Plan.id) != before)
    return session.exec(query.order_by(col(Plan.accepted_at).desc(), col(Plan.id).desc())).first()


def diff(*, session: Session, version: int | None = None) -> list[str]:
    """What a plan changes against the last accepted plan, one sentence per change."""
    plan = _get(session, version)
    base = last_accepted(session=session, before=plan.id)
    if base is None:
        return [f"no plan was accepted before: plan {plan.id} is the first"]
    new, old = _allocations(json.loads(plan.result)), _allocations(json.loads(base.result))
    changes = []
    for key in sorted(set(new) | set(old)):
        before, after = old.get(key, {}), new.get(key, {})
        for site in sorted(set(before) | set(after)):
            if before.get(site, 0) != after.get(site, 0):
                changes.append(f"{key}: {site} {before.get(site, 0)} → {after.get(site, 0)}")
    new_dates, old_dates = _dates(json.loads(plan.result)), _dates(json.loads(base.result))
    for key in sorted(set(new_dates) & set(old_dates)):
        if new_dates[key] != old_dates[key]:
            changes.append(
                f"{key}: expected delivery {old_dates[key] or 'none'} → {new_dates[key] or 'none'}"
            )
    return changes or [f"plan {plan.id} allocates as plan {base.id} (accepted) did"]


def accept(
    *,
    session: Session,
    settings: PlanSettings,
    data_dir: Path,
    providers: Providers,
    actor: str,
    version: int | None = None,
    now: datetime | None = None,
) -> PlanView:
    """Accept a plan: orders get their dates, fablabs with printers get their jobs.

    Raises:
        UnknownPlan, PlanNotAcceptable (accepted already; orders or capacity changed since).
    """
    plan = session.exec(
        select(Plan).where(Plan.id == _get(session, version).id).with_for_update()
    ).one()
    if plan.accepted_at is not None:
        raise PlanNotAcceptable(
            f"plan {plan.id} was accepted already ({plan.accepted_at:%Y-%m-%d %H:%M} by "
            f"{plan.accepted_by})"
        )
    now = now or utc_now()
    _, current = gather(
        session=session,
        settings=PlanSettings(
            horizon_days=plan.horizon_days,
            handoff_after_days=settings.handoff_after_days,
            elastic_mm_per_visor=settings.elastic_mm_per_visor,
            weights=settings.weights,
        ),
        data_dir=data_dir,
        providers=providers,
        today=plan.today,
        now=now,
    )
    changed = changes_since(json.loads(plan.inputs), current.as_dict())
    if changed:
        shown = "; ".join(changed[:5]) + (
            f"; and {len(changed) - 5} more" if len(changed) > 5 else ""
        )
        raise PlanNotAcceptable(
            f"plan {plan.id} is out of date: {shown}. Run 'fabcoord plan' again"
        )
    result = json.loads(plan.result)
    for reference, (delivery, allocated) in sorted(_per_order(result).items()):
        events.publish(
            session=session,
            event=events.Event(
                "order_planned",
                actor,
                {
                    "reference": reference,
                    "expected_delivery": date.fromisoformat(delivery),
                    "allocated": allocated,
                    "reason": f"plan {plan.id}",
                },
            ),
        )
    said: list[str] = []
    events.publish(
        session=session,
        event=events.Event(
            "plan_accepted",
            actor,
            {
                "plan_id": plan.id,
                "jobs": result["jobs"],
                "partners": result.get("partners", {}),
                "said": said,
            },
        ),
    )
    plan.accepted_at, plan.accepted_by = now, actor
    session.add(plan)
    session.flush()
    return replace(_view(plan), said=tuple(said))


def changes_since(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between the inputs a plan read and the inputs now, in words."""
    changes: list[str] = []
    labels = {"needs": "order line", "sites": "capacity of", "assemblies": "assembly at"}
    for group, label in labels.items():
        old, new = before.get(group, {}), now.get(group, {})
        for key in sorted(set(old) | set(new)):
            if key not in new:
                changes.append(f"{label} {key} is gone")
            elif key not in old:
                changes.append(f"{label} {key} is new")
            else:
                for field, value in new[key].items():
                    if old[key].get(field) != value:
                        changes.append(f"{label} {key}: {field} {old[key].get(field)} → {value}")
    return changes


def _per_order(result: dict[str, Any]) -> dict[str, tuple[str, int]]:
    orders: dict[str, tuple[str, int]] = {}
    for line in result["lines"]:
        allocated = line["quantity"] - line["unmet"]
        if allocated <= 0 or not line["delivery"]:
            continue
        delivery, total = orders.get(line["reference"], ("", 0))
        orders[line["reference"]] = (max(delivery, line["delivery"]), total + allocated)
    return orders


def _allocations(result: dict[str, Any]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for line in result["lines"]:
        key = f"{line['reference']}/{line['line']}"
        row = table.setdefault(key, {})
        for part in line["parts"]:
            row[part["site"]] = row.get(part["site"], 0) + part["quantity"]
        if line["unmet"]:
            row["unmet"] = line["unmet"]
    return table


def _dates(result: dict[str, Any]) -> dict[str, str | None]:
    return {f"{line['reference']}/{line['line']}": line["delivery"] for line in result["lines"]}


def _get(session: Session, version: int | None) -> Plan:
    if version is None:
        plan = session.exec(select(Plan).order_by(col(Plan.id).desc())).first()
        if plan is None:
            raise UnknownPlan("no plan yet: run 'fabcoord plan'")
        return plan
    found = session.get(Plan, version)
    if found is None:
        raise UnknownPlan(f"unknown plan version {version} (see 'fabcoord plan show')")
    return found


def _view(
    plan: Plan, *, inputs: dict[str, Any] | None = None, result: dict[str, Any] | None = None
) -> PlanView:
    """The plan as shown; ``inputs``/``result``: already parsed (a plan just computed)."""
    assert plan.id is not None
    return PlanView(
        version=plan.id,
        created_at=plan.created_at,
        created_by=plan.created_by,
        today=plan.today,
        horizon_days=plan.horizon_days,
        solver=plan.solver,
        cost=plan.cost,
        accepted_at=plan.accepted_at,
        inputs=json.loads(plan.inputs) if inputs is None else inputs,
        result=json.loads(plan.result) if result is None else result,
    )


__all__ = ["Inputs", "PlanView", "accept", "compute", "diff", "show"]
