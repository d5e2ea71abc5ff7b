"""Idle gap benchmark: from "bed cleared" to the next print confirmed started.

``python -m bench.farm_idle_gap [--real 3] [--simulated 20] [--prints 6] [--no-write]``

For each target (real OctoPrint 1.11.8 servers with the Virtual Printer, then the farm simulator) and
each case (the design's file already on the printer / a new file to upload for every job), a queue of
short dwell prints runs on printers that are *not* auto-cleared. A simulated operator clears each
bed 0.1–0.3 s after its print is recorded (``print_farm.registry.clear_bed``, as ``fabcoord farm
clear`` does). Gap = the job's ``started_at`` (set once the printer *confirmed* it is printing) minus
the bed's ``cleared_at``. Two dispatchers run the same workload in turn:

- fabcoord's :class:`print_farm.dispatcher.Dispatcher` with its defaults (push events, 0.25 s pass,
  0.25 s stagger, REST safety poll every 30 s while push is live);
- a naive loop that visits the printers in turn, one request at a time (``GET /api/job``, then
  upload/select/start when the printer is idle and its bed clear), sleeping 1 s after each round,
  using the same claim and accounting functions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine  # noqa: E402
from sqlmodel import col, select  # noqa: E402

import print_farm  # noqa: E402
from bench.report import percentile, write_section  # noqa: E402
from fabcoord.bootstrap import initialise_database  # noqa: E402
from fabcoord.config import Settings  # noqa: E402
from fabcoord.db import make_engine, unit_of_work  # noqa: E402
from print_farm import accounting, claims, dispatch_db, planning, registry  # noqa: E402
from print_farm.dispatcher import Dispatcher, DispatcherConfig  # noqa: E402
from print_farm.models import FarmPrinter, JobState, PrintJob  # noqa: E402
from print_farm.octoprint import OctoPrintClient  # noqa: E402
from tests.print_farm import farm_factories as ff  # noqa: E402
from tests.print_farm.octoprint_servers import dwell_gcode, start_servers, stop_servers  # noqa: E402
from tests.print_farm.simulator_process import SimulatorProcess  # noqa: E402


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    api_key: str


def _aware(moment: datetime | None) -> datetime:
    value = claims.aware(moment)
    assert value is not None
    return value


def set_up(engine: Engine, targets: list[Target], prints: int, upload: bool, print_ms: int) -> None:
    farm = ff.make_fablab(engine, "Bench Lab")
    ff.stock_filament(engine, farm, lot="BENCH", grams=10_000_000)
    for index, target in enumerate(targets):
        key_env = f"FABCOORD_BENCH_KEY_{index}"
        os.environ[key_env] = target.api_key
        with unit_of_work(engine) as session:
            registry.add_printer(
                session=session,
                spec=registry.PrinterSpec(
                    name=target.name, fablab=farm.fablab, url=target.url, api_key_env=key_env
                ),
            )
        ff.load(engine, target.name, lot="BENCH", grams=100_000)
    run_id = uuid.uuid4().hex
    if upload:  # every job its own file: each start uploads
        for n in range(len(targets) * prints):
            gcode = dwell_gcode(print_ms) + f"; {run_id} job {n}\n".encode()
            ff.enqueue(engine, ff.add_design(engine, name=f"d{n}", gcode=gcode, grams=1), 2)
    else:
        gcode = dwell_gcode(print_ms) + f"; {run_id}\n".encode()
        design = ff.add_design(engine, name="d", gcode=gcode, grams=1)
        ff.enqueue(engine, design, 2 * len(targets) * prints)


async def preload(engine: Engine, targets: list[Target]) -> None:
    """Put the single design's file on every printer (the "already on the printer" case)."""
    with unit_of_work(engine, read_only=True) as session:
        job = session.exec(select(PrintJob)).first()
        assert job is not None and job.id is not None
        name, content = dispatch_db.job_file(session=session, job_id=job.id)
    for target in targets:
        async with OctoPrintClient(target.url, target.api_key) as client:
            await client.upload(name, content)


