"""The planning commands: ``plan`` (compute, show, diff, accept, explain, hours) and ``makers``.

Mounted by ``cli.py`` with ``app.add_typer(planning.app)``. Services are imported inside each
command; output goes through :mod:`fabcoord.commands.face`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from fabcoord.commands import face
from fabcoord.commands.face import JsonOption

if TYPE_CHECKING:
    from fabcoord.config import Settings
    from fabcoord.planning.inputs import PlanSettings
    from fabcoord.planning.plans import PlanView

SHOWN = 30
"""Rows of each long table shown without ``--all``: the lines that need attention first."""

app = typer.Typer()
plan_app = typer.Typer(
    help="Allocate open orders to fablabs, makers and partners: forecasts, hand-off, accept.",
    invoke_without_command=True,
)
makers_app = typer.Typer(help="Makers printing at home for a fablab.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")
app.add_typer(makers_app, name="makers")
VersionArg = Annotated[int | None, typer.Argument(metavar="[VERSION]", help="Plan version.")]
AllOption = Annotated[
    bool,
    typer.Option("--all", help=f"Every order line, fablab and limit (else the first {SHOWN})."),
]


def _settings() -> Settings:
    return face.context().settings


# --- plan ------------------------------------------------------------------------------------


def _plan_settings(horizon: int, handoff_after: int, elastic_mm: int) -> PlanSettings:
    from fabcoord.errors import InvalidInput
    from fabcoord.planning.inputs import PlanSettings

    if not 1 <= horizon <= 365:
        raise InvalidInput(f"--horizon-days must be 1 to 365, got {horizon}")
    if not 0 <= handoff_after <= 365:
        raise InvalidInput(f"--handoff-after-days must be 0 to 365, got {handoff_after}")
    if not 1 <= elastic_mm <= 5000:
        raise InvalidInput(f"--elastic-mm must be 1 to 5000, got {elastic_mm}")
    return PlanSettings(
        horizon_days=horizon, handoff_after_days=handoff_after, elastic_mm_per_visor=elastic_mm
    )


@plan_app.callback()
def plan(
    ctx: typer.Context,
    horizon: Annotated[int, typer.Option("--horizon-days", help="Days planned ahead.")] = 14,
    handoff_after: Annotated[
        int,
        typer.Option("--handoff-after-days", help="Recommend a hand-off beyond this backlog."),
    ] = 7,
    elastic_mm: Annotated[
        int, typer.Option("--elastic-mm", help="Elastic a visor takes, mm (not sourced: set it).")
    ] = 300,
    as_json: JsonOption = False,
    show_all: AllOption = False,
) -> None:
    """Compute a new plan from the open orders, capacity and materials (a new version)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = _plan_settings(horizon, handoff_after, elastic_mm)
        return
    from fabcoord.planning import capacity, plans

    chosen = _plan_settings(horizon, handoff_after, elastic_mm)
    settings = _settings()
    with face.work() as session:
        view = plans.compute(
            session=session,
            settings=chosen,
            data_dir=settings.data_dir,
            providers=capacity.providers,
            actor=settings.actor,
        )
    _print_plan(view, as_json=as_json, show_all=show_all)


@plan_app.command("show")
def plan_show(
    version: VersionArg = None, as_json: JsonOption = False, show_all: AllOption = False
) -> None:
    """Show a plan (the latest by default)."""
    from fabcoord.planning import plans

    with face.work(read_only=True) as session:
        view = plans.show(session=session, version=version)
    _print_plan(view, as_json=as_json, show_all=show_all)


@plan_app.command("diff")
def plan_diff(version: VersionArg = None, as_json: JsonOption = False) -> None:
    """What a plan (the latest by default) changes against the last accepted plan."""
    from fabcoord.planning import plans

    with face.work(read_only=True) as session:
        changes = plans.diff(session=session, version=version)
    if as_json:
        face.print_json(changes)
        return
    for change in changes:
        face.say(change)


