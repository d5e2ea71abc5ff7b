"""Suppliers' answer to the planner: material confirmed on purchase orders and not received yet.

Registered by the composition root (``cli.py``) as an on-order provider of
:mod:`fabcoord.planning.capacity`; the planner counts it from the day it is expected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from fabcoord.planning.capacity import Incoming
from fabcoord.records import Fablab
from suppliers.purchasing import ON_ORDER_STATES
from suppliers.purchasing import on_order as purchases_on_order

if TYPE_CHECKING:
    from fabcoord.planning.capacity import Providers

CONFIRMED = ON_ORDER_STATES
"""Only a confirmed order has a date the supplier gave; a sent one is a request still (the same
rule as sourcing needs: :data:`suppliers.purchasing.ON_ORDER_STATES`)."""


def on_order(*, session: Session) -> list[Incoming]:
    """Per confirmed purchase order with an expected day: what it has still to bring."""
    slugs = dict(session.exec(select(Fablab.id, Fablab.slug).order_by(col(Fablab.id))).all())
    return [
        Incoming(
            fablab=slugs[order.fablab_id],
            item=order.item_code,
            quantity=order.quantity,
            expected_on=order.expected_on,
            source=f"purchase order {order.order_id}",
        )
        for order in purchases_on_order(session=session)
        if order.expected_on is not None and order.fablab_id in slugs
    ]


def provide(providers: Providers) -> None:
    """Offer the planner the material on order."""
    providers.register(on_order=on_order)
