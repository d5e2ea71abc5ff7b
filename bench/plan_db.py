"""The plan benchmark's database: the seeded problem of ``bench/plan_bench.py`` as real records.

Fablabs (with printers, a frame design, PETG, PET sheets and elastic in stock), makers, hospitals
and the open order lines the orders package would publish to the core, in a SQLite file or a
PostgreSQL database made as ``fabcoord init`` makes it. Places are synthetic towns written to a
city table of their own (``cities.csv`` in a data folder the benchmark passes to the planner).
Fablabs, printers, designs, makers and stock go through the services; hospitals and the 10,000
order lines are inserted in bulk (one statement each), as setting up is not what is measured.
"""

from __future__ import annotations

import csv
import math
import random
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import select

from fabcoord import demand, fablabs, makers
from fabcoord.clock import utc_now
from fabcoord.config import Settings
from fabcoord.db import make_engine, unit_of_work
from fabcoord.ledger.models import MoveReason
from fabcoord.ledger.posting import PostingRequest, post_many, transfer
from fabcoord.records import Hospital, Region
from print_farm import designs, registry

REGION = "Bretagne"
GCODE = b"; bench visor\nG90\nM82\nG28\nG1 X10 Y10 Z0.3 F3000\nM84\n"
DESIGN_UNITS, DESIGN_MINUTES, DESIGN_GRAMS = 4, 95, 98  # 24.4 g a frame (data/visor_facts.md)
PER_PRINTER = 10 * 60 / DESIGN_MINUTES * DESIGN_UNITS  # frames a day at 10 h
ELASTIC_MM = 300


def _point(
    rng: random.Random, centres: list[tuple[float, float]], scale: float
) -> tuple[float, float]:
    lat, lon = rng.choice(centres)
    return lat + rng.gauss(0, scale), lon + rng.gauss(0, scale)


def seed(
    url: str,
    data_dir: Path,
    *,
    today: date,
    fablab_count: int,
    maker_count: int,
    order_count: int,
    hospital_count: int,
    seed_value: int = 2020,
) -> None:
    """Fill the (initialised) database at ``url`` and write ``data_dir/cities.csv``."""
    rng = random.Random(seed_value)
    centres = [(rng.uniform(43.0, 50.8), rng.uniform(-4.3, 7.6)) for _ in range(60)]
    cities: list[tuple[str, float, float]] = []
    engine = make_engine(Settings(database_url=url))
    try:
        with unit_of_work(engine) as session:
            if session.exec(select(Region).where(Region.name == REGION)).first() is None:
                session.add(Region(name=REGION))
                session.flush()
            designs.add_design(
                session=session,
                name="bench-visor",
                gcode=GCODE,
                units_per_print=DESIGN_UNITS,
                material="petg",
                grams=DESIGN_GRAMS,
                minutes=DESIGN_MINUTES,
            )
            stock: list[PostingRequest] = []
            for i in range(fablab_count):
                town = f"Bench-F{i:04d}"
                lat, lon = _point(rng, centres, 0.4)
                cities.append((town, lat, lon))
                lab = fablabs.add_fablab(
                    session=session, name=f"Fablab {i:04d}", city=town, region=REGION
                )
                rate = rng.uniform(20, 230)
                for p in range(max(1, math.floor(rate / PER_PRINTER + 0.5))):
                    registry.add_printer(
                        session=session,
                        spec=registry.PrinterSpec(
                            name=f"b{i:04d}-{p}",
                            fablab=lab.name,
                            url="http://127.0.0.1:9",
                            api_key_env="FABCOORD_BENCH_KEY",
                        ),
                    )
                sheets = rng.randint(500, 4000)
                legs = (
                    *transfer(
                        item="petg",
                        qty=rng.randint(20, 120) * 1000,
                        source="supplier",
                        destination=lab.stock_location,
                        lot=f"S{i}",
                    ),
                    *transfer(
                        item="pet-sheet-a4",
                        qty=sheets,
                        source="supplier",
                        destination=lab.stock_location,
                    ),
                    *transfer(
                        item="elastic",
                        qty=sheets * ELASTIC_MM * 2,
                        source="supplier",
                        destination=lab.stock_location,
                    ),
                )
                stock.append(
                    PostingRequest(
                        reason=MoveReason.RECEIPT,
                        doc_type="receipt",
                        doc_id=f"BENCH-{i}",
                        legs=legs,
                        actor="bench",
                    )
                )
            post_many(session=session, requests=stock)
            for i in range(maker_count):
                lab_index = rng.randrange(fablab_count)
                makers.add_maker(
                    session=session,
                    name=f"maker {i:04d}",
                    fablab=f"Fablab {lab_index:04d}",
                    declared_per_day=rng.randint(4, 60),
                )
            region_id = session.exec(select(Region.id).where(Region.name == REGION)).one()
            hospitals = []
            for h in range(hospital_count):
                town = f"Bench-H{h:04d}"
                lat, lon = _point(rng, centres, 0.3)
                cities.append((town, lat, lon))
                hospitals.append(
                    {
                        "slug": f"bench-h{h:04d}",
                        "name": f"CH {h:04d}",
                        "city": town,
                        "region_id": region_id,
                        "finess": "",
                        "address": "",
                    }
                )
            session.execute(insert(Hospital), hospitals)
            ids = dict(session.exec(select(Hospital.slug, Hospital.id)).all())
            now = utc_now()
            lines = []
            for o in range(order_count):
                hospital = ids[f"bench-h{rng.randrange(hospital_count):04d}"]
                lines.append(
                    {
                        "reference": f"CMD-2026-{o + 1:06d}",
                        "line": 1,
                        "hospital_id": hospital,
                        "item_code": "visor" if rng.random() < 0.7 else "visor-frame",
                        "quantity": rng.randint(10, 190),
                        "needed_by": today + timedelta(days=rng.randint(-2, 21)),
                        "priority": rng.choice((1, 1, 1, 2, 3)),
                        "site": "",
                        "state": demand.DemandState.OPEN,
                        "status": "accepted",
                        "updated_at": now,
                    }
                )
            session.execute(insert(demand.DemandLine), lines)
    finally:
        engine.dispose()
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "cities.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["city", "region", "latitude", "longitude", "source"])
        for town, lat, lon in cities:
            writer.writerow([town, REGION, f"{lat:.5f}", f"{lon:.5f}", "synthetic (benchmark)"])
