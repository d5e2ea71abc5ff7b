"""Weekly report over a ledger of 1,000,000 moves and 100 fablabs: time and peak memory.

Builds, per database, 100 fablabs (5 printers each, 1 design), the reference hospitals, 2,000
orders with their demand lines and two events each, 20,000 print jobs, 5,000 released batches,
20 suppliers with 2,000 purchase orders, and 1,000,000 stock moves spread evenly over the 52 weeks
up to the last complete week (prints 76 %, failed prints 4 %, receipts 10 %, half of them against
a purchase order, shipments 5 %, deliveries 5 %; bulk-inserted, the balance cache rebuilt from
them). Then runs ``fabcoord report weekly`` in a fresh process through the real command line
(``cli.run``: settings, every provider registered by path, one read transaction): the PDF alone
and the PDF with ``--charts`` three times each, and once as XLSX. Wall time is the child's whole
life; peak memory its ``VmHWM``. Baseline in the same run: one ``SELECT SUM(qty)`` over every move
(a full scan of the ledger).

    python -m bench.report_bench [--backends sqlite,postgresql] [--moves 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, insert, text
from sqlmodel import select

from bench.report import postgres_version, write_section
from fabcoord.bootstrap import initialise_database
from fabcoord.config import PROJECT_DATA_DIR, Settings
from fabcoord.db import make_engine, unit_of_work
from fabcoord.demand import DemandLine, DemandState
from fabcoord.fablabs import add_fablab
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import Item, Location, LocationKind, Posting, StockMove
from fabcoord.records import Hospital
from fabcoord.reference import load_reference_data
from fabcoord.reports.week import last_complete_week

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
FABLABS, PRINTERS_PER_FABLAB, ORDERS, JOBS, WEEKS = 100, 5, 2_000, 20_000, 52
BATCHES, SUPPLIERS, PURCHASES = 5_000, 20, 2_000
REGIONS = ("Nouvelle-Aquitaine", "Bretagne", "Pays de la Loire", "Occitanie", "Grand Est")


def migration_locations() -> list[Path]:
    from fabcoord.schema import migration_locations as installed

    return installed()


def create_database(kind: str, folder: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / f'report-bench-{uuid.uuid4().hex[:6]}.db'}"
    name = f"fabcoord_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def populate(engine: Engine, moves: int, now: datetime) -> None:
    from fabcoord.batches.models import Batch, BatchState, Inspection
    from fabcoord.records import Region
    from orders.models import Order, OrderEvent, OrderStatus, Priority
    from print_farm import designs
    from print_farm.models import Design, FarmPrinter, JobState, PrintJob
    from suppliers.models import PurchaseOrder, PurchaseState, Supplier

    rng = random.Random(16)
    with unit_of_work(engine) as session:
        load_reference_data(session=session, data_dir=PROJECT_DATA_DIR)
        for n in range(FABLABS):
            add_fablab(session=session, name=f"Fablab {n:03d}", city="Ville", region=REGIONS[n % 5])
        designs.add_design(session=session, name="visor-x4", gcode=b"G28\n", units_per_print=4,
                           material="petg", grams=62, minutes=95)  # fmt: skip
    with unit_of_work(engine) as session:
        stocks = {
            loc.fablab_id: loc.id
            for loc in session.exec(select(Location).where(Location.kind == LocationKind.STOCK))
            if loc.fablab_id
        }
        for fablab_id in list(stocks):
            for p in range(PRINTERS_PER_FABLAB):
                code = f"printer/f{fablab_id}-p{p}"
                location = catalogue.add_location(session=session, code=code, name=code, kind=LocationKind.PRINTER, fablab_id=fablab_id)  # fmt: skip
                session.add(FarmPrinter(name=f"f{fablab_id}-p{p}", fablab_id=fablab_id, location_id=location.id or 0, url="http://127.0.0.1:9", api_key_env="K", created_at=now - timedelta(weeks=60)))  # fmt: skip
        session.flush()
        printers = [(p.id, p.fablab_id, p.location_id) for p in session.exec(select(FarmPrinter))]
        design_id = session.exec(select(Design.id)).one()
        item = {i.code: i.id for i in session.exec(select(Item))}
        virtual = {loc.code: loc.id for loc in session.exec(select(Location)) if loc.kind.is_virtual or loc.kind in (LocationKind.TRANSIT, LocationKind.SCRAP)}  # fmt: skip
        hospitals = [(h.id, loc_id) for h, loc_id in session.exec(select(Hospital, Location.id).join(Location, Location.hospital_id == Hospital.id))]  # fmt: skip
        region_id = session.exec(select(Region.id)).first() or 0
        suppliers = []
        for n in range(SUPPLIERS):
            vendor = Supplier(name=f"Fournisseur {n:02d}", name_key=f"fournisseur {n:02d}", region_id=region_id, created_at=now - timedelta(weeks=60))  # fmt: skip
            session.add(vendor)
            session.flush()
            suppliers.append(vendor.id or 0)
    end = last_complete_week(now).end
    span = WEEKS * 7 * 86400

    def moment() -> datetime:
        return end - timedelta(seconds=rng.random() * span)

    postings: list[dict[str, Any]] = []
    legs: list[dict[str, Any]] = []

    def add(reason: str, doc: str, at: datetime, *parts: tuple[str, int, int], doc_id: str = "") -> None:  # fmt: skip
        pid = len(postings) + 1
        doc_id = doc_id or str(pid)
        postings.append({"id": pid, "reason": reason, "doc_type": doc, "doc_id": doc_id, "actor": "bench", "posted_at": at, "idempotency_key": None, "fingerprint": f"{pid:064d}", "reverses_id": None, "note": ""})  # fmt: skip
        for code, location_id, qty in parts:
            unit = "pcs" if code.startswith("visor") else "g"
            legs.append({"posting_id": pid, "item_id": item[code], "location_id": location_id, "lot": "", "qty": qty, "unit": unit, "reason": reason, "doc_type": doc, "doc_id": doc_id, "posted_at": at})  # fmt: skip

    production, supplier, transit = virtual["production"], virtual["supplier"], virtual["transit"]
    while len(legs) < moves:
        roll, at = rng.random(), moment()
        printer_id, fablab_id, printer_location = rng.choice(printers)
        stock = stocks[fablab_id]
        if roll < 0.76 * 0.5:  # a print posting has 4 legs: 76 % of the moves in 38 % of postings
            add("print_output", "print_job", at, ("visor-frame", production, -4), ("visor-frame", stock, 4), ("petg", printer_location, -62), ("petg", production, 62))  # fmt: skip
        elif roll < 0.38 + 0.04:
            add("print_scrap", "print_job", at, ("petg", printer_location, -30), ("petg", virtual["scrap"], 30))  # fmt: skip
        elif roll < 0.42 + 0.10:
            if rng.random() < 0.5:
                add("receipt", "receipt", at, ("petg", supplier, -20_000), ("petg", stock, 20_000))
            else:
                add("receipt", "purchase_order", at, ("petg", supplier, -20_000), ("petg", stock, 20_000), doc_id=str(rng.randint(1, PURCHASES)))  # fmt: skip
        elif roll < 0.52 + 0.05:
            add("shipment", "shipment", at, ("visor", stock, -10), ("visor", transit, 10))
        else:
            add("delivery", "delivery", at, ("visor", transit, -10), ("visor", rng.choice(hospitals)[1], 10))  # fmt: skip
    jobs = []
    for _ in range(JOBS):
        printer_id, fablab_id, _ = rng.choice(printers)
        started = moment()
        jobs.append({"design_id": design_id, "fablab_id": fablab_id, "order_ref": "", "priority": 0, "needed_by": None, "status": JobState.DONE, "printer_id": printer_id, "lot": "", "attempts": 1, "retry_base": 0, "cancel_requested": False, "last_error": "", "created_at": started, "claimed_at": started, "start_sent_at": started, "started_at": started, "finished_at": started + timedelta(minutes=95)})  # fmt: skip
    orders, lines, events = [], [], []
    for n in range(1, ORDERS + 1):
        hospital_id = rng.choice(hospitals)[0]
        created, qty = moment(), rng.choice((50, 100, 200, 500))
        status = rng.choice(list(OrderStatus))
        ref = f"CMD-2026-{n:06d}"
        orders.append({"reference": ref, "hospital_id": hospital_id, "link_id": None, "channel": "api", "item_code": "visor", "quantity": qty, "department": "Réa", "contact_name": "X", "contact_email": "x@chu.fr", "contact_phone": "0", "needed_by": created.date() + timedelta(days=14), "delivery_address": "A", "priority": Priority.NORMAL, "urgency_reason": "", "notes": "", "status": status, "allocated": 0, "expected_delivery": created.date() + timedelta(days=10), "idempotency_key": None, "fingerprint": "f", "created_at": created, "updated_at": created})  # fmt: skip
        state = DemandState.CLOSED if status in {OrderStatus.DELIVERED, OrderStatus.REJECTED, OrderStatus.CANCELLED} else DemandState.OPEN  # fmt: skip
        lines.append({"reference": ref, "line": 1, "hospital_id": hospital_id, "item_code": "visor", "quantity": qty, "needed_by": created.date() + timedelta(days=14), "priority": 1, "site": "", "state": state, "status": status.value, "updated_at": created})  # fmt: skip
        for step, (before, after) in enumerate(((None, OrderStatus.RECEIVED), (OrderStatus.RECEIVED, status))):  # fmt: skip
            events.append({"order_id": n, "from_status": before, "to_status": after, "actor": "bench", "reason": "", "at": created + timedelta(days=step), "link_id": None, "quantity": qty, "needed_by": created.date() + timedelta(days=14), "expected_delivery": created.date() + timedelta(days=10)})  # fmt: skip
    batches, inspections = [], []
    for n in range(1, BATCHES + 1):
        fablab_id, at = rng.choice(list(stocks)), moment()
        batches.append({"id": n, "number": f"LOT-B-{n:05d}", "fablab_id": fablab_id, "design": "visor-x4", "quantity": 200, "state": BatchState.RELEASED, "assembled_by": "bench", "assembled_at": at, "posting_id": 1, "released_by": "bench", "released_at": at, "recall_reason": ""})  # fmt: skip
        inspections.append({"batch_id": n, "inspector": "bench", "inspected_at": at, "sample_size": 8, "results": "{}", "passed": True, "cleaning_product": "", "cleaning_date": None, "note": ""})  # fmt: skip
    purchases = []
    for n in range(1, PURCHASES + 1):
        at = moment()
        purchases.append({"id": n, "supplier_id": rng.choice(suppliers), "fablab_id": rng.choice(list(stocks)), "item_code": "petg", "quantity": 200_000, "received": 0, "price_unit": "kg", "unit_price_cents": 1850, "state": PurchaseState.CONFIRMED, "expected_on": None, "note": "", "created_at": at, "updated_at": at, "actor": "bench"})  # fmt: skip
    for table, rows in ((Posting, postings), (StockMove, legs)):
        bulk(engine, table.__tablename__, rows)  # type: ignore[attr-defined]
    with engine.begin() as connection:
        for table, rows in ((PrintJob, jobs), (Order, orders), (DemandLine, lines), (OrderEvent, events), (Batch, batches), (Inspection, inspections), (PurchaseOrder, purchases)):  # type: ignore[assignment]  # fmt: skip
            for first in range(0, len(rows), 20_000):
                connection.execute(insert(table), rows[first : first + 20_000])  # type: ignore[arg-type]
        connection.execute(
            text(
                "INSERT INTO stock_balance (item_id, location_id, lot, qty) "
                "SELECT m.item_id, m.location_id, m.lot, SUM(m.qty) FROM stock_move m "
                "JOIN location l ON l.id = m.location_id "
                "WHERE l.kind NOT IN ('supplier', 'partner', 'production', 'adjustment') "
                "GROUP BY m.item_id, m.location_id, m.lot"
            )
        )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))


def bulk(engine: Engine, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert through the driver itself (executemany on SQLite, COPY on PostgreSQL): the ORM's
    parameter processing would take minutes for a million rows."""
    columns = list(rows[0])
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":

            def stored(value: Any) -> Any:  # how UTCDateTime stores on SQLite: naive UTC text
                if isinstance(value, datetime):
                    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
                return value

            cursor.execute("BEGIN")
            cursor.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                ([stored(row[c]) for c in columns] for row in rows),
            )
            cursor.execute("COMMIT")
        else:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[c] for c in columns])
            raw.commit()
    finally:
        raw.close()


