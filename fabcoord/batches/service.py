"""Assembly, inspection, quarantine, scrap and recall of batches.

Assembly is one ledger posting (reason ``assembly``, document ``batch``/``LOT-…``): the components
leave the fablab's stock lot by lot (oldest lot first) into production, and the visors come back
with the batch number as their lot. The frame sources (print jobs, maker deliveries) behind the
batch are found first in, first out over the postings that brought frames into that stock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func
from sqlmodel import Session, col, select

from fabcoord import fablabs
from fabcoord.batches.errors import MissingComponents, TooMuch, UnknownBatch, WrongBatchState
from fabcoord.batches.models import Batch, BatchSource, BatchState, Inspection, Shipment
from fabcoord.batches.quality import QualitySettings
from fabcoord.clock import utc_now
from fabcoord.errors import InvalidInput, InvalidQuantity
from fabcoord.ledger import catalogue
from fabcoord.ledger.balances import quantity
from fabcoord.ledger.models import Location, LocationKind, MoveReason, StockMove
from fabcoord.ledger.posting import Leg, PostingRequest, post, transfer
from fabcoord.ledger.units import MAX_QUANTITY
from fabcoord.records import Fablab

VISOR = "visor"
FRAME = "visor-frame"
DOC = "batch"


def assemble(
    *,
    session: Session,
    fablab: str,
    qty: int,
    actor: str,
    quality: QualitySettings,
    design: str = "",
) -> Batch:
    """Turn components of the fablab's stock into ``qty`` visors under a new batch number.

    Raises:
        UnknownFablab, InvalidQuantity, MissingComponents (naming what is missing).
    """
    if qty <= 0 or qty > MAX_QUANTITY:
        raise InvalidQuantity(f"quantity must be a positive whole number, got {qty}")
    if len(design) > 80:
        raise InvalidInput("design must be at most 80 characters")
    lab = fablabs.get_fablab(session=session, name=fablab)
    stock = catalogue.get_location(session=session, code=fablabs.stock_location_code(lab.slug))
    assert lab.id is not None and stock.id is not None
    number = _next_number(session, Batch, "LOT")
    legs: list[Leg] = []
    for item_code, per_visor in sorted(quality.components.items()):
        needed = per_visor * qty
        lots = _lots_oldest_first(session, item_code, stock.id)
        have = sum(q for _, q in lots)
        if have < needed:
            raise MissingComponents(
                f"not enough {item_code} at {stock.code} to assemble {qty} visors: "
                f"{needed} needed, {have} in stock"
            )
        for lot, available in lots:
            take = min(available, needed)
            if take:
                legs += transfer(
                    item=item_code,
                    qty=take,
                    source=stock.code,
                    destination=catalogue.PRODUCTION,
                    lot=lot,
                )
                needed -= take
    legs += transfer(
        item=VISOR, qty=qty, source=catalogue.PRODUCTION, destination=stock.code, lot=number
    )
    frames = qty * quality.components[FRAME]
    sources = _frame_sources(session, stock.id, frames)
    posted = post(
        session=session,
        request=PostingRequest(
            reason=MoveReason.ASSEMBLY,
            doc_type=DOC,
            doc_id=number,
            legs=tuple(legs),
            actor=actor,
            note=f"{qty} visors assembled" + (f", design {design}" if design else ""),
        ),
    )
    batch = Batch(
        number=number,
        fablab_id=lab.id,
        design=design.strip(),
        quantity=qty,
        state=BatchState.ASSEMBLED,
        assembled_by=actor,
        assembled_at=posted.posted_at,
        posting_id=posted.id,
    )
    session.add(batch)
    session.flush()
    assert batch.id is not None
    session.add_all(
        BatchSource(batch_id=batch.id, doc_type=t, doc_id=d, posting_id=p, frames=n)
        for t, d, p, n in sources
    )
    session.flush()
    return batch


def get_batch(*, session: Session, number: str) -> Batch:
    batch = session.exec(select(Batch).where(Batch.number == number.strip())).first()
    if batch is None:
        raise UnknownBatch(f"unknown batch {number.strip()!r} (see 'fabcoord batch list')")
    return batch


def list_batches(*, session: Session) -> list[Batch]:
    return list(session.exec(select(Batch).order_by(col(Batch.id))))


def fablab_of(*, session: Session, batch: Batch) -> Fablab:
    lab = session.get(Fablab, batch.fablab_id)
    assert lab is not None
    return lab


def stock_of(*, session: Session, batch: Batch) -> int:
    """Visors of the batch still in its fablab's stock (read from the ledger)."""
    location = catalogue.get_location(
        session=session,
        code=fablabs.stock_location_code(fablab_of(session=session, batch=batch).slug),
    )
    visor = catalogue.get_item(session=session, code=VISOR)
    assert location.id is not None and visor.id is not None
    return quantity(session=session, item_id=visor.id, location_id=location.id, lot=batch.number)


@dataclass(frozen=True)
class InspectionInput:
    """A filled checklist: ``results`` maps every check code to pass (True) or fail (False)."""

    results: Mapping[str, bool]
    inspector: str
    cleaning_product: str = ""
    cleaning_date: date | None = None
    note: str = ""