async def operator(engine: Engine, clears: list[tuple[int, datetime]], stop: asyncio.Event) -> None:
    """Clear each bed 0.1-0.3 s after its print is recorded."""
    pending: set[int] = set()
    tasks: set[asyncio.Task[None]] = set()

    async def clear_later(printer_id: int, name: str) -> None:
        await asyncio.sleep(random.uniform(0.1, 0.3))
        with unit_of_work(engine) as session:
            printer = registry.clear_bed(session=session, name=name)
        clears.append((printer_id, _aware(printer.cleared_at)))
        pending.discard(printer_id)

    while not stop.is_set():
        with unit_of_work(engine, read_only=True) as session:
            dirty = session.exec(
                select(FarmPrinter.id, FarmPrinter.name).where(
                    col(FarmPrinter.bed_clear).is_(False), col(FarmPrinter.current_job_id).is_(None)
                )
            ).all()
        for printer_id, name in dirty:
            if printer_id is not None and printer_id not in pending:
                pending.add(printer_id)
                task = asyncio.create_task(clear_later(printer_id, name))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        await asyncio.sleep(0.02)


async def naive(engine: Engine, targets: list[Target], stop: asyncio.Event) -> None:
    """The baseline: one printer at a time, one request at a time, a 1 s sleep per round."""
    clients = {t.name: OctoPrintClient(t.url, t.api_key) for t in targets}
    owner = "naive"
    try:
        while not stop.is_set():
            with unit_of_work(engine) as session:
                claims.acquire_leases(session=session, owner=owner, lease_s=60)
            for target in targets:
                await _naive_visit(engine, clients[target.name], target.name, owner)
            await asyncio.sleep(1.0)
    finally:
        for client in clients.values():
            await client.aclose()


async def _naive_visit(engine: Engine, client: OctoPrintClient, name: str, owner: str) -> None:
    status = await client.job()
    with unit_of_work(engine, read_only=True) as session:
        printer = registry.get_printer(session=session, name=name)
        active = dispatch_db.active_jobs(session=session, printer_ids=[printer.id or 0])
    if active:
        job = active[0]
        done = status.state == "Operational" and status.completion == 100.0
        if done and status.file_name == job.file_name:
            with unit_of_work(engine) as session:
                accounting.record_done(
                    session=session, job_id=job.id, attempt=job.attempt, actor=owner
                )
        return
    if status.state != "Operational" or not printer.bed_clear:
        return
    with unit_of_work(engine) as session:
        jobs = dispatch_db.queued_jobs(session=session, limit=50)
        grams = dispatch_db.lot_balances(session=session, printers=[printer])
        slot = dispatch_db.printer_slot(
            printer, grams_left=grams.get(printer.id or 0, 0), reachable=True, idle=True
        )
        plan = planning.plan_dispatch(jobs, [slot])
        claimed = (
            claims.claim_job(
                session=session, job_id=plan[0].job_id, printer_id=slot.id, owner=owner
            )
            if plan
            else None
        )
    if claimed is None or claimed.id is None:
        return
    with unit_of_work(engine, read_only=True) as session:
        file_name, content = dispatch_db.job_file(session=session, job_id=claimed.id)
    if file_name not in await client.list_files():
        await client.upload(file_name, content)
    await client.select(file_name)
    with unit_of_work(engine) as session:
        claims.mark_start_sent(
            session=session, job_id=claimed.id, attempt=claimed.attempts, owner=owner
        )
    await client.start()
    with unit_of_work(engine) as session:
        claims.mark_printing(session=session, job_id=claimed.id, attempt=claimed.attempts)


async def workload(
    engine: Engine, run: Callable[[asyncio.Event], Coroutine[Any, Any, None]], timeout: float
) -> list[float]:
    clears: list[tuple[int, datetime]] = []
    stop = asyncio.Event()
    tasks = [asyncio.create_task(run(stop)), asyncio.create_task(operator(engine, clears, stop))]
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with unit_of_work(engine, read_only=True) as session:
                left = session.exec(
                    select(PrintJob.id).where(PrintJob.status != JobState.DONE)
                ).first()
            if left is None:
                break
            await asyncio.sleep(0.2)
        else:
            print("  (timed out)", flush=True)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    with unit_of_work(engine, read_only=True) as session:
        starts = [
            (job.printer_id, _aware(job.started_at))
            for job in session.exec(select(PrintJob).where(col(PrintJob.started_at).is_not(None)))
        ]
    gaps = []
    for printer_id, cleared in clears:
        later = [s for p, s in starts if p == printer_id and s >= cleared]
        if later:
            gaps.append((min(later) - cleared).total_seconds())
    return gaps


