"""The stock operations a fablab manager performs by hand: receive, move, adjust.

Each turns user input (quantity text, unit, codes) into one posting, with the rules that make it a
well-formed business event: a receipt comes from a supplier or partner, a move joins two different
real locations, an adjustment is counted against ``inventory-adjustment`` and says why.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from fabcoord.clock import utc_now
from fabcoord.errors import InvalidInput
from fabcoord.ledger import balances, catalogue
from fabcoord.ledger.models import LocationKind, MoveReason
from fabcoord.ledger.posting import PostingRequest, post, transfer
from fabcoord.ledger.units import parse_quantity
from fabcoord.ledger.writer import Posted

RECEIPT_SOURCES = frozenset({LocationKind.SUPPLIER, LocationKind.PARTNER})


@dataclass(frozen=True)
class StockChange:
    """What an operation posted, and the balance it left at the location it was about."""

    posting: Posted
    item: str
    qty: int
    unit: str
    source: str
    destination: str
    lot: str
    location: str
    balance_after: int


def receive(
    *,
    session: Session,
    item: str,
    quantity: str,
    unit: str | None,
    destination: str,
    reference: str,
    actor: str,
    source: str = catalogue.SUPPLIERS,
    lot: str = "",
    key: str | None = None,
) -> StockChange:
    """Goods arrive from a supplier (or partner) with a delivery note ``reference``."""
    if not reference.strip():
        raise InvalidInput("a receipt needs the supplier's delivery note or invoice reference")
    origin = catalogue.get_location(session=session, code=source)
    if origin.kind not in RECEIPT_SOURCES:
        raise InvalidInput(f"a receipt comes from a supplier or partner, not from {source}")
    return _transfer(
        session,
        item,
        quantity,
        unit,
        source,
        destination,
        lot,
        key,
        actor,
        reason=MoveReason.RECEIPT,
        document=("receipt", reference.strip()),
        about=destination,
    )


def move(
    *,
    session: Session,
    item: str,
    quantity: str,
    unit: str | None,
    source: str,
    destination: str,
    actor: str,
    lot: str = "",
    document: tuple[str, str] | None = None,
    key: str | None = None,
) -> StockChange:
    """Stock moves between two different real locations (fablabs, printers, transit…)."""
    if source.strip() == destination.strip():
        raise InvalidInput(f"a move needs two different locations, got {source} twice")
    for code in (source, destination):
        if catalogue.get_location(session=session, code=code).kind.is_virtual:
            raise InvalidInput(
                f"{code} is a virtual location: use 'stock receive' or 'stock adjust' for it"
            )
    return _transfer(
        session,
        item,
        quantity,
        unit,
        source,
        destination,
        lot,
        key,
        actor,
        reason=MoveReason.TRANSFER,
        document=document or _generated("transfer", "TR", key),
        about=destination,
    )


def adjust(
    *,
    session: Session,
    item: str,
    change: str,
    unit: str | None,
    location: str,
    reason: str,
    actor: str,
    lot: str = "",
    key: str | None = None,
) -> StockChange:
    """A count found more or less than the ledger says: post the signed difference."""
    if not reason.strip():
        raise InvalidInput("an adjustment must say why (count, damage, found…)")
    if catalogue.get_location(session=session, code=location).kind.is_virtual:
        raise InvalidInput(f"{location} is a virtual location: only real stock is counted")
    return _transfer(
        session,
        item,
        change,
        unit,
        catalogue.INVENTORY_ADJUSTMENT,
        location,
        lot,
        key,
        actor,
        reason=MoveReason.ADJUSTMENT,
        document=_generated("adjustment", "ADJ", key),
        about=location,
        note=reason.strip(),
        signed=True,
    )


def _generated(doc_type: str, prefix: str, key: str | None) -> tuple[str, str]:
    """A document for a manual operation: the idempotency key if given (so a retry is the same
    posting), else a time stamp."""
    return doc_type, key.strip() if key else f"{prefix}-{utc_now():%Y%m%dT%H%M%S%f}"


def _transfer(
    session: Session,
    item_code: str,
    quantity: str,
    unit: str | None,
    source: str,
    destination: str,
    lot: str,
    key: str | None,
    actor: str,
    *,
    reason: MoveReason,
    document: tuple[str, str],
    about: str,
    note: str = "",
    signed: bool = False,
) -> StockChange:
    item = catalogue.get_item(session=session, code=item_code)
    qty = parse_quantity(quantity, unit=unit, base=item.unit, signed=signed)
    if qty < 0:
        source, destination, qty = destination, source, -qty
    posted = post(
        session=session,
        request=PostingRequest(
            reason=reason,
            doc_type=document[0],
            doc_id=document[1],
            legs=transfer(item=item.code, qty=qty, source=source, destination=destination, lot=lot),
            actor=actor,
            idempotency_key=key,
            note=note,
        ),
    )
    location = catalogue.get_location(session=session, code=about)
    balance = balances.quantity(session=session, item_id=item.id or 0, location_id=location.id or 0)
    return StockChange(
        posting=posted,
        item=item.code,
        qty=qty,
        unit=item.unit.value,
        source=source,
        destination=destination,
        lot=lot,
        location=about,
        balance_after=balance,
    )
