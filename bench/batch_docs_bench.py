"""Batch documents benchmark: the batch record of a batch built from 500 print jobs, and box labels
for 10,000 visors.

On a fresh SQLite database: 500 print jobs post their frames (what the print farm posts), a batch of
500 visors is assembled and released, then the batch record PDF is written (read through the
ledger: lots, frame sources, printers, checks). Labels: 10,000 visors, 25 per box (400 labels) and,
as the worst case, one label per visor (10,000 labels). Baseline in the same run: a one-page PDF
with reportlab (the fixed cost of a document). Targets: record ≤ 2 s; labels ≤ 5 s. Writes the
``batch_docs`` section of BENCHMARKS.md. Run: ``python -m bench.batch_docs_bench``. Not a test.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from bench.report import write_section
from fabcoord.batches import documents, paperwork, service
from fabcoord.batches.quality import load
from fabcoord.bootstrap import initialise_database
from fabcoord.config import PROJECT_DATA_DIR, Settings
from fabcoord.db import make_engine, unit_of_work
from fabcoord.fablabs import add_fablab
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import LocationKind, MoveReason
from fabcoord.ledger.posting import Leg, PostingRequest, post_many, transfer
from fabcoord.reference import load_reference_data
from fabcoord.schema import migration_locations

JOBS = 500
STOCK = "fablab/bench-lab"


def _timed(action: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    quality = load(PROJECT_DATA_DIR)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = Settings(database_url=f"sqlite:///{folder / 'bench.db'}", actor="bench")
        engine = make_engine(settings)
        initialise_database(engine, migration_locations())
        with unit_of_work(engine) as session:
            load_reference_data(session=session, data_dir=PROJECT_DATA_DIR)
            add_fablab(
                session=session, name="Bench Lab", city="Poitiers", region="Nouvelle-Aquitaine"
            )
            printers = [f"printer/p{i}" for i in range(10)]
            for code in printers:
                catalogue.add_location(
                    session=session, code=code, name=code, kind=LocationKind.PRINTER
                )
            setup = [
                PostingRequest(
                    MoveReason.RECEIPT,
                    "receipt",
                    f"BL-{code}",
                    transfer(
                        item="petg", qty=10**6, source="supplier", destination=code, lot="SPOOL"
                    ),
                    "bench",
                )
                for code in printers
            ] + [
                PostingRequest(
                    MoveReason.RECEIPT,
                    "receipt",
                    "BL-PET",
                    transfer(item="pet-sheet-a4", qty=JOBS, source="supplier", destination=STOCK),
                    "bench",
                ),
                PostingRequest(
                    MoveReason.RECEIPT,
                    "receipt",
                    "BL-EL",
                    transfer(item="elastic", qty=JOBS * 300, source="supplier", destination=STOCK),
                    "bench",
                ),
            ]
            jobs = [
                PostingRequest(
                    MoveReason.PRINT_OUTPUT,
                    "print_job",
                    str(j),
                    (
                        Leg("visor-frame", "production", -1),
                        Leg("visor-frame", STOCK, 1),
                        Leg("petg", printers[j % 10], -45, "SPOOL"),
                        Leg("petg", "production", 45, "SPOOL"),
                    ),
                    "bench",
                )
                for j in range(JOBS)
            ]
            post_many(session=session, requests=setup + jobs)
        with unit_of_work(engine) as session:
            batch = service.assemble(
                session=session, fablab="Bench Lab", qty=JOBS, actor="bench", quality=quality
            )
            number = batch.number
            service.inspect(
                session=session,
                number=number,
                quality=quality,
                actor="bench",
                filled=service.InspectionInput(
                    results={c.code: True for c in quality.checks},
                    inspector="bench",
                    cleaning_product="Surfanios",
                    cleaning_date=date(2026, 12, 1),
                ),
            )

        def record() -> None:
            with unit_of_work(engine, read_only=True) as session:
                paperwork.write_record(session=session, number=number, path=folder / "record.pdf")

        def labels(per_box: int) -> Callable[[], object]:
            return lambda: documents.labels_pdf(
                path=folder / "labels.pdf",
                batch=number,
                marking=quality.marking_for(fablab="Bench Lab", batch=number, made_on="01/12/2026"),
                visors=10_000,
                per_box=per_box,
            )

        baseline = _timed(
            lambda: documents.notice_pdf(
                path=folder / "one.pdf", title="x", paragraphs=["one page"]
            )
        )
        rows = [
            ("batch record, 500 print jobs behind the batch", _timed(record), 2.0),
            ("labels, 10,000 visors, 25 per box (400 labels)", _timed(labels(25)), 5.0),
            ("labels, 10,000 visors, one per visor (10,000 labels)", _timed(labels(1)), 5.0),
        ]
        engine.dispose()
    body = [
        "| document | median of 3 | ratio to a one-page PDF | target | met |",
        "|---|---|---|---|---|",
        f"| one-page PDF (baseline) | {baseline * 1000:.0f} ms | 1 | | |",
    ]
    for name, seconds, target in rows:
        body.append(
            f"| {name} | {seconds * 1000:.0f} ms | {seconds / baseline:.0f} | ≤ {target:.0f} s "
            f"| {'yes' if seconds <= target else 'NO'} |"
        )
        print(f"{name}: {seconds:.3f} s (target {target} s)")
    body.append(
        "\nThe record reads the batch's lots, frame sources, printers and checks through the "
        "ledger (SQLite, one query per kind of fact) and renders with reportlab's platypus; "
        "labels are drawn directly on the canvas, 14 per A4 page."
    )
    write_section("batch_docs", "Batch documents: batch record and box labels", "\n".join(body))


if __name__ == "__main__":
    main()
