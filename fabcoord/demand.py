"""Demand: what hospitals asked for, as the core sees it, and which documents serve it.

The capability packages never import each other. When one of them must meet another's records
(a print job serving a hospital order, a shipment or a hand-off covering it, the plan allocating it),
they meet here:

- :class:`DemandLine` is the core's projection of an order's lines. The package that owns orders
  publishes it (:func:`publish`) whenever an order is created, amended or changes state; every other
  package reads it (:func:`open_lines`, :func:`require_open`) and never the orders' own tables.
- :class:`DemandDocument` links a document of the ledger's vocabulary (``print_job``/``42``,
  ``shipment``/``SHP-…``, ``handoff``/``7``) to the order line it serves, so progress can be read from
  the ledger postings of those documents (:func:`documents_serving`).

An order reference is the ``CMD-…`` text hospitals see; a line is numbered from 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, UniqueConstraint, insert
from sqlmodel import Field, Session, SQLModel, col, select

from fabcoord.clock import utc_now
from fabcoord.dbtypes import EnumText
from fabcoord.errors import FabcoordError, InvalidInput, NotFound


class DemandState(StrEnum):
    """Whether work may still be done for a demand. Values are stable: they are stored."""

    PENDING = "pending"  # received, not accepted yet: visible, not plannable
    OPEN = "open"  # accepted: may be planned, printed, assembled, shipped
    CLOSED = "closed"  # delivered, rejected or cancelled: no new work


class DemandLine(SQLModel, table=True):
    """One line of a hospital order as the core sees it (the orders package keeps it current).

    Attributes:
        priority: a weight, 1 normal and higher for more urgent (the owner decides the scale).
        status: the owner's own status word (``accepted``, ``planned``…), for display only.
        site: where it is delivered, as text a person reads.
    """

    __tablename__ = "demand_line"
    __table_args__ = (UniqueConstraint("reference", "line", name="uq_demand_line"),)

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=40, index=True)
    line: int
    hospital_id: int = Field(foreign_key="hospital.id", index=True)
    item_code: str = Field(max_length=64)
    quantity: int
    needed_by: date
    priority: int = 1
    site: str = Field(default="", max_length=300)
    state: DemandState = Field(sa_column=Column(EnumText(DemandState, 16), nullable=False))
    status: str = Field(default="", max_length=24)
    updated_at: datetime


class DemandDocument(SQLModel, table=True):
    """A ledger document (``doc_type``/``doc_id``) that serves one order line."""

    __tablename__ = "demand_document"
    __table_args__ = (
        UniqueConstraint("doc_type", "doc_id", "reference", "line", name="uq_demand_document"),
    )

    id: int | None = Field(default=None, primary_key=True)
    doc_type: str = Field(max_length=40)
    doc_id: str = Field(max_length=120)
    reference: str = Field(max_length=40, index=True)
    line: int
    quantity: int | None = None
    created_at: datetime


_LINES = DemandLine.__table__  # type: ignore[attr-defined]


class UnknownDemand(NotFound):
    """No order (line) has that reference."""


class DemandClosed(FabcoordError):
    """The order does not take new work (not accepted yet, or delivered, rejected, cancelled)."""

    http_status = 409


@dataclass(frozen=True)
class LineSpec:
    """What the owner publishes for one order line."""

    line: int
    item_code: str
    quantity: int


def publish(
    *,
    session: Session,
    reference: str,
    hospital_id: int,
    lines: Sequence[LineSpec],
    needed_by: date,
    state: DemandState,
    status: str,
    priority: int = 1,
    site: str = "",
    new: bool = False,
) -> None:
    """Create or bring up to date the projection of one order (all its lines).

    Lines no longer in ``lines`` are kept with quantity 0 (a document may still point at them).
    ``new``: the order was created in this transaction, it has no projection to read yet.
    """
    if not lines:
        raise InvalidInput(f"order {reference} has no lines")
    now = utc_now()
    if new:  # one plain insert: nothing to read or merge, no objects for the ORM to track
        values = {"reference": reference, "hospital_id": hospital_id, "needed_by": needed_by}
        values |= {"priority": priority, "site": site, "state": state, "status": status}
        session.execute(
            insert(_LINES),
            [
                values
                | {"line": spec.line, "item_code": spec.item_code, "quantity": spec.quantity}
                | {"updated_at": now}
                for spec in lines
            ],
        )
        return
    existing = {
        row.line: row
        for row in session.exec(select(DemandLine).where(DemandLine.reference == reference))
    }
    for spec in lines:
        row = existing.pop(spec.line, None) or DemandLine(
            reference=reference,
            line=spec.line,
            hospital_id=hospital_id,
            item_code=spec.item_code,
            quantity=spec.quantity,
            needed_by=needed_by,
            state=state,
            updated_at=now,
        )
        row.hospital_id, row.item_code, row.quantity = hospital_id, spec.item_code, spec.quantity
        row.needed_by, row.priority, row.site = needed_by, priority, site
        row.state, row.status, row.updated_at = state, status, now
        session.add(row)
    for row in existing.values():
        row.quantity, row.state, row.status, row.updated_at = 0, state, status, now
        session.add(row)
    session.flush()


def lines_of(*, session: Session, reference: str) -> list[DemandLine]:
    """Every line of an order, in line order.

    Raises:
        UnknownDemand: no order has that reference.
    """
    rows = list(
        session.exec(
            select(DemandLine)
            .where(DemandLine.reference == reference.strip())
            .order_by(col(DemandLine.line))
        )
    )
    if not rows:
        raise UnknownDemand(f"unknown order {reference.strip()!r}")
    return rows


def require_open(*, session: Session, reference: str, line: int | None = None) -> DemandLine:
    """The order line new work may serve (its first line when ``line`` is None).

    Raises:
        UnknownDemand, DemandClosed (with the order's status in the message).
    """
    rows = lines_of(session=session, reference=reference)
    if line is not None:
        rows = [r for r in rows if r.line == line]
        if not rows:
            raise UnknownDemand(f"order {reference} has no line {line}")
    row = rows[0]  # no line named: the order's first line
    if row.state is not DemandState.OPEN:
        raise DemandClosed(
            f"order {row.reference} is {row.status or row.state.value}: "
            "it takes no new work (only accepted orders do)"
        )
    return row


def open_lines(*, session: Session, item_code: str | None = None) -> list[DemandLine]:
    """Every line that may still be worked on, most urgent first."""
    query = select(DemandLine).where(DemandLine.state == DemandState.OPEN)
    if item_code is not None:
        query = query.where(DemandLine.item_code == item_code)
    return list(
        session.exec(
            query.order_by(
                col(DemandLine.priority).desc(),
                col(DemandLine.needed_by),
                col(DemandLine.reference),
                col(DemandLine.line),
            )
        )
    )


def link(
    *,
    session: Session,
    doc_type: str,
    doc_id: str,
    reference: str,
    line: int | None = None,
    quantity: int | None = None,
    require_open_demand: bool = True,
) -> DemandDocument:
    """Record that a document serves an order line; harmless when already recorded.

    Raises:
        UnknownDemand, DemandClosed (unless ``require_open_demand`` is False: a document that
        finishes work already started, a delivery after a cancellation).
    """
    if require_open_demand:
        target = require_open(session=session, reference=reference, line=line)
    else:
        rows = lines_of(session=session, reference=reference)
        target = next((r for r in rows if line is None or r.line == line), rows[0])
    found = session.exec(
        select(DemandDocument).where(
            DemandDocument.doc_type == doc_type,
            DemandDocument.doc_id == doc_id,
            DemandDocument.reference == target.reference,
            DemandDocument.line == target.line,
        )
    ).first()
    if found is not None:
        return found
    row = DemandDocument(
        doc_type=doc_type,
        doc_id=doc_id,
        reference=target.reference,
        line=target.line,
        quantity=quantity,
        created_at=utc_now(),
    )
    session.add(row)
    session.flush()
    return row


def documents_serving(
    *, session: Session, references: Iterable[str], doc_type: str | None = None
) -> list[DemandDocument]:
    """The documents linked to these orders (all types, or one)."""
    wanted = sorted(set(references))
    if not wanted:
        return []
    query = select(DemandDocument).where(col(DemandDocument.reference).in_(wanted))
    if doc_type is not None:
        query = query.where(DemandDocument.doc_type == doc_type)
    return list(session.exec(query.order_by(col(DemandDocument.id))))


def demand_of(*, session: Session, doc_type: str, doc_id: str) -> list[DemandDocument]:
    """The order lines a document serves (empty when it serves none)."""
    return list(
        session.exec(
            select(DemandDocument)
            .where(DemandDocument.doc_type == doc_type, DemandDocument.doc_id == doc_id)
            .order_by(col(DemandDocument.id))
        )
    )


def delivered_per_line(*, session: Session, reference: str) -> dict[int, int]:
    """What reached the ordering hospital's own location for each line of an order, from the
    ledger postings of every document serving that line (shipments, hand-offs, …); reversals net
    out because they carry their original's document."""
    return _delivered(session, lines_of(session=session, reference=reference))


def fully_delivered(*, session: Session, reference: str) -> bool:
    """Whether every line of the order has reached the hospital in full."""
    lines = lines_of(session=session, reference=reference)
    delivered = _delivered(session, lines)
    return all(delivered[line.line] >= line.quantity for line in lines)


@dataclass(frozen=True)
class Share:
    """One order line a document serves, as its units are shared out (:func:`fill`).

    Attributes:
        units: what the document has for that line (none recorded: the line's quantity).
        hospital_id: the ordering hospital (a delivery fills only the lines of the hospital it
            reached).
    """

    reference: str
    line: int
    hospital_id: int
    units: int


def fill(total: int, units: Sequence[int]) -> list[int]:
    """How a document's ``total`` is shared among the lines it serves, given in link order with
    their units: each takes up to its units, the last takes the rest (over or short)."""
    left, taken = total, []
    for number, wanted in enumerate(units):
        take = left if number == len(units) - 1 else max(0, min(left, wanted))
        taken.append(take)
        left -= take
    return taken


def shares_of(
    *, session: Session, documents: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], list[Share]]:
    """The order lines each document (``doc_type``, ``doc_id``) serves, in link order, in one
    query for all of them (a document serving none is left out)."""
    from sqlalchemy import and_, tuple_
    from sqlalchemy import select as sa_select

    wanted = sorted(set(documents))
    result: dict[tuple[str, str], list[Share]] = {}
    if not wanted:
        return result
    for doc_type, doc_id, reference, line, hospital_id, quantity, asked in session.execute(
        sa_select(
            col(DemandDocument.doc_type),
            col(DemandDocument.doc_id),
            col(DemandDocument.reference),
            col(DemandDocument.line),
            col(DemandLine.hospital_id),
            col(DemandDocument.quantity),
            col(DemandLine.quantity),
        )
        .join(
            DemandLine,
            and_(
                col(DemandLine.reference) == DemandDocument.reference,
                col(DemandLine.line) == DemandDocument.line,
            ),
        )
        .where(tuple_(col(DemandDocument.doc_type), col(DemandDocument.doc_id)).in_(wanted))
        .order_by(col(DemandDocument.id))
    ).all():
        units = asked if quantity is None else quantity
        result.setdefault((doc_type, doc_id), []).append(Share(reference, line, hospital_id, units))
    return result


