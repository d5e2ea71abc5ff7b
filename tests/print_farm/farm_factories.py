"""Helpers that build print-farm states for tests: a fablab with filament, designs, printers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine
from sqlmodel import select

from fabcoord import demand, fablabs
from fabcoord.config import PROJECT_DATA_DIR
from fabcoord.db import unit_of_work
from fabcoord.ledger import balances, catalogue
from fabcoord.records import Hospital, Region
from fabcoord.reference import load_reference_data
from print_farm import designs, queue, registry, spools
from print_farm.models import FarmPrinter, JobState, PrintJob
from tests.factories import receive, unique

GCODE = b"; test part\nG90\nM82\nG28\nG1 X10 Y10 Z0.3 F3000\nG4 P200\nM84\n"


@dataclass(frozen=True)
class Farm:
    fablab: str
    slug: str
    stock: str


def make_fablab(engine: Engine, name: str | None = None) -> Farm:
    name = name or unique("Lab")
    with unit_of_work(engine) as session:
        if session.exec(select(Region).where(Region.name == "Pays de la Loire")).first() is None:
            session.add(Region(name="Pays de la Loire"))
            session.flush()
        fablab = fablabs.add_fablab(
            session=session, name=name, city="Nantes", region="Pays de la Loire"
        )
    return Farm(fablab=fablab.name, slug=fablab.slug, stock=fablab.stock_location)


def stock_filament(engine: Engine, farm: Farm, *, lot: str, grams: int, item: str = "petg") -> None:
    receive(engine, item=item, qty=grams, to=farm.stock, lot=lot)


def add_design(
    engine: Engine,
    *,
    name: str | None = None,
    gcode: bytes = GCODE,
    units: int = 2,
    material: str = "petg",
    grams: int = 30,
) -> str:
    name = name or unique("visor")
    with unit_of_work(engine) as session:
        designs.add_design(
            session=session,
            name=name,
            gcode=gcode,
            units_per_print=units,
            material=material,
            grams=grams,
            minutes=60,
        )
    return name


def add_printer(
    engine: Engine,
    farm: Farm,
    *,
    name: str | None = None,
    url: str = "http://127.0.0.1:9",
    key_env: str = "FABCOORD_TEST_PRINTER_KEY",
    auto_clear: bool = False,
) -> str:
    name = name or unique("p")
    with unit_of_work(engine) as session:
        registry.add_printer(
            session=session,
            spec=registry.PrinterSpec(
                name=name, fablab=farm.fablab, url=url, api_key_env=key_env, auto_clear=auto_clear
            ),
        )
    return name


def load(engine: Engine, printer: str, *, lot: str, grams: int, material: str = "petg") -> None:
    with unit_of_work(engine) as session:
        spools.load_spool(
            session=session, name=printer, material=material, lot=lot, grams=grams, actor="tester"
        )


def enqueue(engine: Engine, design: str, frames: int, **options: object) -> list[int]:
    with unit_of_work(engine) as session:
        return queue.enqueue(session=session, design=design, count=frames, **options).job_ids  # type: ignore[arg-type]


def qty(engine: Engine, item: str, location: str, lot: str | None = None) -> int:
    with unit_of_work(engine, read_only=True) as session:
        return balances.quantity(
            session=session,
            item_id=catalogue.get_item(session=session, code=item).id or 0,
            location_id=catalogue.get_location(session=session, code=location).id or 0,
            lot=lot,
        )


def job(engine: Engine, job_id: int) -> PrintJob:
    with unit_of_work(engine, read_only=True) as session:
        row = session.get(PrintJob, job_id)
        assert row is not None
        return row


def jobs_by_status(engine: Engine) -> dict[JobState, int]:
    with unit_of_work(engine, read_only=True) as session:
        counts: dict[JobState, int] = {}
        for row in session.exec(select(PrintJob)):
            counts[row.status] = counts.get(row.status, 0) + 1
        return counts


def printer(engine: Engine, name: str) -> FarmPrinter:
    with unit_of_work(engine, read_only=True) as session:
        return registry.get_printer(session=session, name=name)


def open_order(
    engine: Engine,
    reference: str = "CMD-2026-000001",
    *,
    quantity: int = 100,
    item: str = "visor-frame",
    state: demand.DemandState = demand.DemandState.OPEN,
    hospital: str = "chu-de-nantes",
    needed_by: date = date(2026, 12, 20),
    priority: int = 1,
) -> str:
    """An order as the orders package would publish it to the core (one line)."""
    with unit_of_work(engine) as session:
        if session.exec(select(Hospital)).first() is None:
            load_reference_data(session=session, data_dir=PROJECT_DATA_DIR)
        row = session.exec(select(Hospital).where(Hospital.slug == hospital)).one()
        assert row.id is not None
        demand.publish(
            session=session,
            reference=reference,
            hospital_id=row.id,
            lines=[demand.LineSpec(1, item, quantity)],
            needed_by=needed_by,
            state=state,
            status="accepted" if state is demand.DemandState.OPEN else state.value,
            priority=priority,
            site=row.name,
        )
    return reference