def run_child(url: str, out: Path, fmt: str, charts: Path | None) -> dict[str, Any]:
    # Python's default: compiled modules are cached (this sandbox sets PYTHONDONTWRITEBYTECODE,
    # which would make every run compile every project module again, as no user's machine does)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.report_child", url, str(out), fmt, str(charts or "")],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"the report failed:\n{done.stderr}")
    wall = time.perf_counter() - started
    return {"wall": wall, **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--moves", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--sqlite-file", help="an SQLite ledger this bench built before (skips building it)"
    )
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        for kind in args.backends.split(","):
            reuse = kind == "sqlite" and args.sqlite_file
            url = f"sqlite:///{args.sqlite_file}" if reuse else create_database(kind, folder)
            try:
                engine = make_engine(Settings(database_url=url))
                began = time.perf_counter()
                if not reuse:
                    initialise_database(engine, migration_locations())
                    populate(engine, args.moves, datetime.now(UTC))
                built = time.perf_counter() - began
                with engine.connect() as connection:
                    count = connection.execute(text("SELECT COUNT(*) FROM stock_move")).scalar_one()
                    t0 = time.perf_counter()
                    connection.execute(text("SELECT SUM(qty) FROM stock_move")).scalar_one()
                    scan = time.perf_counter() - t0
                engine.dispose()
                print(f"{kind}: {count} moves built in {built:.0f} s; full scan {scan:.3f} s", flush=True)  # fmt: skip
                run_child(url, folder / "warm.pdf", "pdf", folder / "warm")  # writes the .pyc files
                pdf = [run_child(url, folder / f"p{i}.pdf", "pdf", None) for i in range(args.runs)]  # fmt: skip
                runs = [run_child(url, folder / f"r{i}.pdf", "pdf", folder / f"png{i}") for i in range(args.runs)]  # fmt: skip
                xlsx = run_child(url, folder / "r.xlsx", "xlsx", None)
                for label, measured in (("PDF", pdf), ("PDF + PNG charts", runs), ("XLSX", [xlsx])):
                    wall = statistics.median(r["wall"] for r in measured)
                    mid = sorted(measured, key=lambda r: r["wall"])[len(measured) // 2]
                    peak = max(r["peak_mb"] for r in measured)
                    cpu = statistics.median(r["cpu"] for r in measured)
                    verdict = "yes" if wall < 3 and peak < 500 else "NO"
                    cpu_verdict = "yes" if cpu < 3 and peak < 500 else "NO"
                    rows.append(
                        f"| {kind} | {label} | {len(measured)} | {wall:.2f} | {cpu:.2f} | "
                        f"{mid['cpu_imports']:.2f} | {mid['cpu_figures']:.2f} | "
                        f"{mid['cpu_output']:.2f} | {peak:.0f} | {scan:.2f} | {verdict} | "
                        f"{cpu_verdict} |"
                    )
                    print(rows[-1], flush=True)
                notes.append(f"{kind}: {count:,} moves, report week {runs[0]['week']} ({runs[0]['printed']:,} frames printed)")  # fmt: skip
            finally:
                if not reuse:
                    drop_database(url)
    write_section(
        "report",
        "Weekly report: 1,000,000 moves, 100 fablabs",
        f"""{__doc__.split("    python")[0].strip()}

{"; ".join(notes)}. PostgreSQL: {postgres_version()}.

Target: the whole report under 3 s and under 500 MB. Wall = the child process from start to
exit (Python start-up and imports included), as measured by the parent, after one unmeasured run
that leaves Python's compiled-module cache as any second run on a user's machine finds it. CPU = the child's own CPU
seconds (user + system), the figure to read on this shared machine, where the wall time mostly
measures waiting for a core (see the load average); it is split into start (the interpreter,
every import: pandas, SQLAlchemy, reportlab, and matplotlib only with `--charts`; the settings and
the command line), figures (every query, the providers and the pandas work) and output (the PDF
with its charts drawn by reportlab, the PNG files drawn by matplotlib, or the XLSX). Full scan:
`SELECT SUM(qty)` over every move, in the same run.

| database | output | runs | wall s (median) | CPU s (median) | start + imports CPU s | figures CPU s | output CPU s | peak MB | full scan s | wall < 3 s | CPU < 3 s |
|---|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Reading: see the figures against the target above; on PostgreSQL the CPU column counts the
Python process only (the server's share runs elsewhere).
""",
        load=load,
    )


if __name__ == "__main__":
    main()