def measure(
    targets: list[Target],
    prints: int,
    upload: bool,
    dispatcher: str,
    print_ms: int,
    workdir: Path,
) -> list[float]:
    path = workdir / f"idle-{uuid.uuid4().hex[:8]}.db"
    engine = make_engine(Settings(database_url=f"sqlite:///{path}"))
    initialise_database(engine, [print_farm.MIGRATIONS])
    set_up(engine, targets, prints, upload, print_ms)

    async def go() -> list[float]:
        if not upload:
            await preload(engine, targets)
        if dispatcher == "fabcoord":
            worker = Dispatcher(engine, DispatcherConfig(owner="bench", actor="bench"))
            return await workload(
                engine, lambda stop: worker.run(stop=stop), 60 + prints * (print_ms / 1000 + 4)
            )
        return await workload(
            engine, lambda stop: naive(engine, targets, stop), 60 + prints * (print_ms / 1000 + 4)
        )

    try:
        return asyncio.run(go())
    finally:
        engine.dispose()


def row(target: str, case: str, dispatcher: str, gaps: list[float]) -> str:
    if not gaps:
        return f"| {target} | {case} | {dispatcher} | - | - | - | 0 |"
    return (
        f"| {target} | {case} | {dispatcher} | {percentile(gaps, 0.5):.2f} s | "
        f"{percentile(gaps, 0.95):.2f} s | {max(gaps):.2f} s | {len(gaps)} |"
    )


HEADER = (
    "| printers | file | dispatcher | idle gap p50 | p95 | max | gaps measured |\n"
    "|---|---|---|---|---|---|---|"
)


def run_all(
    targets: list[Target], label: str, prints: int, print_ms: int, workdir: Path
) -> list[str]:
    rows = []
    for upload in (False, True):
        case = "uploaded for each job" if upload else "already on the printer"
        for dispatcher in ("fabcoord", "naive loop"):
            gaps = measure(targets, prints, upload, dispatcher.split()[0], print_ms, workdir)
            rows.append(row(label, case, dispatcher, gaps))
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    load = os.getloadavg()[0]
    parser = argparse.ArgumentParser()
    parser.add_argument("--real", type=int, default=3)
    parser.add_argument("--simulated", type=int, default=20)
    parser.add_argument("--prints", type=int, default=6, help="prints per printer and case")
    parser.add_argument("--real-ms", type=int, default=2000, help="real print length, ms")
    parser.add_argument("--simulated-ms", type=int, default=10000, help="simulated print, ms")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rows: list[str] = []
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory(prefix="farm-idle-") as tmp:
        workdir = Path(tmp)
        if args.real:
            servers = start_servers(workdir, args.real)
            try:
                targets = [Target(f"octo-{i}", s.url, s.api_key) for i, s in enumerate(servers)]
                rows += run_all(
                    targets, f"{args.real} real OctoPrint", args.prints, args.real_ms, workdir
                )
            finally:
                stop_servers(servers)
        if args.simulated:
            simulator = SimulatorProcess(printers=args.simulated)
            simulator.start("--current-interval", "0.5")
            try:
                targets = [
                    Target(f"sim-{n}", simulator.url(n), simulator.api_key)
                    for n in range(args.simulated)
                ]
                rows += run_all(
                    targets, f"{args.simulated} simulated", args.prints, args.simulated_ms, workdir
                )
            finally:
                simulator.stop()
    table = "\n".join([HEADER, *rows])
    if not args.no_write:
        notes = NOTES.format(prints=args.prints, real_ms=args.real_ms, sim_ms=args.simulated_ms)
        write_section(
            "farm-idle",
            "Print farm: idle gap from bed cleared to next print",
            f"{table}\n\n{notes}",
            load=load,
        )


NOTES = """\
Each case: {prints} prints per printer of a dwell G-code ({real_ms} ms on real OctoPrint, {sim_ms} ms on the
simulator: long enough for the 0.25 s stagger between starts), a fresh SQLite database, printers
not auto-cleared; a simulated operator clears each bed 0.1–0.3 s after the print is recorded. Gap =
the job's `started_at` (written when the printer *confirmed* it is printing: the print actually started
earlier) minus the bed's `cleared_at`. "Uploaded for each job": every job is a different design, so
each start uploads its G-code first. The naive loop visits printers in turn with one request at a
time and sleeps 1 s per round; it shares fabcoord's claim and accounting functions.
"""

if __name__ == "__main__":
    main()