def inspect(
    *,
    session: Session,
    number: str,
    filled: InspectionInput,
    quality: QualitySettings,
    actor: str,
    on_fail: str = "quarantine",
) -> Inspection:
    """Record an inspection. Passed: the batch is released. Failed: quarantined or scrapped.

    Raises:
        UnknownBatch, WrongBatchState, InvalidInput (a check missing or unknown, no inspector,
        cleaning passed without product and date).
    """
    batch = get_batch(session=session, number=number)
    if batch.state not in (BatchState.ASSEMBLED, BatchState.QUARANTINED):
        raise WrongBatchState(f"batch {batch.number} is {batch.state.value}: it is not inspected")
    codes = [c.code for c in quality.checks]
    missing = [c for c in codes if c not in filled.results]
    unknown = sorted(set(filled.results) - set(codes))
    if missing:
        raise InvalidInput(f"inspection of {batch.number} is missing: {', '.join(missing)}")
    if unknown:
        raise InvalidInput(f"unknown checks {', '.join(unknown)} (known: {', '.join(codes)})")
    inspector = filled.inspector.strip()
    if not inspector or len(inspector) > 120:
        raise InvalidInput("an inspection needs the inspector's name (1 to 120 characters)")
    if filled.results.get("cleaning") and (
        not filled.cleaning_product.strip() or filled.cleaning_date is None
    ):
        raise InvalidInput("cleaning passed needs the product and the date of the cleaning")
    if len(filled.cleaning_product) > 200 or len(filled.note) > 500:
        raise InvalidInput("cleaning product at most 200 characters, note at most 500")
    if on_fail not in ("quarantine", "scrap"):
        raise InvalidInput(f"a failed batch goes to quarantine or scrap, not {on_fail!r}")
    passed = all(filled.results[c] for c in codes)
    now = utc_now()
    record = Inspection(
        batch_id=batch.id or 0,
        inspector=inspector,
        inspected_at=now,
        sample_size=quality.sample_size(batch.quantity),
        results=json.dumps({c: bool(filled.results[c]) for c in codes}),
        passed=passed,
        cleaning_product=filled.cleaning_product.strip(),
        cleaning_date=filled.cleaning_date,
        note=filled.note.strip(),
    )
    if passed:
        if batch.state is BatchState.QUARANTINED:
            _move_batch(
                session,
                batch,
                _quarantine_code(session, batch),
                _stock_code(session, batch),
                actor,
                "released from quarantine",
            )
        batch.state, batch.released_by, batch.released_at = BatchState.RELEASED, inspector, now
    elif on_fail == "scrap":
        _scrap(session, batch, actor, "failed inspection")
    elif batch.state is BatchState.ASSEMBLED:
        _quarantine(session, batch, actor)
    session.add(record)
    session.add(batch)
    session.flush()
    return record


def inspections_of(*, session: Session, batch: Batch) -> list[Inspection]:
    return list(
        session.exec(
            select(Inspection).where(Inspection.batch_id == batch.id).order_by(col(Inspection.id))
        )
    )


def quarantine(*, session: Session, number: str, actor: str) -> Batch:
    """Hold a batch apart (its visors move to the fablab's quarantine location)."""
    batch = get_batch(session=session, number=number)
    if batch.state not in (BatchState.ASSEMBLED, BatchState.RELEASED):
        raise WrongBatchState(f"batch {batch.number} is {batch.state.value}: not quarantined")
    _quarantine(session, batch, actor)
    return batch


def scrap(*, session: Session, number: str, actor: str, reason: str) -> Batch:
    """Scrap what is left of a batch (moved to scrap through the ledger)."""
    batch = get_batch(session=session, number=number)
    if batch.state in (BatchState.SCRAPPED,):
        raise WrongBatchState(f"batch {batch.number} is scrapped already")
    if not reason.strip():
        raise InvalidInput("scrapping a batch needs a --reason")
    _scrap(session, batch, actor, reason.strip())
    return batch


@dataclass(frozen=True)
class Recipient:
    """Who got visors of a recalled batch."""

    hospital: str
    reference: str
    shipment: str
    shipped: int
    received: int | None


def recall(*, session: Session, number: str, reason: str, actor: str) -> list[Recipient]:
    """Mark a batch recalled (it never ships again); return who got its visors."""
    from fabcoord.demand import lines_of
    from fabcoord.records import Hospital

    batch = get_batch(session=session, number=number)
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise InvalidInput("a recall needs a --reason (at most 500 characters)")
    if batch.state is BatchState.RECALLED:
        raise WrongBatchState(f"batch {batch.number} was recalled already: {batch.recall_reason}")
    batch.state, batch.recall_reason = BatchState.RECALLED, f"{reason} ({actor})"[:500]
    session.add(batch)
    session.flush()
    recipients = []
    for shipment in session.exec(
        select(Shipment).where(Shipment.batch_id == batch.id).order_by(col(Shipment.id))
    ):
        line = next(
            r
            for r in lines_of(session=session, reference=shipment.reference)
            if r.line == shipment.line
        )
        hospital = session.get(Hospital, line.hospital_id)
        recipients.append(
            Recipient(
                hospital=hospital.name if hospital else str(line.hospital_id),
                reference=shipment.reference,
                shipment=shipment.number,
                shipped=shipment.quantity,
                received=shipment.received,
            )
        )
    return recipients