def part_of(total: int, shares: Sequence[Share], reference: str) -> dict[int, int]:
    """Order ``reference``'s part, per line, of a document's ``total`` shared out over the lines
    it serves (:func:`fill`)."""
    part: dict[int, int] = {}
    for share, take in zip(shares, fill(total, [s.units for s in shares]), strict=True):
        if share.reference == reference:
            part[share.line] = part.get(share.line, 0) + take
    return part


def _delivered(session: Session, lines: Sequence[DemandLine]) -> dict[int, int]:
    """Per line, what reached the hospital by the documents serving it. A document serving
    several order lines (a hand-off with its lines, or serving several orders) is counted once
    over all the lines it serves at this hospital, whatever their order: its units fill them in
    the order they were linked, each up to the units it has for that line (none recorded: the
    line's quantity), the rest to its last (:func:`fill`)."""
    from sqlalchemy import and_, func

    from fabcoord.ledger.models import Location, LocationKind, StockMove

    reference, hospital_id = lines[0].reference, lines[0].hospital_id
    result = {line.line: 0 for line in lines}
    documents = (
        select(DemandDocument.doc_type, DemandDocument.doc_id)
        .where(DemandDocument.reference == reference)
        .distinct()
        .subquery()
    )
    rows = session.execute(
        select(documents.c.doc_type, documents.c.doc_id, func.sum(StockMove.qty))
        .join(
            StockMove,
            and_(
                col(StockMove.doc_type) == documents.c.doc_type,
                col(StockMove.doc_id) == documents.c.doc_id,
            ),
        )
        .join(Location, col(Location.id) == StockMove.location_id)
        .where(
            Location.kind == LocationKind.HOSPITAL,
            Location.hospital_id == hospital_id,
        )
        .group_by(documents.c.doc_type, documents.c.doc_id)
    ).all()
    served = shares_of(session=session, documents=[(t, i) for t, i, _ in rows])
    for doc_type, doc_id, qty in rows:
        here = [s for s in served.get((doc_type, doc_id), []) if s.hospital_id == hospital_id]
        for line, take in part_of(int(qty or 0), here, reference).items():
            result[line] = result.get(line, 0) + take
    return result
