"""The print farm's commands: ``printers``, ``designs`` and ``farm`` (the queue and the dispatcher).

Mounted by ``cli.py`` with ``app.add_typer(print_farm.commands.app)``. Services are imported inside
each command; the dispatcher and its event loop only by ``farm run``.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fabcoord.commands import face
from fabcoord.commands.face import MAX_ID, JsonOption
from fabcoord.errors import InvalidInput

if TYPE_CHECKING:
    from rich.table import Table
    from sqlalchemy import Engine
    from sqlmodel import Session

    from print_farm.dispatcher import Dispatcher, DispatcherConfig
    from print_farm.registry import PrinterPublic

app = typer.Typer()
printers_app = typer.Typer(help="OctoPrint printers of the farm.", no_args_is_help=True)
designs_app = typer.Typer(help="Printable designs and their G-code.", no_args_is_help=True)
farm_app = typer.Typer(help="The print queue and the dispatcher.", no_args_is_help=True)
app.add_typer(printers_app, name="printers")
app.add_typer(designs_app, name="designs")
app.add_typer(farm_app, name="farm")
PrinterArg = Annotated[str, typer.Argument(metavar="PRINTER", help="Printer name.")]
JobArg = Annotated[int, typer.Argument(metavar="JOB", min=1, max=MAX_ID)]
DEFAULT_MAX_ATTEMPTS = 5  # print_farm.attempts.DEFAULT_MAX_ATTEMPTS, without importing the models


def _printer_rows(session: Session, printers: Sequence[Any]) -> list[PrinterPublic]:
    from print_farm import spools

    return [spools.describe(session=session, printer=p) for p in printers]


def _parse_bed(text: str) -> tuple[int, int]:
    width, _, depth = text.lower().partition("x")
    try:
        return int(width), int(depth)
    except ValueError:
        raise InvalidInput(f"--bed {text!r} must be WIDTHxDEPTH in mm, e.g. 220x220") from None


# --- printers ------------------------------------------------------------------------------


@printers_app.command("add")
def printers_add(
    name: str,
    fablab: Annotated[str, typer.Option("--fablab", help="Fablab the printer belongs to.")],
    url: Annotated[str, typer.Option("--url", help="OctoPrint URL, e.g. http://10.0.0.7:5000.")],
    api_key_env: Annotated[
        str, typer.Option("--api-key-env", help="Environment variable holding the API key.")
    ] = "",
    api_key_file: Annotated[
        str, typer.Option("--api-key-file", help="File holding the API key.")
    ] = "",
    nozzle: Annotated[float, typer.Option("--nozzle", help="Nozzle diameter, mm.")] = 0.4,
    bed: Annotated[str, typer.Option("--bed", help="Bed size WIDTHxDEPTH, mm.")] = "220x220",
    auto_clear: Annotated[
        bool, typer.Option("--auto-clear", help="The printer clears its own bed (belt, ejector).")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Check URL and key with OctoPrint first.")
    ] = True,
) -> None:
    """Register an OctoPrint printer; the API key is read from VAR or a file, never stored."""
    import asyncio

    from print_farm import probe, registry

    width, depth = _parse_bed(bed)
    spec = registry.PrinterSpec(
        name=name,
        fablab=fablab,
        url=url,
        api_key_env=api_key_env,
        api_key_file=api_key_file,
        nozzle_mm=nozzle,
        bed_x_mm=width,
        bed_y_mm=depth,
        auto_clear=auto_clear,
    )
    spec = registry.checked_spec(spec)
    with face.work(read_only=True) as session:  # refuse bad input before the network check
        registry.check_can_add(session=session, spec=spec)
    version = "not checked"
    if check:  # outside any transaction: no database lock is held during the network round trip
        key = registry.spec_api_key(spec)
        version = "OctoPrint " + asyncio.run(probe.probe(spec.url, key))
    with face.work() as session:
        printer = registry.add_printer(session=session, spec=spec)
    face.say(
        f"printer {printer.name} added at {printer.url} ({version}), ledger location "
        f"{registry.location_code(printer.name)}"
    )


@printers_app.command("list")
def printers_list(
    fablab: Annotated[str | None, typer.Option("--fablab")] = None, as_json: JsonOption = False
) -> None:
    """List printers (the API key's source is shown, never the key)."""
    from print_farm import registry

    with face.work(read_only=True) as session:
        rows = _printer_rows(session, registry.list_printers(session=session, fablab=fablab))
    face.listing(
        "printers",
        ["name", "fablab", "url", "key from", "nozzle", "bed", "enabled", "auto clear"],
        rows,
        lambda r: [
            r.name,
            r.fablab,
            r.url,
            r.api_key_source,
            r.nozzle_mm,
            r.bed_mm,
            "yes" if r.enabled else f"no {r.maintenance}".strip(),
            r.auto_clear,
        ],
        as_json=as_json,
    )


def _time_left(seconds: int | None) -> str:
    return "" if seconds is None else f"{seconds // 60}:{seconds % 60:02d}"


def _status_cells(r: PrinterPublic) -> list[Any]:
    return [
        r.name,
        r.state if r.reachable or r.state == "unknown" else f"{r.state} (unreachable)",
        r.job_id or "",
        "" if r.completion is None else f"{r.completion:.0f}%",
        _time_left(r.time_left_s),
        "clear" if r.bed_clear else "to clear",
        f"{r.material} {r.lot} {r.grams_left} g" if r.material else "-",
        r.notice,
    ]


STATUS_COLUMNS = ["printer", "state", "job", "progress", "left", "bed", "spool", "to do"]


@printers_app.command("status")
def printers_status(
    name: Annotated[str | None, typer.Argument(metavar="[PRINTER]")] = None,
    as_json: JsonOption = False,
) -> None:
    """State, job, progress, bed and spool of each printer, as the dispatchers last saw them."""
    from print_farm import registry

    with face.work(read_only=True) as session:
        printers = (
            [registry.get_printer(session=session, name=name)]
            if name
            else registry.list_printers(session=session)
        )
        rows = _printer_rows(session, printers)
    face.listing("printers", STATUS_COLUMNS, rows, _status_cells, as_json=as_json)


@printers_app.command("remove")
def printers_remove(name: PrinterArg) -> None:
    """Take a printer out of the farm (its ledger history stays)."""
    from print_farm import registry

    with face.work() as session:
        printer = registry.remove_printer(session=session, name=name)
    face.say(f"printer {printer.name} removed")


@printers_app.command("load")
def printers_load(
    name: PrinterArg,
    material: Annotated[str, typer.Option("--material", help="Filament item: petg, pla…")],
    lot: Annotated[str, typer.Option("--lot", help="Lot of the spool.")],
    grams: Annotated[
        int | None, typer.Option("--grams", help="Grams on the spool (default: all of the lot).")
    ] = None,
) -> None:
    """Load a spool: its grams move from the fablab's stock to the printer in the ledger."""
    from print_farm import spools

    with face.work() as session:
        printer, loaded = spools.load_spool(
            session=session,
            name=name,
            material=material,
            lot=lot,
            grams=grams,
            actor=face.context().actor,
        )
    face.say(
        f"printer {printer.name}: {loaded} g of {printer.loaded_material} lot "
        f"{printer.loaded_lot} loaded"
    )


@printers_app.command("unload")
def printers_unload(name: PrinterArg) -> None:
    """Take the spool off: what is left goes back to the fablab's stock."""
    from print_farm import spools

    with face.work() as session:
        printer, left = spools.unload_spool(session=session, name=name, actor=face.context().actor)
    face.say(f"printer {printer.name}: spool unloaded, {left} g back in stock")


@printers_app.command("enable")
def printers_enable(name: PrinterArg) -> None:
    """Let the dispatcher use the printer again."""
    from print_farm import registry

    with face.work() as session:
        printer = registry.set_enabled(session=session, name=name, enabled=True)
    face.say(f"printer {printer.name} enabled")


@printers_app.command("disable")
def printers_disable(
    name: PrinterArg,
    maintenance: Annotated[str, typer.Option("--maintenance", help="Why, for the others.")] = "",
) -> None:
    """Keep the dispatcher from starting prints on the printer (maintenance)."""
    from print_farm import registry

    with face.work() as session:
        printer = registry.set_enabled(
            session=session, name=name, enabled=False, maintenance=maintenance
        )
    face.say(f"printer {printer.name} disabled")


# --- designs -------------------------------------------------------------------------------


@designs_app.command("add")
def designs_add(
    name: str,
    gcode: Annotated[Path, typer.Option("--gcode", help="G-code file.")],
    units_per_print: Annotated[
        int, typer.Option("--units-per-print", help="Frames one print gives.")
    ],
    material: Annotated[str, typer.Option("--material", help="Filament item: petg, pla…")],
    grams: Annotated[int, typer.Option("--grams", help="Filament one print uses, g.")],
    minutes: Annotated[int, typer.Option("--minutes", help="Print time, minutes.")],
) -> None:
    """Register a design; its G-code is stored once, by content hash."""
    from print_farm import designs

    try:
        content = gcode.read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read --gcode {gcode}: {error.strerror or error}") from None
    with face.work() as session:
        design = designs.add_design(
            session=session,
            name=name,
            gcode=content,
            units_per_print=units_per_print,
            material=material,
            grams=grams,
            minutes=minutes,
        )
    face.say(
        f"design {design.name} added: {design.units_per_print} frames per print, "
        f"{design.grams} g {design.material}, file {design.file_name}"
    )


@designs_app.command("list")
def designs_list(as_json: JsonOption = False) -> None:
    """List designs."""
    from print_farm import designs

    with face.work(read_only=True) as session:
        rows = designs.list_designs(session=session)
    face.listing(
        "designs",
        ["name", "frames/print", "material", "g", "min", "file"],
        rows,
        lambda d: [d.name, d.units_per_print, d.material, d.grams, d.minutes, d.file_name],
        as_json=as_json,
    )


# --- the queue and the dispatcher ----------------------------------------------------------


@farm_app.command("enqueue")
def farm_enqueue(
    design: str,
    count: Annotated[int, typer.Option("--count", help="Number of frames wanted.")],
    order: Annotated[str, typer.Option("--order", help="Order reference.")] = "",
    fablab: Annotated[
        str | None, typer.Option("--fablab", help="Only printers of this fablab.")
    ] = None,
    priority: Annotated[int, typer.Option("--priority", help="Higher goes first.")] = 0,
    needed_by: Annotated[
        str | None, typer.Option("--needed-by", help="ISO date; earlier goes first.")
    ] = None,
) -> None:
    """Queue prints for COUNT frames (ceil(COUNT / frames per print) jobs)."""
    from print_farm import queue

    moment = face.parse_time(needed_by, "--needed-by")
    with face.work() as session:
        report = queue.enqueue(
            session=session,
            design=design,
            count=count,
            order_ref=order,
            fablab=fablab,
            priority=priority,
            needed_by=moment,
        )
    ids = report.job_ids
    span = f"{ids[0]}" if len(ids) == 1 else f"{ids[0]}-{ids[-1]}"
    face.say(
        f"{len(ids)} print job(s) {span} queued for {report.frames_asked} frames of "
        f"{report.design} ({report.frames_planned} frames planned)"
    )


QUEUE_COLUMNS = [
    "#",
    "design",
    "frames",
    "status",
    "prio",
    "needed by",
    "order",
    "fablab",
    "printer",
    "attempts",
    "note",
]


@farm_app.command("queue")
def farm_queue(
    show_all: Annotated[bool, typer.Option("--all", help="Include done and cancelled.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Jobs in dispatch order."""
    from print_farm import queue

    with face.work(read_only=True) as session:
        rows = queue.list_jobs(session=session, include_finished=show_all)
    face.listing(
        "print queue",
        QUEUE_COLUMNS,
        rows,
        lambda j: [
            j.id,
            j.design,
            j.frames,
            j.status + (" (cancel asked)" if j.cancel_requested else ""),
            j.priority,
            f"{j.needed_by:%Y-%m-%d}" if j.needed_by else "",
            j.order_ref,
            j.fablab,
            j.printer,
            j.attempts,
            j.last_error,
        ],
        as_json=as_json,
    )


@farm_app.command("cancel")
def farm_cancel(job: JobArg) -> None:
    """Cancel a job (a print under way is cancelled on its printer by the dispatcher)."""
    from print_farm import queue

    with face.work() as session:
        row = queue.cancel_job(session=session, job_id=job)
    if row.status.value == "cancelled":
        face.say(f"job {job} cancelled")
    else:
        face.say(f"job {job} is {row.status.value}: the dispatcher will cancel the print")


@farm_app.command("retry")
def farm_retry(job: JobArg) -> None:
    """Put a held job (one that used up its attempts) back in the queue."""
    from print_farm import queue

    with face.work() as session:
        row = queue.retry_job(session=session, job_id=job)
        last = row.last_error
    face.say(f"job {job} back in the queue" + (f" (last error: {last})" if last else ""))


@farm_app.command("clear")
def farm_clear(name: PrinterArg) -> None:
    """Confirm that the parts were removed: the printer may take the next job."""
    from print_farm import registry

    with face.work() as session:
        printer = registry.clear_bed(session=session, name=name)
    face.say(f"printer {printer.name}: bed clear, ready for the next job")


@farm_app.command("run")
def farm_run(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    owner: Annotated[
        str | None, typer.Option("--owner", help="Dispatcher id in leases (default host:pid).")
    ] = None,
    lease: Annotated[float, typer.Option("--lease", help="Lease length, s.", min=1)] = 15.0,
    poll: Annotated[
        float,
        typer.Option("--poll", help="REST poll period of a printer without live push, s.", min=0.2),
    ] = 5.0,
    reconcile: Annotated[
        float,
        typer.Option(
            "--reconcile", help="REST poll period of a printer with live push, s.", min=0.2
        ),
    ] = 30.0,
    tick: Annotated[
        float,
        typer.Option(
            "--tick",
            help="How often, s, free printers are looked at for an operator's change between "
            "passes (events wake a pass at once; one runs at least every second).",
            min=0.05,
        ),
    ] = 0.25,
    stagger: Annotated[
        float, typer.Option("--stagger", help="Seconds between two starts.", min=0)
    ] = 0.25,
    confirm: Annotated[
        float, typer.Option("--confirm", help="Seconds for a start to show.", min=0.5)
    ] = 6.0,
    push: Annotated[bool, typer.Option("--push/--no-push", help="Follow push events.")] = True,
    max_printers: Annotated[
        int | None, typer.Option("--max-printers", help="Drive at most N printers.", min=1)
    ] = None,
    max_attempts: Annotated[
        int,
        typer.Option("--max-attempts", help="Hold a job after N failed starts/prints.", min=1),
    ] = DEFAULT_MAX_ATTEMPTS,
    live: Annotated[
        bool | None, typer.Option("--live/--no-live", help="Live view (default: on a terminal).")
    ] = None,
) -> None:
    """Dispatch queued jobs to idle printers and record every print's end in the ledger."""
    import asyncio
    import logging

    from print_farm import dispatcher

    context = face.context()
    face.require_schema()
    logging.basicConfig(level=context.settings.log_level, stream=sys.stderr)
    config = dispatcher.DispatcherConfig(
        max_attempts=max_attempts,
        owner=owner or f"{socket.gethostname()}:{os.getpid()}",
        actor=context.actor,
        lease_s=lease,
        poll_s=poll,
        reconcile_s=reconcile,
        tick_s=tick,
        stagger_s=stagger,
        confirm_s=confirm,
        push=push and not once,
        max_printers=max_printers,
    )
    show_live = (live if live is not None else sys.stdout.isatty()) and not once
    engine = context.engine
    with asyncio.Runner(loop_factory=dispatcher.new_event_loop) as runner:
        stats = runner.run(_dispatch(engine, config, once=once, live=show_live))
    face.say(
        f"dispatcher {config.owner}: {stats.get('started', 0)} started, "
        f"{stats.get('done', 0)} done, {stats.get('failed', 0)} failed, "
        f"{stats.get('not_started', 0)} did not start"
    )


async def _dispatch(
    engine: Engine, config: DispatcherConfig, *, once: bool, live: bool
) -> dict[str, int]:
    import asyncio

    from rich.live import Live

    from print_farm import dispatcher

    worker = dispatcher.Dispatcher(engine, config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if not live:
        await worker.run(once=once, stop=stop)
        return dict(worker.stats)
    with Live(live_table(worker), console=face.out(), refresh_per_second=4) as view:
        await worker.run(stop=stop, on_pass=lambda: view.update(live_table(worker)))
    return dict(worker.stats)


def live_table(worker: Dispatcher) -> Table:
    """The dispatcher's live view: one row per printer it drives."""
    return face.build_table(
        f"fabcoord farm ({worker.config.owner})",
        ["printer", "state", "job", "progress", "left", "to do"],
        [
            [
                v.name,
                v.state if v.reachable else f"{v.state} (unreachable)",
                str(v.job_id or ""),
                "" if v.completion is None else f"{v.completion:.0f}%",
                _time_left(v.time_left_s),
                v.notice,
            ]
            for v in worker.views()
        ],
    )
