"""Suppliers' answer to the planner: material confirmed on purchase orders and not received yet.

Registered by the composition root (``cli.py``) as an on-order provider of
:mod:`fabcoord.planning.capacity`; the planner counts it from the day it is expected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from fabcoord.planning.capacity import Incoming
from fabcoord.records import Fablab
from suppliers.models import PurchaseOrder, PurchaseState

if TYPE_CHECKING:
    from fabcoord.planning.capacity import Providers

CONFIRMED = (PurchaseState.CONFIRMED, PurchaseState.PARTLY_RECEIVED)
"""Only a confirmed order has a date the supplier gave; a sent one is a request still."""


def on_order(*, session: Session) -> list[Incoming]:
    """Per confirmed purchase order with an expected day: what it has still to bring."""
    rows = session.exec(
        select(PurchaseOrder, Fablab.slug)
        .join(Fablab, col(Fablab.id) == PurchaseOrder.fablab_id)
        .where(
            col(PurchaseOrder.state).in_([s.value for s in CONFIRMED]),
            col(PurchaseOrder.expected_on).is_not(None),
            col(PurchaseOrder.quantity) > col(PurchaseOrder.received),
        )
        .order_by(col(PurchaseOrder.id))
    ).all()
    return [
        Incoming(
            fablab=slug,
            item=order.item_code,
            quantity=order.quantity - order.received,
            expected_on=order.expected_on,
            source=f"purchase order {order.id}",
        )
        for order, slug in rows
        if order.expected_on is not None
    ]


def provide(providers: Providers) -> None:
    """Offer the planner the material on order."""
    providers.register(on_order=on_order)
