"""Ship visors of a released batch against an order line; record the hospital's receipt.

A shipment is a ledger document (``shipment``/``SHP-…``) linked to the order line it serves
(:func:`fabcoord.demand.link`). Shipping posts the visors from the fablab to transit; the receipt
posts them from transit to ``hospital/<slug>`` (received) and back to the fablab or to scrap
(refused). Order facts (hospital, site, quantities) come from :mod:`fabcoord.demand`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, col, select

from fabcoord import demand, events, fablabs
from fabcoord.batches import service as batches
from fabcoord.batches.errors import (
    BatchNotShippable,
    ReceiptAlreadyConfirmed,
    TooMuch,
    UnknownShipment,
)
from fabcoord.batches.models import Batch, BatchState, Shipment, ShipmentState
from fabcoord.clock import utc_now
from fabcoord.errors import InvalidInput, InvalidQuantity
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import MoveReason
from fabcoord.ledger.posting import Leg, PostingRequest, post, transfer
from fabcoord.records import Hospital
from fabcoord.reference import hospital_location_code

DOC = "shipment"


def ship(
    *,
    session: Session,
    reference: str,
    batch_number: str,
    qty: int,
    actor: str,
    carrier: str = "",
    line: int | None = None,
) -> Shipment:
    """Send ``qty`` visors of a released batch to an open order line.

    Raises:
        UnknownDemand, DemandClosed, UnknownBatch, BatchNotShippable, TooMuch, InvalidQuantity.
    """
    if qty <= 0:
        raise InvalidQuantity(f"quantity must be a positive whole number, got {qty}")
    if len(carrier.strip()) > 120:
        raise InvalidInput("carrier must be at most 120 characters")
    target = _visor_line(session, reference, line)
    batch = batches.get_batch(session=session, number=batch_number)
    if batch.state is not BatchState.RELEASED:
        why = {
            BatchState.ASSEMBLED: "not inspected yet (fabcoord batch inspect)",
            BatchState.QUARANTINED: "quarantined",
            BatchState.SCRAPPED: "scrapped",
            BatchState.RECALLED: f"recalled: {batch.recall_reason}",
        }[batch.state]
        raise BatchNotShippable(f"batch {batch.number} cannot be shipped: it is {why}")
    held = batches.stock_of(session=session, batch=batch)
    if qty > held:
        raise TooMuch(f"batch {batch.number} holds {held} visors in stock, not {qty}")
    still = target.quantity - _covered(session, target.reference, target.line)
    if qty > still:
        raise TooMuch(
            f"order {target.reference} line {target.line} still needs {max(still, 0)} visors, "
            f"not {qty}"
        )
    number = batches.next_number(session, Shipment, "SHP")
    lab = batches.fablab_of(session=session, batch=batch)
    posted = post(
        session=session,
        request=PostingRequest(
            reason=MoveReason.SHIPMENT,
            doc_type=DOC,
            doc_id=number,
            legs=transfer(
                item=batches.VISOR,
                qty=qty,
                source=fablabs.stock_location_code(lab.slug),
                destination=catalogue.TRANSIT,
                lot=batch.number,
            ),
            actor=actor,
            note=f"order {target.reference} line {target.line}"
            + (f", carrier {carrier.strip()}" if carrier.strip() else ""),
        ),
    )
    shipment = Shipment(
        number=number,
        reference=target.reference,
        line=target.line,
        batch_id=batch.id or 0,
        quantity=qty,
        carrier=carrier.strip(),
        state=ShipmentState.SHIPPED,
        shipped_by=actor,
        shipped_at=posted.posted_at,
    )
    session.add(shipment)
    session.flush()
    demand.link(
        session=session,
        doc_type=DOC,
        doc_id=number,
        reference=target.reference,
        line=target.line,
        quantity=qty,
    )
    events.publish(
        session=session,
        event=events.Event(
            "shipment_posted",
            actor,
            {
                "reference": target.reference,
                "shipment": number,
                "quantity": qty,
                "fully_shipped": _fully_covered(session, target.reference),
            },
        ),
    )
    return shipment


@dataclass(frozen=True)
class Receipt:
    """What the hospital signed for."""

    received: int
    refused: int
    signed_by: str
    refusal_reason: str = ""
    refused_to: str = "fablab"  # or "scrap"


def confirm_receipt(*, session: Session, number: str, receipt: Receipt, actor: str) -> Shipment:
    """Record the hospital's receipt of a shipment, once.

    Raises:
        UnknownShipment, ReceiptAlreadyConfirmed, TooMuch, InvalidInput.
    """
    shipment = get_shipment(session=session, number=number)
    if shipment.state is not ShipmentState.SHIPPED:
        raise ReceiptAlreadyConfirmed(
            f"the receipt of {shipment.number} was already recorded "
            f"({shipment.received} received, {shipment.refused} refused, signed by "
            f"{shipment.signed_by})"
        )
    received, refused = receipt.received, receipt.refused
    if received < 0 or refused < 0:
        raise InvalidQuantity("received and refused quantities must not be negative")
    if received + refused != shipment.quantity:
        more = received + refused > shipment.quantity
        raise TooMuch(
            f"{shipment.number} carried {shipment.quantity} visors: received ({received}) and "
            f"refused ({refused}) must add up to it" + (" (more than was shipped)" if more else "")
        )
    signer, why = receipt.signed_by.strip(), receipt.refusal_reason.strip()
    if not signer or len(signer) > 120:
        raise InvalidInput("the receipt needs the name of who signs (1 to 120 characters)")
    if refused and not why:
        raise InvalidInput("refused visors need a reason")
    if len(why) > 500:
        raise InvalidInput("the reason must be at most 500 characters")
    if receipt.refused_to not in ("fablab", "scrap"):
        raise InvalidInput("refused visors go back to the fablab or to scrap")
    batch = session.get(Batch, shipment.batch_id)
    assert batch is not None
    hospital = _hospital(session, shipment)
    legs: list[Leg] = [Leg(batches.VISOR, catalogue.TRANSIT, -shipment.quantity, batch.number)]
    if received:
        legs.append(
            Leg(batches.VISOR, hospital_location_code(hospital.slug), received, batch.number)
        )
    if refused:
        back = (
            catalogue.SCRAP
            if receipt.refused_to == "scrap"
            else fablabs.stock_location_code(batches.fablab_of(session=session, batch=batch).slug)
        )
        legs.append(Leg(batches.VISOR, back, refused, batch.number))
    post(
        session=session,
        request=PostingRequest(
            reason=MoveReason.DELIVERY,
            doc_type=DOC,
            doc_id=shipment.number,
            legs=tuple(legs),
            actor=actor,
            note=f"signed by {signer}" + (f"; refused: {why}" if refused else ""),
        ),
    )
    shipment.state, shipment.received, shipment.refused = ShipmentState.RECEIVED, received, refused
    shipment.signed_by, shipment.refusal_reason = signer, why
    shipment.confirmed_at = utc_now()
    session.add(shipment)
    session.flush()
    events.publish(
        session=session,
        event=events.Event(
            "receipt_confirmed",
            actor,
            {
                "reference": shipment.reference,
                "shipment": shipment.number,
                "received": received,
                "refused": refused,
                "fully_delivered": demand.fully_delivered(
                    session=session, reference=shipment.reference
                ),
            },
        ),
    )
    return shipment


def get_shipment(*, session: Session, number: str) -> Shipment:
    shipment = session.exec(select(Shipment).where(Shipment.number == number.strip())).first()
    if shipment is None:
        raise UnknownShipment(f"unknown shipment {number.strip()!r}")
    return shipment


@dataclass(frozen=True)
class ShipmentView:
    """A shipment as a hospital or a coordinator sees it."""

    number: str
    reference: str
    line: int
    batch: str
    quantity: int
    carrier: str
    state: str
    shipped_at: str
    received: int | None
    refused: int | None
    signed_by: str


def shipments_of(*, session: Session, reference: str) -> list[ShipmentView]:
    """Every shipment of an order, oldest first."""
    rows = session.exec(
        select(Shipment, Batch.number)
        .join(Batch, col(Batch.id) == Shipment.batch_id)
        .where(Shipment.reference == reference.strip())
        .order_by(col(Shipment.id))
    ).all()
    return [view(s, b) for s, b in rows]


def view(s: Shipment, batch: str) -> ShipmentView:
    return ShipmentView(
        number=s.number,
        reference=s.reference,
        line=s.line,
        batch=batch,
        quantity=s.quantity,
        carrier=s.carrier,
        state=s.state.value,
        shipped_at=s.shipped_at.isoformat(timespec="seconds"),
        received=s.received,
        refused=s.refused,
        signed_by=s.signed_by,
    )


def hospital_of(*, session: Session, shipment: Shipment) -> Hospital:
    return _hospital(session, shipment)


# --- helpers ---------------------------------------------------------------------------------


def _visor_line(session: Session, reference: str, line: int | None) -> demand.DemandLine:
    rows = demand.lines_of(session=session, reference=reference)
    if line is None:
        rows = [r for r in rows if r.item_code == batches.VISOR] or rows
        line = rows[0].line
    return demand.require_open(session=session, reference=reference, line=line)


def _covered(session: Session, reference: str, line: int) -> int:
    """Visors shipped to a line and not refused."""
    shipped, refused = session.exec(
        select(
            func.coalesce(func.sum(Shipment.quantity), 0),
            func.coalesce(func.sum(Shipment.refused), 0),
        ).where(Shipment.reference == reference, Shipment.line == line)
    ).one()
    return int(shipped or 0) - int(refused or 0)


def _fully_covered(session: Session, reference: str) -> bool:
    return all(
        _covered(session, r.reference, r.line) >= r.quantity
        for r in demand.lines_of(session=session, reference=reference)
    )


def _hospital(session: Session, shipment: Shipment) -> Hospital:
    row = next(
        r
        for r in demand.lines_of(session=session, reference=shipment.reference)
        if r.line == shipment.line
    )
    hospital = session.get(Hospital, row.hospital_id)
    assert hospital is not None
    return hospital


def write_delivery_note(*, session: Session, number: str, path: Path) -> Path:
    """Write the shipment's bon de livraison (the same PDF whenever it is asked for)."""
    from fabcoord.batches.documents import DeliveryNote, delivery_note_pdf

    shipment = get_shipment(session=session, number=number)
    batch = session.get(Batch, shipment.batch_id)
    assert batch is not None
    row = next(
        r
        for r in demand.lines_of(session=session, reference=shipment.reference)
        if r.line == shipment.line
    )
    note = DeliveryNote(
        number=shipment.number,
        reference=shipment.reference,
        line=shipment.line,
        hospital=_hospital(session, shipment).name,
        site=row.site,
        fablab=batches.fablab_of(session=session, batch=batch).name,
        batch=batch.number,
        quantity=shipment.quantity,
        carrier=shipment.carrier,
        shipped_at=shipment.shipped_at,
        shipped_by=shipment.shipped_by,
    )
    return delivery_note_pdf(note, path)


def batch_number(*, session: Session, shipment: Shipment) -> str:
    batch = session.get(Batch, shipment.batch_id)
    assert batch is not None
    return batch.number