# --- helpers ---------------------------------------------------------------------------------


def _next_number(session: Session, table: type[Batch] | type[Shipment], prefix: str) -> str:
    """``PREFIX-YYYY-NNNN``, one more than the year's last (the unique number guards races)."""
    head = f"{prefix}-{utc_now().year}-"
    last = session.exec(
        select(func.max(table.number)).where(col(table.number).startswith(head))
    ).one()
    return f"{head}{(int(last[len(head) :]) if last else 0) + 1:04d}"


def next_number(session: Session, table: type[Batch] | type[Shipment], prefix: str) -> str:
    return _next_number(session, table, prefix)


def _lots_oldest_first(session: Session, item_code: str, location_id: int) -> list[tuple[str, int]]:
    item = catalogue.get_item(session=session, code=item_code)
    rows = session.exec(
        select(StockMove.lot, func.sum(StockMove.qty), func.min(StockMove.posted_at))
        .where(StockMove.item_id == item.id, StockMove.location_id == location_id)
        .group_by(col(StockMove.lot))
        .order_by(func.min(StockMove.posted_at), col(StockMove.lot))
    ).all()
    return [(lot, int(total)) for lot, total, _ in rows if int(total) > 0]


def _frame_sources(
    session: Session, location_id: int, frames: int
) -> list[tuple[str, str, int, int]]:
    """The documents whose frames these are, first in first out: (type, id, posting, frames)."""
    frame = catalogue.get_item(session=session, code=FRAME)
    moves = session.exec(
        select(StockMove.qty, StockMove.doc_type, StockMove.doc_id, StockMove.posting_id)
        .where(StockMove.item_id == frame.id, StockMove.location_id == location_id)
        .order_by(col(StockMove.posted_at), col(StockMove.id))
    ).all()
    used = -sum(int(q) for q, *_ in moves if q < 0)  # frames that left this stock before
    result: list[tuple[str, str, int, int]] = []
    for qty, doc_type, doc_id, posting_id in moves:
        if qty <= 0:
            continue
        skip = min(used, qty)
        used -= skip
        take = min(qty - skip, frames)
        if take > 0:
            result.append((doc_type, doc_id, posting_id, int(take)))
            frames -= take
        if frames == 0:
            break
    return result


def _stock_code(session: Session, batch: Batch) -> str:
    return fablabs.stock_location_code(fablab_of(session=session, batch=batch).slug)


def _quarantine_code(session: Session, batch: Batch) -> str:
    code = _stock_code(session, batch) + "/quarantine"
    if session.exec(select(Location).where(Location.code == code)).first() is None:
        catalogue.add_location(
            session=session,
            code=code,
            name=f"Quarantine of {fablab_of(session=session, batch=batch).name}",
            kind=LocationKind.STOCK,
            fablab_id=batch.fablab_id,
        )
    return code


def _held_at(session: Session, batch: Batch, code: str) -> int:
    location = catalogue.get_location(session=session, code=code)
    visor = catalogue.get_item(session=session, code=VISOR)
    assert location.id is not None and visor.id is not None
    return quantity(session=session, item_id=visor.id, location_id=location.id, lot=batch.number)


def _move_batch(
    session: Session, batch: Batch, source: str, destination: str, actor: str, note: str
) -> int:
    held = _held_at(session, batch, source)
    if held > 0:
        post(
            session=session,
            request=PostingRequest(
                reason=MoveReason.TRANSFER,
                doc_type=DOC,
                doc_id=batch.number,
                legs=transfer(
                    item=VISOR, qty=held, source=source, destination=destination, lot=batch.number
                ),
                actor=actor,
                note=note[:500],
            ),
        )
    return held


def _quarantine(session: Session, batch: Batch, actor: str) -> None:
    _move_batch(
        session,
        batch,
        _stock_code(session, batch),
        _quarantine_code(session, batch),
        actor,
        "quarantined",
    )
    batch.state = BatchState.QUARANTINED
    session.add(batch)


def _scrap(session: Session, batch: Batch, actor: str, reason: str) -> None:
    quarantine_code = _stock_code(session, batch) + "/quarantine"
    has_quarantine = session.exec(select(Location).where(Location.code == quarantine_code)).first()
    held = _held_at(session, batch, _stock_code(session, batch)) + (
        _held_at(session, batch, quarantine_code) if has_quarantine else 0
    )
    if held == 0:
        raise TooMuch(f"batch {batch.number} has no visors left to scrap")
    _move_batch(
        session, batch, _stock_code(session, batch), catalogue.SCRAP, actor, f"scrapped: {reason}"
    )
    if has_quarantine:
        _move_batch(session, batch, quarantine_code, catalogue.SCRAP, actor, f"scrapped: {reason}")
    if batch.state is not BatchState.RECALLED:  # a recalled batch keeps its mark
        batch.state = BatchState.SCRAPPED
    session.add(batch)