@plan_app.command("accept")
def plan_accept(ctx: typer.Context, version: VersionArg = None) -> None:
    """Accept a plan: orders are planned with their dates, fablabs' printers get their jobs."""
    from fabcoord.planning import capacity, plans

    settings = _settings()
    with face.work() as session:
        view = plans.accept(
            session=session,
            settings=ctx.obj,
            data_dir=settings.data_dir,
            providers=capacity.providers,
            actor=settings.actor,
            version=version,
        )
    jobs = view.result["jobs"]
    frames = sum(j["frames"] for j in jobs)
    face.say(
        f"plan {view.version} accepted: {len({j['reference'] for j in jobs})} order(s) sent to "
        f"printers for {frames} frames; orders planned with their expected delivery"
    )
    for row in view.result.get("partners", {}).values():
        orders = ",".join(dict.fromkeys(x["reference"] for x in row["lines"]))
        face.say(
            f"{row['name']}: {row['visors']} visors by {row['by']} for {orders} recorded as "
            "draft hand-off(s), not sent: check them with 'fabcoord handoff list --state draft' "
            "and send each with 'fabcoord handoff send ID'"
        )
    for sentence in view.said:
        face.say(sentence)


@plan_app.command("explain")
def plan_explain(
    reference: Annotated[str, typer.Argument(metavar="REF", help="Order reference (CMD-…).")],
    version: Annotated[int | None, typer.Option("--version", help="Plan version.")] = None,
) -> None:
    """Why an order went where it went and what limits it, in sentences."""
    from fabcoord.errors import NotFound
    from fabcoord.planning import plans
    from fabcoord.planning.explain import explain

    with face.work(read_only=True) as session:
        view = plans.show(session=session, version=version)
    sentences = explain(view, reference)
    if not sentences:
        raise NotFound(
            f"order {reference.strip()!r} is not in plan {view.version} (not open, or nothing "
            "left to make)"
        )
    for sentence in sentences:
        face.say(sentence)


@plan_app.command("hours")
def plan_hours(
    fablab: Annotated[str, typer.Argument(metavar="FABLAB")],
    hours: Annotated[float, typer.Option("--per-day", help="Printing hours a day (0-24).")],
) -> None:
    """Set a fablab's printing hours a day (10 h when never set)."""
    from fabcoord.planning import hours as fablab_hours

    with face.work() as session:
        fablab_hours.set_hours(session=session, fablab=fablab, hours_per_day=hours)
    face.say(f"{fablab}: {hours:g} h of printing a day")


def _attention(line: dict[str, Any]) -> tuple[bool, str, int, str, int]:
    """Lines left unmet or late first, then by needed-by date and priority (highest first)."""
    calm = not (line["unmet"] or line["late_days"])
    return (calm, line["needed_by"], -line["priority"], line["reference"], line["line"])


