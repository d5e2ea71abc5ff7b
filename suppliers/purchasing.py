"""Purchase orders: one item from one supplier for one fablab, from request to receipt.

States: ``draft`` (a request for quote) → ``sent`` → ``confirmed`` → ``partly_received`` →
``received``; ``cancelled`` from any state before ``received`` (what was received stays). Receiving
posts the lot into the fablab's stock through the ledger (reason ``receipt``, document
``purchase_order``/ID), from the virtual ``supplier`` location; more than ordered only with
``over``. What is ordered and not yet received is *stock on order*. Confirming takes the delivery
day the supplier gave, or today plus its declared lead time; without either it is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from sqlmodel import Session, col, func, select

from fabcoord.clock import utc_now
from fabcoord.errors import InvalidInput, InvalidQuantity
from fabcoord.fablabs import get_fablab, stock_location_code
from fabcoord.ledger import catalogue
from fabcoord.ledger.models import MoveReason, Posting
from fabcoord.ledger.posting import PostingRequest, post, transfer
from fabcoord.ledger.units import parse_quantity
from fabcoord.records import Fablab
from suppliers.errors import (
    NoExpectedDay,
    OverReceipt,
    PurchaseStateError,
    UnknownPurchaseOrder,
)
from suppliers.lookup import get_supplier
from suppliers.models import PurchaseOrder, PurchaseReceipt, PurchaseState, Supplier

DOC_TYPE = "purchase_order"
OPEN_STATES = (PurchaseState.SENT, PurchaseState.CONFIRMED, PurchaseState.PARTLY_RECEIVED)
ON_ORDER_STATES = (PurchaseState.CONFIRMED, PurchaseState.PARTLY_RECEIVED)
"""Stock on order, for sourcing needs and the plan alike: what a supplier confirmed with a date
(``confirm --expected``, or its lead time; :func:`confirm` refuses an order with neither) and
has not delivered yet. A sent order is a request the supplier has not answered: it brings nothing
on a known day, so counting it would hide a shortage from dated planning until the supplier
confirms."""
RECEIVABLE = OPEN_STATES
_NEXT = {
    "send": ((PurchaseState.DRAFT,), PurchaseState.SENT),
    "confirm": ((PurchaseState.DRAFT, PurchaseState.SENT), PurchaseState.CONFIRMED),
    "cancel": (
        (PurchaseState.DRAFT, *OPEN_STATES),
        PurchaseState.CANCELLED,
    ),
}


@dataclass(frozen=True)
class OnOrder:
    """Ordered, not yet received: ``quantity`` of an item for a fablab, expected on a day."""

    order_id: int
    fablab_id: int
    item_code: str
    quantity: int
    expected_on: date | None


def create(
    *,
    session: Session,
    supplier: str,
    item: str,
    quantity: str,
    fablab: str,
    actor: str,
    unit: str | None = None,
    price: str | None = None,
    note: str = "",
) -> PurchaseOrder:
    """A draft order (a request for quote until sent). ``price`` in euros per ``unit`` (HT)."""
    found = get_supplier(session=session, ref=supplier)
    wanted = catalogue.get_item(session=session, code=item)
    lab = get_fablab(session=session, name=fablab)
    qty = parse_quantity(quantity, unit=unit, base=wanted.unit)
    cents = _cents(price) if price is not None else None
    if len(note) > 500:
        raise InvalidInput("a note must be at most 500 characters")
    now = utc_now()
    order = PurchaseOrder(
        supplier_id=found.id or 0,
        fablab_id=lab.id or 0,
        item_code=wanted.code,
        quantity=qty,
        price_unit=(unit or wanted.unit.value).strip().lower(),
        unit_price_cents=cents,
        state=PurchaseState.DRAFT,
        note=note.strip(),
        created_at=now,
        updated_at=now,
        actor=actor,
    )
    session.add(order)
    session.flush()
    return order


def get_order(*, session: Session, order_id: int, lock: bool = False) -> PurchaseOrder:
    query = select(PurchaseOrder).where(PurchaseOrder.id == order_id)
    if lock:
        query = query.with_for_update()
    order = session.exec(query).first()
    if order is None:
        raise UnknownPurchaseOrder(
            f"unknown purchase order {order_id} (see 'fabcoord purchase list')"
        )
    return order


def send(*, session: Session, order_id: int) -> PurchaseOrder:
    return _move(session, order_id, "send")


def confirm(*, session: Session, order_id: int, expected_on: date | None = None) -> PurchaseOrder:
    """The supplier confirmed; expected on ``expected_on`` or today plus its lead time.

    A confirmed order is stock on order only with an expected day (:data:`ON_ORDER_STATES`), so
    there is no confirming without one. An order confirmed without a day before that rule (it
    counted nowhere) takes its day the same way, keeping its state.

    Raises:
        UnknownPurchaseOrder, PurchaseStateError, NoExpectedDay (no ``expected_on`` and the
        supplier declares no lead time); the order is then unchanged.
    """
    order = get_order(session=session, order_id=order_id, lock=True)
    undated = order.state in ON_ORDER_STATES and order.expected_on is None
    if not undated:
        _check_move(order, "confirm")
    if expected_on is None:
        supplier = session.get(Supplier, order.supplier_id)
        lead = supplier.lead_time_days if supplier else None
        if lead is None:
            name = supplier.name if supplier else f"supplier {order.supplier_id}"
            raise NoExpectedDay(
                f"purchase order {order.id}: {name} declares no lead time; give the delivery "
                f"day the supplier confirmed (purchase confirm {order.id} --expected 2026-04-20)"
            )
        expected_on = utc_now().date() + timedelta(days=lead)
    if not undated:
        order.state = PurchaseState.CONFIRMED
    order.expected_on, order.updated_at = expected_on, utc_now()
    session.add(order)
    session.flush()
    return order


def cancel(*, session: Session, order_id: int) -> PurchaseOrder:
    return _move(session, order_id, "cancel")


def receive(
    *,
    session: Session,
    order_id: int,
    quantity: str,
    lot: str,
    actor: str,
    unit: str | None = None,
    over: bool = False,
    key: str | None = None,
) -> PurchaseReceipt:
    """Post a delivered lot into the fablab's stock, linked to the order.

    Raises:
        UnknownPurchaseOrder, PurchaseStateError, InvalidQuantity, OverReceipt (more than ordered
        without ``over``); the ledger is then unchanged.
    """
    order = get_order(session=session, order_id=order_id, lock=True)
    lot = lot.strip()
    if not lot or len(lot) > 80:
        raise InvalidInput("a receipt needs the supplier's lot number (1 to 80 characters)")
    item = catalogue.get_item(session=session, code=order.item_code)
    qty = parse_quantity(quantity, unit=unit, base=item.unit)
    replay = _replayed_receipt(session=session, key=key)
    if replay is not None and (replay.order_id, replay.lot, replay.quantity) == (
        order.id,
        lot,
        qty,
    ):
        return replay  # the same --key and content again: already counted
    if order.state not in RECEIVABLE:
        raise PurchaseStateError(
            f"purchase order {order.id} is {order.state.value}: only a sent or confirmed order is received"
        )
    if order.received + qty > order.quantity and not over:
        raise OverReceipt(
            f"purchase order {order.id}: receiving {qty} {item.unit.value} would make "
            f"{order.received + qty} of {order.quantity} ordered; use --over to accept more"
        )
    fablab = session.get(Fablab, order.fablab_id)
    assert fablab is not None
    posted = post(
        session=session,
        request=PostingRequest(
            reason=MoveReason.RECEIPT,
            doc_type=DOC_TYPE,
            doc_id=str(order.id),
            legs=transfer(
                item=item.code,
                qty=qty,
                source=catalogue.SUPPLIERS,
                destination=stock_location_code(fablab.slug),
                lot=lot,
            ),
            actor=actor,
            idempotency_key=key,
            note=f"lot {lot}",
        ),
    )
    replayed = session.exec(
        select(PurchaseReceipt).where(PurchaseReceipt.posting_id == posted.id)
    ).first()
    if replayed is not None:  # the same --key again: the receipt is already counted
        return replayed
    receipt = PurchaseReceipt(
        order_id=order.id or 0,
        lot=lot,
        quantity=qty,
        posting_id=posted.id,
        received_at=posted.posted_at,
        actor=actor,
    )
    order.received += qty
    order.state = (
        PurchaseState.RECEIVED
        if order.received >= order.quantity
        else PurchaseState.PARTLY_RECEIVED
    )
    order.updated_at = utc_now()
    session.add_all([receipt, order])
    session.flush()
    return receipt


def _replayed_receipt(*, session: Session, key: str | None) -> PurchaseReceipt | None:
    """The receipt an earlier call with this idempotency key recorded (None: a new receipt)."""
    if key is None:
        return None
    return session.exec(
        select(PurchaseReceipt)
        .join(Posting, col(Posting.id) == PurchaseReceipt.posting_id)
        .where(Posting.idempotency_key == key)
    ).first()


def list_orders(
    *, session: Session, state: PurchaseState | None = None, fablab: str | None = None
) -> list[PurchaseOrder]:
    query = select(PurchaseOrder)
    if state is not None:
        query = query.where(PurchaseOrder.state == state)
    if fablab is not None:
        query = query.where(PurchaseOrder.fablab_id == get_fablab(session=session, name=fablab).id)
    return list(session.exec(query.order_by(col(PurchaseOrder.id))))


def receipts_of(*, session: Session, order_id: int) -> list[PurchaseReceipt]:
    return list(
        session.exec(
            select(PurchaseReceipt)
            .where(PurchaseReceipt.order_id == order_id)
            .order_by(col(PurchaseReceipt.id))
        )
    )


def on_order(*, session: Session, item: str | None = None) -> list[OnOrder]:
    """Stock on order: confirmed (or partly received) with an expected day, not yet received
    (:data:`ON_ORDER_STATES`)."""
    query = select(PurchaseOrder).where(
        col(PurchaseOrder.state).in_([s.value for s in ON_ORDER_STATES]),
        col(PurchaseOrder.expected_on).is_not(None),
    )
    if item is not None:
        query = query.where(PurchaseOrder.item_code == item)
    return [
        OnOrder(o.id or 0, o.fablab_id, o.item_code, o.quantity - o.received, o.expected_on)
        for o in session.exec(query.order_by(col(PurchaseOrder.id)))
        if o.quantity > o.received
    ]


def on_order_total(*, session: Session, fablab_id: int, item: str) -> int:
    total = session.exec(
        select(func.coalesce(func.sum(PurchaseOrder.quantity - PurchaseOrder.received), 0)).where(
            PurchaseOrder.fablab_id == fablab_id,
            PurchaseOrder.item_code == item,
            col(PurchaseOrder.state).in_([s.value for s in ON_ORDER_STATES]),
            col(PurchaseOrder.expected_on).is_not(None),
        )
    ).one()
    return int(total)


def _move(session: Session, order_id: int, action: str) -> PurchaseOrder:
    order = get_order(session=session, order_id=order_id, lock=True)
    order.state, order.updated_at = _check_move(order, action), utc_now()
    session.add(order)
    session.flush()
    return order


def _check_move(order: PurchaseOrder, action: str) -> PurchaseState:
    """The state ``action`` moves ``order`` to; PurchaseStateError when its state forbids it."""
    allowed, target = _NEXT[action]
    if order.state not in allowed:
        done = {"send": "sent", "confirm": "confirmed", "cancel": "cancelled"}[action]
        raise PurchaseStateError(
            f"purchase order {order.id} is {order.state.value}: it cannot be {done}"
        )
    return target


def _cents(price: str) -> int:
    try:
        value = Decimal(price.strip().replace(",", "."))
    except InvalidOperation:
        raise InvalidQuantity(f"price {price!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise InvalidQuantity(f"price must be a positive number of euros, got {price}")
    cents = value * 100
    if cents != cents.to_integral_value():
        raise InvalidQuantity(f"price {price} has more than 2 decimals")
    return int(cents)
