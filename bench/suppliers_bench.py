"""Suppliers benchmarks (issue 14): a 100,000-row directory import, and trace through 1,000,000 moves.

- Import: a 100,000-row DIRECCTE-shaped CSV (CP1252, ``;``) imported by ``import_directory`` in a
  fresh process (wall time and peak RSS of that process), beside the same file merely read by pandas
  in chunks in another fresh process (the floor: parsing alone). Targets: ≤ 10 s, ≤ 500 MB.
- Trace: a ledger of ~1,000,000 moves (5,000 spools, each received, moved to a printer and printed
  into 20 jobs of frames, assembled and shipped to a hospital), then ``trace LOT`` and
  ``trace --shipment ID`` on random lots and shipments, beside the naive query that reads every
  move of a lot without an index on ``lot`` (the baseline). Target: ≤ 1 s.

Run: ``python -m bench.suppliers_bench [--quick]``.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench.report import percentile, postgres_version, write_section
from fabcoord.bootstrap import initialise_database
from fabcoord.config import PROJECT_DATA_DIR, Settings
from fabcoord.db import make_engine, unit_of_work
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import LocationKind
from fabcoord.reference import load_reference_data
from fabcoord.regions import OFFICIAL_REGIONS
from suppliers import MIGRATIONS

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PRODUCTS = (
    "feuilles PETG 0,5 mm; plaques PET",
    "filament PETG 1,75 mm, filament PLA",
    "élastique plat 10 mm",
    "usinage; injection plastique",
    "films PVC transparents 200 µm; bande élastique",
)


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    """A fresh database with the core and suppliers schema and the reference data; dropped after."""
    if kind == "sqlite":
        url = f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:6]}.db'}"
    else:
        name = f"fabcoord_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    engine = make_engine(Settings(database_url=url))
    try:
        initialise_database(engine, [MIGRATIONS])
        with unit_of_work(engine) as session:
            load_reference_data(session=session, data_dir=PROJECT_DATA_DIR)
        yield url
    finally:
        engine.dispose()
        if kind == "postgresql":
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- import ---------------------------------------------------------------------------------


def luhn_complete(base: str) -> str:
    """``base`` plus the digit that makes it pass Luhn."""
    for digit in "0123456789":
        candidate = base + digit
        total = 0
        for position, char in enumerate(reversed(candidate)):
            value = int(char) * (2 if position % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return candidate
    raise AssertionError(base)


def write_directory(path: Path, rows: int) -> None:
    """A fictitious directory: SIRENs 0xxxxxxx (never assigned), names "Exemple N (fictif)"."""
    rng = random.Random(14)
    with path.open("w", encoding="cp1252", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(
            [
                "Raison sociale",
                "SIRET",
                "Adresse",
                "Code postal",
                "Commune",
                "Région",
                "Contact",
                "Produits / capacités",
                "Capacité",
                "Délai de livraison",
            ]
        )
        for n in range(rows):
            siren = luhn_complete(f"0{n:07d}")
            writer.writerow(
                [
                    f"Exemple {n} (fictif)",
                    luhn_complete(siren + "0001"),
                    f"{n} rue de l'Exemple",
                    f"{rng.randint(1000, 95999):05d}",
                    "Ville-Exemple",
                    rng.choice(OFFICIAL_REGIONS),
                    f"contact{n}@exemple.invalid",
                    rng.choice(PRODUCTS),
                    f"{rng.randint(1, 500)} kg/semaine",
                    f"{rng.randint(1, 20)} jours",
                ]
            )


def child_import(url: str, path: str) -> None:
    from suppliers.directory import import_directory
    from suppliers.models import DirectoryKind

    engine = make_engine(Settings(database_url=url))
    started, cpu = time.perf_counter(), time.process_time()
    with unit_of_work(engine) as session:
        backend = _backend_pid(session.connection())
        server = _process_cpu(backend)
        report = import_directory(
            session=session, path=Path(path), kind=DirectoryKind.DIRECCTE, actor="bench"
        )
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    server = _process_cpu(backend) - server
    assert report.added == report.rows, report
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{elapsed:.3f} {rss:.0f} {cpu:.3f} {server:.3f}")


def _backend_pid(connection: object) -> int | None:
    """The PostgreSQL server process serving ``connection`` (None on SQLite, which runs in ours)."""
    from sqlalchemy import Connection

    assert isinstance(connection, Connection)
    if connection.dialect.name != "postgresql":
        return None
    return int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _process_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a local process, from /proc (0 without one)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_parse(path: str) -> None:
    import pandas as pd

    started, cpu = time.perf_counter(), time.process_time()
    count = 0
    for frame in pd.read_csv(
        path, sep=";", encoding="cp1252", dtype=str, keep_default_na=False, chunksize=20_000
    ):
        count += len(frame)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{elapsed:.3f} {rss:.0f} {cpu:.3f} 0")


def in_child(*args: str) -> tuple[float, float, float, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.suppliers_bench", "--child", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, rss, cpu, server = done.stdout.split()[-4:]
    return float(seconds), float(rss), float(cpu), float(server)


def import_bench(folder: Path, rows: int) -> str:
    path = folder / "directory.csv"
    write_directory(path, rows)
    size = path.stat().st_size / 1e6
    lines = [
        f"A {rows:,}-row directory ({size:.1f} MB, CP1252, `;`), imported whole in one transaction "
        "in a fresh process; baseline: the same file only read by pandas in 20,000-row chunks. "
        "CPU: the import process's; on PostgreSQL, + the server process's for that transaction "
        "(read from /proc), the work a quiet machine would need at least.",
        "",
        "| database | import wall | CPU (import + server) | peak RSS | pandas read alone wall "
        "(CPU) | import ÷ read (CPU) | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in ("sqlite", "postgresql"):
        with database(kind, folder) as url:
            parse_s, parse_rss, parse_cpu, _ = in_child("parse", str(path))
            seconds, rss, cpu, server = in_child("import", url, str(path))
        wall = "met" if seconds <= 10 else "NOT met"
        memory = "met" if rss <= 500 else "NOT met"
        work = f"{cpu:.2f} s" + (f" + {server:.2f} s" if kind == "postgresql" else "")
        lines.append(
            f"| {kind} | {seconds:.2f} s | {work} | {rss:.0f} MB | {parse_s:.2f} s "
            f"({parse_cpu:.2f} s, {parse_rss:.0f} MB) | {cpu / parse_cpu:.1f}× | "
            f"≤ 10 s: {wall}; ≤ 500 MB: {memory} |"
        )
    return "\n".join(lines)


# --- trace ----------------------------------------------------------------------------------


def seed_ledger(url: str, kind: str, spools: int, jobs: int) -> tuple[list[str], list[str], int]:
    """Bulk-load the production history of ``spools`` spools straight into the ledger tables."""
    engine = make_engine(Settings(database_url=url))
    with unit_of_work(engine) as session:
        for n in range(20):
            catalogue.add_location(
                session=session, code=f"fablab/lab-{n}", name=f"lab {n}", kind=LocationKind.STOCK
            )
        for n in range(200):
            catalogue.add_location(
                session=session, code=f"printer/p-{n}", name=f"p {n}", kind=LocationKind.PRINTER
            )
    with unit_of_work(engine, read_only=True) as session:
        items = {i.code: i.id for i in catalogue.list_items(session=session)}
        locations = {loc.code: loc.id for loc in catalogue.list_locations(session=session)}
    engine.dispose()
    hospitals = [code for code in locations if code.startswith("hospital/")]
    rng = random.Random(7)
    postings: list[tuple[object, ...]] = []
    moves: list[tuple[object, ...]] = []
    clock = datetime(2020, 3, 20, tzinfo=UTC)
    units = {"petg": "g", "visor-frame": "pcs", "visor": "pcs", "pet-sheet-a4": "sheet"}

    def add(reason: str, doc: tuple[str, str], *legs: tuple[str, str, int, str]) -> None:
        nonlocal clock
        clock += timedelta(seconds=1)
        pid = len(postings) + 1
        postings.append((pid, reason, doc[0], doc[1], "maker", clock, f"fp{pid}", ""))
        for item, location, qty, lot in legs:
            moves.append(
                (
                    pid,
                    items[item],
                    locations[location],
                    lot,
                    qty,
                    units[item],
                    reason,
                    doc[0],
                    doc[1],
                    clock,
                )
            )

    lots, shipments = [], []
    for s in range(spools):
        lab, printer = f"fablab/lab-{s % 20}", f"printer/p-{rng.randrange(200)}"
        spool = f"SPOOL-{s}"
        lots.append(spool)
        add(
            "receipt",
            ("purchase_order", str(s)),
            ("petg", "supplier", -1000, spool),
            ("petg", lab, 1000, spool),
        )
        add(
            "transfer",
            ("transfer", f"T{s}"),
            ("petg", lab, -1000, spool),
            ("petg", printer, 1000, spool),
        )
        for j in range(jobs):
            job, frames, batch = f"{s}-{j}", f"F-{s}-{j}", f"B-{s}-{j}"
            add(
                "print_output",
                ("print_job", job),
                ("petg", printer, -25, spool),
                ("petg", "production", 25, spool),
            )
            add(
                "print_output",
                ("print_job", job),
                ("visor-frame", "production", -1, frames),
                ("visor-frame", lab, 1, frames),
            )
            add(
                "assembly",
                ("batch", batch),
                ("visor-frame", lab, -1, frames),
                ("visor-frame", "production", 1, frames),
                ("visor", "production", -1, batch),
                ("visor", lab, 1, batch),
            )
            shipment = f"SHP-{s}-{j}"
            shipments.append(shipment)
            add(
                "shipment",
                ("shipment", shipment),
                ("visor", lab, -1, batch),
                ("visor", rng.choice(hospitals), 1, batch),
            )
    posting_sql = "posting (id, reason, doc_type, doc_id, actor, posted_at, fingerprint, note)"
    move_sql = (
        "stock_move (posting_id, item_id, location_id, lot, qty, unit, reason, doc_type, "
        "doc_id, posted_at)"
    )
    if kind == "sqlite":
        path = url.removeprefix("sqlite:///")
        connection = sqlite3.connect(path)
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            f"INSERT INTO {posting_sql} VALUES (?,?,?,?,?,?,?,?)",
            [(*p[:5], p[5].isoformat(" ").replace("+00:00", ""), *p[6:]) for p in postings],
        )
        connection.executemany(
            f"INSERT INTO {move_sql} VALUES (?,?,?,?,?,?,?,?,?,?)",
            [(*m[:9], m[9].isoformat(" ").replace("+00:00", "")) for m in moves],
        )
        connection.execute("COMMIT")
        connection.execute("ANALYZE")
        connection.close()
    else:
        dsn = url.replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
            with cursor.copy(f"COPY {posting_sql} FROM STDIN") as copy:
                for row in postings:
                    copy.write_row(row)
            with cursor.copy(f"COPY {move_sql} FROM STDIN") as copy:
                for row in moves:
                    copy.write_row(row)
            cursor.execute("SELECT setval('posting_id_seq', (SELECT max(id) FROM posting))")
            connection.commit()
            connection.autocommit = True
            cursor.execute("VACUUM ANALYZE")
    return lots, shipments, len(moves)


def timed_ms(function: object, *args: object, **kwargs: object) -> float:
    started = time.perf_counter()
    function(*args, **kwargs)  # type: ignore[operator]
    return time.perf_counter() - started


def trace_bench(folder: Path, spools: int, jobs: int, queries: int) -> str:
    from sqlalchemy import text

    from suppliers.trace import trace_lot, trace_shipment

    lines = [
        "| database | moves | `trace LOT` p50 / p95 / max | `trace --shipment` p50 / p95 / max | "
        "naive lot scan p50 | target p95 ≤ 1 s |",
        "|---|---|---|---|---|---|",
    ]
    for kind in ("sqlite", "postgresql"):
        with database(kind, folder) as url:
            lots, shipments, count = seed_ledger(url, kind, spools, jobs)
            engine = make_engine(Settings(database_url=url))
            rng = random.Random(3)
            lot_times, ship_times, naive = [], [], []
            for _ in range(queries):
                lot, shipment = rng.choice(lots), rng.choice(shipments)
                with unit_of_work(engine, read_only=True) as session:
                    lot_times.append(timed_ms(trace_lot, session=session, lot=lot))
                with unit_of_work(engine, read_only=True) as session:
                    ship_times.append(timed_ms(trace_shipment, session=session, shipment=shipment))
                with engine.connect() as connection:
                    started = time.perf_counter()
                    connection.execute(
                        text("SELECT posting_id FROM stock_move WHERE lot = :lot"), {"lot": lot}
                    ).all()
                    naive.append(time.perf_counter() - started)
            engine.dispose()

        def fmt(values: list[float]) -> str:
            return (
                " / ".join(f"{percentile(values, q) * 1000:.0f}" for q in (0.5, 0.95, 1.0)) + " ms"
            )

        p95 = max(percentile(lot_times, 0.95), percentile(ship_times, 0.95))
        met = "met" if p95 <= 1 else "NOT met"
        lines.append(
            f"| {kind} | {count:,} | {fmt(lot_times)} | {fmt(ship_times)} | "
            f"{percentile(naive, 0.5) * 1000:.0f} ms | {met} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", choices=("import", "trace"), help="run one of the two")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        if options.child[0] == "import":
            child_import(*options.child[1:])
        else:
            child_parse(*options.child[1:])
        return
    rows, spools, queries = (2_000, 50, 5) if options.quick else (100_000, 4_902, 30)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        imports = "" if options.only == "trace" else import_bench(Path(folder), rows)
        traces = "" if options.only == "import" else trace_bench(Path(folder), spools, 20, queries)
    body = (
        "### Directory import\n\n" + imports + "\n\n"
        f"### Trace through the ledger ({queries} random lots and shipments; each spool: receipt, "
        "move to a printer, 20 print jobs of frames, assembly, shipment to a hospital)\n\n"
        "A lot's trace reaches ~80 postings; a shipment's ~10. Baseline: the naive "
        "`SELECT … WHERE lot = ?` that a trace without index ranges would need at each step "
        "(a full scan: there is no index on `stock_move.lot`).\n\n" + traces + "\n\n"
        f"PostgreSQL: {postgres_version()}. 1-minute load average at the end: "
        f"{os.getloadavg()[0]:.1f}."
    )
    if options.quick or options.only:
        print(body)
        return
    write_section("suppliers", "Suppliers: directory import and lot traceability", body, load=load)
    print(body)


if __name__ == "__main__":
    main()
