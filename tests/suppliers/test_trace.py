"""Tracing a lot to the hospitals, and a shipment back to its lots, from the ledger."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from fabcoord.db import unit_of_work
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import LocationKind, MoveReason
from fabcoord.ledger.posting import Leg, PostingRequest, post, transfer
from suppliers import purchasing
from suppliers.errors import UnknownLot
from suppliers.trace import UnknownShipment, trace_lot, trace_shipment
from tests.suppliers.conftest import import_samples

LAB = "fablab/fablab-des-usines"


def posting(engine: Engine, reason: MoveReason, doc: str, *legs: Leg, actor: str = "maker") -> None:
    doc_type, doc_id = doc.split(":")
    with unit_of_work(engine) as session:
        post(
            session=session,
            request=PostingRequest(
                reason=reason, doc_type=doc_type, doc_id=doc_id, legs=legs, actor=actor
            ),
        )


def make_visors(
    engine: Engine, spool: str, job: str, batch: str, shipment: str, hospital: str
) -> None:
    """A spool goes to a printer, prints frames, frames are assembled and shipped."""
    printer = f"printer/{job}"
    with unit_of_work(engine) as session:
        catalogue.add_location(
            session=session, code=printer, name=printer, kind=LocationKind.PRINTER
        )
    posting(
        engine,
        MoveReason.TRANSFER,
        f"transfer:{job}",
        *transfer(item="petg", qty=300, source=LAB, destination=printer, lot=spool),
    )
    posting(
        engine,
        MoveReason.PRINT_OUTPUT,
        f"print_job:{job}",
        *transfer(item="petg", qty=250, source=printer, destination="production", lot=spool),
        actor=f"maker-{job}",
    )
    frames = f"F-{job}"
    posting(
        engine,
        MoveReason.PRINT_OUTPUT,
        f"print_job:{job}",
        *transfer(item="visor-frame", qty=10, source="production", destination=LAB, lot=frames),
        actor=f"maker-{job}",
    )
    posting(
        engine,
        MoveReason.ASSEMBLY,
        f"batch:{batch}",
        *transfer(item="visor-frame", qty=10, source=LAB, destination="production", lot=frames),
        *transfer(item="pet-sheet-a4", qty=10, source=LAB, destination="production"),
        *transfer(item="visor", qty=10, source="production", destination=LAB, lot=batch),
    )
    posting(
        engine,
        MoveReason.SHIPMENT,
        f"shipment:{shipment}",
        *transfer(item="visor", qty=10, source=LAB, destination=f"hospital/{hospital}", lot=batch),
    )


@pytest.fixture
def chain(reference_loaded: Engine, fablab: str) -> Engine:
    import_samples(reference_loaded)
    with unit_of_work(reference_loaded) as session:
        order = purchasing.create(
            session=session,
            supplier="00000002600013",
            item="petg",
            quantity="2",
            unit="kg",
            fablab="Fablab des Usines",
            actor="t",
        )
        purchasing.send(session=session, order_id=order.id or 0)
        purchasing.receive(
            session=session,
            order_id=order.id or 0,
            quantity="1",
            unit="kg",
            lot="SPOOL-1",
            actor="t",
        )
        purchasing.receive(
            session=session,
            order_id=order.id or 0,
            quantity="1",
            unit="kg",
            lot="SPOOL-2",
            actor="t",
        )
    posting(
        reference_loaded,
        MoveReason.RECEIPT,
        "receipt:BL-9",
        *transfer(item="pet-sheet-a4", qty=100, source="supplier", destination=LAB),
    )
    make_visors(reference_loaded, "SPOOL-1", "J1", "B1", "SHP-1", "chu-de-poitiers")
    make_visors(reference_loaded, "SPOOL-2", "J2", "B2", "SHP-2", "chu-de-bordeaux")
    return reference_loaded


def test_a_lot_is_traced_to_the_printers_jobs_batches_shipments_and_hospitals(
    chain: Engine,
) -> None:
    with unit_of_work(chain, read_only=True) as session:
        found = trace_lot(session=session, lot="SPOOL-1")
    assert found.printers == {"printer/J1"}
    assert found.print_jobs == {"print_job:J1"}
    assert found.batches == {"batch:B1"}
    assert found.shipments == {"shipment:SHP-1"}
    assert found.hospitals == {"hospital/chu-de-poitiers (visor)": 10}
    assert found.frames_made == 10
    assert found.purchase_orders == {"purchase_order:1"}
    assert "maker-J1" in found.makers and "maker-J2" not in found.makers
    assert found.lots >= {"SPOOL-1", "F-J1", "B1"} and "SPOOL-2" not in found.lots


def test_a_shipment_is_traced_back_to_its_lots_printers_jobs_and_makers(chain: Engine) -> None:
    with unit_of_work(chain, read_only=True) as session:
        found = trace_shipment(session=session, shipment="SHP-2")
    assert {"SPOOL-2", "F-J2", "B2"} <= found.lots and "SPOOL-1" not in found.lots
    assert found.printers == {"printer/J2"}
    assert found.print_jobs == {"print_job:J2"}
    assert "maker-J2" in found.makers and "maker-J1" not in found.makers
    assert found.purchase_orders == {"purchase_order:1"}
    assert "pet-sheet-a4 at fablab/fablab-des-usines" in found.unlotted


def test_unknown_lots_and_shipments_are_refused(chain: Engine) -> None:
    with unit_of_work(chain, read_only=True) as session:
        with pytest.raises(UnknownLot, match="no ledger posting brought lot 'NOPE' in"):
            trace_lot(session=session, lot="NOPE")
        with pytest.raises(UnknownShipment, match="shipment:SHP-404"):
            trace_shipment(session=session, shipment="SHP-404")