def _print_plan(view: PlanView, *, as_json: bool, show_all: bool = False) -> None:
    """The plan as tables; without ``show_all`` each long one is cut to :data:`SHOWN` rows, the
    ones needing attention first, saying how many more there are and where to find them."""
    result = view.result
    if as_json:
        face.print_json({"version": view.version, "accepted": view.accepted_at, **result})
        return
    state = "accepted" if view.accepted_at else "not accepted ('fabcoord plan accept')"
    face.say(
        f"plan {view.version} of {view.today} ({view.horizon_days} days, {view.solver}), {state}"
    )
    lines = result["lines"]
    late = sum(1 for line in lines if line["late_days"] and not line["unmet"])
    unmet = sum(1 for line in lines if line["unmet"])
    face.say(
        f"{len(lines)} order lines: {len(lines) - late - unmet} on time, {late} late, "
        f"{unmet} not met in full"
    )
    cut = not show_all and len(lines) > SHOWN
    rows = []
    for line in sorted(lines, key=_attention)[:SHOWN] if cut else lines:
        sources = ", ".join(
            f"{result['sites'].get(p['site'], {}).get('name', p['site'])} {p['quantity']}"
            for p in line["parts"]
        )
        rows.append(
            [
                f"{line['reference']}/{line['line']}",
                line["item"],
                line["quantity"],
                line["needed_by"],
                sources or "-",
                line["delivery"] or "-",
                line["late_days"] or "",
                line["unmet"] or "",
            ]
        )
    face.table(
        "allocation" + (f" (the {SHOWN} needing attention first)" if cut else ""),
        ["order line", "item", "qty", "needed by", "made by", "delivery", "late", "unmet"],
        rows,
    )
    if cut:
        face.say(
            f"... {len(lines) - SHOWN} more order lines: 'plan show --all', 'plan show --json' "
            "or 'plan explain REF'"
        )
    backlog = sorted(result["fablab_backlog_days"].items())
    if not show_all and len(backlog) > SHOWN:
        longest = sorted(backlog, key=lambda row: (-row[1], row[0]))[:SHOWN]
        face.table(f"backlog per fablab (the {SHOWN} longest)", ["fablab", "days"], longest)
        face.say(f"... {len(backlog) - SHOWN} more fablabs: 'plan show --all'")
    else:
        face.table("backlog per fablab", ["fablab", "days"], backlog)
    face.table(
        "demand met per region",
        ["region", "on"],
        [[r, d or "not at current capacity"] for r, d in result["region_met_on"].items()],
    )
    limits = [text for site in result["sites"].values() for text in site["binding"]]
    for text in limits if show_all else limits[:SHOWN]:
        face.say(f"limit: {text}")
    if not show_all and len(limits) > SHOWN:
        face.say(f"... {len(limits) - SHOWN} more limits: 'plan show --all'")
    for note in result.get("notes", []):
        face.say(f"note: {note}")
    for key, why in result.get("excluded", {}).items():
        face.say(f"not planned: {key}: {why}")
    partners = result.get("partners", {})
    if partners:
        face.table(
            "partner manufacturers",
            ["partner", "visors", "by", "order lines"],
            [
                [
                    row["name"],
                    row["visors"],
                    row["by"],
                    ", ".join(
                        f"{x['reference']}/{x['line']} {x['quantity']}" for x in row["lines"]
                    ),
                ]
                for row in partners.values()
            ],
        )
    handoff = result.get("handoff")
    if handoff and handoff["visors"] > 0:
        beyond = " beyond the partner allocations above" if partners else ""
        face.say(
            f"hand-off recommended: {handoff['visors']} visors to an industrial partner"
            f"{beyond} by {handoff['by']}, because:"
        )
        for why in handoff["why"]:
            face.say(f"  - {why}")
    elif handoff and handoff["why"]:
        face.say("hand-off recommended, because:")
        for why in handoff["why"]:
            face.say(f"  - {why}")
    elif partners:
        face.say("no hand-off recommended beyond the partner allocations above")
    else:
        face.say("no hand-off needed: every order is met in time within the horizon")
    if partners and not view.accepted_at:
        face.say(
            "accepting the plan records each partner allocation as a draft hand-off "
            "('fabcoord handoff send ID' sends it)"
        )


# --- makers ----------------------------------------------------------------------------------


@makers_app.command("add")
def makers_add(
    name: str,
    fablab: Annotated[str, typer.Option("--fablab", help="Fablab they deliver to.")],
    per_day: Annotated[int, typer.Option("--declared-per-day", help="Frames a day declared.")],
) -> None:
    """Register a maker who prints frames at home for a fablab."""
    from fabcoord import makers

    with face.work() as session:
        maker = makers.add_maker(
            session=session, name=name, fablab=fablab, declared_per_day=per_day
        )
    face.say(f"maker {maker.name} added to {maker.fablab}: {maker.declared_per_day} frames a day")


@makers_app.command("list")
def makers_list(
    fablab: Annotated[str | None, typer.Option("--fablab")] = None, as_json: JsonOption = False
) -> None:
    """Makers with what they delivered over the last 7 days and their reliability."""
    from fabcoord import makers

    with face.work(read_only=True) as session:
        rows = makers.list_makers(session=session, fablab=fablab)
    if as_json:
        face.print_json(rows)
        return
    face.table(
        "makers",
        ["name", "fablab", "declared/day", "delivered 7 d", "reliability", "counted/day"],
        [
            [
                m.name,
                m.fablab,
                m.declared_per_day,
                m.delivered_7d,
                "not measured yet" if m.reliability is None else f"{m.reliability:.0%}",
                m.effective_per_day,
            ]
            for m in rows
        ],
    )


@makers_app.command("deliver")
def makers_deliver(
    name: str,
    frames: Annotated[int, typer.Option("--frames", help="Frames brought to the fablab.")],
    order: Annotated[str, typer.Option("--order", help="Hospital order they serve (CMD-…).")] = "",
) -> None:
    """Post a maker's frames into their fablab's stock (for an order when given)."""
    from fabcoord import makers

    with face.work() as session:
        report = makers.deliver(
            session=session, name=name, frames=frames, actor=_settings().actor, reference=order
        )
    target = f" for order {report.reference}" if report.reference else ""
    face.say(f"{report.frames} frames from {report.maker} into fablab/{report.fablab}{target}")
