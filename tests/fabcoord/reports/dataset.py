"""A small known ledger for the report tests, posted through the real posting service at chosen
Paris times, with the figures computed by hand in the docstrings of the tests that read them.

Fablab A (Nouvelle-Aquitaine) and fablab B (Bretagne); CHU de Poitiers (Nouvelle-Aquitaine) and
CHU de Rennes (Bretagne). A print posts 4 frames into the fablab's stock and takes 62 g of PETG
from it; a failed print takes 30 g of PETG to scrap.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from fabcoord import demand, fablabs
from fabcoord.batches.models import Batch, BatchState, Inspection
from fabcoord.config import PROJECT_DATA_DIR
from fabcoord.db import unit_of_work
from fabcoord.ledger import catalogue
from fabcoord.ledger import posting as posting_module
from fabcoord.ledger.models import MoveReason
from fabcoord.ledger.posting import Leg, PostingRequest, post, reverse
from fabcoord.records import Fablab, Hospital
from fabcoord.reference import load_reference_data
from fabcoord.reports.week import PARIS

A, B = "fablab/fablab-a", "fablab/fablab-b"
POITIERS, RENNES = "hospital/chu-de-poitiers", "hospital/chu-de-rennes"


class Ledger:
    """Posts at a chosen Paris wall-clock time (the posting service's clock is patched)."""

    def __init__(self, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.engine, self.monkeypatch, self.serial = engine, monkeypatch, 0

    def at(self, *when: int) -> datetime:
        moment = datetime(*when, tzinfo=PARIS)  # type: ignore[misc]
        self.monkeypatch.setattr(posting_module, "utc_now", lambda: moment)
        return moment

    def post(self, reason: MoveReason, *legs: tuple[str, str, int], doc: str = "") -> int:
        self.serial += 1
        with unit_of_work(self.engine) as session:
            posted = post(
                session=session,
                request=PostingRequest(
                    reason=reason,
                    doc_type=reason.value,
                    doc_id=doc or f"T-{self.serial}",
                    legs=tuple(Leg(item, where, qty) for item, where, qty in legs),
                    actor="tester",
                ),
            )
            assert posted.id is not None
            return posted.id

    def receive(self, item: str, qty: int, to: str) -> int:
        return self.post(MoveReason.RECEIPT, (item, catalogue.SUPPLIERS, -qty), (item, to, qty))

    def printed(self, fablab: str) -> int:
        return self.post(
            MoveReason.PRINT_OUTPUT,
            ("visor-frame", catalogue.PRODUCTION, -4),
            ("visor-frame", fablab, 4),
            ("petg", fablab, -62),
            ("petg", catalogue.PRODUCTION, 62),
        )

    def failed(self, fablab: str) -> int:
        return self.post(
            MoveReason.PRINT_SCRAP, ("petg", fablab, -30), ("petg", catalogue.SCRAP, 30)
        )

    def batch(
        self, number: str, slug: str, qty: int, posting_id: int, *inspections: tuple[Any, ...]
    ) -> None:
        """A batch (rows written directly) and its inspections: (Paris time…, passed)."""
        with unit_of_work(self.engine) as session:
            fablab_id = session.exec(select(Fablab.id).where(Fablab.slug == slug)).one()
            first = datetime(*inspections[0][:5], tzinfo=PARIS)
            batch = Batch(number=number, fablab_id=fablab_id or 0, design="Prusa RC3", quantity=qty,
                          state=BatchState.RELEASED, assembled_by="tester", assembled_at=first,
                          posting_id=posting_id)  # fmt: skip
            session.add(batch)
            session.flush()
            for *when, passed in inspections:
                session.add(
                    Inspection(
                        batch_id=batch.id or 0,
                        inspector="tester",
                        sample_size=1,
                        inspected_at=datetime(*when, tzinfo=PARIS),
                        results="{}",
                        passed=passed,
                    )
                )

    def reverse(self, posting_id: int) -> None:
        with unit_of_work(self.engine) as session:
            reverse(session=session, posting_id=posting_id, reason="wrong job", actor="tester")


def setup_records(engine: Engine) -> dict[str, int]:
    """Reference data, two fablabs, and the demand: Poitiers 20 open (+10 cancelled), Rennes 5."""
    with unit_of_work(engine) as session:
        load_reference_data(session=session, data_dir=PROJECT_DATA_DIR)
        fablabs.add_fablab(session=session, name="Fablab A", city="Ligugé", region="Nouvelle-Aquitaine")  # fmt: skip
        fablabs.add_fablab(session=session, name="Fablab B", city="Rennes", region="Bretagne")
        ids = {
            h.slug: h.id
            for h in session.exec(select(Hospital))
            if h.slug in {"chu-de-poitiers", "chu-de-rennes"}
        }
        for reference, slug, qty, state, status in (
            ("CMD-2026-000001", "chu-de-poitiers", 20, demand.DemandState.OPEN, "planned"),
            ("CMD-2026-000002", "chu-de-poitiers", 10, demand.DemandState.CLOSED, "cancelled"),
            ("CMD-2026-000003", "chu-de-rennes", 5, demand.DemandState.OPEN, "accepted"),
        ):
            demand.publish(
                session=session,
                reference=reference,
                hospital_id=ids[slug],
                lines=[demand.LineSpec(1, "visor", qty)],
                needed_by=date(2026, 11, 30),
                state=state,
                status=status,
            )
    return {k: int(v) for k, v in ids.items() if v is not None}


def post_weeks_46_to_48(ledger: Ledger) -> None:
    """W46: 10 kg PETG to A, 5 kg to B, A prints twice. W47 (16–22 Nov 2026): A prints twice and
    fails once, a third print of A is reversed, B prints Tuesday and Sunday 23:30; A assembles 8
    visors, ships 6, and 6 reach Poitiers. W48: B prints Monday 00:30.

    Batches: LOT-2026-0001 (A, 8 visors) passes its inspection on Friday 20 Nov (W47);
    LOT-2026-0002 (B, 5) on Thursday 12 Nov (W46); LOT-2026-0003 (A, 4) fails on 20 Nov and passes
    on Monday 23 Nov 00:30 (W48)."""
    ledger.at(2026, 11, 9, 9)
    ledger.receive("petg", 10_000, A)
    ledger.receive("petg", 5_000, B)
    ledger.at(2026, 11, 10, 10)
    ledger.printed(A)
    ledger.printed(A)
    ledger.at(2026, 11, 16, 10)
    ledger.printed(A)
    ledger.at(2026, 11, 17, 10)
    ledger.printed(A)
    ledger.at(2026, 11, 17, 11)
    ledger.printed(B)
    ledger.at(2026, 11, 18, 9)
    ledger.failed(A)
    ledger.at(2026, 11, 18, 12)
    wrong = ledger.printed(A)
    ledger.reverse(wrong)
    ledger.at(2026, 11, 19, 15)
    assembly = ledger.post(
        MoveReason.ASSEMBLY,
        ("visor-frame", A, -8),
        ("visor-frame", catalogue.PRODUCTION, 8),
        ("visor", catalogue.PRODUCTION, -8),
        ("visor", A, 8),
    )
    ledger.at(2026, 11, 20, 16)
    ledger.post(MoveReason.SHIPMENT, ("visor", A, -6), ("visor", catalogue.TRANSIT, 6))
    ledger.at(2026, 11, 21, 11)
    ledger.post(MoveReason.DELIVERY, ("visor", catalogue.TRANSIT, -6), ("visor", POITIERS, 6))
    ledger.batch("LOT-2026-0001", "fablab-a", 8, assembly, (2026, 11, 20, 10, 0, True))
    ledger.batch("LOT-2026-0002", "fablab-b", 5, assembly, (2026, 11, 12, 10, 0, True))
    ledger.batch("LOT-2026-0003", "fablab-a", 4, assembly, (2026, 11, 20, 11, 0, False), (2026, 11, 23, 0, 30, True))  # fmt: skip
    ledger.at(2026, 11, 22, 23, 30)
    ledger.printed(B)
    ledger.at(2026, 11, 23, 0, 30)
    ledger.printed(B)


def post_dst_week(ledger: Ledger) -> None:
    """2026-W13 (23–29 March; clocks go forward on Sunday 29 at 02:00): A prints on Monday 00:10
    (Sunday 22 23:10 UTC), Sunday 00:30 (Saturday 23:30 UTC) and Sunday 23:30 (21:30 UTC); and on
    Monday 30 at 00:30 (Sunday 22:30 UTC), which is week 14."""
    ledger.at(2026, 3, 20, 9)
    ledger.receive("petg", 1_000, A)
    for when in ((2026, 3, 23, 0, 10), (2026, 3, 29, 0, 30), (2026, 3, 29, 23, 30), (2026, 3, 30, 0, 30)):  # fmt: skip
        ledger.at(*when)
        ledger.printed(A)
